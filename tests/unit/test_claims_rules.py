"""The claims app's pure rules: the review decision and the paging cursor."""

from __future__ import annotations

import importlib.util
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


def test_cursors_round_trip_and_garbage_is_a_bad_request():
    cursor = claims.encode_cursor(
        "2026-11-25T10:00:00+00:00", "6f1c1d2e-0000-4000-8000-000000000001"
    )
    assert claims.decode_cursor(cursor) == (
        "2026-11-25T10:00:00+00:00",
        "6f1c1d2e-0000-4000-8000-000000000001",
    )
    for garbage in ("garbage", "", "W10", claims.encode_cursor("t", "not-a-uuid")):
        with pytest.raises(BadRequest):
            claims.decode_cursor(garbage)


@pytest.mark.parametrize(("value", "size"), [(None, 20), ("1", 1), ("100", 100)])
def test_page_sizes(value, size):
    assert claims.page_size(value) == size


@pytest.mark.parametrize("value", ["0", "101", "-1", "ten", "1.5"])
def test_bad_page_sizes(value):
    with pytest.raises(BadRequest):
        claims.page_size(value)
