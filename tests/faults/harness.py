"""Real processes for the fault tests: own Postgres and Redis (they get killed), the
function, worker and relay as `portico` subprocesses, a load generator, and the figures."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis
from psycopg.rows import DictRow, dict_row
from rq.registry import FailedJobRegistry

from portico.local.embedded_postgres import EmbeddedPostgres
from portico.local.embedded_redis import EmbeddedRedis
from portico.local.ports import free_port
from portico.migrate import migrate
from portico.seed import seed
from tests.conftest import FUNCTIONS_DIR, TEST_FUNCTIONS_DIR, scratch_dir
from tests.identity import caller
from tests.processes import Process
from tests.support import Process as SupportProcess

ALICE = caller("alice")
PHOTO = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}


@dataclass
class Stack:
    root: Path
    postgres: EmbeddedPostgres
    redis: EmbeddedRedis
    processes: list[Process] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "PORTICO_ABANDONED_JOB_GRACE_SECONDS": "2",
            "PORTICO_RELAY_GRACE_SECONDS": "1",
        }

    def start(self, *args: str, functions: Path = FUNCTIONS_DIR, **env: str) -> Process:
        process = self.start_unready(*args, functions=functions, **env)
        process.wait_ready()
        return process

    def start_unready(self, *args: str, functions: Path = FUNCTIONS_DIR, **env: str) -> Process:
        port = free_port()
        process = Process(
            [*args, "--port", str(port), "--functions-dir", str(functions)],
            {**self.env, **env},
            port,
        )
        self.processes.append(process)
        return process

    def start_claims(self) -> Process:
        """POST /claims, its review worker and the relay; returns the function."""
        function = self.start("serve", "submit-claim")
        self.start("worker", "review-claim")
        self.start("relay")
        return function

    def postgres_connection(self) -> psycopg.Connection[DictRow]:
        return psycopg.connect(self.postgres.url, row_factory=dict_row)

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.postgres.url) as conn:
            return conn.execute(query, params or None).fetchall()

    def scalar(self, query: str, params: tuple[Any, ...] = ()) -> Any:
        return self.sql(query, params)[0][0]


@contextmanager
def stack() -> Iterator[Stack]:
    root = scratch_dir("portico-fault-")
    postgres = EmbeddedPostgres(root / "postgres", durable=False)
    queues = EmbeddedRedis(root / "redis", durable=True)
    postgres.start()
    queues.start()
    for functions_dir in (FUNCTIONS_DIR, TEST_FUNCTIONS_DIR):
        migrate(postgres.url, functions_dir)
    seed(postgres.url, FUNCTIONS_DIR)
    running = Stack(root, postgres, queues)
    try:
        yield running
    finally:
        for process in running.processes:
            process.stop()
        queues.stop()
        postgres.stop()


class Load:
    """Threads posting claims until stopped; records every outcome."""

    def __init__(self, url: Callable[[], str], threads: int = 6) -> None:
        self.url = url
        self.statuses: Counter[int | str] = Counter()
        self.acknowledged: list[str] = []
        self.in_rotation = threading.Event()
        self.in_rotation.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                if not self.in_rotation.is_set():
                    time.sleep(0.01)
                    continue
                outcome = self._post(client)
                with self._lock:
                    self.statuses[outcome] += 1

    def _post(self, client: httpx.Client) -> int | str:
        try:
            response = client.post(f"{self.url()}/claims", json=PHOTO, headers=ALICE)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if response.status_code == 201:
            with self._lock:
                self.acknowledged.append(response.json()["claimId"])
        return response.status_code


def claim_figures(s: Stack, acknowledged: list[str]) -> dict[str, int]:
    stored = {str(r[0]) for r in s.sql("SELECT claim_id FROM claims")}
    reviews = Counter(
        str(r[0]) for r in s.sql("SELECT claim_id FROM claim_events WHERE to_status = 'in_review'")
    )
    dead = FailedJobRegistry("claim-review-jobs", connection=redis.Redis.from_url(s.redis.url))
    return {
        "dead letters": dead.count,
        "acknowledged": len(acknowledged),
        "acknowledged but not stored": len(set(acknowledged) - stored),
        "stored": len(stored),
        "reviewed": sum(1 for claim in stored if reviews[claim] >= 1),
        "reviewed twice": sum(1 for n in reviews.values() if n > 1),
        "review messages for unknown claims": int(
            s.scalar(
                "SELECT count(*) FROM portico_processed_messages WHERE consumer = 'review-claim'"
            )
        )
        - len(stored),
    }


def all_reviewed(s: Stack) -> bool:
    return bool(
        s.scalar("SELECT count(*) = 0 FROM claims WHERE status IN ('submitted', 'in_review')")
    )


FIGURES: list[str] = []  # printed at the end of the run by tests/conftest.py


def report(title: str, figures: dict[str, Any]) -> None:
    line = f"{title}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    FIGURES.append(line)
    print(f"\n[fault] {line}", flush=True)


def stand_in(app_file: Path, attr: str = "app") -> SupportProcess:
    """A dependency's stand-in run by the test itself (not by `portico dev`, whose supervisor
    would restart it), so a test can kill it and start it again; started, not yet ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "portico.local.stand_in", str(app_file), attr]
    return SupportProcess(
        [*command, "--port", str(port)],
        name=f"stand-in {app_file.name}",
        base_url=url,
        ready=f"{url}/_settings",
        grace=2.0,
    )
