"""The claims app end to end through `portico dev`: dev gateway, gunicorn functions, a real
RQ worker, real Postgres and Redis."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from portico.embedded import free_port
from tests.conftest import Services, scratch_dir
from tests.integration.devstack import DevStack

pytestmark = pytest.mark.integration

ALICE = {"apikey": "alice-dev-key"}
BOB = {"apikey": "bob-dev-key"}
PHOTO = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[DevStack]:
    dev = DevStack(
        scratch_dir("portico-test-dev-"),
        free_port(),
        env={"DATABASE_URL": services.database_url, "REDIS_URL": services.redis_url},
        extra_args=("--no-scale-to-zero",),  # timing-sensitive tests (rate limits) run warm
    )
    try:
        dev.wait_ready()
        yield dev
    finally:
        dev.stop()


@pytest.fixture()
def api(stack: DevStack, clean_state: Services) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def submit(api: httpx.Client, body: dict[str, Any], key: dict[str, str] = ALICE) -> str:
    response = api.post("/claims", json=body, headers=key)
    assert response.status_code == 201, response.text
    return str(response.json()["claimId"])


def wait_for_decision(api: httpx.Client, claim_id: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        claim = api.get(f"/claims/{claim_id}", headers=ALICE).json()
        if claim["status"] in ("approved", "rejected"):
            return dict(claim)
        time.sleep(0.2)
    raise AssertionError(f"claim {claim_id} still {claim['status']} after {timeout}s")


def test_a_submitted_claim_is_reviewed_and_approved(api):
    response = api.post("/claims", json=PHOTO, headers=ALICE)
    assert response.status_code == 201
    assert response.json()["status"] == "submitted"
    assert response.headers["location"] == f"/claims/{response.json()['claimId']}"

    claim = wait_for_decision(api, response.json()["claimId"])

    assert claim["status"] == "approved"
    assert claim["decisionReason"] == "policy P-1001 is active and the document key is accepted"
    assert [(e["from"], e["to"]) for e in claim["history"]] == [
        (None, "submitted"),
        ("submitted", "in_review"),
        ("in_review", "approved"),
    ]


def test_a_claim_with_an_unaccepted_document_is_rejected_with_the_reason(api):
    claim = wait_for_decision(api, submit(api, {"policyId": "P-1001", "documentKey": "selfie.gif"}))

    assert claim["status"] == "rejected"
    assert "document key is not of the form" in claim["decisionReason"]


def test_bob_cannot_see_alices_claim(api):
    claim_id = submit(api, PHOTO)

    response = api.get(f"/claims/{claim_id}", headers=BOB)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert api.get("/claims", headers=BOB).json()["items"] == []
    assert api.get(f"/claims/{claim_id}", headers=ALICE).status_code == 200


def test_bob_cannot_claim_on_alices_policy(api):
    response = api.post("/claims", json=PHOTO, headers=BOB)
    assert response.status_code == 404
    assert "P-1001" in response.json()["detail"]


def test_listing_is_newest_first_paged_with_a_cursor_and_filtered_by_status(api):
    ids = [submit(api, {**PHOTO, "documentKey": f"claims/2026/p{i}.jpg"}) for i in range(3)]

    first = api.get("/claims", params={"limit": 2}, headers=ALICE).json()
    second = api.get(
        "/claims", params={"limit": 2, "cursor": first["nextCursor"]}, headers=ALICE
    ).json()

    assert [c["claimId"] for c in first["items"] + second["items"]] == ids[::-1]
    assert second["nextCursor"] is None
    for claim_id in ids:
        wait_for_decision(api, claim_id)
    approved = api.get("/claims", params={"status": "approved"}, headers=ALICE).json()
    assert len(approved["items"]) == 3
    assert api.get("/claims", params={"status": "submitted"}, headers=ALICE).json()["items"] == []
    assert api.get("/claims", params={"limit": 0}, headers=ALICE).status_code == 400
    assert api.get("/claims", params={"cursor": "garbage"}, headers=ALICE).status_code == 400


def test_the_gateway_rejects_missing_and_unknown_keys_like_kong(api):
    missing = api.post("/claims", json=PHOTO)
    unknown = api.post("/claims", json=PHOTO, headers={"apikey": "mallory-key"})

    assert (missing.status_code, missing.json()) == (
        401,
        {"message": "No API key found in request"},
    )
    assert (unknown.status_code, unknown.json()) == (401, {"message": "Unauthorized"})


def test_the_gateway_strips_consumer_headers_sent_by_the_client(api):
    spoofed = {**ALICE, "X-Consumer-Username": "bob", "X-Consumer-ID": "bob"}
    claim_id = submit(api, PHOTO, key=spoofed)

    assert api.get(f"/claims/{claim_id}", headers=ALICE).status_code == 200
    assert api.get(f"/claims/{claim_id}", headers=BOB).status_code == 404


def test_unrouted_requests_get_kongs_404(api):
    response = api.get("/policies", headers=ALICE)
    assert (response.status_code, response.json()) == (
        404,
        {"message": "no Route matched with those values"},
    )


def test_validation_errors_pass_through_the_gateway_with_the_request_id(api):
    response = api.post(
        "/claims", json={"policyId": "P-1001"}, headers={**ALICE, "X-Request-ID": "trace-me"}
    )

    assert response.status_code == 422
    assert response.headers["x-request-id"] == "trace-me"
    assert response.json()["requestId"] == "trace-me"
    assert response.json()["errors"] == [{"field": "documentKey", "message": "is required"}]


def test_request_ids_appear_in_the_function_logs(api, stack):
    api.post("/claims", json={}, headers={**ALICE, "X-Request-ID": "find-me-in-logs"})
    time.sleep(0.5)
    tagged = [
        line for line in stack.text().splitlines() if '"request_id": "find-me-in-logs"' in line
    ]
    assert any(" submit-claim " in line and "-> 422" in line for line in tagged), tagged
    assert any(" gateway " in line and "-> 422" in line for line in tagged), tagged


def test_the_gateway_serves_the_openapi_document(api):
    from portico.manifest import load_all
    from portico.openapi import render
    from tests.conftest import FUNCTIONS_DIR

    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == render(load_all(FUNCTIONS_DIR))


def test_a_burst_of_reads_over_the_limit_gets_429_with_retry_after(api):
    time.sleep(1 - time.time() % 1 + 0.01)  # a fresh per-second window
    responses = [api.get("/claims", headers=ALICE) for _ in range(12)]

    assert [r.status_code for r in responses] == [200] * 10 + [429] * 2
    refused = responses[-1]
    assert refused.json() == {"message": "API rate limit exceeded"}
    assert refused.headers["Retry-After"] == "1"


def test_an_oversized_claim_is_413_from_the_gateway(api):
    huge = {**PHOTO, "description": "x" * (1024 * 1024)}
    response = api.post("/claims", json=huge, headers=ALICE)
    assert response.status_code == 413
    assert response.json() == {"message": "Request size limit exceeded"}
