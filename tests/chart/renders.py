"""The chart's switches, rendered once per test session, and the pods each render makes."""

from __future__ import annotations

from typing import Any

import yaml

from tests.chart.helm import RELEASE, Rendered, render
from tests.chart.netpol import Endpoint, Policy
from tests.conftest import ROOT

NAMESPACE = "portico"
EXTERNAL = {
    "postgres": {"enabled": False},
    "externalDatabase": {"existingSecret": "claims-db"},
    "redis": {"enabled": False},
    "externalRedis": {"existingSecret": "claims-redis", "host": "redis.example", "port": 6380},
}
# A gateway of one's own in the namespace "edge", for the functions with Kong disabled.
OWN_GATEWAY = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "edge"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "my-gateway"}},
}
SWITCHES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "runtime-deployment": {"functions": {"runtime": "deployment"}},
    "keda-off": {"keda": {"enabled": False}},
    "external-postgres-redis": EXTERNAL,
    "kong-off": {"kong": {"enabled": False}},
    "kong-off-runtime-deployment": {
        "kong": {"enabled": False},
        "functions": {"runtime": "deployment"},
        "networkPolicy": {"extraGatewaySelectors": [OWN_GATEWAY]},
    },
    "knative-pod-security-context": {"functions": {"knativePodSecurityContext": True}},
    "dev-consumers": {"consumers": {"devConsumers": True}},
    "kind": yaml.safe_load((ROOT / "kind" / "values.yaml").read_text()),
    "tracing": {
        "tracing": {
            "enabled": True,
            "otlpEndpoint": "http://otel-collector.observability:4318/",
            "headersSecret": {
                "name": "otlp-credentials",
                "kongHeaders": [{"header": "x-api-key", "key": "KONG_API_KEY"}],
            },
            "resourceAttributes": {"deployment.environment.name": "staging"},
            "egress": [
                {
                    "to": [{"namespaceSelector": {"matchLabels": {"team": "observability"}}}],
                    "ports": [{"port": 4318, "protocol": "TCP"}],
                }
            ],
        },
        "networkPolicy": {"enabled": True},
    },
}
RENDERED = {name: render(values) for name, values in SWITCHES.items()}
DEFAULTS = RENDERED["defaults"]

# What Knative adds to every function pod: the queue-proxy's ports (serving, h2c, metrics,
# profiling, admin), which the activator, Kourier and the autoscaler call.
QUEUE_PROXY_PORTS = (8012, 8013, 9090, 9091, 8008, 8022)


def pod_specs(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    return [(label, spec) for label, spec, _ in pod_templates(rendered)]


def pod_templates(rendered: Rendered) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """(kind/name, pod spec, pod labels) of everything that makes pods."""
    found = []
    for o in rendered.objects:
        label = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] == "Pod":
            found.append((label, o["spec"], o["metadata"]["labels"]))
        elif o["kind"] in ("Deployment", "StatefulSet", "Job") or is_knative_service(o):
            template = o["spec"]["template"]
            found.append((label, template["spec"], template["metadata"]["labels"]))
    return found


def is_knative_service(o: dict[str, Any]) -> bool:
    return o["kind"] == "Service" and str(o["apiVersion"]).startswith("serving.knative.dev")


def long_running(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """Pod specs of everything but Jobs and test Pods."""
    return [
        (label, spec)
        for label, spec in pod_specs(rendered)
        if label.split("/")[0] not in ("Job", "Pod")
    ]


def pods(rendered: Rendered, release: str = RELEASE) -> dict[str, Endpoint]:
    """One pod of each workload, keyed by kind/name; the endpoint is named release:kind/name."""
    return {
        label: Endpoint(f"{release}:{label}", NAMESPACE, labels)
        for label, _, labels in pod_templates(rendered)
    }


def listening_ports(rendered: Rendered) -> dict[str, set[int]]:
    """The ports each workload's pod listens on (the queue-proxy's too, for a Knative one)."""
    ports = {}
    for o in rendered.objects:
        for label, spec, _ in pod_templates(Rendered([o], "")):
            numbers = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
            if is_knative_service(o):
                numbers |= set(QUEUE_PROXY_PORTS)
            ports[label] = numbers
    return ports


def policies(rendered: Rendered) -> list[Policy]:
    return [Policy(NAMESPACE, o) for o in rendered.of_kind("NetworkPolicy")]
