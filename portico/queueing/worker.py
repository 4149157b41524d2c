"""Queue-triggered functions: an RQ worker that runs the manifest's handler per message.

Each job runs in one transaction like an HTTP invocation, with the function's timeout as the
job timeout, as a span of the trace that published its message (each retry another span).
SIGTERM is RQ's warm shutdown: /readyz fails, the current job finishes, then the worker exits.
A small HTTP server beside it answers /healthz, /readyz and /metrics.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from types import FrameType
from typing import Any

import psycopg
from rq import SimpleWorker, get_current_job
from rq.job import Job
from rq.queue import Queue
from rq.serializers import JSONSerializer

from portico import metrics, tracing
from portico.contract import Message
from portico.logs import configure_logging, request_id_var, trace_id_var
from portico.manifest import Manifest
from portico.problems import ServiceUnavailable
from portico.runtime import effects
from portico.runtime.effects import Effects
from portico.runtime.handler import Invoker
from portico.runtime.health import serve_health
from portico.runtime.resources import Resources
from portico.settings import Settings
from portico.state.jobs import JobOutcome, JobPolicy, message_of
from portico.state.transaction import Transaction

log = logging.getLogger("portico.queueing.worker")


# The worker function this process serves; RQ calls handle_message by its import path.
_invoker: Invoker | None = None


def handle_message(message: Mapping[str, Any]) -> Any:
    """The RQ job function for every Portico message (see portico.state.jobs.JOB_FUNCTION)."""
    if _invoker is None:
        raise RuntimeError("this process serves no queue function (run `portico worker NAME`)")
    msg = message_of(message)
    token = request_id_var.set(msg.request_id or msg.id)
    manifest = _invoker.manifest
    traced = tracing.start(f"process {msg.queue}", "consumer", message, job_attributes(msg))
    outcome = JobOutcome.FAILED
    ledger = Effects()
    failure: BaseException | None = None
    started = time.perf_counter()
    try:
        deadline = time.monotonic() + manifest.function.timeout_seconds
        result, outcome, ledger = run_through_outages(_invoker, msg, deadline)
        return result
    except BaseException as exc:  # RQ's job timeout is one, and retries or dead-letters it
        failure = exc
        raise
    finally:
        metrics.JOBS.labels(manifest.name, msg.queue, outcome).inc()
        log_job(msg, outcome, time.perf_counter() - started, ledger)
        traced.set("portico.outcome", str(outcome))
        traced.end(error=failure)
        request_id_var.reset(token)


def job_attributes(msg: Message) -> dict[str, str | int] | None:
    """The consumer span's attributes: the message, and which attempt at it this is."""
    if not tracing.enabled():
        return None
    attributes: dict[str, str | int] = {
        "messaging.system": "rq",
        "messaging.operation.type": "process",
        "messaging.destination.name": msg.queue,
        "messaging.message.id": msg.id,
        "portico.request_id": msg.request_id or "",
    }
    job = get_current_job()
    if job is not None and job.retries_left is not None and job.retry_intervals:
        attributes["portico.attempt"] = len(job.retry_intervals) - job.retries_left + 1
    return attributes


def log_job(msg: Message, outcome: JobOutcome, seconds: float, ledger: Effects) -> None:
    """The job's one line, with what its (last) attempt did."""
    log.info(
        "job %s from %s %s in %.1f ms",
        msg.id,
        msg.queue,
        outcome,
        seconds * 1000,
        extra={"effects": ledger.as_dict()},
    )


def run_through_outages(
    invoker: Invoker, msg: Message, deadline: float
) -> tuple[Any, JobOutcome, Effects]:
    """Run the message, waiting out a database outage within the job's own timeout instead of
    spending its retries on it (a worker can do nothing else meanwhile). Safe to repeat: an
    attempt that did not commit left no effect and no processed-record."""
    wait = 0.5
    while True:
        try:
            return run_once(invoker, msg, deadline)
        except (psycopg.OperationalError, psycopg.InterfaceError, ServiceUnavailable) as exc:
            if time.monotonic() + wait >= deadline:
                raise
            log.warning("database unavailable (%s); trying again in %.1f s", exc, wait)
            time.sleep(wait)
            wait = min(wait * 2, 5.0)


def run_once(invoker: Invoker, msg: Message, deadline: float) -> tuple[Any, JobOutcome, Effects]:
    tx = invoker.begin(deadline)
    ledger = effects.of(tx)
    claimed = False
    try:
        claimed = claim_message(tx, invoker.manifest.name, msg.id)
    finally:
        if not claimed:  # a duplicate, or the claim itself failed: let go of the transaction
            tx.rollback()
            tx.release()
    if not claimed:
        log.info("message %s was already processed; skipped", msg.id)
        return {"duplicate": msg.id}, JobOutcome.DUPLICATE, ledger
    return invoker.run(tx, msg, msg.request_id or msg.id), JobOutcome.SUCCEEDED, ledger


class DrainingJobWorker(SimpleWorker):
    """RQ's in-process worker (no fork per job: the pool stays warm) that reports draining."""

    draining = threading.Event()
    abandoned_job_grace_seconds = Settings.abandoned_job_grace_seconds
    # RQ's description of a job is its call, the whole message: payloads stay out of the logs.
    log_job_description = False

    def execute_job(self, job: Job, queue: Queue) -> None:
        """RQ's own lines about the job (its result, its failure) carry the job's request id
        and trace id too, as the handler's do. Only RQ's dequeue notice, written before the job
        is read, has neither."""
        envelope = job.args[0] if job.args and isinstance(job.args[0], Mapping) else {}
        request_id = request_id_var.set(envelope.get("requestId") or envelope.get("id"))
        trace_id = trace_id_var.set(tracing.trace_id_of(envelope.get(tracing.TRACEPARENT)))
        try:
            super().execute_job(job, queue)
        finally:
            trace_id_var.reset(trace_id)
            request_id_var.reset(request_id)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        # How long a started job may go without news before the relay's maintenance calls it
        # abandoned (worker killed) and retries it. The job itself dies at its timeout, so a
        # short margin is enough; RQ's default adds a minute.
        return int(job.timeout or 180) + self.abandoned_job_grace_seconds

    def procline(self, message: str) -> None:
        """The process keeps the command line that started it (`portico worker NAME`): with
        setproctitle installed (the laptop's extra) RQ would retitle it per job."""
        log.debug("%s", message)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.draining.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


def claim_message(tx: Transaction, consumer: str, message_id: str) -> bool:
    """Record the message as processed, in the job's own transaction: the record commits only
    with the handler's effects. False if it was already processed. A concurrent duplicate
    waits on the primary key until this transaction ends, then sees the row."""
    inserted = tx.execute(
        "INSERT INTO portico_processed_messages (consumer, message_id) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING",
        (consumer, message_id),
        counted=False,  # the runtime's, not the handler's
    )
    return inserted.rowcount == 1


def run_worker(
    manifest: Manifest,
    settings: Settings,
    *,
    burst: bool = False,
    host: str = "127.0.0.1",
    port: int | None = None,
    consumers: Mapping[str, JobPolicy] | None = None,
) -> None:
    """Work the function's queue; with a port, also serve the health endpoints there.
    `consumers` as in Resources.for_process."""
    global _invoker
    if manifest.trigger is None:
        raise ValueError(f"{manifest.name} is an HTTP function; serve it with `portico serve`")
    configure_logging(settings.log_level, manifest.name)
    tracing.configure(manifest.name)
    # One job at a time per worker process: one connection.
    resources = Resources.for_process(
        settings,
        manifest.name,
        pool_size=1,
        consumers=consumers,
        statement_timeout_seconds=manifest.function.timeout_seconds,
    )
    resources.open(probe=port is not None)  # the probe's connection serves /readyz
    _invoker = Invoker(manifest, resources, egress_mode=settings.egress)
    if port is not None:
        serve_health(manifest.name, DrainingJobWorker.draining, resources.is_ready, host, port)
    worker = DrainingJobWorker(
        [manifest.trigger.queue],
        name=f"{manifest.name}.{socket.gethostname()}.{os.getpid()}",
        connection=resources.redis,
        serializer=JSONSerializer,
    )
    worker.abandoned_job_grace_seconds = settings.abandoned_job_grace_seconds
    log.info("consuming queue %s", manifest.trigger.queue)
    try:
        # No scheduler here: the always-on relay moves due retries onto the queue, so they run
        # even while every worker is scaled to zero (and a killed worker holds no lock).
        worker.work(burst=burst, logging_level=settings.log_level)
    finally:
        _invoker.close()
        resources.close()
        tracing.shutdown()
