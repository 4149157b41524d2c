"""Everything on the request path: five synchronous calls and an undeclared one."""

from __future__ import annotations

import json
import os
import urllib.request
import uuid
from typing import Any

from portico import Context, Request, Response
from portico.problems import BadGateway

# Not a `dependencies:` entry: the egress guard knows nothing of it, and refuses it.
FRAUD_SCORE_URL = os.environ.get("FAT_FRAUD_SCORE_URL", "http://fraud.invalid/score")


def checkout(request: Request, ctx: Context) -> Response:
    caller = request.caller
    assert caller is not None
    order_id = uuid.uuid4()
    ctx.orders_store.execute(
        "INSERT INTO fat_orders (order_id, owner, email) VALUES (%s, %s, %s)",
        (order_id, caller.username, request.body["email"]),
    )
    order = {"orderId": str(order_id), "email": request.body["email"]}
    for dependency, path in (
        (ctx.payments, "/authorizations"),
        (ctx.shipping, "/labels"),
        (ctx.mailer, "/messages"),
        (ctx.analytics, "/events"),
        (ctx.loyalty, "/points"),
    ):
        if dependency.post(path, json=order).status_code >= 500:
            raise BadGateway(f"{path} failed")
    score = fraud_score(order)
    return Response(201, {**order, "fraudScore": score})


def fraud_score(order: dict[str, Any]) -> Any:
    data = json.dumps(order).encode()
    with urllib.request.urlopen(FRAUD_SCORE_URL, data=data, timeout=2) as answer:
        return json.load(answer)["score"]
