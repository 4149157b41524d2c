"""bob against alice's data (BOLA): her claim by id, his listings, her policies, her cursors, her
Idempotency-Key. Every answer also passes the suite's leak check (no claim id, policy id or
holder name of alice in anything bob gets). Plus: claim ids that are not UUIDs, and the write
route's per-consumer rate limit."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.adversarial.checks import Exchange
from tests.adversarial.harness import Api, ClaimOwners, assert_kong_rejection, assert_problem

pytestmark = pytest.mark.adversarial

VALID_KEY = "claims/2026/photo-1.jpg"
MARKED = "alice-marker: only alice may ever read this"


def submit(api: Api, consumer: str, policy: str, **extra: Any) -> str:
    body = {"policyId": policy, "documentKey": VALID_KEY, **extra}
    created = api.post("/claims", consumer=consumer, json_body=body)
    assert created.status == 201, created.describe()
    claim = created.json()
    assert isinstance(claim, dict)
    return str(claim["claimId"])


@pytest.fixture(scope="module")
def alices_claims(api: Api) -> list[str]:
    return [submit(api, "alice", "P-1001", description=MARKED) for _ in range(3)]


@pytest.fixture(scope="module")
def owners(api: Api) -> ClaimOwners:
    lookup = api.ownership.claim_owners
    assert isinstance(lookup, ClaimOwners)
    return lookup


def shape(exchange: Exchange, echoed: str) -> tuple[object, ...]:
    """What a 404 looks like, with the id it names taken out and the request id dropped."""
    body = exchange.json()
    assert isinstance(body, dict), exchange.describe()
    kept = {k: str(v).replace(echoed, "<id>") for k, v in body.items() if k != "requestId"}
    return exchange.status, exchange.media_type, tuple(sorted(kept.items()))


ROUTES = [("GET /claims/{claimId}", "", False), ("GET /claims/{claimId}/status", "/status", True)]


@pytest.mark.parametrize(("suffix", "jwt"), [r[1:] for r in ROUTES], ids=[r[0] for r in ROUTES])
def test_bob_reading_alices_claim_gets_the_404_of_an_unknown_id(
    api: Api, alices_claims: list[str], suffix: str, jwt: bool
) -> None:
    theirs = alices_claims[0]
    unknown = str(uuid.uuid4())
    refused = api.get(f"/claims/{theirs}{suffix}", consumer="bob", jwt=jwt)
    missing = api.get(f"/claims/{unknown}{suffix}", consumer="bob", jwt=jwt)
    assert_problem(refused, 404)
    assert shape(refused, theirs) == shape(missing, unknown)
    own = api.get(f"/claims/{theirs}{suffix}", consumer="alice", jwt=jwt)
    assert own.status == 200, own.describe()  # the claim exists: it is bob who may not see it


def test_bob_listing_never_shows_alices_claims(
    api: Api, alices_claims: list[str], owners: ClaimOwners
) -> None:
    submit(api, "bob", "P-2001")
    cursor, pages = None, 0
    while pages < 5:
        page = api.get(
            "/claims?limit=100" + (f"&cursor={cursor}" if cursor else ""), consumer="bob"
        )
        assert page.status == 200, page.describe()
        listing = page.json()
        assert isinstance(listing, dict)
        ids = [item["claimId"] for item in listing["items"]]
        assert ids, page.describe()
        assert set(owners(ids).values()) == {"bob"}, page.describe()
        cursor, pages = listing["nextCursor"], pages + 1
        if not cursor:
            break


@pytest.mark.parametrize("policy", ["P-1001", "P-1002"], ids=["active", "inactive"])
def test_bob_submitting_against_alices_policy_gets_the_404_of_an_unknown_policy(
    api: Api, policy: str
) -> None:
    refused = api.post(
        "/claims", consumer="bob", json_body={"policyId": policy, "documentKey": VALID_KEY}
    )
    unknown = api.post(
        "/claims", consumer="bob", json_body={"policyId": "P-0000", "documentKey": VALID_KEY}
    )
    assert_problem(refused, 404)
    assert shape(refused, policy) == shape(unknown, "P-0000")


def test_a_cursor_from_alices_listing_shows_bob_none_of_her_claims(
    api: Api, alices_claims: list[str], owners: ClaimOwners
) -> None:
    first = api.get("/claims?limit=1", consumer="alice").json()
    assert isinstance(first, dict) and first["nextCursor"], first
    borrowed = api.get(f"/claims?limit=100&cursor={first['nextCursor']}", consumer="bob")
    assert borrowed.status in (200, 400), borrowed.describe()
    if borrowed.status == 200:
        listing = borrowed.json()
        assert isinstance(listing, dict)
        ids = [item["claimId"] for item in listing["items"]]
        assert set(owners(ids).values()) <= {"bob"}, borrowed.describe()


def test_an_idempotency_key_never_replays_another_consumers_answer(api: Api) -> None:
    key = f"adversarial-{uuid.uuid4()}"
    body = {"policyId": "P-1001", "documentKey": VALID_KEY}
    alices = api.post("/claims", consumer="alice", json_body=body, headers={"Idempotency-Key": key})
    assert alices.status == 201, alices.describe()
    same_body = api.post(
        "/claims", consumer="bob", json_body=body, headers={"Idempotency-Key": key}
    )
    assert same_body.header("Idempotent-Replayed") is None, same_body.describe()
    assert_problem(same_body, 404)  # P-1001 is not bob's: his own request ran
    own_body = {"policyId": "P-2001", "documentKey": VALID_KEY}
    bobs = api.post("/claims", consumer="bob", json_body=own_body, headers={"Idempotency-Key": key})
    assert bobs.status == 201 and bobs.header("Idempotent-Replayed") is None, bobs.describe()
    assert bobs.json() != alices.json()


NOT_UUIDS = [
    ("a word", "x"),
    ("a number", "1"),
    ("minus one", "-1"),
    ("null", "null"),
    ("a UUID less one digit", "3b0c6f8e-2a51-4d7e-9f0a-1c2d3e4f5a6"),
    ("a UUID plus one digit", "3b0c6f8e-2a51-4d7e-9f0a-1c2d3e4f5a6b0"),
    ("a UUID with a g", "3b0c6f8e-2a51-4d7e-9f0a-1c2d3e4f5a6g"),
    ("a UUID with spaces", "%203b0c6f8e-2a51-4d7e-9f0a-1c2d3e4f5a6b%20"),
    ("SQL", "1%27%20OR%20%271%27%3D%271"),
    ("a percent sign", "%25"),
    ("an encoded slash", "a%2Fb"),
    ("non-ASCII", "%C3%A9"),
    ("Arabic-Indic digits", "%D9%A1%D9%A2%D9%A3"),
    ("2000 characters", "a" * 2000),
]


@pytest.mark.parametrize("claim_id", [v for _, v in NOT_UUIDS], ids=[n for n, _ in NOT_UUIDS])
@pytest.mark.parametrize(("suffix", "jwt"), [r[1:] for r in ROUTES], ids=[r[0] for r in ROUTES])
def test_a_claim_id_that_is_not_a_uuid_is_a_404(
    api: Api, claim_id: str, suffix: str, jwt: bool
) -> None:
    exchange = api.get(f"/claims/{claim_id}{suffix}", consumer="alice", jwt=jwt)
    if exchange.media_type == "application/json":  # the gateway's: no route for it at all
        assert_kong_rejection(exchange, 404)
    else:
        assert_problem(exchange, 404)


def test_posting_claims_is_rate_limited_per_consumer(api: Api) -> None:
    """bob as fast as he can within one second: Kong's 429 after the limit (about 10 a second);
    alice, in the same second, is not affected."""
    time.sleep(1 - time.time() % 1 + 0.01)
    answers: list[Exchange] = []
    started = time.time()
    while len(answers) < 40 and time.time() - started < 0.9:
        answers.append(
            api.post("/claims", consumer="bob", json_body={}, pace=False, retry_429=False)
        )
        if answers[-1].status == 429:
            break
    statuses = [a.status for a in answers]
    assert statuses[-1] == 429, f"no 429 after {len(answers)} POSTs in under a second: {statuses}"
    assert 429 not in statuses[:-1] and len(answers) > 1, statuses
    refused = answers[-1]
    assert_kong_rejection(refused, 429)
    assert refused.json() == {"message": "API rate limit exceeded"}
    assert refused.header("Retry-After") == "1", refused.describe()
    assert refused.header("RateLimit-Remaining") == "0", refused.describe()
    alice = api.post("/claims", consumer="alice", json_body={}, pace=False, retry_429=False)
    if int(time.time() - started) == 0:  # still the same second
        assert alice.status != 429, alice.describe()
