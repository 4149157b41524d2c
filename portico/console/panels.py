"""What the console's panels show, read from where it lives: the manifests, the gateway's
on-demand functions, RQ's registries in Redis and the outbox table in Postgres.

Each panel is read on its own: with Redis or Postgres away, that panel says so and the others
still show. The Redis and Postgres reads block; the console runs them in a thread.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
import redis
from rq import Queue, Worker
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.serializers import JSONSerializer

from portico import tracing
from portico.local.scaler import ScaledFunction
from portico.manifest import Manifest
from portico.queueing import dlq
from portico.queueing.relay import queue_names
from portico.state import outbox

CONNECT_TIMEOUT_SECONDS = 1
MAX_DEAD_LETTERS = 100


@dataclass
class Sources:
    """Where the panels read from."""

    manifests: Sequence[Manifest]
    redis_url: str | None
    database_url: str | None
    scaled: Mapping[str, ScaledFunction] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queues = queue_names(self.manifests)
        self._redis: redis.Redis | None = None
        self._postgres: psycopg.Connection[Any] | None = None
        self._postgres_lock = threading.Lock()

    def redis(self) -> redis.Redis:
        if self.redis_url is None:
            raise ConnectionError("no REDIS_URL")
        if self._redis is None:
            self._redis = redis.Redis.from_url(
                self.redis_url,
                socket_timeout=CONNECT_TIMEOUT_SECONDS,
                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            )
        return self._redis

    def outbox_backlog(self) -> list[outbox.Backlog]:
        """One connection, kept between polls, opened again after a failure."""
        if self.database_url is None:
            raise ConnectionError("no DATABASE_URL")
        with self._postgres_lock:
            try:
                if self._postgres is None or self._postgres.closed:
                    self._postgres = psycopg.connect(
                        self.database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
                    )
                return outbox.backlog(self._postgres, self.redis())
            except psycopg.Error:
                if self._postgres is not None:
                    self._postgres.close()
                self._postgres = None
                raise

    def close(self) -> None:
        if self._postgres is not None:
            self._postgres.close()
        if self._redis is not None:
            self._redis.close()


def policies(manifest: Manifest) -> list[str]:
    """The gateway's and the runtime's policies on a function, one phrase each."""
    api, spec = manifest.api, manifest.function
    found = []
    if api is not None:
        found.append(f"jwt (audience {api.jwt.audience})" if api.jwt else f"auth {api.auth}")
        if api.rate_limit is not None:
            limits = [
                f"{n}/{unit}"
                for n, unit in (
                    (api.rate_limit.per_second, "s"),
                    (api.rate_limit.per_minute, "min"),
                    (api.rate_limit.per_hour, "h"),
                )
                if n is not None
            ]
            found.append(f"rate limit {', '.join(limits)}")
        if api.cache is not None:
            found.append(f"cache {api.cache.ttl_seconds} s")
        if api.idempotency is not None:
            found.append(f"idempotency keys {api.idempotency.retention_hours} h")
        if api.cors is not None:
            found.append(f"cors {', '.join(api.cors.allow_origins)}")
        found.append(f"body ≤ {size(api.max_body_bytes)}")
    if manifest.trigger is not None:
        found.append(f"{manifest.trigger.retries} retries")
    found.append(f"timeout {spec.timeout_seconds} s")
    found.append(f"scale {spec.scale.min} to {spec.scale.max}")
    return found


def size(count: int) -> str:
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if count >= factor and count % factor == 0:
            return f"{count // factor} {unit}"
    return f"{count} bytes"


def function_rows(sources: Sources, http_states: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every function: its route or queue, its policies, its state and cold starts.
    `http_states` holds the always-on HTTP functions' states (probed by the caller)."""
    workers = worker_states(sources)
    rows = []
    for m in sources.manifests:
        scaled = sources.scaled.get(m.name)
        if scaled is not None:
            state, cold_starts = scaled.state(), scaled.cold_starts
        elif m.is_http:
            state, cold_starts = http_states.get(m.name, "unknown"), None
        else:
            assert m.trigger is not None
            state, cold_starts = workers.get(m.trigger.queue, "not running"), None
        rows.append(
            {
                "name": m.name,
                "kind": "http" if m.is_http else "worker",
                "route": str(m.api.route) if m.api else None,
                "queue": m.trigger.queue if m.trigger else None,
                "publishes": [r.name for r in m.queues],
                "dependencies": [d.binding for d in m.dependencies],
                "policies": policies(m),
                "state": state,
                "cold_starts": cold_starts,
            }
        )
    return rows


def worker_states(sources: Sources) -> dict[str, str]:
    """Per queue, its RQ workers' states ("running (idle)"); an unreachable Redis: unknown."""
    try:
        connection = sources.redis()
        states = {}
        for name in sources.queues:
            listening = Worker.all(connection=connection, queue=Queue(name, connection=connection))
            if listening:
                each = sorted(str(w.get_state()) for w in listening)
                states[name] = f"running ({', '.join(each)})"
        return states
    except (redis.RedisError, ConnectionError):  # ConnectionError: no REDIS_URL
        return dict.fromkeys(sources.queues, "unknown (Redis unreachable)")


def queue_rows(sources: Sources) -> list[dict[str, Any]]:
    connection = sources.redis()
    rows = []
    for name in sources.queues:
        registries: dict[str, Any] = {"connection": connection, "serializer": JSONSerializer}
        rows.append(
            {
                "queue": name,
                "waiting": Queue(name, **registries).count,
                "running": StartedJobRegistry(name, **registries).count,
                "retrying": ScheduledJobRegistry(name, **registries).count,  # type: ignore[no-untyped-call]
                "failed": FailedJobRegistry(name, **registries).count,
            }
        )
    return rows


def dead_letter_rows(sources: Sources) -> list[dict[str, Any]]:
    letters = dlq.dead_letters(sources.redis(), sources.queues)[:MAX_DEAD_LETTERS]
    return [dead_letter_row(letter) for letter in letters]


def dead_letter_row(letter: dlq.DeadLetter) -> dict[str, Any]:
    """What the page shows of one; read field by field, so a job that is not Portico's
    envelope (enqueued by hand) shows too."""
    message = letter.message
    when = letter.failed_at.isoformat(timespec="seconds") if letter.failed_at else None
    context = tracing.received(message)
    return {
        "job_id": letter.job_id,
        "queue": letter.queue,
        "failed_at": when,
        "error": letter.error,
        "message_id": message.get("id"),
        "request_id": message.get("requestId"),
        "trace_id": tracing.trace_id_of(context.get(tracing.TRACEPARENT)),
        "payload": message.get("payload"),
    }


def outbox_rows(sources: Sources) -> list[dict[str, Any]]:
    return [b._asdict() for b in sources.outbox_backlog()]


def replay(sources: Sources, job_id: str) -> dlq.DeadLetter:
    """The console's replay button: `portico dlq replay JOB_ID`'s code path."""
    [letter] = dlq.replay_ids(sources.redis(), sources.queues, [job_id])
    return letter
