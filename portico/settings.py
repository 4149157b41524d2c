"""Configuration from the environment, read here and nowhere else.

A process reads its settings once, when it starts (`settings_from_env`), and hands them to
what it builds; no module reads the environment at import time. A value that does not parse
names its variable (`SettingsError`), so a typo in a chart value is one line, not a traceback.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

DEFAULT_DATABASE_URL = "postgresql://portico@127.0.0.1:5432/portico"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Set by the `portico` command as it starts, so a process's cold start includes its imports.
STARTED_AT_VARIABLE = "PORTICO_STARTED_AT"

T = TypeVar("T", int, float)


class SettingsError(ValueError):
    """An environment variable holds a value its setting cannot take."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str = DEFAULT_REDIS_URL
    functions_dir: Path = field(default_factory=lambda: Path("functions").resolve())
    function: str | None = None
    log_level: str = "INFO"
    # Seconds a SIGTERMed process keeps serving with /readyz failing before it stops accepting,
    # so a load balancer can take it out of rotation first (0 locally, a few seconds in a cluster).
    drain_seconds: float = 0.0
    # How the gateway proves itself to a function: without it a function believes no caller
    # identity at all (portico.policies.upstream; generated per `portico dev` run, a Secret in
    # the chart).
    gateway_secret: str | None = None
    # How long past a function's deadline the dev gateway waits (`portico check` checks it).
    gateway_margin_seconds: int = 5
    # The longest a request waits for a pooled Postgres connection (within its deadline).
    pool_wait_seconds: float = 1.0
    # How long the relay leaves an outbox row to the request's own fast-path push.
    relay_grace_seconds: float = 2.0
    # How long a worker remembers a processed message id (its effectively-once window).
    processed_retention_days: int = 14
    # Past a job's timeout, how long before RQ's maintenance treats it as abandoned.
    abandoned_job_grace_seconds: int = 15
    # When the process started (epoch seconds), for the cold-start metric.
    started_at: float = field(default_factory=time.time)
    # `portico run`: the port Knative or the chart gives, and whether migrate also seeds.
    port: int = 8080
    seed: bool = False
    # Where `portico dev` finds Postgres and Redis binaries when it runs its own.
    pg_bindir: Path | None = None
    redis_server: Path | None = None


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env: Mapping[str, str] = os.environ if environ is None else environ

    def number(name: str, kind: Callable[[str], T], default: T, minimum: T) -> T:
        text = env.get(name, "").strip()
        if not text:
            return default
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise SettingsError(f"{name}={text!r}: expected a number of at least {minimum}")
        return value

    def path(name: str) -> Path | None:
        return Path(env[name]) if env.get(name) else None

    return Settings(
        database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        redis_url=env.get("REDIS_URL") or DEFAULT_REDIS_URL,
        functions_dir=Path(env.get("PORTICO_FUNCTIONS_DIR") or "functions").resolve(),
        function=env.get("PORTICO_FUNCTION") or None,
        log_level=(env.get("PORTICO_LOG_LEVEL") or "INFO").upper(),
        drain_seconds=number("PORTICO_DRAIN_SECONDS", float, 0.0, 0.0),
        gateway_secret=env.get("PORTICO_GATEWAY_SECRET") or None,
        gateway_margin_seconds=number("PORTICO_GATEWAY_TIMEOUT_MARGIN_SECONDS", int, 5, 0),
        pool_wait_seconds=number("PORTICO_POOL_WAIT_SECONDS", float, 1.0, 0.001),
        relay_grace_seconds=number("PORTICO_RELAY_GRACE_SECONDS", float, 2.0, 0.0),
        processed_retention_days=number("PORTICO_PROCESSED_RETENTION_DAYS", int, 14, 1),
        abandoned_job_grace_seconds=number("PORTICO_ABANDONED_JOB_GRACE_SECONDS", int, 15, 0),
        started_at=number(STARTED_AT_VARIABLE, float, time.time(), 0.0),
        port=number("PORT", int, 8080, 1),
        seed=env.get("PORTICO_SEED") == "1",
        pg_bindir=path("PORTICO_PG_BINDIR"),
        redis_server=path("PORTICO_REDIS_SERVER"),
    )


def environment(**overrides: str) -> dict[str, str]:
    """This process's environment with overrides: what a child process is started with."""
    return {**os.environ, **overrides}


def mark_started() -> None:
    """Record this process's start for `started_at`; the processes it forks inherit it."""
    os.environ[STARTED_AT_VARIABLE] = str(time.time())
