"""The suite can fail: its checker flags a 5xx, a non-JSON error, a stack trace and another
consumer's data, and passes the answers the platform is meant to give."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest

from tests.adversarial.checks import Exchange, Ownership, violations
from tests.adversarial.harness import Api, Failures, assert_clean

pytestmark = pytest.mark.adversarial

ALICE_CLAIM = "3b0c6f8e-2a51-4d7e-9f0a-1c2d3e4f5a6b"
BOB_CLAIM = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"


def owners(claim_ids: Iterable[str]) -> dict[str, str]:
    known = {ALICE_CLAIM: "alice", BOB_CLAIM: "bob"}
    return {c: known[c] for c in claim_ids if c in known}


OWNERSHIP = Ownership(owners, {"alice": {"P-1001", "Alice Example"}, "bob": {"P-2001"}})


def answer(
    status: int,
    body: object,
    content_type: str = "application/json",
    consumer: str | None = "bob",
    target: str = "/claims",
    headers: tuple[tuple[str, str], ...] = (),
) -> Exchange:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Exchange(
        consumer=consumer,
        method="GET",
        target=target,
        request_headers=(("apikey", "bob-dev-key"),),
        request_body=b"",
        status=status,
        headers=(("Content-Type", content_type), *headers),
        body=raw,
    )


PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("exchange", "flagged"),
    [
        (
            answer(
                500,
                {"type": "about:blank", "title": "Internal Server Error", "status": 500},
                PROBLEM,
            ),
            "a 500",
        ),
        (
            answer(502, {"message": "An invalid response was received from the upstream server"}),
            "a 502",
        ),
        (
            answer(
                500,
                b"500 Internal Server Error\n\nServer got itself in trouble",
                "text/plain; charset=utf-8",
            ),
            "not JSON",
        ),
        (answer(400, b"Invalid method encountered", "text/plain; charset=utf-8"), "not JSON"),
        (
            answer(
                414, b"<html><head><title>Request-URI Too Long</title></head></html>", "text/html"
            ),
            "not JSON",
        ),
        (answer(400, b'{"message": ', "application/json"), "not JSON"),
        (answer(422, {"detail": "no status or title"}, PROBLEM), "without its status and title"),
        (
            answer(
                400,
                {
                    "detail": 'Traceback (most recent call last):\n  File "/app/x.py"',
                    "status": 400,
                    "title": "Bad Request",
                },
                PROBLEM,
            ),
            "stack trace",
        ),
        (answer(200, {"items": [{"claimId": ALICE_CLAIM}], "nextCursor": None}), "alice's claim"),
        (
            answer(201, {"claimId": BOB_CLAIM}, headers=(("Location", f"/claims/{ALICE_CLAIM}"),)),
            "alice's claim",
        ),
        (answer(200, {"items": [{"policyId": "P-1001"}]}), "alice's 'P-1001'"),
        (answer(200, {"holder": "Alice Example"}), "alice's 'Alice Example'"),
        (answer(200, {"items": [{"claimId": BOB_CLAIM}]}, consumer=None), "bob's claim"),
    ],
    ids=[
        "500 problem",
        "502 Kong",
        "aiohttp text/plain 500",
        "aiohttp text/plain 400",
        "gunicorn text/html 414",
        "truncated JSON",
        "problem without status",
        "stack trace",
        "alice's claim id in bob's list",
        "alice's claim id in a Location header",
        "alice's policy id",
        "alice's policy holder",
        "bob's claim shown to nobody",
    ],
)
def test_the_checker_flags(exchange: Exchange, flagged: str) -> None:
    found = violations(exchange, OWNERSHIP)
    assert any(flagged in problem for problem in found), found
    with pytest.raises(Failures):
        assert_clean(exchange, OWNERSHIP)


@pytest.mark.parametrize(
    "exchange",
    [
        answer(401, {"message": "No API key found in request"}, consumer=None),
        answer(429, {"message": "API rate limit exceeded"}),
        answer(401, {"exp": "token expired"}),
        answer(
            422, {"type": "about:blank", "title": "Unprocessable Content", "status": 422}, PROBLEM
        ),
        answer(200, {"items": [{"claimId": BOB_CLAIM, "policyId": "P-2001"}]}),
        # bob asked about alice's claim and policy himself: the 404 may name what he sent
        answer(
            404,
            {"title": "Not Found", "status": 404, "detail": f"no claim '{ALICE_CLAIM}'"},
            PROBLEM,
            target=f"/claims/{ALICE_CLAIM}",
        ),
        answer(200, b"# HELP x\n", "text/plain", target="/metrics"),
    ],
    ids=[
        "Kong 401",
        "Kong 429",
        "JWT claim 401",
        "problem 422",
        "bob's own claim",
        "an echoed id",
        "metrics",
    ],
)
def test_the_checker_passes(exchange: Exchange) -> None:
    assert violations(exchange, OWNERSHIP) == []


def test_no_answer_at_all_is_flagged() -> None:
    silent = Exchange("bob", "GET", "/claims", (), b"", None, note="connection closed")
    assert violations(silent, OWNERSHIP) == ["no HTTP answer (connection closed)"]


def test_a_real_claim_of_alice_shown_to_bob_is_flagged(api: Api) -> None:
    """Against the real claims table: alice's real answer, relabelled as bob's, is a leak."""
    created = api.post(
        "/claims",
        consumer="alice",
        json_body={"policyId": "P-1001", "documentKey": "claims/2026/self-test.jpg"},
    )
    assert created.status == 201, created.describe()
    claim_id = json.loads(created.body)["claimId"]
    read = api.get(f"/claims/{claim_id}", consumer="alice")
    as_bob = Exchange(
        "bob", "GET", "/claims", read.request_headers, b"", read.status, read.headers, read.body
    )
    assert any(claim_id in v for v in violations(as_bob, api.ownership))
