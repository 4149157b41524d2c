"""The `portico` command."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from portico.manifest import Manifest, ManifestErrors, load_all
from portico.settings import Settings, SettingsError, mark_started, settings_from_env

if TYPE_CHECKING:
    from portico.policies.consumers import Consumer


def functions_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--functions-dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="PORTICO_FUNCTIONS_DIR",
        default="functions",
        show_default=True,
        help="Where the function manifests live.",
    )(f)


def read_consumers(path: Path | None, default: tuple[Consumer, ...]) -> tuple[Consumer, ...]:
    from portico.policies.consumers import load_consumers

    try:
        return load_consumers(path, default)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--consumers") from exc


def consumers_callback(
    ctx: click.Context, param: click.Parameter, value: Path | None
) -> tuple[Consumer, ...]:
    from portico.policies.consumers import DEV_CONSUMERS

    return read_consumers(value, DEV_CONSUMERS)


def consumers_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--consumers",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar="PORTICO_CONSUMERS_FILE",
        callback=consumers_callback,
        help="YAML list of the API consumers with their API keys and JWT issuers (format: "
        "`portico render kong --help`). Default: the dev consumers alice and bob.",
    )(f)


def settings_for(functions_dir: Path) -> Settings:
    try:
        settings = settings_from_env()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    return dataclasses.replace(settings, functions_dir=functions_dir.resolve())


def manifests_or_exit(functions_dir: Path) -> list[Manifest]:
    try:
        return load_all(functions_dir)
    except ManifestErrors as errors:
        for error in errors.errors:
            click.echo(f"error: {error}", err=True)
        click.echo(f"{len(errors.errors)} manifest error(s)", err=True)
        sys.exit(1)


def one_function(functions_dir: Path, name: str | None) -> tuple[Manifest, Settings]:
    settings = settings_for(functions_dir)
    name = name or settings.function
    manifests = manifests_or_exit(functions_dir)
    if not name:
        raise click.UsageError("name the function (argument NAME or PORTICO_FUNCTION)")
    for manifest in manifests:
        if manifest.name == name:
            return manifest, settings
    known = ", ".join(m.name for m in manifests)
    raise click.UsageError(f"no function named {name!r} under {functions_dir} (functions: {known})")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Portico: function-backed HTTP APIs from one manifest per function.

    Configuration comes from the environment: DATABASE_URL, REDIS_URL, PORTICO_FUNCTION,
    PORTICO_LOG_LEVEL, PORTICO_FUNCTIONS_DIR.
    """
    mark_started()  # for the cold-start metric; gunicorn's forked worker inherits it


@main.command()
@click.option(
    "--connection-budget",
    type=click.IntRange(min=1),
    envvar="PORTICO_DB_CONNECTION_BUDGET",
    default=97,
    show_default=True,
    help="Postgres connections the deployment may use (max_connections less reserved).",
)
@functions_option
def check(connection_budget: int, functions_dir: Path) -> None:
    """Validate every manifest and import every handler; check the deployment's worst-case
    Postgres connections against the budget and its timeout chain. Exit 1 on any error."""
    from portico.manifest.limits import connection_problems, connection_use, timeout_problems
    from portico.runtime.handler import HandlerError, load_handler
    from portico.state.transaction import CANCEL_SECONDS

    manifests = manifests_or_exit(functions_dir)
    failures = 0
    for m in manifests:
        try:
            load_handler(m)
        except HandlerError as exc:
            click.echo(f"error: {exc}", err=True)
            failures += 1
            continue
        what = str(m.api.route) if m.api else f"queue {m.trigger.queue}" if m.trigger else ""
        click.echo(f"ok  {m.name:16} {what:28} {m.function.handler}")
    uses = connection_use(manifests)
    worst = sum(use.total for use in uses)
    click.echo(f"Postgres connections at max scale: {worst} of a budget of {connection_budget}")
    settings = settings_for(functions_dir)
    timeouts = timeout_problems(
        manifests,
        margin_seconds=settings.gateway_margin_seconds,
        cancel_seconds=CANCEL_SECONDS,
    )
    for problem in connection_problems(manifests, connection_budget) + timeouts:
        click.echo(f"error: {problem}", err=True)
        failures += 1
    if failures:
        sys.exit(1)
    click.echo(f"{len(manifests)} function(s), all valid")


@main.command()
@functions_option
def migrate(functions_dir: Path) -> None:
    """Apply pending SQL migrations to DATABASE_URL (safe to re-run)."""
    from portico.migrate import migrate as apply

    settings = settings_for(functions_dir)
    applied = apply(settings.database_url, settings.functions_dir)
    click.echo(f"applied: {', '.join(applied)}" if applied else "up to date")


@main.command()
@functions_option
def seed(functions_dir: Path) -> None:
    """Load the demo data (each app's seed/*.sql) into DATABASE_URL; idempotent."""
    from portico.local.seed import seed as load

    settings = settings_for(functions_dir)
    for path in load(settings.database_url, settings.functions_dir):
        click.echo(f"seeded {path}")


@main.command()
@click.argument("name", required=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@functions_option
def serve(name: str | None, host: str, port: int, functions_dir: Path) -> None:
    """Serve one HTTP function (NAME or PORTICO_FUNCTION) with gunicorn."""
    from portico.runtime.serve import serve as run

    manifest, settings = one_function(functions_dir, name)
    if manifest.api is None:
        raise click.UsageError(f"{manifest.name} is a queue function: use `portico worker`")
    run(manifest, settings, host, port)


@main.command()
@click.argument("name", required=False)
@click.option("--burst", is_flag=True, help="Exit when the queue is empty.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", type=int, default=8080, show_default=True, help="Port of /healthz, /readyz, /metrics."
)
@click.option("--no-health", is_flag=True, help="Serve no health endpoints.")
@functions_option
def worker(
    name: str | None, burst: bool, host: str, port: int, no_health: bool, functions_dir: Path
) -> None:
    """Run one queue function (NAME or PORTICO_FUNCTION) as an RQ worker."""
    from portico.queueing.worker import run_worker

    manifest, settings = one_function(functions_dir, name)
    if manifest.trigger is None:
        raise click.UsageError(f"{manifest.name} is an HTTP function: use `portico serve`")
    run_worker(manifest, settings, burst=burst, host=host, port=None if no_health else port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port", type=int, default=8080, show_default=True, help="Port of /healthz, /readyz, /metrics."
)
@functions_option
def relay(host: str, port: int, functions_dir: Path) -> None:
    """Deliver the outbox to Redis and keep the queues healthy (retries, abandoned jobs).

    Always on, even when every worker is scaled to zero; several may run.
    """
    from portico.queueing.relay import run_relay

    run_relay(settings_for(functions_dir), host=host, port=port)


@main.command("run")
@functions_option
@click.pass_context
def run_from_environment(ctx: click.Context, functions_dir: Path) -> None:
    """The container entrypoint: PORTICO_FUNCTION says what this process is.

    \b
      an HTTP function's name  serve it on 0.0.0.0:$PORT (8080)
      a queue function's name  run its worker, health endpoints on $PORT
      relay                    the outbox relay, health endpoints on $PORT
      migrate                  apply migrations (and the seeds when PORTICO_SEED=1), then exit
    """
    settings = settings_for(functions_dir)
    what, port = settings.function or "", settings.port
    if what == "migrate":
        ctx.invoke(migrate, functions_dir=functions_dir)
        if settings.seed:
            ctx.invoke(seed, functions_dir=functions_dir)
    elif what == "relay":
        ctx.invoke(relay, host="0.0.0.0", port=port, functions_dir=functions_dir)
    elif not what:
        raise click.UsageError("set PORTICO_FUNCTION to a function's name, relay or migrate")
    else:
        manifest, _ = one_function(functions_dir, what)
        command = serve if manifest.api is not None else worker
        options = {"burst": False, "no_health": False} if command is worker else {}
        ctx.invoke(
            command, name=what, host="0.0.0.0", port=port, functions_dir=functions_dir, **options
        )


@main.group()
def render() -> None:
    """Render configuration from the manifests (committed under gateway-config/)."""


def output_option(default: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    return click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help="Where to write it; '-' for standard output.",
    )


@render.command("openapi")
@output_option("gateway-config/openapi.json")
@functions_option
def render_openapi(output: Path, functions_dir: Path) -> None:
    """The OpenAPI 3.1 document of every HTTP function."""
    import json

    from portico.render.openapi import render as render_document

    text = json.dumps(render_document(manifests_or_exit(functions_dir)), indent=2) + "\n"
    write_rendered(output, text)


def write_rendered(output: Path, text: str) -> None:
    """Write to OUTPUT, or to standard output for '-'."""
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    click.echo(f"wrote {output}")


def gateway_margin_option(f: click.decorators.FC) -> click.decorators.FC:
    from portico.manifest.limits import GATEWAY_MARGIN_SECONDS

    return click.option(
        "--gateway-margin-seconds",
        type=click.IntRange(min=0),
        default=GATEWAY_MARGIN_SECONDS,
        show_default=True,
        help="How long past a function's timeout_seconds the gateway waits for its answer.",
    )(f)


def upstream_template_option(ctx: click.Context, param: click.Parameter, value: str) -> str:
    problem = f"{value!r} must contain {{name}} and no other {{...}} field"
    try:
        value.format(name="")
    except (KeyError, IndexError, ValueError) as exc:
        raise click.BadParameter(problem) from exc
    if "{name}" not in value:
        raise click.BadParameter(problem)
    return value


@render.command("kong")
@output_option("gateway-config/kong.yaml")
@click.option(
    "--upstream-template",
    default="http://{name}.portico.svc.cluster.local",
    show_default=True,
    callback=upstream_template_option,
    help="Each service's URL; {name} is the function's name.",
)
@click.option(
    "--redis-host",
    default="portico-redis",
    show_default=True,
    help="The Redis that keeps the rate-limit counters.",
)
@click.option("--redis-port", type=click.IntRange(1, 65535), default=6379, show_default=True)
@gateway_margin_option
@consumers_option
@functions_option
def render_kong(
    output: Path,
    upstream_template: str,
    redis_host: str,
    redis_port: int,
    gateway_margin_seconds: int,
    consumers: tuple[Consumer, ...],
    functions_dir: Path,
) -> None:
    """Kong OSS 3.9 DB-less configuration: a service and a route per HTTP function, with the
    manifest's policies as plugins.

    --consumers FILE lists the consumers, their API keys and their JWT issuers (the `iss` of
    their tokens, with the HS256 secret or the RS256 public key that checks them):

    \b
      - username: acme
        keys: [a-long-random-key]
      - username: globex
        keys: [first-key, second-key]
        jwt:
          - issuer: https://login.globex.example
            algorithm: RS256
            public_key: |
              -----BEGIN PUBLIC KEY-----
              ...
              -----END PUBLIC KEY-----
          - issuer: globex-batch
            algorithm: HS256
            secret: a-long-random-secret

    Without it the dev consumers alice and bob are rendered with their published credentials,
    under a warning that they are dev-only: the chart replaces the consumers from a Secret.
    """
    from portico.render import kong

    config = kong.render(
        manifests_or_exit(functions_dir),
        upstream_template=upstream_template,
        redis_host=redis_host,
        redis_port=redis_port,
        consumers=consumers,
        gateway_margin_seconds=gateway_margin_seconds,
    )
    write_rendered(output, kong.to_yaml(config))


@render.command("values")
@click.option(
    "--values",
    "values_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default="charts/portico/values.yaml",
    show_default=True,
    help="The chart's values.yaml; only its generated block (at the end) is rewritten.",
)
@gateway_margin_option
@functions_option
def render_values(values_file: Path, gateway_margin_seconds: int, functions_dir: Path) -> None:
    """The chart's generated values: each function's kind, timeouts, concurrency, scale and
    memory, and Kong's declarative config, rewritten at the end of values.yaml."""
    from portico.render.values import rewrite_values

    current = values_file.read_text() if values_file.exists() else ""
    manifests = manifests_or_exit(functions_dir)
    write_rendered(values_file, rewrite_values(current, manifests, gateway_margin_seconds))


@main.command("kong-config")
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--consumers",
    "consumers_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The consumers file to add (without it, the config keeps no consumers).",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def kong_config(config: Path, consumers_file: Path | None, output: Path) -> None:
    """Write CONFIG (a rendered Kong config) with the consumers of a consumers file, and the
    gateway secret from PORTICO_GATEWAY_SECRET in place of its reference: the chart's Kong
    init container joins its ConfigMap, its consumers Secret and its gateway Secret this way."""
    from portico.render.kong import with_consumers

    consumers = read_consumers(consumers_file, default=())
    secret = settings_for(Path("functions")).gateway_secret
    write_rendered(output, with_consumers(config.read_text(), consumers, secret))


@render.command("openfaas")
@output_option("gateway-config/openfaas/stack.yml")
@click.option(
    "--image", default="portico-functions:latest", show_default=True, help="The function image."
)
@functions_option
def render_openfaas(output: Path, image: str, functions_dir: Path) -> None:
    """OpenFaaS stack file: one function per HTTP function (queue workers are left out)."""
    from portico.render.openfaas import document

    write_rendered(output, document(manifests_or_exit(functions_dir), image=image))


@main.group()
def dlq() -> None:
    """Dead letters: queue messages whose jobs failed after all their retries."""


def _dlq_context(functions_dir: Path) -> tuple[Any, list[str]]:
    import redis

    from portico.queueing.relay import queue_names

    settings = settings_for(functions_dir)
    return redis.Redis.from_url(settings.redis_url), queue_names(manifests_or_exit(functions_dir))


@dlq.command("list")
@click.option("--queue", "only", help="Only this queue.")
@functions_option
def dlq_list(only: str | None, functions_dir: Path) -> None:
    """One line per dead letter: job id, queue, when it failed, why."""
    from portico.queueing.dlq import dead_letters

    connection, queues = _dlq_context(functions_dir)
    letters = dead_letters(connection, [only] if only else queues)
    for letter in letters:
        when = letter.failed_at.isoformat(timespec="seconds") if letter.failed_at else "?"
        click.echo(f"{letter.job_id}  {letter.queue}  {when}  {letter.error}")
    click.echo(f"{len(letters)} dead letter(s)", err=True)


@dlq.command("show")
@click.argument("job_id")
@functions_option
def dlq_show(job_id: str, functions_dir: Path) -> None:
    """The message and the full error of one dead letter."""
    import json

    from portico.queueing.dlq import find

    connection, queues = _dlq_context(functions_dir)
    letter = find(connection, queues, job_id)
    if letter is None:
        raise click.ClickException(f"no dead letter {job_id!r} (see `portico dlq list`)")
    click.echo(f"job:     {letter.job_id}\nqueue:   {letter.queue}\nfailed:  {letter.failed_at}")
    click.echo("message: " + json.dumps(letter.message, indent=2))
    click.echo(letter.traceback)


@dlq.command("replay")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@functions_option
def dlq_replay(job_ids: tuple[str, ...], replay_all: bool, functions_dir: Path) -> None:
    """Put dead letters back on their queues (safe: processed messages are skipped)."""
    from portico.queueing.dlq import dead_letters, find, replay

    connection, queues = _dlq_context(functions_dir)
    if replay_all == bool(job_ids):
        raise click.UsageError("name JOB_IDS or pass --all")
    letters = dead_letters(connection, queues) if replay_all else []
    for job_id in job_ids:
        letter = find(connection, queues, job_id)
        if letter is None:
            raise click.ClickException(f"no dead letter {job_id!r} (see `portico dlq list`)")
        letters.append(letter)
    for letter in letters:
        replay(connection, letter)
        click.echo(f"replayed {letter.job_id} onto {letter.queue}")


@main.command()
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
@consumers_option
@functions_option
def gateway(
    host: str,
    port: int,
    upstreams: tuple[str, ...],
    on_demand: tuple[str, ...],
    idle_seconds: float,
    consumers: tuple[Consumer, ...],
    functions_dir: Path,
) -> None:
    """Run the dev gateway: Kong's routing, API key and JWT auth, size and rate limits, caching
    and correlation ids, driven by the manifests; starts scale-to-zero functions on demand."""
    from portico.gateway.app import Upstream, run_gateway
    from portico.local.dev import portico_command
    from portico.local.scaler import ScaledFunction
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
    scaled: list[ScaledFunction] = []
    for item in on_demand:
        name, function_port = named(item, "NAME=PORT")
        url = f"http://127.0.0.1:{function_port}"
        command = portico_command(
            "serve", name, "--port", function_port, "--functions-dir", str(settings.functions_dir)
        )
        scaled.append(ScaledFunction(name, command, url, idle_seconds=idle_seconds))
        parsed.append(Upstream(by_name[name], url, margin))
    run_gateway(
        parsed,
        host,
        port,
        openapi=render_openapi(manifests),
        redis_url=settings.redis_url,
        scaled=scaled,
        consumers=consumers,
        gateway_secret=settings.gateway_secret,
    )


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=".dev",
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
    scale.min 0 start on their first request and stop after PORTICO_IDLE_SECONDS idle. The
    gateway knows the dev consumers alice and bob, or those of PORTICO_CONSUMERS_FILE.
    """
    from portico.local.dev import run_dev

    manifests = manifests_or_exit(functions_dir)
    code = run_dev(
        manifests,
        functions_dir.resolve(),
        data_dir.resolve(),
        port,
        scale_to_zero=not no_scale_to_zero,
    )
    sys.exit(code)


@main.command("dev-token")
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
