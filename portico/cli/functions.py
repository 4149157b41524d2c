"""The commands a function image runs: migrate, seed, serve, worker, relay, and `run`, the
container entrypoint that picks one of them from PORTICO_FUNCTION. Base install only: nothing
here imports the laptop's `portico.local` or `portico.gateway`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from portico.cli.options import (
    functions_option,
    one_function,
    require_postgres,
    require_valid_urls,
    settings_for,
    unreachable_exits,
)

if TYPE_CHECKING:
    from portico.manifest import Manifest
    from portico.settings import Settings


@click.command("migrate")
@functions_option
def migrate(functions_dir: Path) -> None:
    """Apply pending SQL migrations to DATABASE_URL (safe to re-run)."""
    from portico.migrate import migrate as apply

    settings = settings_for(functions_dir)
    require_postgres(settings)
    applied = apply(settings.database_url, settings.functions_dir)
    click.echo(f"applied: {', '.join(applied)}" if applied else "up to date")


@click.command("seed")
@functions_option
def seed(functions_dir: Path) -> None:
    """Load the demo data (each app's seed/*.sql) into DATABASE_URL; idempotent."""
    from portico.seed import seed as load

    settings = settings_for(functions_dir)
    require_postgres(settings)
    for path in load(settings.database_url, settings.functions_dir):
        click.echo(f"seeded {path}")


@click.command("serve")
@click.argument("name", required=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@functions_option
def serve(name: str | None, host: str, port: int, functions_dir: Path) -> None:
    """Serve one HTTP function (NAME or PORTICO_FUNCTION) with gunicorn."""
    serve_function(*one_function(functions_dir, name), host=host, port=port)


def serve_function(
    manifest: Manifest, settings: Settings, manifests: list[Manifest], *, host: str, port: int
) -> None:
    from portico.runtime.resources import consumers_of
    from portico.runtime.serve import serve as run

    if manifest.api is None:
        raise click.UsageError(f"{manifest.name} is a queue function: use `portico worker`")
    # /readyz fails until Postgres and Redis answer
    run(manifest, settings, host, port, consumers=consumers_of(manifests))


@click.command("worker")
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
    manifest, settings, manifests = one_function(functions_dir, name)
    work_function(
        manifest, settings, manifests, burst=burst, host=host, port=None if no_health else port
    )


def work_function(
    manifest: Manifest,
    settings: Settings,
    manifests: list[Manifest],
    *,
    burst: bool,
    host: str,
    port: int | None,
) -> None:
    from portico.queueing.worker import run_worker
    from portico.runtime.resources import consumers_of

    if manifest.trigger is None:
        raise click.UsageError(f"{manifest.name} is an HTTP function: use `portico serve`")
    # It waits for Postgres as its pool opens, and RQ rides out a Redis outage while it works;
    # when it gives up, it says so in one line.
    require_valid_urls(settings)
    with unreachable_exits(settings):
        run_worker(
            manifest,
            settings,
            burst=burst,
            host=host,
            port=port,
            consumers=consumers_of(manifests),
        )


@click.command("relay")
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

    run_relay(settings_for(functions_dir), host=host, port=port)  # it keeps trying


@click.command("run")
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
        manifest, settings, manifests = one_function(functions_dir, what)
        if manifest.api is not None:
            serve_function(manifest, settings, manifests, host="0.0.0.0", port=port)
        else:
            work_function(manifest, settings, manifests, burst=False, host="0.0.0.0", port=port)
