from __future__ import annotations

import pytest

from portico.problems import BadRequest
from portico.runtime.idempotency import fingerprint, parse_key


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('  "with space"  ', "with space"),
        (r'"esc\"aped\\"', 'esc"aped\\'),
    ],
)
def test_keys_are_sf_strings_or_bare_tokens(header, key):
    assert parse_key(header) == key


@pytest.mark.parametrize(
    "header", ['"', '""', '"open', "two words", r'"bad\escape"', '"tab\there"', "x" * 256, ""]
)
def test_malformed_keys_are_a_bad_request(header):
    with pytest.raises(BadRequest, match="Idempotency-Key"):
        parse_key(header)


def test_fingerprints_ignore_json_spacing_and_key_order_but_nothing_else():
    base = fingerprint("POST", "/claims", {"a": 1, "b": [1, 2]})
    assert fingerprint("POST", "/claims", {"b": [1, 2], "a": 1}) == base
    assert fingerprint("POST", "/claims", {"a": 1, "b": [2, 1]}) != base
    assert fingerprint("POST", "/other", {"a": 1, "b": [1, 2]}) != base
    assert fingerprint("PUT", "/claims", {"a": 1, "b": [1, 2]}) != base
