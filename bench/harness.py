"""What every scenario shares: one embedded Postgres and Redis, ports, servers, the load
generator (a separate process) and progress output."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis
import yaml

from bench.processes import ROOT, Server, python_module
from portico.local.dev import say
from portico.local.embedded_postgres import EmbeddedPostgres
from portico.local.embedded_redis import EmbeddedRedis
from portico.migrate import migrate
from portico.seed import seed

CLAIMS_FUNCTIONS = ROOT / "functions"
BENCH_FUNCTIONS = ROOT / "bench" / "functions"
THREADS = 8  # the bench functions' concurrency, and the baselines' gunicorn threads
CONNECTIONS = 16  # closed model: two connections per server thread keep every thread busy
GATEWAY_SECRET = secrets.token_urlsafe(24)  # the gateway's proof to the functions of this run


@dataclass(frozen=True)
class Profile:
    name: str
    warmup: float  # seconds of load before measuring
    duration: float  # measured seconds per load run
    cold_starts: int  # samples per cold-start measurement
    jobs: int  # review jobs per worker
    outbox_rate: float  # messages per second in the outbox-lag runs
    # Closed-model comparisons run this many rounds, the competitors interleaved, and report
    # each one's median round: a shared machine's speed drifts by tens of percent within a
    # minute, which one run after the other would read as a difference between competitors.
    rounds: int = 1


QUICK = Profile("quick", warmup=1.0, duration=3.0, cold_starts=3, jobs=300, outbox_rate=100)
FULL = Profile(
    "full", warmup=2.0, duration=10.0, cold_starts=7, jobs=2000, outbox_rate=100, rounds=3
)


@dataclass
class Bench:
    profile: Profile
    work_dir: Path
    stack: ExitStack = field(default_factory=ExitStack)
    database_url: str = ""
    redis_url: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    memory: list[dict[str, Any]] = field(default_factory=list)  # scenario 7, filled as others run

    def start(self) -> None:
        self.say(f"starting Postgres and Redis in {self.work_dir}")
        postgres = EmbeddedPostgres(self.work_dir / "postgres")
        self.database_url = postgres.start()
        self.stack.callback(postgres.stop)
        embedded_redis = EmbeddedRedis(self.work_dir / "redis")
        self.redis_url = embedded_redis.start()
        self.stack.callback(embedded_redis.stop)
        migrate(self.database_url, CLAIMS_FUNCTIONS)
        seed(self.database_url, CLAIMS_FUNCTIONS)
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            self.versions["postgres"] = str(row[0]) if row else "?"
        self.versions["redis"] = str(self.redis().info("server")["redis_version"])

    def close(self) -> None:
        self.stack.close()

    # --- output ----------------------------------------------------------------------------

    def say(self, message: str) -> None:
        say(message)

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        started = time.monotonic()
        print(f"    {message} ...", end="", flush=True)
        yield
        print(f" {time.monotonic() - started:.1f}s", flush=True)

    # --- resources ---------------------------------------------------------------------------

    def env(self, functions_dir: Path = CLAIMS_FUNCTIONS, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "PORTICO_GATEWAY_SECRET": GATEWAY_SECRET,
            "PORTICO_FUNCTIONS_DIR": str(functions_dir),
            "PORTICO_DRAIN_SECONDS": "0",
            "BENCH_THREADS": str(THREADS),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def unthrottled_claims(self) -> Path:
        """The claims functions with POST /claims' per-consumer rate limit raised out of reach:
        one consumer drives the load, and the limit is still checked on every request."""
        copy = self.work_dir / "claims-functions"
        if not copy.exists():
            shutil.copytree(CLAIMS_FUNCTIONS, copy)
            manifest = copy / "claims" / "submit-claim.yaml"
            document = yaml.safe_load(manifest.read_text())
            document["api"]["rate_limit"] = {"per_second": 1_000_000}
            manifest.write_text(yaml.safe_dump(document, sort_keys=False))
        return copy

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def sql(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def server(
        self, name: str, command: Sequence[str], env: Mapping[str, str], ready_url: str | None
    ) -> Server:
        """A server the bench stops at the end, even when a scenario fails."""
        server = Server(name, command, env, self.work_dir, ready_url)
        self.stack.callback(server.stop)
        return server

    # --- load ---------------------------------------------------------------------------------

    def load(
        self,
        url: str,
        *,
        rate: float | None = None,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: str = "",
        unique_header: str | None = None,
        server: Sequence[Server] = (),
        connections: int = CONNECTIONS,
    ) -> dict[str, Any]:
        """Run the load generator against url (closed model, or open at `rate`); adds the CPU
        the servers under test spent per request."""
        command = python_module(
            "bench.load",
            "--url", url,
            "--mode", "open" if rate else "closed",
            "--connections", str(connections if not rate else max(connections, 64)),
            "--duration", str(self.profile.duration),
            "--warmup", str(self.profile.warmup),
            "--method", method,
        )  # fmt: skip
        if rate:
            command += ["--rate", f"{rate:.0f}"]
        for name, value in (headers or {}).items():
            command += ["--header", f"{name}: {value}"]
        if body:
            command += ["--body", body]
        if unique_header:
            command += ["--unique-header", unique_header]
        cpu_before = sum(s.cpu_seconds() for s in server)
        finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        cpu_after = sum(s.cpu_seconds() for s in server)
        if finished.returncode != 0:
            raise RuntimeError(f"the load generator failed:\n{finished.stderr}")
        result: dict[str, Any] = json.loads(finished.stdout)
        whole_run = self.profile.warmup + self.profile.duration
        if server and result["throughput"]:
            per_request = (cpu_after - cpu_before) / (result["throughput"] * whole_run)
            result["server_cpu_ms_per_request"] = round(per_request * 1000, 3)
        return result

    def record_memory(self, process: str, server: Server) -> None:
        """RSS of the serving process and PSS of its tree, measured right after its load."""
        self.memory.append(
            {
                "variant": process,
                "rss_mib": round(server.serving_rss_mib(), 1),
                "pss_mib": round(server.tree_pss_mib(), 1),
            }
        )


def local(port: int, path: str = "") -> str:
    return f"http://127.0.0.1:{port}{path}"
