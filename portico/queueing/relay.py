"""`portico relay`: the always-on process that makes queue delivery safe.

- Settles the outbox (portico.state.outbox.relay_batch): delivers the rows the fast path left
  behind, deletes the ones it delivered.
- Does RQ's housekeeping even while every worker is scaled to zero: moves due retries from the
  scheduled registry onto their queues (RQ's scheduler lock, so only one process does it) and
  cleans the registries, which retries jobs abandoned by a killed worker, and requeues the
  jobs a worker dequeued but died before starting (portico.state.jobs.requeue_stranded).
- Deletes expired idempotency keys and old processed-message records.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable
from types import FrameType

from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.serializers import JSONSerializer

from portico import tracing
from portico.logs import configure_logging
from portico.manifest import Manifest, load_all
from portico.runtime.health import serve_health
from portico.runtime.resources import Resources
from portico.settings import Settings
from portico.state import outbox
from portico.state.jobs import requeue_stranded, rq_queue

log = logging.getLogger("portico.queueing.relay")

POLL_SECONDS = 0.2  # how often the relay looks at the outbox, unless a full batch waits
# After a pass that found only rows the fast path had delivered: deleting them five times a
# second put the relay's writes beside every fast-path commit (that path's p99 lag went from
# 3.2 to 3.8-5.4 ms in the bench; with this, 3.4-3.9). An undelivered row waits at most this long
# more.
CLEANUP_SECONDS = 1.0
BATCH_SIZE = 200
MAINTENANCE_SECONDS = 2.0
RETENTION_SECONDS = 3600.0


def queue_names(manifests: Iterable[Manifest]) -> list[str]:
    names = {m.trigger.queue for m in manifests if m.trigger} | {
        r.name for m in manifests for r in m.queues
    }
    return sorted(names)


class Relay:
    def __init__(
        self,
        resources: Resources,
        queues: list[str],
        *,
        grace_seconds: float,
        retention_days: int,
        stranded_grace_seconds: float = Settings.abandoned_job_grace_seconds,
    ) -> None:
        self.resources = resources
        self.queues = queues
        self.grace_seconds = grace_seconds  # the fast path's turn before the relay's
        self.retention_days = retention_days
        self.stranded_grace_seconds = stranded_grace_seconds
        self.stopping = threading.Event()
        self.scheduler = RQScheduler(
            queues,
            connection=resources.redis,
            serializer=JSONSerializer,
            # A stable name: a restarted relay takes its own lock back at once instead of
            # waiting a minute for the dead one's to expire. Two relays both scheduling is
            # harmless: a job moved twice is a redelivery, which workers skip.
            name="portico-relay",
        )
        self._next_maintenance = 0.0
        self._next_retention = 0.0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                settled = self.settle()
                self.maintain()
            except Exception as exc:  # Postgres or Redis away: keep trying, never exit
                log.warning("relay pass failed, retrying: %s", exc)
                self.stopping.wait(1.0)
                continue
            if settled.rows < BATCH_SIZE:
                only_marked = settled.rows and not settled.delivered
                self.stopping.wait(CLEANUP_SECONDS if only_marked else POLL_SECONDS)
        self.scheduler.release_locks()  # type: ignore[no-untyped-call]

    def settle(self) -> outbox.Settled:
        with self.resources.pool.connection() as conn:
            return outbox.settle_batch(
                conn,
                self.resources.redis,
                self.resources.consumers,
                grace_seconds=self.grace_seconds,
                batch_size=BATCH_SIZE,
            )

    def maintain(self) -> None:
        now = time.monotonic()
        if now >= self._next_maintenance:
            self._next_maintenance = now + MAINTENANCE_SECONDS
            # RQ's scheduler methods are untyped.
            if self.scheduler.acquire_locks():  # type: ignore[no-untyped-call]
                self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
            for name in self.queues:
                queue = rq_queue(self.resources.redis, name)
                clean_registries(queue)
                if requeued := requeue_stranded(queue, self.stranded_grace_seconds):
                    log.warning(
                        "requeued %d job(s) on %s that a worker took but never started",
                        requeued,
                        name,
                    )
        if now >= self._next_retention:
            self._next_retention = now + RETENTION_SECONDS
            self.purge_expired()

    def purge_expired(self) -> None:
        with self.resources.pool.connection() as conn:
            keys = conn.execute("DELETE FROM portico_idempotency_keys WHERE expires_at < now()")
            processed = conn.execute(
                "DELETE FROM portico_processed_messages"
                " WHERE processed_at < now() - make_interval(days => %s)",
                (self.retention_days,),
            )
        log.info(
            "purged %d expired idempotency key(s), %d old processed-message record(s)",
            keys.rowcount,
            processed.rowcount,
        )

    def stop(self, signum: int, frame: FrameType | None) -> None:
        log.info("stopping after the current pass")
        self.stopping.set()


def run_relay(settings: Settings, *, host: str = "127.0.0.1", port: int | None = None) -> None:
    configure_logging(settings.log_level, "relay")
    tracing.configure("relay")
    manifests = load_all(settings.functions_dir)
    resources = Resources.for_process(settings, "relay", pool_size=1)
    try:
        resources.open()
    except Exception as exc:
        log.error("could not reach Postgres/Redis at start (will keep trying): %s", exc)
    relay = Relay(
        resources,
        queue_names(manifests),
        grace_seconds=settings.relay_grace_seconds,
        retention_days=settings.processed_retention_days,
        stranded_grace_seconds=settings.abandoned_job_grace_seconds,
    )
    signal.signal(signal.SIGTERM, relay.stop)
    signal.signal(signal.SIGINT, relay.stop)
    if port is not None:
        serve_health("relay", relay.stopping, resources.is_ready, host, port)
    log.info("relaying the outbox; maintaining queues %s", ", ".join(relay.queues))
    try:
        relay.run()
    finally:
        resources.close()
        tracing.shutdown()
