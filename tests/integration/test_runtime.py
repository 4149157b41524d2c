"""The function runtime's request path against real Postgres and Redis (Flask test client)."""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from typing import cast

import psycopg
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from portico import headers
from portico.logs import configure_logging
from portico.manifest import load_all
from portico.runtime.app import create_app
from portico.runtime.resources import Resources
from tests.conftest import FUNCTIONS_DIR, TEST_FUNCTIONS_DIR, Services, open_resources
from tests.identity import GATEWAY_SECRET, caller

pytestmark = pytest.mark.integration

ALICE = caller("alice")
BOB = caller("bob")
GOOD_CLAIM = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}


@pytest.fixture()
def app_for(clean_state: Services) -> Iterator[Callable[[str], FlaskClient]]:
    opened: list[Resources] = []

    def build(name: str) -> FlaskClient:
        functions_dir = (
            FUNCTIONS_DIR if not name.startswith(("write-", "shaped")) else TEST_FUNCTIONS_DIR
        )
        manifests = load_all(functions_dir)
        manifest = next(m for m in manifests if m.name == name)
        resources = open_resources(
            clean_state.database_url,
            clean_state.redis_url,
            functions_dir,
            manifest.function.concurrency,
        )
        opened.append(resources)
        app: Flask = create_app(manifest, resources, GATEWAY_SECRET)
        return app.test_client()

    yield build
    for resources in opened:
        resources.close()


def rows(services: Services, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(services.database_url) as conn:
        return conn.execute(sql).fetchall()


def queued(services: Services, queue: str) -> list[dict[str, object]]:
    """The messages waiting on an RQ queue, decoded from the job hashes (JSON, not pickle)."""
    r = redis.Redis.from_url(services.redis_url)
    messages = []
    for job_id in cast(list[bytes], r.lrange(f"rq:queue:{queue}", 0, -1)):
        data = cast(bytes | None, r.hget(f"rq:job:{job_id.decode()}", "data"))
        assert data is not None
        func, _instance, args, _kwargs = json.loads(zlib.decompress(data))  # RQ compresses
        assert func == "portico.queueing.worker.handle_message"
        messages.append(args[0])
    return messages


def test_submit_claim_stores_it_and_queues_its_review(app_for, clean_state):
    client = app_for("submit-claim")
    response = client.post("/claims", json=GOOD_CLAIM, headers=ALICE)

    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "submitted"
    assert response.headers["Location"] == f"/claims/{body['claimId']}"
    assert rows(clean_state, "SELECT claim_id::text, owner, status FROM claims") == [
        (body["claimId"], "alice", "submitted")
    ]
    [message] = queued(clean_state, "claim-review-jobs")
    assert message["payload"] == {"claimId": body["claimId"]}


@pytest.mark.parametrize(
    ("payload", "failing_fields"),
    [
        ({}, ["documentKey", "policyId"]),
        ({"policyId": "P-1001"}, ["documentKey"]),
        ({"policyId": "", "documentKey": "claims/2026/a.jpg"}, ["policyId"]),
        ({"policyId": 1001, "documentKey": "claims/2026/a.jpg"}, ["policyId"]),
        ([], ["(body)"]),
    ],
)
def test_schema_violations_are_422_listing_the_fields(
    app_for, clean_state, payload, failing_fields
):
    response = app_for("submit-claim").post("/claims", json=payload, headers=ALICE)

    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert sorted(e["field"] for e in problem["errors"]) == failing_fields
    assert rows(clean_state, "SELECT count(*) FROM claims") == [(0,)]


def test_invalid_json_is_400_and_wrong_content_type_is_415(app_for):
    client = app_for("submit-claim")
    bad_json = client.post(
        "/claims", data="{not json", content_type="application/json", headers=ALICE
    )
    as_form = client.post(
        "/claims",
        data="policyId=P-1001",
        content_type="application/x-www-form-urlencoded",
        headers=ALICE,
    )
    empty = client.post("/claims", headers=ALICE)

    assert (bad_json.status_code, bad_json.content_type) == (400, "application/problem+json")
    assert "not valid JSON" in bad_json.get_json()["detail"]
    assert as_form.status_code == 415
    assert "application/json" in as_form.get_json()["detail"]
    assert empty.status_code == 400


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ('{"policyId": "P-1\\u0000", "documentKey": "claims/2026/a.jpg"}', "policyId", "NUL"),
        ('{"policyId": "P-1\\udab0", "documentKey": "claims/2026/a.jpg"}', "policyId", "surrogate"),
        ('{"policyId": "P-1", "documentKey": "x", "n": {"\\u0000": 1}}', "n.'\\x00'", "its name"),
    ],
)
def test_text_postgres_cannot_store_is_422_before_the_handler_runs(
    app_for, clean_state, raw, field, words
):
    # Found by the fuzz run: a NUL in policyId reached Postgres and came back as a 500.
    response = app_for("submit-claim").post(
        "/claims", data=raw, content_type="application/json", headers=ALICE
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    [error] = response.get_json()["errors"]
    assert error["field"] == field and words in error["message"]
    assert rows(clean_state, "SELECT count(*) FROM claims") == [(0,)]


def test_a_nul_in_a_path_or_query_parameter_is_400(app_for):
    client = app_for("list-claims")
    response = client.get("/claims?status=%00", headers=ALICE)
    assert response.status_code == 400
    assert "query parameter 'status' contains a NUL" in response.get_json()["detail"]


def test_body_over_max_body_bytes_is_413(app_for):
    response = app_for("shaped-body").put(
        "/shapes/s1", json={"kind": "circle", "size": 1, "tags": ["x" * 300]}, headers=ALICE
    )
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"


def test_full_json_schema_validates_nested_fields(app_for):
    client = app_for("shaped-body")
    ok = client.put("/shapes/s1", json={"kind": "circle", "size": 2}, headers=ALICE)
    bad = client.put(
        "/shapes/s1", json={"kind": "oval", "size": 0, "tags": [1], "x": 1}, headers=ALICE
    )

    assert ok.status_code == 200
    assert ok.get_json() == {
        "body": {"kind": "circle", "size": 2},
        "params": {"shapeId": "s1"},
        "caller": "alice",
    }
    assert bad.status_code == 422
    fields = sorted(e["field"] for e in bad.get_json()["errors"])
    assert fields == ["(body)", "kind", "size", "tags.0"]


def test_a_route_with_auth_refuses_a_request_without_a_caller(app_for):
    response = app_for("submit-claim").post("/claims", json=GOOD_CLAIM)
    assert response.status_code == 401
    assert "gateway" in response.get_json()["detail"]


@pytest.mark.parametrize("policy", ["P-1002", "P-2001", "P-9999"])
def test_a_policy_that_is_not_the_callers_active_one_is_404(app_for, clean_state, policy):
    response = app_for("submit-claim").post(
        "/claims", json={**GOOD_CLAIM, "policyId": policy}, headers=ALICE
    )

    assert response.status_code == 404
    assert response.get_json()["detail"] == f"no active policy {policy!r} found for this caller"
    assert rows(clean_state, "SELECT count(*) FROM claims") == [(0,)]
    assert queued(clean_state, "claim-review-jobs") == []


def test_a_problem_raised_by_the_handler_rolls_back_and_queues_nothing(app_for, clean_state):
    response = app_for("write-then-fail").post("/failures/conflict")

    assert response.status_code == 409
    assert response.get_json()["detail"] == "this write conflicts with another"
    assert rows(clean_state, "SELECT count(*) FROM test_writes") == [(0,)]
    assert queued(clean_state, "test-notes") == []
    assert rows(clean_state, "SELECT count(*) FROM portico_outbox") == [(0,)]


def test_an_unhandled_exception_is_500_without_a_trace_and_logged_with_it(
    app_for, clean_state, capsys
):
    client = app_for("write-then-fail")
    configure_logging("INFO", "write-then-fail")
    try:
        response = client.post("/failures/crash", headers={headers.REQUEST_ID: "req-42"})
    finally:
        logging.getLogger().handlers.clear()

    assert response.status_code == 500
    problem = response.get_json()
    assert problem["requestId"] == "req-42"
    assert "secret-internal-detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert rows(clean_state, "SELECT count(*) FROM test_writes") == [(0,)]
    err = capsys.readouterr().err
    logged = [json.loads(line) for line in err.splitlines() if "exc_info" in line]
    assert len(logged) == 1
    assert logged[0]["request_id"] == "req-42"
    assert logged[0]["function"] == "write-then-fail"
    assert "Traceback" in logged[0]["exc_info"]
    assert "secret-internal-detail" in logged[0]["exc_info"]


def test_handler_past_its_timeout_gets_504_promptly_and_its_write_is_rolled_back(
    app_for, clean_state
):
    client = app_for("write-then-sleep")
    started = time.monotonic()
    response = client.post("/writes", json={"note": "late", "sleep": 3})
    elapsed = time.monotonic() - started

    assert response.status_code == 504
    assert response.content_type == "application/problem+json"
    assert elapsed < 2.5  # timeout_seconds is 1; the handler itself sleeps 3
    time.sleep(2.5)  # let the abandoned handler reach its commit, which must be refused
    assert rows(clean_state, "SELECT count(*) FROM test_writes") == [(0,)]
    assert queued(clean_state, "test-notes") == []
    assert rows(clean_state, "SELECT count(*) FROM portico_outbox") == [(0,)]


def test_a_statement_past_the_deadline_is_cancelled(app_for, clean_state):
    response = app_for("write-then-sleep").post("/writes", json={"note": "slow-sql", "pgSleep": 30})

    assert response.status_code == 504
    time.sleep(0.5)
    assert rows(
        clean_state,
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
    ) == [(0,)]
    assert rows(clean_state, "SELECT count(*) FROM test_writes") == [(0,)]


def test_a_handler_within_its_timeout_commits_and_publishes(app_for, clean_state):
    response = app_for("write-then-sleep").post("/writes", json={"note": "quick"})

    assert response.status_code == 200
    assert rows(clean_state, "SELECT note FROM test_writes") == [("quick",)]
    assert [m["payload"] for m in queued(clean_state, "test-notes")] == [{"note": "quick"}]


def test_request_id_is_echoed_or_generated(app_for):
    client = app_for("submit-claim")
    given = client.post("/claims", json={}, headers={**ALICE, headers.REQUEST_ID: "abc-123"})
    generated = client.post("/claims", json={}, headers=ALICE)

    assert given.headers[headers.REQUEST_ID] == "abc-123"
    assert given.get_json()["requestId"] == "abc-123"
    assert len(generated.headers[headers.REQUEST_ID]) == 32


def test_health_readiness_and_metrics(app_for):
    client = app_for("submit-claim")
    client.post("/claims", json=GOOD_CLAIM, headers=ALICE)

    assert client.get("/healthz").get_json() == {"status": "alive", "function": "submit-claim"}
    assert client.get("/readyz").get_json() == {"status": "ready", "function": "submit-claim"}
    exposition = client.get("/metrics").get_data(as_text=True)
    assert (
        'portico_http_requests_total{function="submit-claim",method="POST",route="/claims",status="201"}'
        in exposition
    )
    assert "portico_cold_start_seconds" in exposition
    assert "portico_http_requests_in_flight" in exposition


def test_unknown_paths_and_methods_are_problems(app_for):
    client = app_for("submit-claim")
    assert client.get("/nope").status_code == 404
    wrong_method = client.get("/claims")
    assert wrong_method.status_code == 405
    assert wrong_method.content_type == "application/problem+json"
