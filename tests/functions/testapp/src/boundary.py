"""Handlers at the function's boundaries: dependency calls and connections out."""

from __future__ import annotations

import socket
import time
from typing import Any

from portico import Context, Message, Request
from portico.problems import BadGateway


def call(request: Request, ctx: Context) -> dict[str, Any]:
    body = request.body
    for n in range(int(body.get("writes", 0))):
        ctx.test_store.execute("INSERT INTO test_writes (note) VALUES (%s)", (f"call-{n}",))
    for n in range(int(body.get("publishes", 0))):
        ctx.notes_queue.publish({"note": f"call-{n}"})
    time.sleep(body.get("sleep", 0))
    headers = {"Idempotency-Key": body["key"]} if "key" in body else None
    response = ctx.upstream.request(body["method"], body["path"], headers=headers)
    if response.status_code >= 500:
        raise BadGateway(f"upstream answered {response.status_code}")
    return {"status": response.status_code, "body": response.json()}


def connect(host: str, port: int) -> None:
    with socket.create_connection((host, port), timeout=1):
        pass


def connect_out(request: Request, ctx: Context) -> dict[str, Any]:
    ctx.test_store.execute("INSERT INTO test_writes (note) VALUES ('egress')")
    try:
        connect(request.body["host"], int(request.body["port"]))
    except Exception:
        if not request.body.get("swallow"):
            raise
    return {"connected": True}


def connect_out_job(message: Message, ctx: Context) -> dict[str, Any]:
    ctx.test_store.execute("INSERT INTO test_writes (note) VALUES ('egress-job')")
    connect(message.payload["host"], int(message.payload["port"]))
    return {"connected": True}
