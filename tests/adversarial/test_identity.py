"""Credentials and identity: what the gateway passes on (never the caller's key or token, never a
client's copy of the identity headers or of the gateway secret), what a function believes when
called directly (no identity without the gateway's secret), and Server headers without
versions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from portico.policies.consumers import consumer_id
from tests.adversarial.checks import Exchange
from tests.adversarial.conftest import EchoPair, Stack
from tests.adversarial.harness import KEYS, Api, assert_problem, token

pytestmark = pytest.mark.adversarial

SECRET_HEADER = "X-Portico-Gateway-Secret"
VALID = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}


def claim_id_of(created: Exchange) -> str:
    body = created.json()
    assert isinstance(body, dict), created.describe()
    return str(body["claimId"])


def seen_by_function(exchange: Exchange) -> dict[str, str]:
    assert exchange.status == 200, exchange.describe()
    body = exchange.json()
    assert isinstance(body, dict)
    headers = body["headers"]
    assert isinstance(headers, dict)
    return headers


def test_the_function_never_sees_the_api_key(echo: EchoPair) -> None:
    exchange = echo.api.get("/adversarial/headers", consumer="alice")
    seen = seen_by_function(exchange)
    assert "apikey" not in seen, exchange.describe()
    assert KEYS["alice"].encode() not in exchange.body, exchange.describe()
    assert exchange.json() == {"headers": seen, "caller": "alice"}


def test_the_function_never_sees_the_jwt(echo: EchoPair) -> None:
    exchange = echo.api.get(
        "/adversarial/jwt-headers",
        consumer="alice",
        jwt=True,
        headers={"Authorization": f"Bearer {token('alice', audience='adversarial-api')}"},
    )
    seen = seen_by_function(exchange)
    assert "authorization" not in seen, exchange.describe()


def test_identity_headers_a_client_sends_are_replaced_by_the_gateways(echo: EchoPair) -> None:
    exchange = echo.api.get(
        "/adversarial/headers",
        consumer="alice",
        headers={
            "X-Consumer-Username": "bob",
            "X-Consumer-ID": consumer_id("bob"),
            "X-Credential-Identifier": "bob-dev-key",
        },
    )
    seen = seen_by_function(exchange)
    assert exchange.json() == {"headers": seen, "caller": "alice"}
    assert seen["x-consumer-username"] == "alice" and seen["x-consumer-id"] == consumer_id("alice")
    assert "x-credential-identifier" not in seen, exchange.describe()


def test_a_client_sent_gateway_secret_never_reaches_the_function(echo: EchoPair) -> None:
    """The function gets the deployment's secret or none (a runtime may keep it from
    handlers), never the client's; and the identity is still the gateway's."""
    exchange = echo.api.get(
        "/adversarial/headers", consumer="alice", headers={SECRET_HEADER: "chosen-by-the-client"}
    )
    seen = seen_by_function(exchange)
    assert seen.get(SECRET_HEADER.lower()) in (None, echo.secret), exchange.describe()
    assert b"chosen-by-the-client" not in exchange.body, exchange.describe()
    assert exchange.json() == {"headers": seen, "caller": "alice"}


def test_a_forged_secret_and_identity_through_the_gateway_gain_nothing(api: Api) -> None:
    """alice claims to be bob, with a guessed gateway secret: she still sees only hers (the
    leak check fails on any of bob's claims), and bob's claim stays a 404 for her."""
    bobs = api.post("/claims", consumer="bob", json_body={**VALID, "policyId": "P-2001"})
    assert bobs.status == 201, bobs.describe()
    bobs_claim = claim_id_of(bobs)
    forged = {
        SECRET_HEADER: "guess",
        "X-Consumer-Username": "bob",
        "X-Consumer-ID": consumer_id("bob"),
    }
    listing = api.get("/claims?limit=100", consumer="alice", headers=forged)
    assert listing.status == 200, listing.describe()
    read = api.get(f"/claims/{bobs_claim}", consumer="alice", headers=forged)
    assert_problem(read, 404)


# --- straight to a function's port, bypassing the gateway -----------------------------------------


@pytest.fixture(scope="module")
def direct(stack: Stack, api: Api) -> Iterator[dict[str, Api]]:
    clients = {
        name: Api(f"http://127.0.0.1:{port}", api.ownership, manifests=[])
        for name, port in stack.functions.items()
    }
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()


@pytest.fixture(scope="module")
def alices_claim(api: Api) -> str:
    created = api.post("/claims", consumer="alice", json_body=VALID)
    assert created.status == 201, created.describe()
    return claim_id_of(created)


ALICE = {"X-Consumer-Username": "alice", "X-Consumer-ID": consumer_id("alice")}
FORGERIES = [
    ("no secret", ALICE),
    ("a wrong secret", {**ALICE, SECRET_HEADER: "wrong"}),
    ("an empty secret", {**ALICE, SECRET_HEADER: ""}),
]
CALLS = [
    ("list-claims", "GET", "/claims"),
    ("get-claim", "GET", "/claims/{claim}"),
    ("claim-status", "GET", "/claims/{claim}/status"),
    ("submit-claim", "POST", "/claims"),
]


@pytest.mark.parametrize("headers", [f[1] for f in FORGERIES], ids=[f[0] for f in FORGERIES])
@pytest.mark.parametrize(("function", "method", "path"), CALLS, ids=[c[0] for c in CALLS])
def test_a_request_straight_to_a_function_claiming_to_be_alice_is_401(
    direct: dict[str, Api],
    alices_claim: str,
    function: str,
    method: str,
    path: str,
    headers: dict[str, str],
) -> None:
    """`curl 127.0.0.1:<function port>/claims -H 'X-Consumer-Username: alice'` (issue 11). The
    leak check runs on the answer too: nothing of alice's may come back."""
    exchange = direct[function].request(
        method,
        path.format(claim=alices_claim),
        headers=headers,
        json_body=VALID if method == "POST" else None,
    )
    assert_problem(exchange, 401)


def test_a_function_believes_the_gateway_that_proves_itself(echo: EchoPair) -> None:
    """The 401s above are for the missing proof: with the deployment's secret, the function
    takes the identity it is given (the gateway's own path, exercised by hand)."""
    port = echo.functions["echo-headers"]
    answer = httpx.get(
        f"http://127.0.0.1:{port}/adversarial/headers",
        headers={**ALICE, SECRET_HEADER: echo.secret},
        timeout=10,
    )
    assert (answer.status_code, answer.json()["caller"]) == (200, "alice"), answer.text


# --- Server headers -----------------------------------------------------------------------------


ANSWERS = [
    ("gateway /healthz", "gateway", "/healthz", {}),
    ("gateway 404", "gateway", "/nope", {}),
    ("gateway 401", "gateway", "/claims", {}),
    ("gateway 400 (refused request)", "gateway", "/claims?" + "a" * 9000, {}),
    ("a function's answer through the gateway", "gateway", "/claims", {"apikey": KEYS["alice"]}),
    ("function /healthz", "list-claims", "/healthz", {}),
    ("function 401", "list-claims", "/claims", {}),
    ("function 404", "get-claim", "/nope", {}),
]


@pytest.mark.parametrize(
    ("where", "path", "headers"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
def test_server_headers_carry_no_version(
    stack: Stack, where: str, path: str, headers: dict[str, str]
) -> None:
    port = stack.port if where == "gateway" else stack.functions[where]
    answer = httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=10)
    server = answer.headers.get("Server")
    assert server is None or not re.search(r"\d", server), (
        f"{answer.status_code} Server: {server!r}"
    )
