"""The dead-letter view: jobs that used up their retries, in RQ's FailedJobRegistry.

`portico dlq list|show|replay`. Replaying is safe: a failed job committed nothing, and workers
skip any message they have already processed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    job_id: str
    message: dict[str, Any]
    failed_at: datetime | None
    error: str  # the last line of the exception
    traceback: str


def registry(connection: redis.Redis, queue: str) -> FailedJobRegistry:
    return FailedJobRegistry(queue, connection=connection, serializer=JSONSerializer)


def dead_letters(connection: redis.Redis, queues: Iterable[str]) -> list[DeadLetter]:
    letters = []
    for queue in queues:
        for job_id in registry(connection, queue).get_job_ids():
            letter = fetch(connection, queue, job_id)
            if letter is not None:
                letters.append(letter)
    return letters


def fetch(connection: redis.Redis, queue: str, job_id: str) -> DeadLetter | None:
    try:
        job = Job.fetch(job_id, connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        return None
    result = job.latest_result()
    traceback = (result.exc_string if result else None) or ""
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    return DeadLetter(
        queue=queue,
        job_id=job_id,
        message=dict(job.args[0]) if job.args else {},
        failed_at=job.ended_at,
        error=lines[-1] if lines else "",
        traceback=traceback,
    )


def find(connection: redis.Redis, queues: Iterable[str], job_id: str) -> DeadLetter | None:
    for queue in queues:
        if job_id in registry(connection, queue).get_job_ids():
            return fetch(connection, queue, job_id)
    return None


def replay(connection: redis.Redis, letter: DeadLetter) -> None:
    """Back onto its queue, at the end, with its retries reset by RQ's requeue."""
    registry(connection, letter.queue).requeue(letter.job_id)
