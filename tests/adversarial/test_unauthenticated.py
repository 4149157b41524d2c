"""Requests with no credentials at all, of many shapes: odd methods, odd paths, odd headers,
bodies. Each gets the gateway's own Kong-style JSON answer and reaches no function."""

from __future__ import annotations

import base64

import pytest

from tests.adversarial.checks import violations
from tests.adversarial.conftest import Stack
from tests.adversarial.harness import Api, assert_kong_rejection, refused_before_the_function

pytestmark = pytest.mark.adversarial

SOME_ID = "3b0c6f8e-2a51-4d7e-9f0a-1c2d3e4f5a6b"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# (id, method, target, headers, body)
SHAPES: list[tuple[str, str, str, dict[str, str], bytes | None]] = [
    ("GET /claims", "GET", "/claims", {}, None),
    (
        "POST /claims with a body",
        "POST",
        "/claims",
        {"Content-Type": "application/json"},
        b'{"policyId": "P-1001", "documentKey": "k"}',
    ),
    (
        "POST /claims with invalid JSON",
        "POST",
        "/claims",
        {"Content-Type": "application/json"},
        b"{not json",
    ),
    (
        "POST /claims with 100 000 nested arrays",
        "POST",
        "/claims",
        {"Content-Type": "application/json"},
        nested(100_000),
    ),
    (
        "POST /claims with 2 MB",
        "POST",
        "/claims",
        {"Content-Type": "application/json"},
        b"[" + b"1," * 1_000_000 + b"1]",
    ),
    ("PUT /claims", "PUT", "/claims", {}, b"x"),
    ("DELETE /claims/{id}", "DELETE", f"/claims/{SOME_ID}", {}, None),
    (
        "PATCH /claims/{id}",
        "PATCH",
        f"/claims/{SOME_ID}",
        {"Content-Type": "application/merge-patch+json"},
        b"{}",
    ),
    ("OPTIONS /claims", "OPTIONS", "/claims", {}, None),
    (
        "CORS preflight",
        "OPTIONS",
        "/claims",
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        None,
    ),
    ("HEAD /claims", "HEAD", "/claims", {}, None),
    ("TRACE /claims", "TRACE", "/claims", {}, None),
    ("TRACE /", "TRACE", "/", {}, None),
    ("PROPFIND /claims", "PROPFIND", "/claims", {"Depth": "1"}, None),
    ("GET /claims/{id}", "GET", f"/claims/{SOME_ID}", {}, None),
    ("GET /claims/{id}/status", "GET", f"/claims/{SOME_ID}/status", {}, None),
    ("GET /", "GET", "/", {}, None),
    ("GET /nope", "GET", "/nope", {}, None),
    ("GET /claims/", "GET", "/claims/", {}, None),
    ("GET //claims", "GET", "//claims", {}, None),
    ("GET /CLAIMS", "GET", "/CLAIMS", {}, None),
    ("GET /claims/../claims", "GET", "/claims/%2e%2e/claims", {}, None),
    ("GET /claims/%00", "GET", "/claims/%00", {}, None),
    ("GET /claims/%ff/status", "GET", "/claims/%ff/status", {}, None),
    ("GET /claims/%0a/status", "GET", "/claims/%0a/status", {}, None),
    ("GET /claims?apikey=alice's key", "GET", "/claims?apikey=alice-dev-key", {}, None),
    ("an empty apikey", "GET", "/claims", {"apikey": ""}, None),
    ("a wrong apikey", "GET", "/claims", {"apikey": "not-a-key"}, None),
    (
        "a bearer token on an API-key route",
        "GET",
        "/claims",
        {"Authorization": "Bearer x.y.z"},
        None,
    ),
    ("Basic auth", "GET", "/claims", {"Authorization": "Basic YWxpY2U6YWxpY2U="}, None),
    (
        "only X-Consumer-Username",
        "GET",
        "/claims",
        {"X-Consumer-Username": "alice", "X-Consumer-ID": "x"},
        None,
    ),
    (
        "only a forged gateway secret",
        "GET",
        "/claims",
        {"X-Portico-Gateway-Secret": "guess", "X-Consumer-Username": "alice"},
        None,
    ),
    (
        "an API key on the JWT route",
        "GET",
        f"/claims/{SOME_ID}/status",
        {"apikey": "alice-dev-key"},
        None,
    ),
    (
        "Bearer with nothing after it",
        "GET",
        f"/claims/{SOME_ID}/status",
        {"Authorization": "Bearer"},
        None,
    ),
    (
        "a token of garbage",
        "GET",
        f"/claims/{SOME_ID}/status",
        {"Authorization": "Bearer a.b.c"},
        None,
    ),
    (
        "a token alg none",
        "GET",
        f"/claims/{SOME_ID}/status",
        {
            "Authorization": "Bearer "
            + b64(b'{"alg":"none"}')
            + "."
            + b64(b'{"aud":"portico-claims","iss":"alice-dev-issuer"}')
            + "."
        },
        None,
    ),
    (
        "a token with a JSON number payload",
        "GET",
        f"/claims/{SOME_ID}/status",
        {
            "Authorization": "Bearer "
            + b64(b'{"alg":"HS256"}')
            + "."
            + b64(b"1" * 5000)
            + "."
            + b64(b"s")
        },
        None,
    ),
    (
        "Expect: 100-continue",
        "POST",
        "/claims",
        {"Expect": "100-continue", "Content-Type": "application/json"},
        b"{}",
    ),
    (
        "Content-Encoding: gzip",
        "POST",
        "/claims",
        {"Content-Encoding": "gzip", "Content-Type": "application/json"},
        b"not gzip",
    ),
    ("a huge X-Request-ID", "GET", "/claims", {"X-Request-ID": "r" * 4000}, None),
    (
        "Upgrade: websocket",
        "GET",
        "/claims",
        {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
        None,
    ),
    (
        "Upgrade: h2c",
        "GET",
        "/claims",
        {
            "Upgrade": "h2c",
            "Connection": "Upgrade, HTTP2-Settings",
            "HTTP2-Settings": "AAMAAABkAARAAAAAAAIAAAAA",
        },
        None,
    ),
]


@pytest.mark.parametrize(
    ("method", "target", "headers", "body"),
    [shape[1:] for shape in SHAPES],
    ids=[shape[0] for shape in SHAPES],
)
def test_without_credentials_the_gateway_answers_in_json_and_forwards_nothing(
    stack: Stack,
    api: Api,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes | None,
) -> None:
    exchange = refused_before_the_function(
        stack.functions,
        api,
        None,
        lambda: api.request(method, target, headers=headers, body=body),
    )
    assert_kong_rejection(exchange)


def test_a_token_of_nested_json_that_is_nobodys_credential_is_kongs_401(
    stack: Stack, api: Api
) -> None:
    """Issue 11's "request with no credentials at all" that got aiohttp's plain-text 500 (seen
    here before the fix: `500 text/plain; charset=utf-8` "Server got itself in trouble"): a
    bearer token whose payload is 3000 nested JSON arrays, signed by no one. The gateway's
    audience check parsed it with unbounded recursion."""
    depth = 3000
    forged = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(nested(depth)) + "." + b64(b"sig")
    exchange = refused_before_the_function(
        stack.functions,
        api,
        None,
        lambda: api.get(f"/claims/{SOME_ID}/status", headers={"Authorization": f"Bearer {forged}"}),
    )
    assert_kong_rejection(exchange, 401)


@pytest.mark.parametrize("function", ["list-claims", "get-claim", "claim-status", "submit-claim"])
def test_a_function_called_directly_answers_every_shape_in_json(
    stack: Stack, api: Api, function: str
) -> None:
    """The same shapes straight to one function's port (no gateway): a JSON error, no 5xx, none
    of anybody's data (each function sees every shape, whatever its route)."""
    failures = []
    for name, method, target, headers, body in SHAPES:
        # a connection of its own per shape: test_protocol pins what a refused body does to the
        # next request on the same connection
        direct = Api(f"http://127.0.0.1:{stack.functions[function]}", api.ownership, manifests=[])
        try:
            exchange = direct.request(method, target, headers=headers, body=body, check=False)
        finally:
            direct.close()
        found = violations(exchange, api.ownership)
        failures += [f"{name}: {'; '.join(found)}\n  {exchange.describe()}"] if found else []
    assert not failures, "\n".join(failures)
