"""Handlers for the adversarial suite (tests/adversarial): they report what the function saw."""

from __future__ import annotations

from typing import Any

from portico import Context, Request


def headers_seen(request: Request, ctx: Context) -> dict[str, Any]:
    return {
        "headers": {name.lower(): value for name, value in request.headers.items()},
        "caller": request.caller.username if request.caller else None,
    }


def body_seen(request: Request, ctx: Context) -> dict[str, Any]:
    return {"bodyType": type(request.body).__name__}
