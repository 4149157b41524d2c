"""Configuration from the environment, read here and nowhere else.

A process reads its settings once, when it starts (`settings_from_env`), and hands them to
what it builds; no module reads the environment at import time. A value that does not parse
names its variable (`SettingsError`), so a typo in a chart value is one line, not a traceback.

DATABASE_URL and REDIS_URL resolve in this order: the environment; else the servers of a
running `portico dev`, which records them in its data dir (`StackFile`, `.dev/stack.json`,
looked up under the current directory or PORTICO_DEV_DIR); else the defaults. `Settings`
remembers which, so a command that cannot reach a server can say where its URL came from
(`Settings.unreachable`).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, get_args

DEFAULT_DATABASE_URL = "postgresql://portico@127.0.0.1:5432/portico"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Set by the `portico` command as it starts, so a process's cold start includes its imports.
STARTED_AT_VARIABLE = "PORTICO_STARTED_AT"
# Where `portico dev` keeps its data (its --data-dir), and the file in it naming its servers.
DEV_DIR_VARIABLE = "PORTICO_DEV_DIR"
DEFAULT_DEV_DIR = ".dev"
STACK_FILE = "stack.json"
HOW_TO_SET = "start the dev stack with make dev"

# Where a URL came from: the environment, a running `portico dev`'s stack file, the default.
Origin = Literal["env", "dev stack", "default"]
SERVERS = {"DATABASE_URL": "Postgres", "REDIS_URL": "Redis"}

T = TypeVar("T", int, float)
# What the egress guard does with a handler's connection to an undeclared host:port.
EgressMode = Literal["enforce", "warn", "off"]


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
    # Past a job's timeout, how long before RQ's maintenance treats it as abandoned; also how
    # long a job dequeued but never started waits before the relay requeues it.
    abandoned_job_grace_seconds: int = 15
    # When the process started (epoch seconds), for the cold-start metric.
    started_at: float = field(default_factory=time.time)
    # `portico run`: the port Knative or the chart gives, and whether migrate also seeds.
    port: int = 8080
    seed: bool = False
    # Where `portico dev` finds Postgres and Redis binaries when it runs its own.
    pg_bindir: Path | None = None
    redis_server: Path | None = None
    # Where database_url and redis_url came from, and the stack file looked for (found or
    # not): what a command that cannot reach a server says about it.
    database_url_origin: Origin = "default"
    redis_url_origin: Origin = "default"
    dev_stack_file: Path | None = None
    # PORTICO_EGRESS: refuse (enforce), log and count (warn), or not watch (off) a handler's
    # connections to what its manifest does not declare (portico.runtime.egress).
    egress: EgressMode = "enforce"
    # PORTICO_SERVER_TIMING=1: answer each invocation's effects as a Server-Timing header.
    server_timing: bool = False

    def origin_of(self, variable: str) -> str:
        """Where DATABASE_URL's or REDIS_URL's value came from, in words."""
        origin = self.database_url_origin if variable == "DATABASE_URL" else self.redis_url_origin
        if origin == "env":
            return f"from {variable}"
        if origin == "dev stack":
            return f"from the dev stack's {self.dev_stack_file}"
        where = f" in {self.dev_stack_file.parent}" if self.dev_stack_file else ""
        return f"the default: {variable} is unset and no dev stack is running{where}"

    def unreachable(self, variable: str, reason: str) -> str:
        """The one line a command prints when the server at DATABASE_URL or REDIS_URL does not
        answer: the URL (its password masked), where it came from, how to set it."""
        url = self.database_url if variable == "DATABASE_URL" else self.redis_url
        return (
            f"cannot reach {SERVERS[variable]} at {masked(url)} ({self.origin_of(variable)}): "
            f"{reason}; set {variable}, or {HOW_TO_SET}"
        )


@dataclass(frozen=True)
class StackFile:
    """What a running `portico dev` records in its data dir (`stack.json`), so that commands
    in other shells find its servers; removed when it stops, ignored once its pid is gone."""

    database_url: str
    redis_url: str
    gateway_url: str
    pid: int

    def write(self, path: Path) -> None:
        """Atomically, readable by its owner only (a URL may carry a password)."""
        partial = path.with_name(f".{path.name}.{self.pid}")
        partial.write_text(json.dumps(asdict(self), indent=2) + "\n")
        partial.chmod(0o600)
        partial.replace(path)

    @classmethod
    def read(cls, path: Path) -> StackFile | None:
        """The stack recorded at `path` while its `portico dev` runs; None when there is no
        file, it does not parse, or its process is gone."""
        stack = cls.recorded(path)
        return stack if stack is not None and is_running(stack.pid) else None

    @classmethod
    def recorded(cls, path: Path) -> StackFile | None:
        """What `path` records, whether or not its process still runs."""
        try:
            data = json.loads(path.read_text())
            return cls(
                database_url=str(data["database_url"]),
                redis_url=str(data["redis_url"]),
                gateway_url=str(data["gateway_url"]),
                pid=int(data["pid"]),
            )
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def remove(self, path: Path) -> None:
        """Remove `path` if it is still this stack's (a later run may have taken it over)."""
        if self.recorded(path) == self:
            path.unlink(missing_ok=True)


def is_running(pid: int) -> bool:
    """A live `portico` command has this pid (not a zombie, nor another program that was
    given the pid again)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, someone else's
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True  # no /proc (macOS): the pid is all there is to go by
    # `.venv/bin/portico dev` (the script runs under python) or `python -m portico.cli dev`.
    return any(Path(arg).name == "portico" or arg == "portico.cli" for arg in command.split("\0"))


def dev_stack_file(env: Mapping[str, str], cwd: Path | None = None) -> Path:
    """Where a running `portico dev`'s stack file would be: PORTICO_DEV_DIR, else ./.dev."""
    base = Path.cwd() if cwd is None else cwd
    return (base / (env.get(DEV_DIR_VARIABLE) or DEFAULT_DEV_DIR)).absolute() / STACK_FILE


def masked(url: str) -> str:
    """The URL with its password, if any, as ***."""
    url = re.sub(r"(://[^:/?#@]*):[^@/?#]*@", r"\1:***@", url)
    return re.sub(r"(\bpassword=)[^&\s]*", r"\1***", url)


def settings_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
    dev_stack: bool = True,
) -> Settings:
    """The settings of this process. With `dev_stack`, an unset DATABASE_URL or REDIS_URL is
    taken from a running `portico dev`'s stack file (under `cwd`, default the current
    directory); `portico dev` itself passes False: only the environment names external
    servers to it."""
    env: Mapping[str, str] = os.environ if environ is None else environ

    def number(name: str, default: T, minimum: T) -> T:
        """The variable's number, of the default's type; the default when it is unset."""
        text = env.get(name, "").strip()
        if not text:
            return default
        try:
            value = type(default)(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise SettingsError(f"{name}={text!r}: expected a number of at least {minimum:g}")
        return value

    def path(name: str) -> Path | None:
        return Path(env[name]) if env.get(name) else None

    stack_file = dev_stack_file(env, cwd)
    stack = None
    if dev_stack and not (env.get("DATABASE_URL") and env.get("REDIS_URL")):
        stack = StackFile.read(stack_file)

    def url(name: str, from_stack: str | None, default: str) -> tuple[str, Origin]:
        if env.get(name):
            return env[name], "env"
        if from_stack:
            return from_stack, "dev stack"
        return default, "default"

    database_url, database_url_origin = url(
        "DATABASE_URL", stack.database_url if stack else None, DEFAULT_DATABASE_URL
    )
    redis_url, redis_url_origin = url(
        "REDIS_URL", stack.redis_url if stack else None, DEFAULT_REDIS_URL
    )
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        functions_dir=Path(env.get("PORTICO_FUNCTIONS_DIR") or "functions").resolve(),
        function=env.get("PORTICO_FUNCTION") or None,
        log_level=(env.get("PORTICO_LOG_LEVEL") or Settings.log_level).upper(),
        drain_seconds=number("PORTICO_DRAIN_SECONDS", Settings.drain_seconds, 0.0),
        gateway_secret=env.get("PORTICO_GATEWAY_SECRET") or None,
        gateway_margin_seconds=number(
            "PORTICO_GATEWAY_TIMEOUT_MARGIN_SECONDS", Settings.gateway_margin_seconds, 0
        ),
        pool_wait_seconds=number("PORTICO_POOL_WAIT_SECONDS", Settings.pool_wait_seconds, 0.001),
        relay_grace_seconds=number(
            "PORTICO_RELAY_GRACE_SECONDS", Settings.relay_grace_seconds, 0.0
        ),
        processed_retention_days=number(
            "PORTICO_PROCESSED_RETENTION_DAYS", Settings.processed_retention_days, 1
        ),
        abandoned_job_grace_seconds=number(
            "PORTICO_ABANDONED_JOB_GRACE_SECONDS", Settings.abandoned_job_grace_seconds, 0
        ),
        started_at=number(STARTED_AT_VARIABLE, time.time(), 0.0),
        port=number("PORT", Settings.port, 1),
        seed=env.get("PORTICO_SEED") == "1",
        pg_bindir=path("PORTICO_PG_BINDIR"),
        redis_server=path("PORTICO_REDIS_SERVER"),
        database_url_origin=database_url_origin,
        redis_url_origin=redis_url_origin,
        dev_stack_file=stack_file,
        egress=egress_mode(env),
        server_timing=env.get("PORTICO_SERVER_TIMING") == "1",
    )


def egress_mode(env: Mapping[str, str]) -> EgressMode:
    text = (env.get("PORTICO_EGRESS") or "enforce").strip().lower()
    for mode in get_args(EgressMode):
        if text == mode:
            return mode  # type: ignore[no-any-return]
    raise SettingsError(f"PORTICO_EGRESS={env['PORTICO_EGRESS']!r}: expected enforce, warn or off")


def dependency_base_url(
    url_env: str, url: str | None, environ: Mapping[str, str] | None = None
) -> str | None:
    """A manifest dependency's base URL: its variable's value (`url_env`), else the manifest's
    `url`, else None. Read when a process builds its function's clients."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    return env.get(url_env) or url


def environment(**overrides: str) -> dict[str, str]:
    """This process's environment with overrides: what a child process is started with."""
    return {**os.environ, **overrides}


def mark_started() -> None:
    """Record this process's start for `started_at`; the processes it forks inherit it."""
    os.environ[STARTED_AT_VARIABLE] = str(time.time())
