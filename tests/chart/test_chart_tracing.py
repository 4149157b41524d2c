"""The chart's tracing (`tracing.*`): off by default, and when on, the OTEL_* variables every
Portico process reads (as portico.tracing reads them), Kong's global opentelemetry plugin with
fields Kong 3.9's schema has, Kong's tracing env, the collector's egress and the notes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from portico import tracing
from tests.chart.helm import Rendered, render
from tests.chart.renders import DEFAULTS, RENDERED, SWITCHES, pod_specs, policies

TRACED = RENDERED["tracing"]
ENDPOINT = "http://otel-collector.observability:4318"
# kong/plugins/opentelemetry/schema.lua (Kong 3.9) and typedefs.propagation.
KONG_OTEL_FIELDS = {
    "traces_endpoint", "logs_endpoint", "headers", "resource_attributes", "queue",
    "batch_span_count", "batch_flush_delay", "connect_timeout", "send_timeout", "read_timeout",
    "http_response_header_for_traceid", "header_type", "sampling_rate", "propagation",
}  # fmt: skip
KONG_PROPAGATION_FIELDS = {"extract", "inject", "clear", "default_format"}
KONG_FORMATS = {"w3c", "b3", "b3-single", "jaeger", "ot", "datadog", "aws", "gcp", "instana"}


def containers(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """Every long-running container of the release (not init containers, not helm tests)."""
    return [
        (label, container)
        for label, spec in pod_specs(rendered)
        if not label.startswith("Pod/")
        for container in spec["containers"]
    ]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def portico_containers(rendered: Rendered) -> list[tuple[str, dict[str, Any]]]:
    """Functions, workers and the relay: what runs `portico` and is not a migration."""
    return [
        (label, c)
        for label, c in containers(rendered)
        if not label.startswith("Job/") and ("PORTICO_FUNCTION" in env_of(c) or "relay" in label)
    ]


def kong_config(rendered: Rendered) -> dict[str, Any]:
    [config_map] = [o for o in rendered.of_kind("ConfigMap") if "kong.yaml" in o.get("data", {})]
    return dict(yaml.safe_load(config_map["data"]["kong.yaml"]))


def kong_container(rendered: Rendered) -> dict[str, Any]:
    [kong] = [c for label, c in containers(rendered) if c["name"] == "kong"]
    return kong


def test_by_default_nothing_of_tracing_is_rendered():
    for label, container in containers(DEFAULTS):
        names = set(env_of(container))
        assert not {n for n in names if n.startswith(("OTEL_", "KONG_TRACING"))}, label
    assert all(p["name"] != "opentelemetry" for p in kong_config(DEFAULTS).get("plugins", []))
    assert "Tracing" not in DEFAULTS.notes


def test_every_function_worker_and_relay_exports_where_the_runtime_reads_it():
    found = portico_containers(TRACED)
    labels = {label for label, _ in found}
    assert any("relay" in label for label in labels)
    assert len(found) >= 3, labels
    for label, container in found:
        env = env_of(container)
        plain = {name: e["value"] for name, e in env.items() if "value" in e}
        assert tracing.traces_endpoint(plain) == f"{ENDPOINT}/v1/traces", label
        assert plain["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert float(plain["OTEL_TRACES_SAMPLER_ARG"]) == 1.0
        attributes = dict(pair.split("=") for pair in plain["OTEL_RESOURCE_ATTRIBUTES"].split(","))
        assert attributes == {
            "deployment.environment.name": "staging",
            "k8s.namespace.name": "portico",
        }
        reference = env["OTEL_EXPORTER_OTLP_HEADERS"]
        assert "value" not in reference  # never inline
        assert reference["valueFrom"]["secretKeyRef"] == {
            "name": "otlp-credentials",
            "key": "OTEL_EXPORTER_OTLP_HEADERS",
        }


def test_both_function_runtimes_get_the_variables():
    deployment = render({**SWITCHES["tracing"], "functions": {"runtime": "deployment"}})
    for rendered, kind in ((TRACED, "Service"), (deployment, "Deployment")):
        functions = [
            (label, c)
            for label, c in portico_containers(rendered)
            if label.startswith(f"{kind}/") and "relay" not in label
        ]
        assert len(functions) >= 2, kind
        assert all("OTEL_EXPORTER_OTLP_ENDPOINT" in env_of(c) for _, c in functions), kind


def test_kong_gets_a_global_opentelemetry_plugin_kong_can_load():
    [plugin] = [p for p in kong_config(TRACED)["plugins"] if p["name"] == "opentelemetry"]
    config = plugin["config"]
    assert set(config) <= KONG_OTEL_FIELDS, set(config) - KONG_OTEL_FIELDS
    assert config["traces_endpoint"] == f"{ENDPOINT}/v1/traces"
    assert 0 <= config["sampling_rate"] <= 1
    assert set(config["propagation"]) <= KONG_PROPAGATION_FIELDS
    assert config["propagation"]["inject"] == ["w3c"]
    assert set(config["propagation"]["extract"]) <= KONG_FORMATS
    assert config["resource_attributes"]["service.name"] == "kong"
    assert all(isinstance(v, str) and v for v in config["resource_attributes"].values())
    # The credential is a reference to Kong's env vault, its value never in the ConfigMap.
    assert config["headers"] == {"x-api-key": "{vault://env/portico-otlp-header-0}"}


def test_kong_traces_and_reads_its_header_from_the_secret():
    env = env_of(kong_container(TRACED))
    assert env["KONG_TRACING_INSTRUMENTATIONS"]["value"] == "all"
    assert float(env["KONG_TRACING_SAMPLING_RATE"]["value"]) == 1.0
    # Kong's env vault: {vault://env/portico-otlp-header-0} reads PORTICO_OTLP_HEADER_0.
    assert env["PORTICO_OTLP_HEADER_0"]["valueFrom"]["secretKeyRef"] == {
        "name": "otlp-credentials",
        "key": "KONG_API_KEY",
    }


def test_an_always_off_sampler_makes_kong_keep_no_trace():
    rendered = render(
        {"tracing": {"enabled": True, "otlpEndpoint": ENDPOINT, "sampler": "always_off"}}
    )
    [plugin] = [p for p in kong_config(rendered)["plugins"] if p["name"] == "opentelemetry"]
    assert plugin["config"]["sampling_rate"] == 0
    assert "OTEL_TRACES_SAMPLER_ARG" not in env_of(portico_containers(rendered)[0][1])


def test_the_collector_is_reachable_through_the_policies_only_while_tracing_is_on():
    def egress_to_collector(rendered: Rendered) -> list[str]:
        found = []
        for policy in rendered.of_kind("NetworkPolicy"):
            for rule in policy["spec"].get("egress", []):
                if {"port": 4318, "protocol": "TCP"} in rule.get("ports", []):
                    found.append(policy["metadata"]["name"])
        return found

    reaching = egress_to_collector(TRACED)
    for role in ("functions", "workers", "relay", "kong"):
        assert any(role in name for name in reaching), (role, reaching)
    assert egress_to_collector(DEFAULTS) == []
    assert policies(TRACED)  # the evaluator reads them too


def test_the_notes_warn_when_no_policy_lets_spans_out():
    bare = render({"tracing": {"enabled": True, "otlpEndpoint": ENDPOINT}})
    assert f"send their spans to {ENDPOINT}" in bare.notes
    assert "no NetworkPolicy lets the pods reach the collector" in bare.notes
    assert "reach the collector" not in TRACED.notes
    portico_only = render(
        {
            "tracing": {
                "enabled": True,
                "otlpEndpoint": ENDPOINT,
                "headersSecret": {"name": "otlp-credentials"},
            }
        }
    )
    assert "Kong sends none" in portico_only.notes


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"tracing": {"enabled": True}}, "otlpEndpoint"),
        ({"tracing": {"enabled": True, "otlpEndpoint": ENDPOINT, "ratio": 1.5}}, "ratio"),
        ({"tracing": {"enabled": "yes"}}, "enabled"),
        (
            {"tracing": {"enabled": True, "otlpEndpoint": ENDPOINT, "sampler": "sometimes"}},
            "sampler",
        ),
    ],
)
def test_wrong_tracing_values_are_refused_naming_the_field(values, named):
    import helm_python

    with pytest.raises((helm_python.HelmValuesError, helm_python.HelmError), match=named):
        render(values)
