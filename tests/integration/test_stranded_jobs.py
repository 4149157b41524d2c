"""A job a worker took off its queue but never started (RQ's intermediate list) goes back on its
queue, by the relay, so a worker dying at that moment loses no message."""

from __future__ import annotations

import uuid

import pytest
import redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from portico.queueing.relay import Relay
from portico.state.jobs import JobPolicy, enqueue, requeue_stranded, rq_queue
from tests.conftest import TEST_FUNCTIONS_DIR, Services, open_resources

pytestmark = pytest.mark.integration

QUEUE = "test-notes"


def taken_but_not_started(connection: redis.Redis) -> tuple[Queue, str]:
    """A message enqueued, then dequeued the way a worker does it, by a worker that then died."""
    queue = rq_queue(connection, QUEUE)
    message_id = str(uuid.uuid4())
    enqueue(connection, QUEUE, {"id": message_id, "queue": QUEUE, "payload": {}}, JobPolicy())
    dequeued = Queue.dequeue_any([queue], None, connection=connection, serializer=JSONSerializer)
    assert dequeued is not None
    job, _ = dequeued
    assert queue.job_ids == [] and queue.intermediate_queue.get_job_ids() == [job.id]
    return queue, job.id


def test_the_relay_requeues_a_job_stranded_between_dequeue_and_start(clean_state: Services):
    resources = open_resources(clean_state.database_url, clean_state.redis_url, TEST_FUNCTIONS_DIR)
    try:
        queue, stranded = taken_but_not_started(resources.redis)
        relay = Relay(
            resources, [QUEUE], grace_seconds=0, retention_days=1, stranded_grace_seconds=0
        )
        relay.maintain()  # first sight: a live worker may be about to start it
        assert queue.job_ids == []
        relay._next_maintenance = 0.0
        relay.maintain()
        assert queue.job_ids == [stranded]
        assert queue.intermediate_queue.get_job_ids() == []
    finally:
        resources.close()


def test_a_job_stranded_for_less_than_the_grace_stays_put(clean_state: Services):
    connection = redis.Redis.from_url(clean_state.redis_url)
    queue, stranded = taken_but_not_started(connection)
    assert requeue_stranded(queue, grace_seconds=60) == 0
    assert requeue_stranded(queue, grace_seconds=60) == 0
    assert queue.job_ids == [] and queue.intermediate_queue.get_job_ids() == [stranded]


def test_a_job_a_worker_has_started_is_not_requeued(clean_state: Services):
    connection = redis.Redis.from_url(clean_state.redis_url)
    queue, stranded = taken_but_not_started(connection)
    assert requeue_stranded(queue, grace_seconds=0) == 0  # first sight
    worker = Worker([queue], connection=connection, serializer=JSONSerializer)
    job = queue.fetch_job(stranded)
    assert job is not None
    worker.prepare_execution(job)  # what a worker does first: the job is now started
    assert stranded in queue.started_job_registry

    assert requeue_stranded(queue, grace_seconds=0) == 0
    assert queue.job_ids == []
