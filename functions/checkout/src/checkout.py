"""The checkout app: POST /checkout does the one call that must answer before the client is
told yes (authorize the payment) and hands everything else to workers through the outbox.

    checkout ──(order + authorization + one message, one transaction)──► order-placed
    dispatch-order ──► shipping-labels, order-emails, order-analytics, loyalty-points
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from typing import Any

from portico import Context, Message, NotFound, Problem, Request, Response, Unprocessable
from portico.problems import BadGateway

CURRENCY = "EUR"
ORDER_NAMESPACE = uuid.UUID("6f1b1f52-3c1e-4d55-9a8e-0c6d1d6a4b7e")
FAN_OUT = ("labels_queue", "emails_queue", "analytics_queue", "loyalty_queue")


class PaymentDeclined(Problem):
    status = 402
    title = "Payment Required"


def checkout(request: Request, ctx: Context) -> Response:
    caller = request.caller
    assert caller is not None  # auth: required
    body = request.body
    order_id = new_order_id(caller.username, request.headers.get("Idempotency-Key"))
    items = priced_items(ctx, body["items"])
    total = sum(item["quantity"] * item["priceCents"] for item in items)
    inserted = ctx.orders_store.execute(
        "INSERT INTO orders (order_id, owner, email, shipping_address, items, total_cents,"
        " currency) VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s)"
        " ON CONFLICT (order_id) DO NOTHING",
        (order_id, caller.username, body["email"], json_text(body["shippingAddress"]),
         json_text(items), total, CURRENCY),
    )  # fmt: skip
    if inserted != 1:  # the key's stored response has expired, its order has not
        raise Unprocessable(f"this Idempotency-Key already placed order {order_id}")
    authorization = authorize(ctx, order_id, total, body["paymentToken"])
    ctx.orders_store.execute(
        "UPDATE orders SET status = 'authorized', authorization_id = %s WHERE order_id = %s",
        (authorization, order_id),
    )
    ctx.order_placed_queue.publish({"orderId": str(order_id)})
    return Response(
        201,
        {"orderId": str(order_id), "status": "authorized", "totalCents": total,
         "currency": CURRENCY, "authorizationId": authorization},
        headers={"Location": f"/orders/{order_id}"},
    )  # fmt: skip


def new_order_id(username: str, idempotency_key: str | None) -> uuid.UUID:
    """The same for every retry of one request with an Idempotency-Key, so a retry after a
    failure that followed a successful authorization asks the provider under the same key."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(ORDER_NAMESPACE, f"{username}\n{idempotency_key.strip()}")


def priced_items(ctx: Context, wanted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cart against the catalogue: quantities of a repeated SKU added up, every SKU known
    (else one 422 naming each unknown one)."""
    quantities: dict[str, int] = {}
    for item in wanted:
        quantities[item["sku"]] = quantities.get(item["sku"], 0) + item["quantity"]
    rows = ctx.orders_store.all(
        "SELECT sku, name, price_cents FROM products WHERE sku = ANY(%s)", (list(quantities),)
    )
    prices = {row["sku"]: row for row in rows}
    unknown = [sku for sku in quantities if sku not in prices]
    if unknown:
        errors = [{"field": "items", "message": f"unknown sku {sku!r}"} for sku in unknown]
        raise Unprocessable("the cart names products that do not exist", errors=errors)
    return [
        {"sku": sku, "name": prices[sku]["name"], "quantity": quantity,
         "priceCents": prices[sku]["price_cents"]}
        for sku, quantity in quantities.items()
    ]  # fmt: skip


def authorize(ctx: Context, order_id: uuid.UUID, total_cents: int, token: str) -> str:
    """The one synchronous call: the provider's authorization id, or a problem (and then the
    transaction, order included, rolls back)."""
    response = ctx.payments.post(
        "/authorizations",
        json={"amountCents": total_cents, "currency": CURRENCY, "paymentToken": token,
              "reference": str(order_id)},
        headers={"Idempotency-Key": f"order-{order_id}"},
    )  # fmt: skip
    if response.status_code == 402:
        raise PaymentDeclined("the payment provider declined the payment")
    if response.status_code >= 500:
        raise BadGateway(f"the payment provider answered {response.status_code}")
    if response.status_code not in (200, 201):
        raise Unprocessable(f"the payment provider refused the payment ({response.status_code})")
    authorization: str = response.json()["authorizationId"]
    return authorization


def get_order(request: Request, ctx: Context) -> dict[str, Any]:
    caller = request.caller
    assert caller is not None
    order_id = parse_order_id(request.path_params["orderId"])
    row = ctx.orders_store.one(
        "SELECT * FROM orders WHERE order_id = %s AND owner = %s", (order_id, caller.username)
    )
    if row is None:
        raise NotFound(f"no order {request.path_params['orderId']!r} found for this caller")
    return order_view(row)


def dispatch(message: Message, ctx: Context) -> dict[str, Any]:
    """order-placed → one message to each downstream queue: the fan-out is here, off the
    request path, in this worker's transaction (so all four go, or none)."""
    order_id = parse_order_id(str(message.payload.get("orderId", "")))
    row = ctx.orders_store.one("SELECT * FROM orders WHERE order_id = %s", (order_id,))
    if row is None:
        ctx.log.warning("dispatch of unknown order %s skipped", order_id)
        return {"orderId": str(order_id), "skipped": "unknown order"}
    order = order_view(row)
    for binding in FAN_OUT:
        getattr(ctx, binding).publish(order)
    return {"orderId": str(order_id), "dispatched": len(FAN_OUT)}


def create_shipment_label(message: Message, ctx: Context) -> dict[str, Any]:
    order_id = parse_order_id(str(message.payload["orderId"]))
    tracking = "TRK-" + hashlib.sha256(order_id.bytes).hexdigest()[:12].upper()
    ctx.shipments_store.execute(
        "INSERT INTO shipment_labels (order_id, tracking_number) VALUES (%s, %s)"
        " ON CONFLICT (order_id) DO NOTHING",
        (order_id, tracking),
    )
    return {"orderId": str(order_id), "trackingNumber": tracking}


def send_order_email(message: Message, ctx: Context) -> dict[str, Any]:
    """The mail relay is called here, by a worker: when it fails the job is retried, then
    dead-lettered, and no checkout ever waited on it."""
    order = message.payload
    order_id = parse_order_id(str(order["orderId"]))
    response = ctx.mailer.post(
        "/messages",
        json={"to": order["email"], "subject": f"Your order {order_id}",
              "text": order_email_text(order)},
        headers={"Idempotency-Key": f"order-email-{order_id}"},
    )  # fmt: skip
    if response.status_code >= 300:
        raise RuntimeError(f"the mail relay answered {response.status_code}")
    ctx.emails_store.execute(
        "INSERT INTO order_emails (order_id, message_id) VALUES (%s, %s)"
        " ON CONFLICT (order_id) DO NOTHING",
        (order_id, response.json()["messageId"]),
    )
    return {"orderId": str(order_id), "emailed": order["email"]}


def record_order_analytics(message: Message, ctx: Context) -> dict[str, Any]:
    order = message.payload
    order_id = parse_order_id(str(order["orderId"]))
    item_count = sum(item["quantity"] for item in order["items"])
    ctx.analytics_store.execute(
        "INSERT INTO order_analytics (order_id, total_cents, item_count) VALUES (%s, %s, %s)"
        " ON CONFLICT (order_id) DO NOTHING",
        (order_id, order["totalCents"], item_count),
    )
    return {"orderId": str(order_id), "itemCount": item_count}


def award_loyalty_points(message: Message, ctx: Context) -> dict[str, Any]:
    order = message.payload
    order_id = parse_order_id(str(order["orderId"]))
    points = loyalty_points_for(order["totalCents"])
    ctx.loyalty_store.execute(
        "INSERT INTO loyalty_points (order_id, owner, points) VALUES (%s, %s, %s)"
        " ON CONFLICT (order_id) DO NOTHING",
        (order_id, order["owner"], points),
    )
    return {"orderId": str(order_id), "points": points}


def loyalty_points_for(total_cents: int) -> int:
    """One point per whole euro spent."""
    return total_cents // 100


def order_email_text(order: Mapping[str, Any]) -> str:
    lines = [f"{item['quantity']} x {item['name']}" for item in order["items"]]
    total = f"{order['totalCents'] / 100:.2f} {order['currency']}"
    return "\n".join(["Thank you for your order.", *lines, f"Total: {total}"])


def parse_order_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no order {value!r} found for this caller") from None


def json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def order_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "orderId": str(row["order_id"]),
        "owner": row["owner"],
        "status": row["status"],
        "email": row["email"],
        "shippingAddress": row["shipping_address"],
        "items": row["items"],
        "totalCents": row["total_cents"],
        "currency": row["currency"],
        "authorizationId": row["authorization_id"],
        "createdAt": row["created_at"].isoformat(),
    }
