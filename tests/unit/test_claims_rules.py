"""The claims app's pure rules: the review decision and the paging cursor."""

from __future__ import annotations

import base64
import importlib.util
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from portico import BadRequest

spec = importlib.util.spec_from_file_location(
    "claims_under_test", Path(__file__).parents[2] / "functions/claims/src/claims.py"
)
assert spec is not None and spec.loader is not None
claims = importlib.util.module_from_spec(spec)
spec.loader.exec_module(claims)


@pytest.mark.parametrize(
    ("policy_status", "document_key", "decision"),
    [
        ("active", "claims/2026/photo-1.jpg", "approved"),
        ("active", "claims/2025/scan.PDF".lower(), "approved"),
        ("active", "claims/2026/report.jpeg", "approved"),
        ("inactive", "claims/2026/photo-1.jpg", "rejected"),
        ("active", "photo-1.jpg", "rejected"),
        ("active", "claims/26/photo.jpg", "rejected"),
        ("active", "claims/2026/photo.gif", "rejected"),
        ("active", "claims/2026/../etc/passwd.jpg", "rejected"),
    ],
)
def test_review_decision(policy_status, document_key, decision):
    outcome, reason = claims.decide("P-1", policy_status, document_key)
    assert outcome == decision
    assert reason


def test_a_rejection_says_which_check_failed():
    assert claims.decide("P-1", "inactive", "x")[1] == "policy P-1 is not active"
    assert "document key" in claims.decide("P-1", "active", "x")[1]


def cursor_of(value: object) -> str:
    """What a client could make of a cursor: any JSON, base64url-encoded."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_cursors_round_trip():
    when = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    claim = uuid.UUID("6f1c1d2e-0000-4000-8000-000000000001")
    assert claims.decode_cursor(claims.encode_cursor(when, claim)) == (when, claim)


CLAIM = "6f1c1d2e-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "W10",  # []
        "a" * 201,
        "abc\x00def",
        "abc=",
        "4pyT",  # a character outside base64url's alphabet once decoded: not JSON
        cursor_of(["2026-11-25T10:00:00+00:00"]),
        cursor_of(["2026-11-25T10:00:00+00:00", CLAIM, "x"]),
        cursor_of({"2026-11-25T10:00:00+00:00": 1, CLAIM: 2}),
        cursor_of([1, CLAIM]),
        cursor_of(["2026-11-25T10:00:00+00:00", 123]),
        cursor_of(["2026-11-25T10:00:00+00:00", None]),
        cursor_of(["2026-11-25T10:00:00+00:00", {"a": 1}]),
        cursor_of(["t", CLAIM]),
        cursor_of(["2026-11-25T10:00:00", CLAIM]),  # no offset
        cursor_of(["0000-01-01T00:00:00+00:00", CLAIM]),
        cursor_of(["10000-01-01T00:00:00+00:00", CLAIM]),
        cursor_of(["99999-12-31T00:00:00+00:00", CLAIM]),
        cursor_of(["2026-13-45T10:00:00+00:00", CLAIM]),
        cursor_of(["2026-11-25T10:00:00+00:00\u0000", CLAIM]),
        cursor_of(["2026-11-25T10:00:00+00:00", "not-a-uuid"]),
        cursor_of(["2026-11-25T10:00:00+00:00", CLAIM + "\u0000"]),
        cursor_of("just text"),
        cursor_of(None),
    ],
)
def test_anything_but_a_cursor_of_this_api_is_a_bad_request(cursor):
    with pytest.raises(BadRequest):
        claims.decode_cursor(cursor)
