"""The claims write path's baseline: the founding example's naive handler in bare Flask (served
by gunicorn with the Portico runtime's settings). It does submit-claim's database work (check
the policy, insert the claim and its first event), commits, then pushes the review job to Redis
with RQ: no outbox, no idempotency key, no deadline, no schema validation, no request log.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import redis
from flask import Flask, request
from psycopg_pool import ConnectionPool
from rq import Queue
from rq.serializers import JSONSerializer

NAIVE_QUEUE = "naive-claim-review-jobs"

app = Flask("naive")
_pool: ConnectionPool | None = None
_queue: Queue | None = None


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "alive"}


def pool() -> ConnectionPool:
    global _pool
    if _pool is None:
        threads = int(os.environ.get("BENCH_THREADS", "8"))
        _pool = ConnectionPool(os.environ["DATABASE_URL"], min_size=1, max_size=threads)
    return _pool


def queue() -> Queue:
    global _queue
    if _queue is None:
        connection = redis.Redis.from_url(os.environ["REDIS_URL"])
        _queue = Queue(NAIVE_QUEUE, connection=connection, serializer=JSONSerializer)
    return _queue


@app.post("/claims")
def submit_claim() -> tuple[dict[str, Any], int]:
    body = request.get_json()
    owner = request.headers["X-Consumer-Username"]
    claim_id = uuid.uuid4()
    with pool().connection() as conn:
        policy = conn.execute(
            "SELECT policy_id FROM policies WHERE policy_id = %s AND owner = %s"
            " AND status = 'active'",
            (body["policyId"], owner),
        ).fetchone()
        if policy is None:
            return {"message": "no such policy"}, 404
        conn.execute(
            "INSERT INTO claims (claim_id, owner, policy_id, document_key, description)"
            " VALUES (%s, %s, %s, %s, %s)",
            (claim_id, owner, body["policyId"], body["documentKey"], body.get("description")),
        )
        conn.execute(
            "INSERT INTO claim_events (claim_id, from_status, to_status, reason)"
            " VALUES (%s, NULL, 'submitted', %s)",
            (claim_id, f"submitted by {owner}"),
        )
    queue().enqueue("bench.apps.plain_worker.review", str(claim_id))
    return {"claimId": str(claim_id), "status": "submitted"}, 201
