"""The Helm chart's view of the manifests: the generated block at the end of values.yaml.

`portico render values` rewrites everything below GENERATED_MARKER in charts/portico/values.yaml
(the hand-written, commented settings above it are kept), so one manifest change reaches the
chart with one command. The block holds, per function, what the templates need (kind, timeouts,
concurrency, scale, memory, queue, dependencies) and Kong's declarative config as rendered by
portico.render.kong, with the cluster-specific parts (namespace, Redis address) left as template
expressions that the chart fills in with `tpl`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from portico.manifest import Manifest
from portico.manifest.limits import GATEWAY_MARGIN_SECONDS, upstream_timeout_seconds
from portico.policies.consumers import DEV_CONSUMERS, Consumer, JwtCredential
from portico.render import kong

GENERATED_MARKER = (
    "# --- rendered by `portico render values` from functions/*.yaml; do not edit below"
)

# Stand-ins for what only the cluster knows, swapped for template expressions after dumping.
_PLACEHOLDERS = {
    "__REDIS_PORT__": '{{ include "portico.redis.port" . }}',
    "__REDIS_HOST__": '{{ include "portico.redis.host" . }}',
    "__NAMESPACE__": "{{ .Release.Namespace }}",
    "__FULLNAME__": '{{ include "portico.fullname" . }}',
}
# Each function's cluster-local hostname: its Knative Service (or, with the deployment runtime,
# its Service) is named <fullname>-<function> by the chart (portico.objectName).
UPSTREAM_TEMPLATE = "http://__FULLNAME__-{name}.__NAMESPACE__.svc.cluster.local"


def generated(
    manifests: Sequence[Manifest], margin_seconds: int = GATEWAY_MARGIN_SECONDS
) -> dict[str, Any]:
    return {
        "generated": {
            "functions": {
                m.name: function_values(m, margin_seconds) for m in sorted(manifests, key=_name)
            },
            "kongConfig": kong_config_template(manifests, margin_seconds),
            "devConsumers": consumers_file(DEV_CONSUMERS),
        }
    }


def _name(manifest: Manifest) -> str:
    return manifest.name


def function_values(manifest: Manifest, margin_seconds: int) -> dict[str, Any]:
    spec = manifest.function
    values: dict[str, Any] = {
        "kind": "http" if manifest.is_http else "worker",
        "timeoutSeconds": spec.timeout_seconds,
        "concurrency": spec.concurrency if manifest.is_http else 1,
        "minScale": spec.scale.min,
        "maxScale": spec.scale.max,
        "memory": spec.memory,
    }
    if manifest.api is not None:
        values["route"] = str(manifest.api.route)
        values["upstreamTimeoutSeconds"] = upstream_timeout_seconds(manifest, margin_seconds)
    if manifest.trigger is not None:
        values["queue"] = manifest.trigger.queue
    if manifest.dependencies:
        # The chart sets each variable from the value dependencies.<url_env>, else this url.
        values["dependencies"] = [
            {"binding": d.binding, "env": d.url_env, "url": d.url} for d in manifest.dependencies
        ]
    return values


def kong_config_template(manifests: Sequence[Manifest], margin_seconds: int) -> str:
    """kong.yaml without consumers (the chart adds them from a Secret), upstreams and Redis as
    template expressions."""
    config = kong.render(
        manifests,
        upstream_template=UPSTREAM_TEMPLATE,
        consumers=(),
        gateway_margin_seconds=margin_seconds,
    )
    for route in config["routes"]:
        for plugin in route["plugins"]:
            if plugin["name"] == "rate-limiting":
                plugin["config"]["redis"] = {"host": "__REDIS_HOST__", "port": "__REDIS_PORT__"}
    text = kong.dump_yaml(config)
    for placeholder, expression in _PLACEHOLDERS.items():
        text = text.replace(placeholder, expression)
    return text


def consumers_file(consumers: Sequence[Consumer]) -> str:
    """The consumers in the consumers-file format (for the chart's dev consumers Secret)."""
    entries = []
    for consumer in consumers:
        entry: dict[str, Any] = {"username": consumer.username}
        if consumer.api_keys:
            entry["keys"] = list(consumer.api_keys)
        if consumer.jwt_credentials:
            entry["jwt"] = [jwt_entry(c) for c in consumer.jwt_credentials]
        entries.append(entry)
    return kong.dump_yaml(entries)


def jwt_entry(credential: JwtCredential) -> dict[str, str]:
    key_field = credential.key_field.consumers_file
    return {
        "issuer": credential.issuer,
        "algorithm": credential.algorithm,
        key_field: credential.key,
    }


def rewrite_values(
    current: str, manifests: Sequence[Manifest], margin_seconds: int = GATEWAY_MARGIN_SECONDS
) -> str:
    """values.yaml with its generated block replaced (or appended after the hand-written part)."""
    hand_written = current.split(GENERATED_MARKER, 1)[0].rstrip("\n")
    block = kong.dump_yaml(generated(manifests, margin_seconds))
    return f"{hand_written}\n\n{GENERATED_MARKER}\n{block}"


def generated_block(values_text: str) -> dict[str, Any]:
    """The generated block of a values.yaml, parsed (empty when there is none)."""
    if GENERATED_MARKER not in values_text:
        return {}
    loaded = yaml.safe_load(values_text.split(GENERATED_MARKER, 1)[1])
    return loaded if isinstance(loaded, dict) else {}
