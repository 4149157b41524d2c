"""The gateway and claims API contract a client sees, whichever gateway serves it (the dev
gateway here; Kong on kind): status codes, headers, bodies, ownership, policies."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support import wait_until

pytestmark = pytest.mark.conformance

PHOTO = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}


def submit(api: httpx.Client, key: dict[str, str], body: dict[str, Any] = PHOTO) -> str:
    response = api.post("/claims", json=body, headers=key)
    assert response.status_code == 201, response.text
    return str(response.json()["claimId"])


def decision(api: httpx.Client, key: dict[str, str], claim_id: str) -> dict[str, Any]:
    claim: dict[str, Any] = {}

    def decided() -> dict[str, Any] | None:
        claim.update(api.get(f"/claims/{claim_id}", headers=key).json())
        return dict(claim) if claim["status"] in ("approved", "rejected") else None

    return wait_until(
        decided,
        20,
        f"claim {claim_id} is approved or rejected",
        interval=0.25,
        details=lambda: f"claim {claim_id} still {claim.get('status')}",
    )


def fresh_second() -> None:
    """Start a burst at the top of a second, away from a minute's end."""
    if time.time() % 60 > 56:
        time.sleep(60 - time.time() % 60)
    time.sleep(1 - time.time() % 1 + 0.01)


@pytest.fixture(autouse=True)
def fresh_rate_window() -> None:
    """Each test starts in a second of its own: the gateway counts alice's requests per route
    and second (POST /claims: 10), so tests run back to back would spend each other's budget."""
    fresh_second()


def test_a_claim_is_created_with_location_and_reviewed(api, alice):
    response = api.post("/claims", json=PHOTO, headers=alice)

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "submitted"
    assert response.headers["location"] == f"/claims/{body['claimId']}"
    claim = decision(api, alice, body["claimId"])
    assert claim["status"] == "approved"
    assert [(e["from"], e["to"]) for e in claim["history"]] == [
        (None, "submitted"),
        ("submitted", "in_review"),
        ("in_review", "approved"),
    ]


def test_an_unaccepted_document_is_rejected_with_the_reason(api, alice):
    claim = decision(api, alice, submit(api, alice, {**PHOTO, "documentKey": "selfie.gif"}))
    assert claim["status"] == "rejected"
    assert "document key is not of the form" in claim["decisionReason"]


def test_bob_never_sees_alices_claims_or_policies(api, alice, bob):
    claim_id = submit(api, alice)

    mine = api.get(f"/claims/{claim_id}", headers=bob)
    assert mine.status_code == 404
    assert mine.headers["content-type"] == "application/problem+json"
    listed = [
        c["claimId"] for c in api.get("/claims", params={"limit": 100}, headers=bob).json()["items"]
    ]
    assert claim_id not in listed
    on_alices_policy = api.post("/claims", json=PHOTO, headers=bob)
    assert on_alices_policy.status_code == 404
    assert on_alices_policy.json()["detail"] == "no active policy 'P-1001' found for this caller"


def test_an_inactive_policy_is_404_like_an_unknown_one(api, alice):
    inactive = api.post("/claims", json={**PHOTO, "policyId": "P-1002"}, headers=alice)
    unknown = api.post("/claims", json={**PHOTO, "policyId": "P-0000"}, headers=alice)
    assert inactive.status_code == unknown.status_code == 404


def test_listing_is_newest_first_and_paged_with_an_opaque_cursor(api, alice):
    ids = [submit(api, alice, {**PHOTO, "documentKey": f"claims/2026/p{i}.jpg"}) for i in range(3)]

    first = api.get("/claims", params={"limit": 2}, headers=alice).json()
    second = api.get("/claims", params={"limit": 2, "cursor": first["nextCursor"]}, headers=alice)

    assert [c["claimId"] for c in first["items"]] == ids[:0:-1]
    assert second.json()["items"][0]["claimId"] == ids[0]
    for claim_id in ids:
        decision(api, alice, claim_id)
    approved = api.get("/claims", params={"status": "approved", "limit": 100}, headers=alice)
    assert set(ids) <= {c["claimId"] for c in approved.json()["items"]}
    assert api.get("/claims", params={"limit": 0}, headers=alice).status_code == 400
    assert api.get("/claims", params={"cursor": "garbage"}, headers=alice).status_code == 400


def test_missing_and_unknown_keys_are_kongs_401(api):
    missing = api.post("/claims", json=PHOTO)
    unknown = api.post("/claims", json=PHOTO, headers={"apikey": "mallory-key"})
    assert (missing.status_code, missing.json()) == (
        401,
        {"message": "No API key found in request"},
    )
    assert (unknown.status_code, unknown.json()) == (401, {"message": "Unauthorized"})


def test_consumer_headers_sent_by_a_client_are_ignored(api, alice, bob):
    spoofed = {**alice, "X-Consumer-Username": "bob", "X-Consumer-ID": "bob"}
    claim_id = submit(api, spoofed)
    assert api.get(f"/claims/{claim_id}", headers=alice).status_code == 200
    assert api.get(f"/claims/{claim_id}", headers=bob).status_code == 404


@pytest.mark.parametrize("path", ["/policies", "/claims%0A"])  # a newline: found by fuzzing
def test_unrouted_requests_are_kongs_404(api, alice, path):
    response = api.get(path, headers=alice)
    assert (response.status_code, response.json()) == (
        404,
        {"message": "no Route matched with those values"},
    )


def test_validation_errors_are_problems_carrying_the_correlation_id(api, alice):
    response = api.post(
        "/claims", json={"policyId": "P-1001"}, headers={**alice, "X-Request-ID": "conf-1"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "conf-1"
    assert response.json()["requestId"] == "conf-1"
    assert response.json()["errors"] == [{"field": "documentKey", "message": "is required"}]


def test_a_correlation_id_is_generated_when_the_client_sends_none(api, alice):
    response = api.get("/claims", headers=alice)
    assert len(response.headers["x-request-id"]) >= 32


def test_an_idempotent_retry_replays_the_first_answer(api, alice):
    key = {**alice, "Idempotency-Key": f'"conformance-{time.time_ns()}"'}
    first = api.post("/claims", json=PHOTO, headers=key)
    again = api.post("/claims", json=PHOTO, headers=key)
    other_body = api.post(
        "/claims", json={**PHOTO, "documentKey": "claims/2026/b.png"}, headers=key
    )

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert other_body.status_code == 422


def test_a_burst_of_reads_over_the_limit_is_429_with_retry_after(api, alice):
    responses = [api.get("/claims", headers=alice) for _ in range(12)]

    assert [r.status_code for r in responses] == [200] * 10 + [429] * 2
    assert responses[0].headers["RateLimit-Limit"] == "10"
    refused = responses[-1]
    assert refused.json() == {"message": "API rate limit exceeded"}
    assert refused.headers["Retry-After"] == "1"


def test_an_oversized_body_is_413(api, alice):
    huge = {**PHOTO, "description": "x" * (1024 * 1024)}
    response = api.post("/claims", json=huge, headers=alice)
    assert (response.status_code, response.json()) == (
        413,
        {"message": "Request size limit exceeded"},
    )
