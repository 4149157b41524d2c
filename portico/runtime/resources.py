"""Process-wide connections behind the bindings: one bounded Postgres pool, one Redis client,
and what each queue's consumer expects of its jobs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
import redis
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from portico.manifest import Manifest, load_all
from portico.settings import Settings
from portico.state.jobs import JobPolicy
from portico.state.transaction import Connection

log = logging.getLogger("portico.runtime.resources")


def consumers_of(manifests: Iterable[Manifest]) -> dict[str, JobPolicy]:
    """Queue name -> how its consumer, a worker function, wants its jobs run: the timeout and
    retries it declares."""
    return {
        m.trigger.queue: JobPolicy(m.function.timeout_seconds, m.trigger.retries)
        for m in manifests
        if m.trigger is not None
    }


class Resources:
    @classmethod
    def for_process(
        cls,
        settings: Settings,
        name: str,
        pool_size: int,
        consumers: Mapping[str, JobPolicy] | None = None,
        statement_timeout_seconds: float | None = None,
    ) -> Resources:
        """What one process of a function (or the relay) holds: its pool of `pool_size`
        connections, the Redis client and every queue consumer's job policy (`consumers`, or
        else read from the manifests in settings.functions_dir). `statement_timeout_seconds`
        bounds every statement of the pool's connections (a function's own timeout)."""
        if consumers is None:
            consumers = consumers_of(load_all(settings.functions_dir))
        return cls(
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            pool_size=pool_size,
            consumers=consumers,
            name=name,
            pool_wait_seconds=settings.pool_wait_seconds,
            statement_timeout_seconds=statement_timeout_seconds,
        )

    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        pool_size: int,
        consumers: Mapping[str, JobPolicy],
        name: str = "portico",
        pool_wait_seconds: float = Settings.pool_wait_seconds,
        statement_timeout_seconds: float | None = None,
    ) -> None:
        connection: dict[str, Any] = {"row_factory": dict_row, "autocommit": False}
        connection["connect_timeout"] = 2
        if statement_timeout_seconds is not None:
            # In the connection's startup packet: no statement of its own per transaction.
            timeout_ms = max(1, int(statement_timeout_seconds * 1000))
            connection["options"] = f"-c statement_timeout={timeout_ms}"
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            database_url,
            connection_class=psycopg.Connection[Any],
            kwargs=connection,
            min_size=1,
            max_size=pool_size,
            open=False,
            name=name,
        )
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.consumers = dict(consumers)
        self.pool_wait_seconds = pool_wait_seconds
        self.database_url, self.redis_url = database_url, redis_url
        # Readiness probes use their own connection, so a busy pool never reads as "not ready".
        self._probe: psycopg.Connection[Any] | None = None
        self._probe_lock = threading.Lock()

    def open(self, timeout: float = 30.0, *, probe: bool = True) -> None:
        """Connect the pool's first connection (waiting up to `timeout`), then Redis. With
        `probe`, the readiness probe's connection too, made while the pool's opens in its own
        thread (best effort: is_ready() connects it again if it could not)."""
        self.pool.open(wait=False)
        if probe:
            with self._probe_lock:
                try:
                    self._probe = self._probe_connection()
                except psycopg.Error as exc:
                    log.info("readiness probe not connected yet: %s", exc)
        self.pool.wait(timeout=timeout)
        self.redis.ping()

    def close(self) -> None:
        self.pool.close()
        self.redis.close()
        with self._probe_lock:
            if self._probe is not None:
                self._probe.close()

    def is_ready(self) -> bool:
        """Postgres and Redis both answer (within about a second)."""
        with self._probe_lock:
            try:
                self.redis.ping()
                if self._probe is None or self._probe.closed:
                    self._probe = self._probe_connection()
                self._probe.execute("SELECT 1")
            except Exception as exc:
                log.warning("not ready: %s", exc)
                if self._probe is not None:
                    self._probe.close()
                    self._probe = None
                return False
        return True

    def _probe_connection(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.database_url, autocommit=True, connect_timeout=1)
