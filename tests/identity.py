"""Who a test says the caller is, the way the gateway says it: Kong's upstream headers and the
gateway secret that makes a function believe them (tests/conftest.py gives every process the
tests start this secret)."""

from __future__ import annotations

import secrets

from portico import headers

GATEWAY_SECRET = "test-" + secrets.token_urlsafe(24)


def caller(username: str, consumer_id: str | None = None) -> dict[str, str]:
    return {
        headers.CONSUMER_USERNAME: username,
        headers.CONSUMER_ID: consumer_id or f"{username}-id",
        headers.GATEWAY_SECRET: GATEWAY_SECRET,
    }
