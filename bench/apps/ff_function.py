"""The trivial JSON handler written for Google's functions-framework."""

from __future__ import annotations

from typing import Any


def hello(request: Any) -> dict[str, str]:
    return {"hello": "world"}
