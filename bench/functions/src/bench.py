"""Handlers for the bench's own functions."""

from __future__ import annotations

import time

from portico import Context, Request, Response


def hello(request: Request, ctx: Context) -> dict[str, str]:
    return {"hello": "world"}


def outbox_probe(request: Request, ctx: Context) -> Response:
    # Published last, just before the commit: the lag measured from here includes the commit.
    ctx.probe_queue.publish({"publishedAt": time.time()})
    return Response(202, {"queued": True})
