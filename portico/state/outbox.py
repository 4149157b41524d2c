"""The transactional outbox: a queue message is written in the handler's transaction and
reaches Redis only after that transaction commits.

Fast path: right after the commit the runtime enqueues the messages and, in the same Redis
round trip, marks each one delivered (`delivered_key`). Its request never waits on a second
Postgres transaction to delete the rows.
Slow path: the relay (`portico relay`) takes the rows older than a grace period, locking them
with FOR UPDATE SKIP LOCKED so several relays can run: a marked one was delivered by the fast
path and is only deleted; an unmarked one (a crash, Redis down) is delivered, then deleted.
Delivery is at-least-once; the message id makes the RQ job id, and workers record processed
ids, so a second delivery has no second effect. A lost mark (Redis lost its data, or the mark
expired while no relay ran) means one more delivery, never none. A message the relay delivers
is a span of the trace that published it (its envelope carries the context).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import redis
from psycopg.types.json import Jsonb

from portico import tracing
from portico.state.jobs import JobPolicy, enqueue
from portico.state.transaction import Connection, Statement

log = logging.getLogger("portico.state.outbox")

# Long enough for any relay outage worth the name; a mark that expires first costs one more
# delivery.
DELIVERED_MARK_SECONDS = 24 * 3600
NO_SPAN = contextlib.nullcontext()


def insert(queue: str, message: Mapping[str, Any]) -> Statement:
    return (
        "INSERT INTO portico_outbox (message_id, queue, message) VALUES (%s, %s, %s)",
        (message["id"], queue, Jsonb(dict(message))),
    )


def write(conn: Connection, queue: str, message: Mapping[str, Any]) -> None:
    conn.execute(*insert(queue, message))


def delivered_key(message_id: str) -> str:
    return f"portico:outbox:delivered:{message_id}"


def delete(conn: Connection, message_ids: Sequence[str]) -> None:
    conn.execute("DELETE FROM portico_outbox WHERE message_id = ANY(%s)", (list(message_ids),))


class Backlog(NamedTuple):
    """A queue's rows still in the outbox: `rows` in all, of which `undelivered` are not marked
    delivered by the fast path (the relay's work: a crash, Redis away), the oldest of those
    `oldest_undelivered_seconds` old. A marked row is on its queue already; it waits only for
    the relay to delete it."""

    queue: str
    rows: int
    undelivered: int
    oldest_undelivered_seconds: float | None


BACKLOG_SCAN_ROWS = 1000


def backlog(
    conn: Connection, redis_client: redis.Redis, limit: int = BACKLOG_SCAN_ROWS
) -> list[Backlog]:
    """The outbox's oldest `limit` rows by queue, each checked for its delivered mark (one
    Redis round trip): a fast path that keeps up leaves no undelivered row for long."""
    rows = conn.execute(
        "SELECT message_id, queue, extract(epoch FROM clock_timestamp() - created_at)"
        " FROM portico_outbox ORDER BY created_at LIMIT %s",
        (limit,),
    ).fetchall()
    checks = redis_client.pipeline(transaction=False)
    for message_id, _, _ in rows:
        checks.exists(delivered_key(message_id))
    marked = checks.execute() if rows else []
    found: dict[str, Backlog] = {}
    for (_, queue, age), delivered in zip(rows, marked, strict=True):
        seen = found.get(queue, Backlog(queue, 0, 0, None))
        if delivered:
            found[queue] = seen._replace(rows=seen.rows + 1)
        else:
            oldest = max(float(age), seen.oldest_undelivered_seconds or 0.0)
            found[queue] = Backlog(queue, seen.rows + 1, seen.undelivered + 1, oldest)
    return [found[queue] for queue in sorted(found)]


def push(
    redis_client: redis.Redis,
    messages: Sequence[tuple[str, Mapping[str, Any]]],
    consumers: Mapping[str, JobPolicy],
) -> None:
    """The relay's delivery: each message in a span of the trace that published it."""
    for queue, message in messages:
        with tracing.continued(message), relay_span(queue, message):
            enqueue(redis_client, queue, message, consumers.get(queue, JobPolicy()))


def relay_span(queue: str, message: Mapping[str, Any]) -> contextlib.AbstractContextManager[Any]:
    if not tracing.enabled():
        return NO_SPAN
    attributes = {
        "messaging.system": "rq",
        "messaging.operation.type": "send",
        "messaging.destination.name": queue,
        "messaging.message.id": str(message["id"]),
        "portico.request_id": str(message.get("requestId") or ""),
    }
    return tracing.span(f"relay {queue}", "producer", attributes)


def push_committed(
    redis_client: redis.Redis,
    messages: Sequence[tuple[str, Mapping[str, Any]]],
    consumers: Mapping[str, JobPolicy],
) -> None:
    """The fast path: enqueue committed messages and mark them delivered, in one round trip."""
    with redis_client.pipeline() as pipeline:
        for queue, message in messages:
            policy = consumers.get(queue, JobPolicy())
            enqueue(redis_client, queue, message, policy, pipeline=pipeline)
            pipeline.set(delivered_key(str(message["id"])), 1, ex=DELIVERED_MARK_SECONDS)
        pipeline.execute()


class Settled(NamedTuple):
    rows: int  # rows deleted
    delivered: int  # of them, pushed by this pass (the fast path had not)


def relay_batch(
    conn: Connection,
    redis_client: redis.Redis,
    consumers: Mapping[str, JobPolicy],
    *,
    grace_seconds: float,
    batch_size: int = 200,
) -> int:
    """Settle one batch of rows older than the grace period: deliver those the fast path did
    not, delete them all. Returns how many rows it settled."""
    return settle_batch(
        conn, redis_client, consumers, grace_seconds=grace_seconds, batch_size=batch_size
    ).rows


def settle_batch(
    conn: Connection,
    redis_client: redis.Redis,
    consumers: Mapping[str, JobPolicy],
    *,
    grace_seconds: float,
    batch_size: int = 200,
) -> Settled:
    """relay_batch, saying also how many of the rows it had to deliver."""
    with conn.transaction():
        rows = conn.execute(
            "SELECT message_id, queue, message FROM portico_outbox"
            " WHERE created_at < clock_timestamp() - make_interval(secs => %s)"
            " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED",
            (grace_seconds, batch_size),
        ).fetchall()
        if not rows:
            return Settled(0, 0)
        marks = [delivered_key(r["message_id"]) for r in rows]
        marked = redis_client.mget(marks)
        undelivered = [r for r, mark in zip(rows, marked, strict=True) if mark is None]
        push(redis_client, [(r["queue"], _as_dict(r["message"])) for r in undelivered], consumers)
        delete(conn, [r["message_id"] for r in rows])
    redis_client.delete(*marks)  # after the commit: a crash before it leaves only a stale mark
    if undelivered:
        log.info("relayed %d message(s)", len(undelivered))
    return Settled(len(rows), len(undelivered))


def _as_dict(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, str) else value)
