"""The dead-letter view: jobs that used up their retries, in RQ's FailedJobRegistry.

What `portico dlq list|show|replay` find and print (`summary`, `details`); portico.cli.dlq
parses their arguments. Replaying is safe: a failed job committed nothing, and workers skip
any message they have already processed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
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
        message=envelope(job.args),
        failed_at=job.ended_at,
        error=lines[-1] if lines else "",
        traceback=traceback,
    )


def envelope(args: Sequence[Any]) -> dict[str, Any]:
    """A Portico job's message, its first argument; a job enqueued by hand with other arguments
    keeps them under "args" (listed all the same)."""
    if args and isinstance(args[0], Mapping):
        return dict(args[0])
    return {"args": list(args)} if args else {}


def find(connection: redis.Redis, queues: Iterable[str], job_id: str) -> DeadLetter | None:
    for queue in queues:
        if job_id in registry(connection, queue).get_job_ids():
            return fetch(connection, queue, job_id)
    return None


class UnknownDeadLetter(LookupError):
    """A job id that is not a dead letter of any of the queues."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no dead letter {job_id!r} (see `portico dlq list`)")
        self.job_id = job_id


def find_all(
    connection: redis.Redis, queues: Iterable[str], job_ids: Iterable[str]
) -> list[DeadLetter]:
    """The dead letters with these ids, in order; UnknownDeadLetter names the first missing."""
    queues = list(queues)
    letters = []
    for job_id in job_ids:
        letter = find(connection, queues, job_id)
        if letter is None:
            raise UnknownDeadLetter(job_id)
        letters.append(letter)
    return letters


def summary(letter: DeadLetter) -> str:
    """One line of `portico dlq list`: job id, queue, when it failed, the error's last line."""
    when = letter.failed_at.isoformat(timespec="seconds") if letter.failed_at else "?"
    return f"{letter.job_id}  {letter.queue}  {when}  {letter.error}"


def details(letter: DeadLetter) -> str:
    """`portico dlq show`: the job, its queue, when it failed, its message and its traceback."""
    return (
        f"job:     {letter.job_id}\nqueue:   {letter.queue}\nfailed:  {letter.failed_at}\n"
        f"message: {json.dumps(letter.message, indent=2)}\n{letter.traceback}"
    )


def replay(connection: redis.Redis, letter: DeadLetter) -> None:
    """Back onto its queue, at the end, with its retries reset by RQ's requeue."""
    registry(connection, letter.queue).requeue(letter.job_id)


def replay_ids(
    connection: redis.Redis, queues: Iterable[str], job_ids: Iterable[str]
) -> list[DeadLetter]:
    """Replay the dead letters with these ids (`portico dlq replay`, the console's button);
    UnknownDeadLetter, before any is replayed, when one is not a dead letter."""
    letters = find_all(connection, queues, job_ids)
    for letter in letters:
        replay(connection, letter)
    return letters
