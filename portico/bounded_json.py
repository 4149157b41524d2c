"""JSON from clients, its nesting bounded.

Python's decoder recurses once per level, so a few kilobytes of "[" exhaust the stack
(RecursionError), and every later walk over a parsed value (schema validation, the text check,
a handler's own code) recurses the same way. A client's JSON is refused past MAX_DEPTH levels,
measured on the text before it is parsed.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_INNERMOST = re.compile(r"\[[^\[\]{}]*\]|\{[^\[\]{}]*\}")
_BRACKET = re.compile(r"[\[\]{}]")


class TooDeep(ValueError):
    """The document nests arrays and objects more than MAX_DEPTH levels deep."""

    def __init__(self, max_depth: int) -> None:
        super().__init__(f"nested more than {max_depth} levels deep")


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads, refusing documents nested deeper than max_depth (TooDeep, a ValueError like
    json's own errors; bytes that are not UTF-8 raise UnicodeDecodeError, also a ValueError)."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8")
    if deeper_than(text, max_depth):
        raise TooDeep(max_depth)
    try:
        return json.loads(text)
    except RecursionError:  # cannot happen below the bound; kept so it never becomes a 500
        raise TooDeep(max_depth) from None


def deeper_than(text: str, max_depth: int) -> bool:
    """Whether the arrays and objects in a JSON text nest deeper than max_depth: strings set
    aside, each pass of a regex removes the innermost level, at C speed."""
    if text.count("[") + text.count("{") <= max_depth:
        return False  # most documents stop here
    skeleton = _STRING.sub("0", text)
    for _ in range(max_depth):
        skeleton = _INNERMOST.sub("0", skeleton)
        if not _BRACKET.search(skeleton):
            return False
    return True
