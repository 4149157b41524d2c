"""Configuration from the environment: the only way a function process is configured."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "postgresql://portico@127.0.0.1:5432/portico"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    functions_dir: Path
    function: str | None
    log_level: str
    # Seconds a SIGTERMed process keeps serving with /readyz failing before it stops accepting,
    # so a load balancer can take it out of rotation first (0 locally, a few seconds in a cluster).
    drain_seconds: float
    # How the gateway proves itself to a function: without it a function believes no caller
    # identity at all (portico.policies.upstream; generated per `portico dev` run, a Secret in
    # the chart).
    gateway_secret: str | None = None


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ) if env is None else env
    return Settings(
        database_url=env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        redis_url=env.get("REDIS_URL", DEFAULT_REDIS_URL),
        functions_dir=Path(env.get("PORTICO_FUNCTIONS_DIR", "functions")).resolve(),
        function=env.get("PORTICO_FUNCTION") or None,
        log_level=env.get("PORTICO_LOG_LEVEL", "INFO").upper(),
        drain_seconds=float(env.get("PORTICO_DRAIN_SECONDS", "0")),
        gateway_secret=env.get("PORTICO_GATEWAY_SECRET") or None,
    )
