"""How error messages name files and values, list choices and suggest a fix for a typo."""

from __future__ import annotations

import difflib
from collections.abc import Collection
from pathlib import Path


def display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return repr(value)
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    return f"{value} (a {type(value).__name__})"


def listing(names: Collection[str]) -> str:
    return ", ".join(sorted(names))


def did_you_mean(word: str, options: Collection[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
