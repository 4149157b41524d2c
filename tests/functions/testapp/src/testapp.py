"""Handlers that exist to exercise the runtime: slow ones, failing ones, an echo."""

from __future__ import annotations

import time
from typing import Any

from portico import Conflict, Context, Message, Request


def write_then_sleep(request: Request, ctx: Context) -> dict[str, Any]:
    ctx.test_store.execute("INSERT INTO test_writes (note) VALUES (%s)", (request.body["note"],))
    ctx.notes_queue.publish({"note": request.body["note"]})
    if "pgSleep" in request.body:
        ctx.test_store.one("SELECT pg_sleep(%s)", (request.body["pgSleep"],))
    time.sleep(request.body.get("sleep", 0))
    return {"stored": request.body["note"]}


def write_then_fail(request: Request, ctx: Context) -> dict[str, Any]:
    ctx.test_store.execute("INSERT INTO test_writes (note) VALUES ('doomed')")
    ctx.notes_queue.publish({"note": "doomed"})
    if request.path_params["kind"] == "conflict":
        raise Conflict("this write conflicts with another")
    raise RuntimeError("secret-internal-detail: the handler broke")


def echo(request: Request, ctx: Context) -> dict[str, Any]:
    caller = request.caller.username if request.caller else None
    return {"body": request.body, "params": dict(request.path_params), "caller": caller}


def take_note(message: Message, ctx: Context) -> dict[str, Any]:
    if message.payload.get("note") == "fail":
        raise RuntimeError("note-taker was told to fail")
    time.sleep(message.payload.get("sleep", 0))
    ctx.test_store.execute(
        "INSERT INTO test_writes (note) VALUES (%s)", (f"taken:{message.payload['note']}",)
    )
    return {"taken": message.payload["note"]}


def tally(message: Message, ctx: Context) -> dict[str, Any]:
    ctx.test_store.execute(
        "INSERT INTO test_writes (note) VALUES (%s)", (f"tally:{message.payload['n']}",)
    )
    time.sleep(message.payload.get("sleep", 0))
    return {"tallied": message.payload["n"]}


def stamp(request: Request, ctx: Context) -> dict[str, Any]:
    """A fresh value on every call, so a cached answer is recognisable."""
    return {"item": request.path_params["item"], "servedAt": time.time_ns()}


def whoami(request: Request, ctx: Context) -> dict[str, Any]:
    """What reached the function: the caller it was told of, and every header."""
    caller = request.caller.username if request.caller else None
    return {"caller": caller, "headers": dict(request.headers), "body": request.body}


def cast(request: Request, ctx: Context) -> dict[str, Any]:
    """Hands a client's value to Postgres to parse, as a handler's query would."""
    row = ctx.test_store.one("SELECT %s::timestamptz AS at", (request.body["value"],))
    assert row is not None
    return {"at": row["at"].isoformat()}
