"""A mail relay stand-in for `portico dev` (never deployed): accepts messages and keeps them
for `GET /messages`; a repeated Idempotency-Key is sent once. `portico dev` adds its latency and
failure knobs (`PUT /_settings`)."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from flask import Flask, request

app = Flask(__name__)
lock = threading.Lock()
messages: list[dict[str, Any]] = []
by_key: dict[str, dict[str, Any]] = {}


@app.post("/messages")
def send() -> tuple[dict[str, Any], int]:
    body = request.get_json(force=True)
    key = request.headers.get("Idempotency-Key")
    with lock:
        if key is not None and key in by_key:
            return by_key[key], 202
        message = {"messageId": f"msg_{secrets.token_hex(8)}", "status": "queued",
                   "to": body.get("to"), "subject": body.get("subject")}  # fmt: skip
        messages.append(message)
        if key is not None:
            by_key[key] = message
        return message, 202


@app.get("/messages")
def list_messages() -> dict[str, Any]:
    to = request.args.get("to")
    with lock:
        found = [m for m in messages if to is None or m["to"] == to]
    return {"count": len(found), "items": found}
