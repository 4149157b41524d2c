"""The transactional outbox: a queue message is written in the handler's transaction and
reaches Redis only after that transaction commits.

Fast path: right after the commit the runtime enqueues the messages and deletes their rows.
Slow path: the relay (`portico relay`) delivers whatever the fast path missed (a crash, Redis
down), rows older than a grace period, locking them with FOR UPDATE SKIP LOCKED so several
relays can run. Delivery is at-least-once; the message id makes the RQ job id, and workers
record processed ids, so a second delivery has no second effect.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from psycopg.types.json import Jsonb

from portico.state.jobs import JobPolicy, enqueue
from portico.state.transaction import Connection

log = logging.getLogger("portico.state.outbox")


def write(conn: Connection, queue: str, message: Mapping[str, Any]) -> None:
    conn.execute(
        "INSERT INTO portico_outbox (message_id, queue, message) VALUES (%s, %s, %s)",
        (message["id"], queue, Jsonb(dict(message))),
    )


def delete(conn: Connection, message_ids: Sequence[str]) -> None:
    conn.execute("DELETE FROM portico_outbox WHERE message_id = ANY(%s)", (list(message_ids),))


def push(
    redis_client: redis.Redis,
    messages: Sequence[tuple[str, Mapping[str, Any]]],
    consumers: Mapping[str, JobPolicy],
) -> None:
    for queue, message in messages:
        enqueue(redis_client, queue, message, consumers.get(queue, JobPolicy()))


def relay_batch(
    conn: Connection,
    redis_client: redis.Redis,
    consumers: Mapping[str, JobPolicy],
    *,
    grace_seconds: float,
    batch_size: int = 200,
) -> int:
    """Deliver one batch of messages the fast path left behind; returns how many."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT message_id, queue, message FROM portico_outbox"
            " WHERE created_at < clock_timestamp() - make_interval(secs => %s)"
            " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED",
            (grace_seconds, batch_size),
        ).fetchall()
        if not rows:
            return 0
        push(redis_client, [(r["queue"], _as_dict(r["message"])) for r in rows], consumers)
        delete(conn, [r["message_id"] for r in rows])
    log.info("relayed %d message(s)", len(rows))
    return len(rows)


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, str) else value)
