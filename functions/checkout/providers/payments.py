"""A payment provider stand-in for `portico dev` (never deployed): authorizes any token but
`tok_declined`, and answers a repeated Idempotency-Key with its first answer, as real providers
do. `portico dev` adds its latency and failure knobs (`PUT /_settings`)."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from flask import Flask, request

DECLINED_TOKEN = "tok_declined"

app = Flask(__name__)
lock = threading.Lock()
authorizations: list[dict[str, Any]] = []  # every one made, declines included
answered: dict[str, tuple[dict[str, Any], int]] = {}  # Idempotency-Key -> first answer


@app.post("/authorizations")
def authorize() -> tuple[dict[str, Any], int]:
    body = request.get_json(force=True)
    key = request.headers.get("Idempotency-Key")
    with lock:
        if key is not None and key in answered:
            return answered[key]
        declined = body.get("paymentToken") == DECLINED_TOKEN
        authorization = {
            "authorizationId": f"auth_{secrets.token_hex(8)}",
            "status": "declined" if declined else "authorized",
            "amountCents": body.get("amountCents"),
            "currency": body.get("currency"),
            "reference": body.get("reference"),
            "idempotencyKey": key,
        }
        authorizations.append(authorization)
        answer = (authorization, 402 if declined else 201)
        if key is not None:
            answered[key] = answer
        return answer


@app.get("/authorizations")
def list_authorizations() -> dict[str, Any]:
    """Those made, optionally only for `reference` or `idempotencyKey`: the tests count them."""
    wanted = {k: request.args[k] for k in ("reference", "idempotencyKey") if k in request.args}
    with lock:
        found = [a for a in authorizations if all(a[k] == v for k, v in wanted.items())]
    return {"count": len(found), "items": found}
