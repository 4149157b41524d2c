"""The RQ side of a message: the job it becomes, on the list KEDA watches (`rq:queue:<name>`).

Messages travel as JSON (RQ's JSONSerializer, never pickle) in one envelope (`envelope`, read
back by `message_of`; it carries the trace context too) to the job function
`portico.queueing.worker.handle_message`, with the consuming worker's timeout and retries
(`JobPolicy`). `JobOutcome` names what a worker made of a job.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import redis
from rq import Queue, Retry
from rq.serializers import JSONSerializer
from rq.utils import now

from portico import tracing
from portico.contract import Message

JOB_FUNCTION = "portico.queueing.worker.handle_message"
FAILED_JOB_TTL_SECONDS = 7 * 24 * 3600


class JobOutcome(StrEnum):
    """What a worker made of one run of a job: the `outcome` label of `portico_jobs_total`."""

    SUCCEEDED = "succeeded"  # the handler ran and its transaction committed
    DUPLICATE = "duplicate"  # the message was already processed: skipped, the handler not run
    FAILED = "failed"  # the handler raised or ran out of time: RQ retries or dead-letters it


def job_id(message_id: str) -> str:
    """Deterministic, so a message delivered twice is the same job."""
    return f"msg-{message_id}"


def envelope(message: Message) -> dict[str, Any]:
    """A message as it travels: the outbox row's JSON and the job's one argument. The trace
    context rides in it under its W3C names, so every delivery and retry joins the trace."""
    return {
        "id": message.id,
        "queue": message.queue,
        "payload": dict(message.payload),
        "requestId": message.request_id,
        **message.trace_context,
    }


def message_of(envelope: Mapping[str, Any]) -> Message:
    """The message an envelope carries, as a worker handler sees it."""
    return Message(
        id=str(envelope["id"]),
        queue=str(envelope["queue"]),
        payload=envelope.get("payload") or {},
        request_id=envelope.get("requestId"),
        trace_context=tracing.received(envelope),
    )


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
    connection: redis.Redis,
    queue: str,
    message: Mapping[str, Any],
    policy: JobPolicy,
    *,
    pipeline: redis.client.Pipeline | None = None,
) -> None:
    """Enqueue now, or, given a pipeline, when the caller executes it."""
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
        pipeline=pipeline,
    )


# Atomic, so a worker that starts the job meanwhile (its LREM from the intermediate list) and
# this rescue cannot both win: the job goes back on its queue only if it was still stranded.
_REQUEUE_STRANDED = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
    redis.call('LPUSH', KEYS[2], ARGV[1])
    redis.call('DEL', KEYS[3])
    return 1
end
return 0
"""


def requeue_stranded(queue: Queue, grace_seconds: float) -> int:
    """Put back on `queue` the jobs a worker dequeued but never started.

    RQ moves a job from its queue to an intermediate list (BLMOVE) and only then records it as
    started; a worker that dies in between (Redis killed under it, kill -9) leaves the job on
    neither, and RQ's own clean-up runs only in a live worker, a minute later, and fails the job.
    The job never ran, so it is requeued, once it has been seen stranded for `grace_seconds`
    (a live worker takes a job from that list to its started registry within milliseconds).
    Returns how many were requeued."""
    intermediate = queue.intermediate_queue
    started = set(queue.started_job_registry.get_job_ids(cleanup=False))
    requeue = queue.connection.register_script(_REQUEUE_STRANDED)
    requeued = 0
    for stranded in intermediate.get_job_ids():
        if stranded in started or intermediate.set_first_seen(stranded):
            continue
        first_seen = intermediate.get_first_seen(stranded)
        if first_seen is None or (now() - first_seen).total_seconds() < grace_seconds:
            continue
        keys = [intermediate.key, queue.key, intermediate.get_first_seen_key(stranded)]
        requeued += int(requeue(keys=keys, args=[stranded]))
    return requeued
