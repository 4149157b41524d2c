"""Hostile request bodies: deep nesting (through the gateway to the claims app, and straight to a
function that takes any JSON, so the runtime itself is what holds), no Content-Type, and strings
far longer than any field needs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.adversarial.conftest import EchoPair
from tests.adversarial.harness import Api, assert_problem

pytestmark = pytest.mark.adversarial

VALID = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}


def nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_objects(size: int) -> bytes:
    """About `size` bytes of {"a":{"a":...}}."""
    depth = size // len(b'{"a":}')
    return b'{"a":' * depth + b"1" + b"}" * depth


def inside(field: str, raw: bytes) -> bytes:
    return json.dumps({**VALID, field: "@"}).encode().replace(b'"@"', raw)


NESTED = [
    ("100 000 nested arrays", nested_arrays(100_000)),
    ("20 KB of nested objects", nested_objects(20 * 1024)),
    ("nested arrays as the description", inside("description", nested_arrays(5000))),
    ("nested objects as the documentKey", inside("documentKey", nested_objects(20 * 1024))),
]


@pytest.mark.parametrize("body", [b for _, b in NESTED], ids=[n for n, _ in NESTED])
def test_a_deeply_nested_claim_body_is_a_problem_not_a_crash(api: Api, body: bytes) -> None:
    exchange = api.post(
        "/claims", consumer="alice", body=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(exchange, 400, 422)


@pytest.fixture(scope="module")
def echo_direct(echo: EchoPair) -> Iterator[Api]:
    """Straight to the echo-body function's own port, no gateway in between."""
    client = Api(
        f"http://127.0.0.1:{echo.functions['echo-body']}", echo.api.ownership, manifests=[]
    )
    try:
        yield client
    finally:
        client.close()


@pytest.mark.parametrize("body", [b for _, b in NESTED[:2]], ids=[n for n, _ in NESTED[:2]])
@pytest.mark.parametrize("path", ["through the gateway", "straight to the function"])
def test_any_handler_is_protected_from_a_deeply_nested_body(
    echo: EchoPair, echo_direct: Api, path: str, body: bytes
) -> None:
    client = echo.api if path == "through the gateway" else echo_direct
    exchange = client.post(
        "/adversarial/body", body=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(exchange, 400, 422)


def test_a_shallow_body_still_reaches_that_handler(echo: EchoPair) -> None:
    exchange = echo.api.post("/adversarial/body", json_body=[[[{"a": [1]}]]])
    assert (exchange.status, exchange.json()) == (200, {"bodyType": "list"}), exchange.describe()


def test_a_post_without_content_type_reaches_the_function_without_one(api: Api) -> None:
    """The 415 must name what the client sent: nothing. (The dev gateway's HTTP client used to
    add application/octet-stream on the way.)"""
    exchange = api.post("/claims", consumer="alice", body=json.dumps(VALID).encode())
    problem = assert_problem(exchange, 415)
    detail = str(problem.get("detail"))
    assert "no content type" in detail and "octet-stream" not in detail, exchange.describe()


def test_a_body_without_content_type_is_forwarded_without_one(echo: EchoPair) -> None:
    exchange = echo.api.get("/adversarial/headers", consumer="alice", body=b"opaque bytes")
    assert exchange.status == 200, exchange.describe()
    seen = exchange.json()
    assert isinstance(seen, dict)
    assert "content-type" not in seen["headers"], exchange.describe()


OVERLONG = [
    ("documentKey", 900 * 1024),
    ("documentKey", 20 * 1024),
    ("policyId", 20 * 1024),
    ("description", 20 * 1024),
]


@pytest.mark.parametrize(
    ("field", "size"), OVERLONG, ids=[f"{f} of {s // 1024} KB" for f, s in OVERLONG]
)
def test_an_overlong_string_is_refused_with_422_naming_its_field(
    api: Api, field: str, size: int
) -> None:
    exchange = api.post("/claims", consumer="alice", json_body={**VALID, field: "k" * size})
    problem = assert_problem(exchange, 422)
    errors = problem.get("errors")
    assert isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("field") == field for e in errors
    ), exchange.describe()


def test_list_pages_never_carry_an_overlong_string(api: Api) -> None:
    api.post(
        "/claims",
        consumer="alice",
        json_body={**VALID, "documentKey": "claims/2026/" + "k" * 20 * 1024 + ".jpg"},
    )
    page = api.get("/claims?limit=100", consumer="alice")
    assert page.status == 200, page.describe()
    listing = page.json()
    assert isinstance(listing, dict)
    longest = max(
        (len(v) for item in listing["items"] for v in item.values() if isinstance(v, str)),
        default=0,
    )
    assert longest <= 2000, f"a list item carries a {longest}-character string"
