"""The `queue` binding and the RQ side of publishing.

`publish()` inside a handler only records the message; it is enqueued after the invocation's
transaction commits, so a rolled-back request never queues work. Messages travel as JSON
(RQ's JSONSerializer, never pickle) to the job function `portico.worker.handle_message`, with
the consumer's timeout and retries taken from its manifest.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from rq import Queue as RQQueue
from rq import Retry
from rq.serializers import JSONSerializer

from portico.logs import request_id_var
from portico.transaction import Transaction

JOB_FUNCTION = "portico.worker.handle_message"
RQ_QUEUE_KEY_PREFIX = "rq:queue:"  # what KEDA watches: the list rq:queue:<name>


def job_id(message_id: str) -> str:
    """Deterministic, so a message enqueued twice is one job."""
    return f"msg-{message_id}"


@dataclass(frozen=True)
class Consumer:
    """How the worker consuming a queue wants its jobs run (from its manifest)."""

    timeout_seconds: int = 180
    retries: int = 3

    def retry_intervals(self) -> list[int]:
        # Exponential backoff: 1 s, 2 s, 4 s ... capped at a minute.
        return [min(60, 2**attempt) for attempt in range(self.retries)]


class Queue:
    def __init__(self, name: str, transaction: Transaction) -> None:
        self.name = name
        self._tx = transaction

    def publish(self, payload: Mapping[str, Any], *, message_id: str | None = None) -> str:
        """Queue a message once the invocation commits. Returns the message id."""
        message = {
            "id": message_id or uuid.uuid4().hex,
            "queue": self.name,
            "payload": dict(payload),
            "requestId": request_id_var.get(),
        }
        self._tx.publish(self.name, message)
        return str(message["id"])


def enqueue(
    connection: redis.Redis, queue: str, message: Mapping[str, Any], consumer: Consumer
) -> None:
    rq_queue = RQQueue(queue, connection=connection, serializer=JSONSerializer)
    retry = (
        Retry(max=consumer.retries, interval=consumer.retry_intervals())
        if consumer.retries
        else None
    )
    rq_queue.enqueue(
        JOB_FUNCTION,
        dict(message),
        job_id=job_id(str(message["id"])),
        job_timeout=consumer.timeout_seconds,
        retry=retry,
        failure_ttl=7 * 24 * 3600,
    )
