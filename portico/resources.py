"""Process-wide connections behind the bindings: one bounded Postgres pool, one Redis client,
and what each queue's consumer expects of its jobs."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
import redis
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from portico.manifest import Manifest
from portico.queue import Consumer, enqueue
from portico.transaction import Connection

log = logging.getLogger("portico.resources")


def consumers_of(manifests: Iterable[Manifest]) -> dict[str, Consumer]:
    """Queue name -> the timeout and retries its worker function declares."""
    return {
        m.trigger.queue: Consumer(m.function.timeout_seconds, m.trigger.retries)
        for m in manifests
        if m.trigger is not None
    }


class Resources:
    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str,
        pool_size: int,
        consumers: Mapping[str, Consumer],
        name: str = "portico",
    ) -> None:
        self.pool: ConnectionPool[Connection] = ConnectionPool(
            database_url,
            connection_class=psycopg.Connection[Any],
            kwargs={"row_factory": dict_row, "autocommit": False},
            min_size=1,
            max_size=pool_size,
            open=False,
            name=name,
        )
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.consumers = dict(consumers)

    def open(self, timeout: float = 30.0) -> None:
        self.pool.open(wait=True, timeout=timeout)
        self.redis.ping()

    def close(self) -> None:
        self.pool.close()
        self.redis.close()

    def is_ready(self) -> bool:
        try:
            self.redis.ping()
            # Waits at most 1 s for a free connection: a pool saturated longer is overloaded.
            with self.pool.connection(timeout=1.0) as conn:
                conn.execute("SELECT 1")
        except Exception as exc:
            log.warning("not ready: %s", exc)
            return False
        return True

    def publish(self, messages: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        for queue, message in messages:
            enqueue(self.redis, queue, message, self.consumers.get(queue, Consumer()))
