"""`portico dev`: the whole platform on a laptop, no cluster, no Docker.

Starts (or reuses) an embedded Postgres and Redis under the data dir unless DATABASE_URL /
REDIS_URL are set, migrates and seeds, then supervises (portico.local.supervisor) one gunicorn per
always-on HTTP function, one worker per queue function, the relay, the dev gateway and the
embedded servers: a process that dies is restarted; Ctrl-C drains and stops them all. Data
stays in the data dir between runs.

While it runs, the data dir's `stack.json` (`portico.settings.StackFile`) names its servers, so
a `portico` command in another shell of the checkout finds them without DATABASE_URL/REDIS_URL.
"""

from __future__ import annotations

import os
import secrets
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from portico import tracing
from portico.local.embedded_postgres import EmbeddedPostgres
from portico.local.embedded_redis import EmbeddedRedis
from portico.local.ports import free_port
from portico.local.stand_ins import (
    STAND_IN_GRACE_SECONDS,
    StandInPlan,
    banner_lines,
    plan_stand_ins,
)
from portico.local.supervisor import ChildProcess, Printer, Program, Supervisor, WatchedServer
from portico.manifest import Manifest
from portico.migrate import migrate
from portico.policies.consumers import DEV_CONSUMERS
from portico.seed import seed
from portico.settings import (
    DEFAULT_DEV_DIR,
    DEV_DIR_VARIABLE,
    STACK_FILE,
    Settings,
    StackFile,
    environment,
)

READY_TIMEOUT_SECONDS = 60.0
GATEWAY_SECRET_VARIABLE = "PORTICO_GATEWAY_SECRET"
SERVER_TIMING_VARIABLE = "PORTICO_SERVER_TIMING"
# What a process needs on top of its own timeouts to finish stopping (closing pools, exiting).
STOP_MARGIN_SECONDS = 5.0
RELAY_GRACE_SECONDS = 10.0  # it stops after its current pass, a few statements at most
CONSOLE_OTLP_PATH = "/_portico/otlp/v1/traces"  # portico.console.web.OTLP_PATH
T = TypeVar("T")


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    ready_url: str  # polled until it answers 200
    grace_seconds: float  # from SIGTERM to SIGKILL on a stop


def function_grace_seconds(manifest: Manifest, drain_seconds: float) -> float:
    """Time to drain after SIGTERM: an HTTP function serves on with /readyz failing for
    PORTICO_DRAIN_SECONDS, then finishes its in-flight requests; a worker finishes its job."""
    drain = drain_seconds if manifest.is_http else 0.0
    return manifest.function.timeout_seconds + drain + STOP_MARGIN_SECONDS


def gateway_grace_seconds(manifests: list[Manifest], drain_seconds: float) -> float:
    """Its in-flight requests and its on-demand functions (signalled with it, as its process
    group) drain together: as long as the slowest HTTP function, and a margin."""
    graces = [function_grace_seconds(m, drain_seconds) for m in manifests if m.is_http]
    return max(graces, default=0.0) + STOP_MARGIN_SECONDS


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def step(message: str, action: Callable[[], T]) -> T:
    started = time.monotonic()
    print(f"==> {message} ...", end="", flush=True)
    result = action()
    print(f" done ({time.monotonic() - started:.1f}s)", flush=True)
    return result


def portico_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "portico.cli", *args]


def portico_as_typed(data_dir: Path, cwd: Path | None = None) -> str:
    """`portico` as another shell of the checkout types it to reach this stack: this install's
    script (relative to the checkout, as `.venv/bin/portico`: the venv need not be active),
    with PORTICO_DEV_DIR when the data dir is not the checkout's `.dev`."""
    here = Path.cwd() if cwd is None else cwd
    script = Path(sys.executable).parent / "portico"
    if script.exists():
        typed = str(script.relative_to(here)) if script.is_relative_to(here) else str(script)
    else:
        typed = f"{sys.executable} -m portico.cli"
    if data_dir.resolve() != (here / DEFAULT_DEV_DIR).resolve():
        typed = f"{DEV_DIR_VARIABLE}={shlex.quote(str(data_dir))} {typed}"
    return typed


def shown_path(path: Path, cwd: Path | None = None) -> str:
    """`path` relative to the current directory when under it."""
    here = Path.cwd() if cwd is None else cwd
    return str(path.relative_to(here)) if path.is_relative_to(here) else str(path)


def distinct_ports() -> Iterator[int]:
    """Free ports, never the same twice: an on-demand function binds its port only when its
    first request comes, so the OS may offer that port again meanwhile."""
    given: set[int] = set()
    while True:
        port = free_port()
        if port not in given:
            given.add(port)
            yield port


def plan_services(
    manifests: list[Manifest],
    gateway_port: int,
    *,
    scale_to_zero: bool = True,
    drain_seconds: float = 0.0,
    stand_ins: StandInPlan | None = None,
    ports: Iterator[int] | None = None,
    otlp_forward: str | None = None,
) -> list[Service]:
    """Stand-ins, workers, the relay and the gateway always run; an HTTP function with
    scale.min 0 is left to the gateway, which starts it on its first request (unless
    scale_to_zero is off). `otlp_forward`: the user's collector, which the gateway passes the
    spans it receives on to."""
    ports = distinct_ports() if ports is None else ports
    services = [
        Service(s.name, s.command(environment()), f"{s.url}/_settings", STAND_IN_GRACE_SECONDS)
        for s in (stand_ins.stand_ins if stand_ins else [])
    ]
    upstream_args: list[str] = []
    for m in manifests:
        port = next(ports)
        url = f"http://127.0.0.1:{port}"
        if m.is_http and scale_to_zero and m.function.scale.min == 0:
            upstream_args += ["--scale-to-zero", f"{m.name}={port}"]
            continue
        command = portico_command("serve" if m.is_http else "worker", m.name, "--port", str(port))
        grace = function_grace_seconds(m, drain_seconds)
        services.append(Service(m.name, command, f"{url}/readyz", grace))
        if m.is_http:
            upstream_args += ["--upstream", f"{m.name}={url}"]
    relay_port = next(ports)
    services.append(
        Service(
            "relay",
            portico_command("relay", "--port", str(relay_port)),
            f"http://127.0.0.1:{relay_port}/readyz",
            RELAY_GRACE_SECONDS,
        )
    )
    if otlp_forward:
        upstream_args += ["--otlp-forward", otlp_forward]
    gateway = portico_command("gateway", "--port", str(gateway_port), *upstream_args)
    gateway_grace = gateway_grace_seconds(manifests, drain_seconds)
    services.append(
        Service("gateway", gateway, f"http://127.0.0.1:{gateway_port}/healthz", gateway_grace)
    )
    return services


def wait_until_ready(services: list[Service], on_ready: Callable[[], None]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    pending = list(services)
    with httpx.Client(timeout=1.0) as client:
        while pending and time.monotonic() < deadline:
            for service in list(pending):
                try:
                    if client.get(service.ready_url).status_code == 200:
                        pending.remove(service)
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
    if pending:
        names = ", ".join(s.name for s in pending)
        say(f"not ready after {READY_TIMEOUT_SECONDS:.0f}s: {names} (see their output above)")
        return
    on_ready()


def banner(
    manifests: list[Manifest],
    gateway_port: int,
    database_url: str,
    redis_url: str,
    scale_to_zero: bool = True,
    *,
    portico: str = "portico",
    stack_file: str = f"{DEFAULT_DEV_DIR}/{STACK_FILE}",
    stand_ins: StandInPlan | None = None,
) -> str:
    """What `portico dev` prints once everything is ready; `portico` is how another shell
    types the command (`portico_as_typed`), so each command shown works as printed."""
    base = f"http://127.0.0.1:{gateway_port}"
    audiences = [m.api.jwt.audience for m in manifests if m.api is not None and m.api.jwt]
    lines = ["", f"Portico is up. Send requests to {base}", f"Console: {base}/_portico/", ""]
    lines += ["Routes:"]
    for m in manifests:
        if m.api is not None:
            on_demand = scale_to_zero and m.function.scale.min == 0
            started = "starts on first request" if on_demand else "running"
            auth = f"jwt for {m.api.jwt.audience}" if m.api.jwt else m.api.auth
            lines.append(f"  {m.api.route!s:32} -> {m.name} (auth: {auth}; {started})")
    lines += ["Queues:"] + [f"  {m.trigger.queue:32} -> {m.name}" for m in manifests if m.trigger]
    lines += banner_lines(stand_ins) if stand_ins else []
    lines += ["Dev API keys (header 'apikey'):"]
    lines += [f"  {c.username:6} {', '.join(c.api_keys)}" for c in DEV_CONSUMERS]
    audience = audiences[0] if audiences else "AUDIENCE"
    lines += [f"Dev JWTs for jwt routes: {portico} dev-token alice --audience {audience}"]
    lines += [
        "Try:",
        f"  curl -s -X POST {base}/claims -H 'apikey: alice-dev-key' \\",
        "    -H 'content-type: application/json' \\",
        """    -d '{"policyId":"P-1001","documentKey":"claims/2026/photo-1.jpg"}'""",
        f"  curl -s {base}/claims -H 'apikey: alice-dev-key'",
        f"From another shell in this checkout (the URLs below are in {stack_file}):",
        f"  {portico} dlq list",
        f"  {portico} --help",
        f"DATABASE_URL={database_url}",
        f"REDIS_URL={redis_url}",
        "Ctrl-C stops everything; data is kept until `make dev-reset`.",
        "",
    ]
    return "\n".join(lines)


def run_dev(
    manifests: list[Manifest],
    settings: Settings,
    data_dir: Path,
    gateway_port: int,
    *,
    scale_to_zero: bool = True,
) -> int:
    """`settings` say which servers are external: only a DATABASE_URL / REDIS_URL from the
    environment (`settings_from_env(dev_stack=False)`), never a previous run's stack file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    data = prepare_data(data_dir, settings)
    ports = distinct_ports()
    stand_ins = plan_stand_ins(manifests, environment(), ports)
    users_collector = tracing.traces_endpoint(os.environ)
    services = plan_services(
        manifests,
        gateway_port,
        scale_to_zero=scale_to_zero,
        drain_seconds=settings.drain_seconds,
        stand_ins=stand_ins,
        ports=ports,
        otlp_forward=users_collector,
    )
    env = {
        **child_environment(data, settings),
        **stand_ins.environment(),
        **tracing_environment(gateway_port),
    }
    if users_collector:
        say(f"traces: to the console and on to {users_collector}")
    printer = Printer(sys.stdout, [s.name for s in services] + [s.name for s in data.servers])
    programs = [
        ChildProcess(Program(s.name, s.command, s.grace_seconds), env, printer) for s in services
    ]
    stack_file = data_dir / STACK_FILE
    stack = StackFile(
        database_url=data.database_url,
        redis_url=data.redis_url,
        gateway_url=f"http://127.0.0.1:{gateway_port}",
        pid=os.getpid(),
    )
    say(f"starting {len(services)} processes: {', '.join(s.name for s in services)}")
    announce = banner(
        manifests,
        gateway_port,
        data.database_url,
        data.redis_url,
        scale_to_zero,
        portico=portico_as_typed(data_dir),
        stack_file=shown_path(stack_file),
        stand_ins=stand_ins,
    )
    threading.Thread(
        target=wait_until_ready,
        args=(services, lambda: print(announce, flush=True)),
        daemon=True,
    ).start()
    stack.write(stack_file)  # its servers are up: other shells may use them from here on
    try:
        Supervisor(programs, data.servers, printer).run()
    finally:
        stack.remove(stack_file)
    say(f"stopped (data kept in {data_dir})")
    return 0


@dataclass(frozen=True)
class Data:
    database_url: str
    redis_url: str
    servers: list[WatchedServer]  # the embedded ones, to supervise; not external URLs


def prepare_data(data_dir: Path, settings: Settings) -> Data:
    """Postgres and Redis up (embedded unless the environment's DATABASE_URL / REDIS_URL name
    them), migrated and seeded."""
    functions_dir = settings.functions_dir
    servers: list[WatchedServer] = []
    with ExitStack() as on_failure:

        def embedded(name: str, server: EmbeddedPostgres | EmbeddedRedis) -> str:
            url = step(f"starting {name.capitalize()} in {data_dir}/{name}", server.start)
            on_failure.callback(server.stop)
            servers.append(WatchedServer(name, server))
            return url

        database_url = (
            settings.database_url
            if settings.database_url_origin == "env"
            else embedded(
                "postgres", EmbeddedPostgres(data_dir / "postgres", bindir=settings.pg_bindir)
            )
        )
        redis_url = (
            settings.redis_url
            if settings.redis_url_origin == "env"
            else embedded(
                "redis", EmbeddedRedis(data_dir / "redis", executable=settings.redis_server)
            )
        )
        applied = step("applying migrations", lambda: migrate(database_url, functions_dir))
        say(f"migrations applied: {', '.join(applied) if applied else 'none pending'}")
        step("loading dev data (portico seed)", lambda: seed(database_url, functions_dir))
        on_failure.pop_all()  # from here on the supervisor stops them, last
    return Data(database_url, redis_url, servers)


def tracing_environment(gateway_port: int) -> dict[str, str]:
    """Every process exports its spans to the console (which passes them on to the user's
    collector, if the environment named one); none with OTEL_SDK_DISABLED=true."""
    if tracing.sdk_disabled(os.environ):
        return {}
    return {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{gateway_port}{CONSOLE_OTLP_PATH}"
    }


def child_environment(data: Data, settings: Settings) -> dict[str, str]:
    env = environment(
        DATABASE_URL=data.database_url,
        REDIS_URL=data.redis_url,
        PORTICO_FUNCTIONS_DIR=str(settings.functions_dir),
        PYTHONUNBUFFERED="1",
        # Proves to a function that a request came through this run's gateway; never printed.
        **{GATEWAY_SECRET_VARIABLE: settings.gateway_secret or secrets.token_urlsafe(32)},
    )
    env.setdefault(SERVER_TIMING_VARIABLE, "1")  # the functions' Server-Timing header, in dev
    return env
