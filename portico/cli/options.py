"""What the commands share: their common options, the settings and manifests they start from,
and the one line a command exits with when a server it needs does not answer."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from portico.manifest import Manifest, ManifestErrors, load_all
from portico.settings import Settings, SettingsError, settings_from_env

if TYPE_CHECKING:
    from portico.policies.consumers import Consumer

# How long a command waits for Postgres or Redis to answer before it says it cannot reach it.
CONNECT_TIMEOUT_SECONDS = 5


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


def output_option(default: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    return click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=default,
        show_default=True,
        help="Where to write it; '-' for standard output.",
    )


def write_rendered(output: Path, text: str) -> None:
    """Write to OUTPUT, or to standard output for '-'."""
    if str(output) == "-":
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    click.echo(f"wrote {output}")


def settings_for(functions_dir: Path, *, dev_stack: bool = True) -> Settings:
    """This process's settings (a bad value is a usage error naming its variable), with the
    manifests in `functions_dir`; `dev_stack` as in `settings_from_env`."""
    try:
        settings = settings_from_env(dev_stack=dev_stack)
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


def one_function(
    functions_dir: Path, name: str | None
) -> tuple[Manifest, Settings, list[Manifest]]:
    """The function NAME (or PORTICO_FUNCTION), the settings, and every manifest (all checked:
    one that is not well-formed is an error, with its file and field)."""
    settings = settings_for(functions_dir)
    name = name or settings.function
    manifests = manifests_or_exit(functions_dir)
    if not name:
        raise click.UsageError("name the function (argument NAME or PORTICO_FUNCTION)")
    for manifest in manifests:
        if manifest.name == name:
            return manifest, settings, manifests
    known = ", ".join(m.name for m in manifests)
    raise click.UsageError(f"no function named {name!r} under {functions_dir} (functions: {known})")


def exit_unreachable(settings: Settings, variable: str, error: BaseException) -> NoReturn:
    """One line on standard error (`Settings.unreachable`), exit 1."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    reason = lines[0].rsplit(": ", 1)[-1].strip().rstrip(".") or type(error).__name__
    click.echo(f"error: {settings.unreachable(variable, reason)}", err=True)
    sys.exit(1)


def require_postgres(settings: Settings) -> None:
    """Exit with one line unless Postgres answers at DATABASE_URL."""
    import psycopg

    try:
        with psycopg.connect(settings.database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except psycopg.Error as exc:
        exit_unreachable(settings, "DATABASE_URL", exc)


def require_redis(settings: Settings) -> None:
    """Exit with one line unless Redis answers at REDIS_URL."""
    import redis

    try:
        client = redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=CONNECT_TIMEOUT_SECONDS,
        )
        with client:
            client.ping()
    except (redis.RedisError, ValueError, OSError) as exc:
        exit_unreachable(settings, "REDIS_URL", exc)


def require_valid_urls(settings: Settings) -> None:
    """Exit with one line when DATABASE_URL or REDIS_URL does not parse (before any wait)."""
    import psycopg
    import redis
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(settings.database_url)
    except psycopg.Error as exc:
        exit_unreachable(settings, "DATABASE_URL", exc)
    try:
        redis.Redis.from_url(settings.redis_url).close()  # parses it; connects only on use
    except ValueError as exc:
        exit_unreachable(settings, "REDIS_URL", exc)


@contextmanager
def unreachable_exits(settings: Settings) -> Iterator[None]:
    """A long-running process that gives up on Postgres or Redis (a worker whose pool never
    opened, whose Redis refused it) exits with the same one line instead of a traceback."""
    import psycopg
    import psycopg_pool
    import redis

    try:
        yield
    except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
        exit_unreachable(settings, "DATABASE_URL", exc)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        exit_unreachable(settings, "REDIS_URL", exc)
