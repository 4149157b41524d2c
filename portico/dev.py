"""`portico dev`: the whole platform on a laptop, no cluster, no Docker.

Starts (or reuses) an embedded Postgres and Redis under the data dir unless DATABASE_URL /
REDIS_URL are set, migrates and seeds, then supervises one gunicorn per HTTP function, one
worker per queue function, the relay and the dev gateway (honcho: output prefixed per
process; Ctrl-C stops them all). Data stays in the data dir between runs.
"""

from __future__ import annotations

import os
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
from honcho.manager import Manager
from honcho.printer import Printer

from portico.consumers import DEV_CONSUMERS
from portico.embedded import EmbeddedPostgres, EmbeddedRedis, free_port
from portico.manifest import Manifest
from portico.migrate import migrate
from portico.seed import seed

READY_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    ready_url: str  # polled until it answers 200


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
    manifests: list[Manifest], gateway_port: int, *, scale_to_zero: bool = True
) -> list[Service]:
    """Workers, the relay and the gateway always run; an HTTP function with scale.min 0 is
    left to the gateway, which starts it on its first request (unless scale_to_zero is off)."""
    services: list[Service] = []
    upstream_args: list[str] = []
    ports = distinct_ports()
    for m in manifests:
        port = next(ports)
        url = f"http://127.0.0.1:{port}"
        if m.is_http and scale_to_zero and m.function.scale.min == 0:
            upstream_args += ["--scale-to-zero", f"{m.name}={port}"]
            continue
        command = portico_command("serve" if m.is_http else "worker", m.name, "--port", str(port))
        services.append(Service(m.name, command, f"{url}/readyz"))
        if m.is_http:
            upstream_args += ["--upstream", f"{m.name}={url}"]
    relay_port = next(ports)
    services.append(
        Service(
            "relay",
            portico_command("relay", "--port", str(relay_port)),
            f"http://127.0.0.1:{relay_port}/readyz",
        )
    )
    gateway = portico_command("gateway", "--port", str(gateway_port), *upstream_args)
    services.append(Service("gateway", gateway, f"http://127.0.0.1:{gateway_port}/healthz"))
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
) -> str:
    base = f"http://127.0.0.1:{gateway_port}"
    lines = ["", f"Portico is up. Send requests to {base}", "", "Routes:"]
    for m in manifests:
        if m.api is not None:
            on_demand = scale_to_zero and m.function.scale.min == 0
            started = "starts on first request" if on_demand else "running"
            auth = f"jwt for {m.api.jwt.audience}" if m.api.jwt else m.api.auth
            lines.append(f"  {m.api.route!s:32} -> {m.name} (auth: {auth}; {started})")
    lines += ["Queues:"] + [f"  {m.trigger.queue:32} -> {m.name}" for m in manifests if m.trigger]
    lines += ["Dev API keys (header 'apikey'):"]
    lines += [f"  {c.username:6} {', '.join(c.api_keys)}" for c in DEV_CONSUMERS]
    lines += ["Dev JWTs for jwt routes: portico dev-token alice --audience AUDIENCE"]
    lines += [
        "Try:",
        f"  curl -s -X POST {base}/claims -H 'apikey: alice-dev-key' \\",
        "    -H 'content-type: application/json' \\",
        """    -d '{"policyId":"P-1001","documentKey":"claims/2026/photo-1.jpg"}'""",
        f"  curl -s {base}/claims -H 'apikey: alice-dev-key'",
        f"DATABASE_URL={database_url}",
        f"REDIS_URL={redis_url}",
        "Ctrl-C stops everything; data is kept until `make dev-reset`.",
        "",
    ]
    return "\n".join(lines)


def run_dev(
    manifests: list[Manifest],
    functions_dir: Path,
    data_dir: Path,
    gateway_port: int,
    *,
    scale_to_zero: bool = True,
) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as cleanup:
        database_url = os.environ.get("DATABASE_URL") or step(
            f"starting Postgres in {data_dir}/postgres",
            lambda: _start(cleanup, EmbeddedPostgres(data_dir / "postgres")),
        )
        redis_url = os.environ.get("REDIS_URL") or step(
            f"starting Redis in {data_dir}/redis",
            lambda: _start(cleanup, EmbeddedRedis(data_dir / "redis")),
        )
        applied = step("applying migrations", lambda: migrate(database_url, functions_dir))
        say(f"migrations applied: {', '.join(applied) if applied else 'none pending'}")
        step("loading dev data (portico seed)", lambda: seed(database_url, functions_dir))

        services = plan_services(manifests, gateway_port, scale_to_zero=scale_to_zero)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PORTICO_FUNCTIONS_DIR": str(functions_dir),
            "PYTHONUNBUFFERED": "1",
        }
        manager = Manager(Printer(sys.stdout))
        for service in services:
            manager.add_process(service.name, "exec " + shlex.join(service.command), env=env)
        say(f"starting {len(services)} processes: {', '.join(s.name for s in services)}")
        announce = banner(manifests, gateway_port, database_url, redis_url, scale_to_zero)
        threading.Thread(
            target=wait_until_ready,
            args=(services, lambda: print(announce, flush=True)),
            daemon=True,
        ).start()
        manager.loop()
        say(f"stopped; stopping Postgres and Redis (data kept in {data_dir})")
        # honcho reports 130/143 when *it* got SIGINT/SIGTERM (Ctrl-C): that is a clean stop.
        # Otherwise the code is that of the first process that exited on its own.
        return 0 if manager.returncode in (None, 0, 130, 143) else int(manager.returncode)


def _start(cleanup: ExitStack, server: EmbeddedPostgres | EmbeddedRedis) -> str:
    url = server.start()
    cleanup.callback(server.stop)
    return url
