"""The claims reference app: submit, read and list claims, and review them on a queue.

Review rule (deterministic): a claim is approved when its policy is still active and its
document key has the accepted form ``claims/<year>/<file>.(jpg|jpeg|png|pdf)``; otherwise it
is rejected, and the reason says which check failed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from datetime import datetime
from typing import Any

from portico import BadRequest, Context, Message, NotFound, Request, Response

STATUSES = ("submitted", "in_review", "approved", "rejected")
ACCEPTED_DOCUMENT_KEY = re.compile(r"^claims/\d{4}/[A-Za-z0-9][A-Za-z0-9._-]*\.(jpe?g|png|pdf)$")
DEFAULT_PAGE, MAX_PAGE = 20, 100
CURSOR = re.compile(r"[A-Za-z0-9_-]{1,200}")  # what encode_cursor makes


def submit(request: Request, ctx: Context) -> Response:
    caller = request.caller
    assert caller is not None  # auth: required
    policy_id, document_key = request.body["policyId"], request.body["documentKey"]
    description = request.body.get("description")  # the manifest bounds every string
    policy = ctx.claims_store.one(
        "SELECT policy_id FROM policies WHERE policy_id = %s AND owner = %s AND status = 'active'",
        (policy_id, caller.username),
    )
    if policy is None:
        # Same answer whether the policy is someone else's, inactive or unknown.
        raise NotFound(f"no active policy {policy_id!r} found for this caller")

    claim_id = uuid.uuid4()
    ctx.claims_store.execute(
        "INSERT INTO claims (claim_id, owner, policy_id, document_key, description)"
        " VALUES (%s, %s, %s, %s, %s)",
        (claim_id, caller.username, policy_id, document_key, description),
    )
    record_event(ctx, claim_id, None, "submitted", f"submitted by {caller.username}")
    ctx.workflow_queue.publish({"claimId": str(claim_id)})
    return Response(
        201,
        {"claimId": str(claim_id), "status": "submitted"},
        headers={"Location": f"/claims/{claim_id}"},
    )


def get_claim(request: Request, ctx: Context) -> dict[str, Any]:
    caller = request.caller
    assert caller is not None
    claim_id = parse_claim_id(request.path_params["claimId"])
    row = ctx.claims_store.one(
        "SELECT * FROM claims WHERE claim_id = %s AND owner = %s", (claim_id, caller.username)
    )
    if row is None:
        raise NotFound(f"no claim {request.path_params['claimId']!r} found for this caller")
    history = ctx.claims_store.all(
        "SELECT from_status, to_status, reason, at FROM claim_events"
        " WHERE claim_id = %s ORDER BY event_id",
        (claim_id,),
    )
    return {**claim_view(row), "history": [event_view(e) for e in history]}


def claim_status(request: Request, ctx: Context) -> dict[str, Any]:
    caller = request.caller
    assert caller is not None
    claim_id = parse_claim_id(request.path_params["claimId"])
    row = ctx.claims_store.one(
        "SELECT claim_id, status FROM claims WHERE claim_id = %s AND owner = %s",
        (claim_id, caller.username),
    )
    if row is None:
        raise NotFound(f"no claim {request.path_params['claimId']!r} found for this caller")
    return {"claimId": str(row["claim_id"]), "status": row["status"]}


def list_claims(request: Request, ctx: Context) -> dict[str, Any]:
    caller = request.caller
    assert caller is not None
    limit = request.query_int("limit", default=DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE)
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
    after = decode_cursor(request.query["cursor"]) if request.query.get("cursor") else None

    conditions = ["owner = %s"]
    params: list[object] = [caller.username]
    if status:
        conditions.append("status = %s")
        params.append(status)
    if after:
        conditions.append("(created_at, claim_id) < (%s, %s)")
        params.extend(after)
    rows = ctx.claims_store.all(
        f"SELECT * FROM claims WHERE {' AND '.join(conditions)}"  # only fixed fragments
        " ORDER BY created_at DESC, claim_id DESC LIMIT %s",
        (*params, limit + 1),
    )
    page, more = rows[:limit], len(rows) > limit
    last = page[-1] if page else None
    next_cursor = encode_cursor(last["created_at"], last["claim_id"]) if more and last else None
    return {"items": [claim_view(r) for r in page], "nextCursor": next_cursor}


def review(message: Message, ctx: Context) -> dict[str, Any]:
    claim_id = parse_claim_id(str(message.payload.get("claimId", "")))
    claim = ctx.claims_store.one(
        "SELECT c.status, c.document_key, p.policy_id, p.status AS policy_status"
        " FROM claims c JOIN policies p USING (policy_id)"
        " WHERE c.claim_id = %s FOR UPDATE OF c",
        (claim_id,),
    )
    if claim is None:
        ctx.log.warning("review of unknown claim %s skipped", claim_id)
        return {"claimId": str(claim_id), "skipped": "unknown claim"}
    if claim["status"] != "submitted":
        return {"claimId": str(claim_id), "skipped": f"already {claim['status']}"}

    record_transition(ctx, claim_id, "submitted", "in_review", "review started")
    decision, reason = decide(claim["policy_id"], claim["policy_status"], claim["document_key"])
    record_transition(ctx, claim_id, "in_review", decision, reason)
    ctx.log.info("claim %s %s: %s", claim_id, decision, reason)
    return {"claimId": str(claim_id), "status": decision, "reason": reason}


def decide(policy_id: str, policy_status: str, document_key: str) -> tuple[str, str]:
    if policy_status != "active":
        return "rejected", f"policy {policy_id} is not active"
    if not ACCEPTED_DOCUMENT_KEY.match(document_key):
        return "rejected", "document key is not of the form claims/<year>/<file>.(jpg|jpeg|png|pdf)"
    return "approved", f"policy {policy_id} is active and the document key is accepted"


def record_transition(ctx: Context, claim_id: uuid.UUID, old: str, new: str, reason: str) -> None:
    updated = ctx.claims_store.execute(
        "UPDATE claims SET status = %s, decision_reason = %s, updated_at = clock_timestamp()"
        " WHERE claim_id = %s AND status = %s",
        (new, reason if new in ("approved", "rejected") else None, claim_id, old),
    )
    if updated != 1:
        raise RuntimeError(f"claim {claim_id} was not {old} any more")
    record_event(ctx, claim_id, old, new, reason)


def record_event(ctx: Context, claim_id: uuid.UUID, old: str | None, new: str, reason: str) -> None:
    ctx.claims_store.execute(
        "INSERT INTO claim_events (claim_id, from_status, to_status, reason)"
        " VALUES (%s, %s, %s, %s)",
        (claim_id, old, new, reason),
    )


def parse_claim_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no claim {value!r} found for this caller") from None


def encode_cursor(created_at: datetime, claim_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(claim_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """A cursor this API made, checked in full: base64url text of [an ISO timestamp with its
    offset, a claim UUID]; anything else is a 400, never a value handed to Postgres."""
    refused = BadRequest("cursor is not one this API returned")
    if not CURSOR.fullmatch(cursor):
        raise refused
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(decoded, list) and [type(part) for part in decoded] == [str, str]):
            raise ValueError("not [timestamp, claim id]")
        when, claim = datetime.fromisoformat(decoded[0]), uuid.UUID(decoded[1])
    except (ValueError, binascii.Error):  # json's and base64's errors are ValueErrors too
        raise refused from None
    # Exactly the text encode_cursor writes (fromisoformat alone forgives, for one, a NUL).
    if when.tzinfo is None or [when.isoformat(), str(claim)] != decoded:
        raise refused
    return when, claim


def claim_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "claimId": str(row["claim_id"]),
        "policyId": row["policy_id"],
        "documentKey": row["document_key"],
        "description": row["description"],
        "status": row["status"],
        "decisionReason": row["decision_reason"],
        "createdAt": row["created_at"].isoformat(),
        "updatedAt": row["updated_at"].isoformat(),
    }


def event_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "from": row["from_status"],
        "to": row["to_status"],
        "reason": row["reason"],
        "at": row["at"].isoformat(),
    }
