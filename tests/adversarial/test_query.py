"""Hostile query strings on GET /claims: cursors this API never issued (wrong JSON types,
unparsable or out-of-range timestamps, NUL characters, invalid base64, very long), and `limit`
values that are not plain ASCII whole numbers. Each is a 400 problem, never a 5xx."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from tests.adversarial.harness import Api, assert_kong_rejection, assert_problem

pytestmark = pytest.mark.adversarial

A_UUID = "3b0c6f8e-2a51-4d7e-9f0a-1c2d3e4f5a6b"
A_TIME = "2026-01-01T00:00:00+00:00"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_of(value: object) -> str:
    return b64(json.dumps(value).encode())


CURSORS: list[tuple[str, str]] = [
    # wrong JSON types inside the base64
    ("a number", cursor_of(5)),
    ("null", cursor_of(None)),
    ("a string", cursor_of("x")),
    ("true", cursor_of(True)),
    ("an object", cursor_of({"createdAt": A_TIME, "claimId": A_UUID})),
    ("an empty list", cursor_of([])),
    ("a list of 1", cursor_of([A_TIME])),
    ("a list of 3", cursor_of([A_TIME, A_UUID, "x"])),
    ("numbers", cursor_of([1, 2])),
    ("a number as the timestamp", cursor_of([1767225600, A_UUID])),
    ("a float as the timestamp", cursor_of([1.5e300, A_UUID])),
    ("nulls", cursor_of([None, None])),
    ("null as the timestamp", cursor_of([None, A_UUID])),
    ("null as the id", cursor_of([A_TIME, None])),
    ("a number as the id", cursor_of([A_TIME, 5])),
    ("objects", cursor_of([{}, {}])),
    ("lists", cursor_of([[A_TIME], [A_UUID]])),
    ("booleans", cursor_of([True, False])),
    # unparsable timestamps
    ("not a time", cursor_of(["not a time", A_UUID])),
    ("an empty timestamp", cursor_of(["", A_UUID])),
    ("month 13", cursor_of(["2026-13-45T99:99:99+00:00", A_UUID])),
    ("February 30", cursor_of(["2026-02-30T00:00:00+00:00", A_UUID])),
    ("offset +99:00", cursor_of(["2026-01-01T00:00:00+99:00", A_UUID])),
    ("infinity", cursor_of(["infinity", A_UUID])),
    ("-infinity", cursor_of(["-infinity", A_UUID])),
    ("epoch", cursor_of(["epoch", A_UUID])),
    ("now", cursor_of(["now", A_UUID])),
    ("SQL in the timestamp", cursor_of(["2026-01-01'); DROP TABLE claims; --", A_UUID])),
    # out-of-range timestamps
    ("year 0", cursor_of(["0000-01-01T00:00:00+00:00", A_UUID])),
    ("year 10000", cursor_of(["10000-01-01T00:00:00+00:00", A_UUID])),
    ("year 99999", cursor_of(["99999-01-01T00:00:00+00:00", A_UUID])),
    ("year 294277", cursor_of(["294277-01-01T00:00:00+00:00", A_UUID])),
    ("4714 BC", cursor_of(["4714-11-23 00:00:00+00 BC", A_UUID])),
    # NUL characters
    ("NUL in the timestamp", cursor_of([A_TIME + "\u0000", A_UUID])),
    ("NUL in the id", cursor_of([A_TIME, A_UUID + "\u0000"])),
    ("NUL bytes as the JSON", b64(b"\x00\x00\x00")),
    ("a percent-encoded NUL as the cursor", "%00"),
    # not base64, not JSON, not text
    ("invalid base64", "!!!!"),
    ("one character", "a"),
    ("only padding", "===="),
    ("padding inside", "ab=cd"),
    ("non-ASCII", quote("é")),
    ("an emoji", quote("🙂")),
    ("base64 of non-UTF-8 bytes", b64(b"\xff\xfe\xfd")),
    ("base64 of text that is not JSON", b64(b"hello")),
    ("a lone surrogate in the JSON", b64(b'["\\ud800", "' + A_UUID.encode() + b'"]')),
    ("deeply nested JSON", b64(b"[" * 2000 + b"]" * 2000)),
    ("a timestamp of 2000 characters", cursor_of([A_TIME + " " * 2000, A_UUID])),
    ("3 KB of base64 zeros", "A" * 3000),
]


@pytest.mark.parametrize("cursor", [c for _, c in CURSORS], ids=[n for n, _ in CURSORS])
def test_a_cursor_this_api_never_issued_is_a_400(api: Api, cursor: str) -> None:
    exchange = api.get(f"/claims?cursor={cursor}", consumer="alice")
    assert_problem(exchange, 400)


def test_a_cursor_longer_than_any_request_line_limit_is_refused_in_json(api: Api) -> None:
    """6 KB: longer than the function server's request line. Kong's 414 from the gateway, or the
    function's 400; never an HTML page."""
    exchange = api.get(f"/claims?cursor={'A' * 6000}", consumer="alice")
    if exchange.media_type == "application/json":
        assert_kong_rejection(exchange, 414, 400)
    else:
        assert_problem(exchange, 400)


def test_a_cursor_the_api_issued_still_pages(api: Api) -> None:
    """The cases above are refused for what they are: a real cursor works."""
    for n in range(3):
        api.post(
            "/claims",
            consumer="alice",
            json_body={"policyId": "P-1001", "documentKey": f"claims/2026/page-{n}.jpg"},
        )
    first = api.get("/claims?limit=1", consumer="alice").json()
    assert isinstance(first, dict) and first["nextCursor"], first
    second = api.get(f"/claims?limit=1&cursor={first['nextCursor']}", consumer="alice")
    assert second.status == 200, second.describe()
    page = second.json()
    assert isinstance(page, dict) and page["items"][0]["claimId"] != first["items"][0]["claimId"]


LIMITS: list[tuple[str, str]] = [
    ("superscript two", "²"),
    ("superscript one", "¹"),
    ("Arabic-Indic ten", "\u0661\u0660"),
    ("Arabic-Indic five", "\u0665"),
    ("Devanagari five", "५"),
    ("Bengali five", "৫"),
    ("NKo five", "߅"),
    ("mathematical bold five", "\U0001d7d3"),
    ("full-width five", "\uff15"),
    ("full-width ten", "\uff11\uff10"),
    ("circled five", "⑤"),
    ("Roman numeral five", "\u2164"),
    ("a huge number", "9" * 30),
    ("a 400-digit number", "9" * 400),
    ("minus one", "-1"),
    ("minus zero", "-0"),
    ("zero", "0"),
    ("101", "101"),
    ("plus five", "+5"),
    ("leading space", " 5"),
    ("trailing space", "5 "),
    ("leading tab", "\t5"),
    ("trailing newline", "5\n"),
    ("no-break space", "\u00a05"),
    ("em space", "\u20035"),
    ("a decimal", "5.0"),
    ("an exponent", "1e2"),
    ("hexadecimal", "0x10"),
    ("an underscore", "5_0"),
    ("empty", ""),
    ("a word", "five"),
    ("null", "null"),
    ("a list", "5,6"),
    ("a NUL", "5\u0000"),
]


@pytest.mark.parametrize("limit", [v for _, v in LIMITS], ids=[n for n, _ in LIMITS])
def test_a_limit_that_is_not_an_ascii_whole_number_from_1_to_100_is_a_400(
    api: Api, limit: str
) -> None:
    exchange = api.get(f"/claims?limit={quote(limit, safe='')}", consumer="bob")
    assert_problem(exchange, 400)


@pytest.mark.parametrize("status", ["SUBMITTED", "approved\u0000", "in review", "%", "*", "\uff11"])
def test_an_unknown_status_filter_is_a_400(api: Api, status: str) -> None:
    exchange = api.get(f"/claims?status={quote(status, safe='')}", consumer="alice")
    assert_problem(exchange, 400)
