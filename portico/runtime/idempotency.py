"""Idempotency-Key (IETF httpapi draft) for POST routes: a retried request gets the first
response back instead of running again.

Everything happens inside the invocation's own transaction:
- `pg_try_advisory_xact_lock` on (consumer, key), in `portico_idempotency_claim` with the
  lookup: if another request with that key is still running, this one gets 409 at once (it
  holds the lock until it commits or rolls back);
- a stored response for the key with a different request fingerprint: 422;
- a stored response with the same fingerprint: replayed, with `Idempotent-Replayed: true`;
- otherwise the handler runs and its response is stored in the same transaction as its
  writes, so "the claim exists" and "the key has its response" commit together or not at all.
A request that fails (a raised problem, a timeout, a crash) stores nothing: no effect was
committed, so a retry simply runs again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from portico import headers, problems
from portico.contract import Response
from portico.state.transaction import Statement, Transaction

MAX_KEY_LENGTH = 255
_BARE_KEY = re.compile(r"[!#-~]+")  # printable ASCII without spaces, quotes or backslashes


@dataclass(frozen=True)
class IdempotentRequest:
    consumer: str
    key: str
    fingerprint: str
    retention_hours: int


def parse_key(value: str) -> str:
    """The key from the header value: an sf-string ("...", with \\" and \\\\ escapes) or a bare
    token. Raises BadRequest when it is neither."""
    value = value.strip()
    if value.startswith('"'):
        key = _parse_sf_string(value)
    elif _BARE_KEY.fullmatch(value):
        key = value
    else:
        raise _bad_key("must be a quoted string or a single token of printable characters")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise _bad_key(f"must be 1 to {MAX_KEY_LENGTH} characters long")
    return key


def _parse_sf_string(value: str) -> str:
    if len(value) < 2 or not value.endswith('"'):
        raise _bad_key("has an opening quote but no closing one")
    chars, inner, i = [], value[1:-1], 0
    while i < len(inner):
        char = inner[i]
        if char == "\\":
            if i + 1 == len(inner) or inner[i + 1] not in '"\\':
                raise _bad_key('may only escape " and \\')
            char, i = inner[i + 1], i + 1
        elif char == '"' or not " " <= char <= "~":
            raise _bad_key("contains a character a structured-field string cannot hold")
        chars.append(char)
        i += 1
    return "".join(chars)


def _bad_key(why: str) -> problems.BadRequest:
    return problems.BadRequest(f"the {headers.IDEMPOTENCY_KEY} header {why}")


def fingerprint(method: str, path: str, body: Any) -> str:
    """Same method, path and JSON body (whatever its spacing or key order) → same fingerprint."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def lookup(tx: Transaction, request: IdempotentRequest) -> Response | None:
    """The stored response to replay, None to go ahead; 409/422 problems otherwise. One
    statement takes the key's lock and then reads the key (the migration
    portico-0002-idempotency-claim says why that order needs a function)."""
    found = tx.execute(
        "SELECT acquired, fingerprint, status, headers, body"
        " FROM portico_idempotency_claim(%s, %s)",
        (request.consumer, request.key),
        counted=False,  # the runtime's, not the handler's
    ).fetchone()
    if found is None or not found["acquired"]:
        raise problems.Conflict(
            f"a request with this {headers.IDEMPOTENCY_KEY} is still being processed; "
            "retry once it has finished",
            headers={headers.RETRY_AFTER: "1"},
        )
    if found["fingerprint"] is None:
        return None
    if found["fingerprint"] != request.fingerprint:
        raise problems.Unprocessable(
            f"this {headers.IDEMPOTENCY_KEY} was already used for a different request; "
            "use a new key for a new request"
        )
    replay_headers = {**found["headers"], headers.IDEMPOTENT_REPLAYED: "true"}
    return Response(status=found["status"], body=found["body"], headers=replay_headers)


def record(request: IdempotentRequest, response: Response) -> Statement:
    """The statement storing the response, to send with the invocation's COMMIT."""
    return (
        "INSERT INTO portico_idempotency_keys"
        " (consumer, key, fingerprint, status, headers, body, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, now() + make_interval(hours => %s))"
        " ON CONFLICT (consumer, key) DO UPDATE SET"  # only an expired row can be there
        " fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,"
        " headers = EXCLUDED.headers, body = EXCLUDED.body, created_at = now(),"
        " expires_at = EXCLUDED.expires_at",
        (
            request.consumer,
            request.key,
            request.fingerprint,
            response.status,
            Jsonb(response.headers),
            Jsonb(response.body),
            request.retention_hours,
        ),
    )
