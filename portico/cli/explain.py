"""`portico explain NAME`: a function's whole path, read from the manifests alone.

For an HTTP function: its route and file, what the gateway does to a request, what the runtime
validates, the handler and its bounds, each effect with its share of the deadline, and every
queue it publishes to followed to the worker that consumes it (and on, through what those
workers publish). For a worker: its queue, who publishes to it, what it does. Then the boundary
lint's findings for it. Nothing here connects to anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from portico.cli.options import functions_option, one_function
from portico.manifest import Api, Dependency, Manifest
from portico.manifest.boundaries import review, worst_case_seconds
from portico.manifest.limits import upstream_timeout_seconds
from portico.manifest.wording import display

LABEL = 16  # the width of the label column
STEP = "  "  # one level of indentation


@dataclass(frozen=True)
class Deployment:
    """The manifests, and who consumes and who publishes each queue."""

    manifests: list[Manifest]
    margin_seconds: int

    def consumer(self, queue: str) -> Manifest | None:
        return next((m for m in self.manifests if m.trigger and m.trigger.queue == queue), None)

    def publishers(self, queue: str) -> list[Manifest]:
        return [m for m in self.manifests if any(q.name == queue for q in m.queues)]


def row(label: str, text: str, depth: int = 1) -> str:
    """One aligned line: the text column stays put however deep the label is indented."""
    indent = STEP * depth
    width = max(LABEL + len(STEP) - len(indent), len(label))
    return f"{indent}{label:<{width}} {text}".rstrip()


def explain_lines(manifest: Manifest, deployment: Deployment) -> list[str]:
    lines = list(_heading(manifest, deployment))
    if manifest.api is not None:
        lines += ["", "gateway (Kong in the cluster, the dev gateway locally)"]
        lines += _gateway(manifest, manifest.api, deployment.margin_seconds)
        lines += ["", "request validation (by the runtime; 422 naming each field)"]
        lines += _validation(manifest.api)
    lines += ["", f"handler {manifest.function.handler}"]
    lines += _handler(manifest)
    lines += ["", "effects"]
    lines += _effects(manifest, deployment, depth=1, seen=frozenset({manifest.name}))
    lines += ["", "boundaries (portico check --explain CODE)"]
    lines += _boundaries(manifest, deployment)
    return lines


def _heading(manifest: Manifest, deployment: Deployment) -> Iterator[str]:
    where = display(manifest.path)
    if manifest.api is not None:
        yield f"{manifest.name}: {manifest.api.route} ({where})"
        return
    assert manifest.trigger is not None
    yield f"{manifest.name}: worker of queue {manifest.trigger.queue} ({where})"
    publishers = deployment.publishers(manifest.trigger.queue)
    fed_by = ", ".join(_describe(m) for m in publishers) or "nothing declares it (only replays)"
    yield row("fed by", fed_by)
    yield row("retries", f"{manifest.trigger.retries}, with backoff; then the dead letters")
    yield row("dead letters", f"portico dlq list --queue {manifest.trigger.queue}")


def _describe(manifest: Manifest) -> str:
    if manifest.api is not None:
        return f"{manifest.name} ({manifest.api.route})"
    return f"{manifest.name} (worker of {manifest.trigger.queue})" if manifest.trigger else ""


def _gateway(manifest: Manifest, api: Api, margin_seconds: int) -> list[str]:
    gateway = upstream_timeout_seconds(manifest, margin_seconds)
    deadline = manifest.function.timeout_seconds
    return [
        row("auth", _auth(api)),
        row("rate limit", _rate_limit(api)),
        row("body limit", f"{api.max_body_bytes} bytes (413 above)"),
        row("cache", f"{api.cache.ttl_seconds} s (GET)" if api.cache else "none"),
        row("cors", ", ".join(api.cors.allow_origins) if api.cors else "none"),
        row("idempotency", _idempotency(api)),
        row("timeout", f"{gateway} s (the function's {deadline} s + {margin_seconds} s margin)"),
    ]


def _auth(api: Api) -> str:
    if api.auth == "none":
        return "none: anyone may call"
    if api.jwt is not None:
        return f"JWT (Authorization: Bearer), audience {api.jwt.audience}"
    return "API key (apikey header)"


def _rate_limit(api: Api) -> str:
    from portico.policies.rate_limit import configured_windows

    if api.rate_limit is None:
        return "none"
    windows = ", ".join(f"{n}/{w}" for w, n in configured_windows(api.rate_limit))
    return f"{windows} per consumer (429 above)"


def _idempotency(api: Api) -> str:
    if api.idempotency is None:
        return "none" if api.route.method != "POST" else "off (api.idempotency: false)"
    hours = api.idempotency.retention_hours
    return f"Idempotency-Key (by the runtime), answers kept {hours} h"


def _validation(api: Api) -> list[str]:
    schema = api.request_schema
    if schema is None:
        return [row("body", "not validated" if api.route.method != "GET" else "no body")]
    required = set(schema.get("required", []))
    properties: dict[str, Any] = schema.get("properties", {})
    lines = [
        row(name, f"{'required' if name in required else 'optional'} {_type(rule)}")
        for name, rule in properties.items()
    ]
    return lines or [row("body", "a JSON Schema of its own (no top-level properties)")]


def _type(rule: object) -> str:
    if not isinstance(rule, dict):
        return "any"
    kind = str(rule.get("type", "any"))
    if "maxLength" in rule:
        return f"{kind}, at most {rule['maxLength']} characters"
    return kind


def _handler(manifest: Manifest) -> list[str]:
    spec = manifest.function
    past = "504 past it" if manifest.is_http else "past it the job fails and is retried"
    per = "request" if manifest.is_http else "job"
    lines = [
        row("module", display(spec.handler_file)),
        row("deadline", f"{spec.timeout_seconds} s per {per} (the handler and its SQL; {past})"),
    ]
    if manifest.is_http:
        lines.append(row("concurrency", f"{spec.concurrency} requests at once per process"))
    scale = f"{spec.scale.min} to {spec.scale.max} processes, {spec.memory} each"
    return [*lines, row("scale", scale)]


def _effects(
    manifest: Manifest, deployment: Deployment, depth: int, seen: frozenset[str]
) -> list[str]:
    deadline = manifest.function.timeout_seconds
    statement = f"one transaction, statement timeout {deadline} s"
    lines = [
        row("store", f"{s.name} (ctx.{s.binding}): {statement}", depth) for s in manifest.stores
    ]
    lines += [_dependency(d, deadline, depth) for d in manifest.dependencies]
    for queue in manifest.queues:
        sent = f"{queue.name} (ctx.{queue.binding}): sent with the commit (the outbox)"
        lines.append(row("queue", sent, depth))
        lines += _consumer(queue.name, deployment, depth + 1, seen)
    return lines or [row("none", "", depth)]


def _dependency(d: Dependency, deadline: int, depth: int) -> str:
    worst = worst_case_seconds(d.timeout_seconds, d.retries)
    retries = f"{d.retries} retries (safe requests only)" if d.retries else "no retries"
    url = f", default {d.url}" if d.url else ""
    share = f"up to {worst:g} s, {worst / deadline:.0%} of the {deadline} s deadline"
    text = f"{d.binding} (ctx.{d.binding}, ${d.url_env}{url}): {d.timeout_seconds:g} s per call"
    return row("dependency", f"{text}, {retries}; {share}", depth)


def _consumer(queue: str, deployment: Deployment, depth: int, seen: frozenset[str]) -> list[str]:
    worker = deployment.consumer(queue)
    if worker is None:
        return [row("worker", "none: no function's trigger.queue is this queue", depth)]
    if worker.name in seen:
        return [row("worker", f"{worker.name} (shown above: the queues form a loop)", depth)]
    dead = f"dead letters: portico dlq list --queue {queue}"
    lines = [row("worker", f"{worker.name}: {_retries(worker)}; {dead}", depth)]
    return lines + _effects(worker, deployment, depth + 1, seen | {worker.name})


def _retries(worker: Manifest) -> str:
    assert worker.trigger is not None
    timeout = worker.function.timeout_seconds
    return f"{worker.trigger.retries} retries, {timeout} s per job"


def _boundaries(manifest: Manifest, deployment: Deployment) -> list[str]:
    verdict = review(deployment.manifests)
    lines = [row(f.code, f.message) for f in verdict.failures if f.function == manifest.name]
    lines += [
        row(f.code, f"{f.message} (allowed: {reason})")
        for f, reason in verdict.allowed
        if f.function == manifest.name
    ]
    return lines or [row("none", "every rule passes")]


@click.command("explain")
@click.argument("name")
@functions_option
def explain(name: str, functions_dir: Path) -> None:
    """Print NAME's whole path, from the manifests alone: for an HTTP function, its route, what
    the gateway does (auth, rate limits, body limit, cache, CORS, idempotency, timeout), what
    the runtime validates, the handler's deadline, concurrency and scale, each effect with its
    budget (stores, dependencies, queues) and each queue followed to the worker that consumes
    it, and on through what that worker publishes; for a worker, its queue, who publishes to
    it and what it does. Then the boundary lint's findings for it (`portico check`).

    NAME is a function's name (`portico check` lists them). Exit 2 for an unknown name.

    \b
    Example:
      portico explain submit-claim
    """
    manifest, settings, manifests = one_function(functions_dir, name)
    deployment = Deployment(manifests, settings.gateway_margin_seconds)
    for line in explain_lines(manifest, deployment):
        click.echo(line)
