"""The RQ side of a message: the job it becomes, on the list KEDA watches (`rq:queue:<name>`).

Messages travel as JSON (RQ's JSONSerializer, never pickle) to the job function
`portico.queueing.worker.handle_message`, with the consuming worker's timeout and retries (its
`JobPolicy`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer

JOB_FUNCTION = "portico.queueing.worker.handle_message"
FAILED_JOB_TTL_SECONDS = 7 * 24 * 3600


def job_id(message_id: str) -> str:
    """Deterministic, so a message delivered twice is the same job."""
    return f"msg-{message_id}"


@dataclass(frozen=True)
class JobPolicy:
    """How the worker consuming a queue wants its jobs run (from its manifest)."""

    timeout_seconds: int = 180
    retries: int = 3

    def retry_intervals(self) -> list[int]:
        # Exponential backoff: 1 s, 2 s, 4 s ... capped at a minute.
        return [min(60, 2**attempt) for attempt in range(self.retries)]


@functools.lru_cache(maxsize=256)
def rq_queue(connection: redis.Redis, name: str) -> Queue:
    """One Queue object per Redis client and name, not one per message (about 9 us each here).
    A Queue keeps no per-call state; each enqueue uses its own pipeline."""
    return Queue(name, connection=connection, serializer=JSONSerializer)


def enqueue(
    connection: redis.Redis, queue: str, message: Mapping[str, Any], policy: JobPolicy
) -> None:
    retry = None
    if policy.retries:
        retry = Retry(max=policy.retries, interval=policy.retry_intervals())
    rq_queue(connection, queue).enqueue(
        JOB_FUNCTION,
        dict(message),
        job_id=job_id(str(message["id"])),
        job_timeout=policy.timeout_seconds,
        retry=retry,
        failure_ttl=FAILED_JOB_TTL_SECONDS,
    )
