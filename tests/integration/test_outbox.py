"""The transactional outbox, the relay and idempotent workers, on real Postgres and Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from psycopg.rows import dict_row

from portico.local.embedded_redis import EmbeddedRedis
from portico.manifest import load_all
from portico.queueing.worker import claim_message
from portico.runtime.app import create_app
from portico.runtime.resources import Resources
from portico.state import outbox
from portico.state.jobs import JobPolicy, job_id
from tests.conftest import TEST_FUNCTIONS_DIR, Services, open_resources, scratch_dir
from tests.identity import GATEWAY_SECRET

pytestmark = pytest.mark.integration

CONSUMERS = {"test-notes": JobPolicy(timeout_seconds=5, retries=0)}


def outbox_rows(services: Services) -> list[str]:
    with psycopg.connect(services.database_url) as conn:
        return [r[0] for r in conn.execute("SELECT message_id FROM portico_outbox ORDER BY 1")]


def queue_length(redis_url: str, queue: str = "test-notes") -> int:
    return redis.Redis.from_url(redis_url).llen(f"rq:queue:{queue}")


def resources_for(database_url: str, redis_url: str) -> Resources:
    return open_resources(database_url, redis_url, TEST_FUNCTIONS_DIR, pool_size=2)


@pytest.fixture()
def writes_app(clean_state: Services) -> Iterator[Any]:
    resources = resources_for(clean_state.database_url, clean_state.redis_url)
    manifest = next(m for m in load_all(TEST_FUNCTIONS_DIR) if m.name == "write-then-sleep")
    yield create_app(manifest, resources, GATEWAY_SECRET).test_client()
    resources.close()


def test_the_fast_path_enqueues_after_commit_and_the_relay_only_deletes_its_row(
    writes_app, clean_state
):
    assert writes_app.post("/writes", json={"note": "fast"}).status_code == 200
    [message_id] = outbox_rows(clean_state)  # the request did not wait on deleting it
    assert queue_length(clean_state.redis_url) == 1
    r = redis.Redis.from_url(clean_state.redis_url)
    assert r.exists(outbox.delivered_key(message_id))

    with psycopg.connect(clean_state.database_url, row_factory=dict_row) as conn:
        settled = outbox.settle_batch(conn, r, CONSUMERS, grace_seconds=0)

    assert settled == outbox.Settled(rows=1, delivered=0)  # so the relay's next pass waits
    assert outbox_rows(clean_state) == []
    assert queue_length(clean_state.redis_url) == 1  # delivered once, not again
    assert not r.exists(outbox.delivered_key(message_id))


def test_with_redis_down_the_request_succeeds_and_the_relay_delivers_later(clean_state):
    """The outbox's reason to exist: the commit is the acknowledgement, Redis can wait."""
    redis_dir = scratch_dir("portico-test-outbox-redis-")
    own_redis = EmbeddedRedis(redis_dir, durable=False)
    redis_url = own_redis.start()
    resources = resources_for(clean_state.database_url, redis_url)
    manifest = next(m for m in load_all(TEST_FUNCTIONS_DIR) if m.name == "write-then-sleep")
    client = create_app(manifest, resources, GATEWAY_SECRET).test_client()
    try:
        own_redis.kill()
        response = client.post("/writes", json={"note": "while-redis-is-down"})
        assert response.status_code == 200
        [message_id] = outbox_rows(clean_state)

        own_redis.start()
        with psycopg.connect(clean_state.database_url, row_factory=dict_row) as conn:
            delivered = outbox.relay_batch(conn, resources.redis, CONSUMERS, grace_seconds=0)
        assert delivered == 1
        assert outbox_rows(clean_state) == []
        queued = redis.Redis.from_url(redis_url).lrange("rq:queue:test-notes", 0, -1)
        assert queued == [job_id(message_id).encode()]
    finally:
        resources.close()
        own_redis.stop()


def test_the_relay_leaves_recent_rows_to_the_fast_path(clean_state):
    with psycopg.connect(clean_state.database_url, row_factory=dict_row) as conn:
        outbox.write(conn, "test-notes", {"id": "fresh", "queue": "test-notes", "payload": {}})
        conn.commit()
        r = redis.Redis.from_url(clean_state.redis_url)
        assert outbox.relay_batch(conn, r, CONSUMERS, grace_seconds=60) == 0
        assert outbox.relay_batch(conn, r, CONSUMERS, grace_seconds=0) == 1


def test_concurrent_relays_deliver_each_row_once(clean_state):
    with psycopg.connect(clean_state.database_url, row_factory=dict_row) as conn:
        for i in range(300):
            outbox.write(conn, "test-notes", {"id": f"n{i}", "queue": "test-notes", "payload": {}})
        conn.commit()
    counts: list[int] = []

    def relay() -> None:
        r = redis.Redis.from_url(clean_state.redis_url)
        with psycopg.connect(clean_state.database_url, row_factory=dict_row) as conn:
            while delivered := outbox.relay_batch(
                conn, r, CONSUMERS, grace_seconds=0, batch_size=20
            ):
                counts.append(delivered)

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sum(counts) == 300
    assert queue_length(clean_state.redis_url) == 300  # no job id pushed twice
    assert outbox_rows(clean_state) == []


def test_a_message_is_claimed_once_per_consumer(clean_state):
    resources = resources_for(clean_state.database_url, clean_state.redis_url)
    manifest = next(m for m in load_all(TEST_FUNCTIONS_DIR) if m.name == "note-taker")
    from portico.runtime.handler import Invoker

    invoker = Invoker(manifest, resources)
    try:
        first = invoker.begin(deadline=time.monotonic() + 30)
        assert claim_message(first, "note-taker", "m-1")
        first.commit()
        first.release()

        again = invoker.begin(deadline=time.monotonic() + 30)
        assert not claim_message(again, "note-taker", "m-1")
        assert claim_message(again, "other-consumer", "m-1")  # scoped to the consumer
        again.rollback()
        again.release()

        rolled_back = invoker.begin(deadline=time.monotonic() + 30)
        assert claim_message(rolled_back, "note-taker", "m-2")
        rolled_back.rollback()  # a failed job leaves no record: its retry will run
        rolled_back.release()
        retry = invoker.begin(deadline=time.monotonic() + 30)
        assert claim_message(retry, "note-taker", "m-2")
        retry.rollback()
        retry.release()
    finally:
        resources.close()
