"""JSON from clients: nested deeper than the bound is refused before Python's parser or any
walk over the value can run out of stack; anything shallower parses as json.loads does."""

from __future__ import annotations

import json

import pytest

from portico.bounded_json import MAX_DEPTH, TooDeep, deeper_than, loads


@pytest.mark.parametrize(
    "text",
    [
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        '{"a": ' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1),
        "[" * 100_000 + "]" * 100_000,
        "[" * 100_000,  # not even complete
        '[{"a": [' * 30 + "]}]" * 30,  # arrays and objects alternating
    ],
)
def test_too_deep_is_refused_as_a_value_error(text):
    with pytest.raises(TooDeep):
        loads(text)
    with pytest.raises(ValueError):
        loads(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        "[" * MAX_DEPTH + "]" * MAX_DEPTH,
        json.dumps({"brackets in text": "[[[[" * 100, "n": [[1, 2], {"a": [3]}]}),
        json.dumps([[] for _ in range(10_000)]),  # wide, not deep
        '"\\"[[[[[[[[[[\\\\"',
        "17",
    ],
)
def test_anything_shallower_parses_as_json_loads_does(text):
    assert loads(text) == json.loads(text)
    assert not deeper_than(text, MAX_DEPTH)


def test_bytes_that_are_not_utf8_are_a_value_error():
    with pytest.raises(ValueError):
        loads(b'{"a": "\xff"}')
