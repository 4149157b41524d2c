"""The checkout app end to end through a real `portico dev`: its stand-ins started and named
in the banner, a checkout authorized at the payment stand-in and fanned out to four workers,
each effect landing once; a decline and a bad cart commit nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from portico.local.ports import free_port
from tests.conftest import Services, scratch_dir
from tests.integration.devstack import DevStack, checkout_body, checkout_counts
from tests.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

ALICE, BOB = {"apikey": "alice-dev-key"}, {"apikey": "bob-dev-key"}
EFFECTS = ("labels", "emails", "analytics", "loyalty")


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[DevStack]:
    # Scale to zero (the default): checkout starts on demand, with the gateway's environment.
    dev = DevStack(
        scratch_dir("portico-test-checkout-"),
        free_port(),
        env=services.urls,
        unset=("PAYMENT_PROVIDER_URL", "MAIL_RELAY_URL"),
    )
    try:
        dev.wait_ready()
        yield dev
    finally:
        dev.stop()


@pytest.fixture()
def api(stack: DevStack, clean_state: Services) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def payments(stack: DevStack) -> httpx.Client:
    return httpx.Client(base_url=stack.announced("PAYMENT_PROVIDER_URL"), timeout=10)


def test_the_banner_names_each_stand_in_and_its_variable(stack):
    banner = stack.text()
    assert "payments-stand-in" in banner and "providers/payments.app" in banner
    assert "mailer-stand-in" in banner and "providers/mailer.app" in banner
    for variable in ("PAYMENT_PROVIDER_URL", "MAIL_RELAY_URL"):
        url = stack.announced(variable)
        assert httpx.get(f"{url}/_settings").json()["failureRate"] == 0


def test_a_checkout_is_authorized_stored_and_fanned_out_once(api, stack, clean_state):
    response = api.post("/checkout", json=checkout_body(), headers=ALICE)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "authorized" and order["totalCents"] == 3300
    assert response.headers["Location"] == f"/orders/{order['orderId']}"

    with payments(stack) as provider:
        made = provider.get("/authorizations", params={"reference": order["orderId"]}).json()
    assert made["count"] == 1 and made["items"][0]["amountCents"] == 3300
    assert made["items"][0]["authorizationId"] == order["authorizationId"]

    def all_effects() -> dict[str, int] | None:
        counts = checkout_counts(clean_state.database_url)
        return counts if all(counts[e] == 1 for e in EFFECTS) else None

    counts = wait_until(all_effects, 30, "each downstream effect of the order lands")
    assert counts["orders"] == 1 and counts["dispatched"] == 1
    with httpx.Client(base_url=stack.announced("MAIL_RELAY_URL")) as mailer:
        sent = mailer.get("/messages", params={"to": "alice@example.com"}).json()
    assert sent["count"] == 1 and order["orderId"] in sent["items"][0]["subject"]
    # portico dev turns on the runtime's Server-Timing header: the payment call is in it.
    assert "dep-payments;dur=" in response.headers.get("Server-Timing", ""), response.headers


def test_an_order_is_its_owners_alone(api):
    order = api.post("/checkout", json=checkout_body(), headers=ALICE).json()
    mine = api.get(f"/orders/{order['orderId']}", headers=ALICE)
    assert mine.status_code == 200
    assert mine.json()["authorizationId"] == order["authorizationId"]
    assert mine.json()["items"][0] == {
        "sku": "TEA-001",
        "name": "Loose-leaf green tea, 100 g",
        "quantity": 2,
        "priceCents": 1200,
    }
    theirs = api.get(f"/orders/{order['orderId']}", headers=BOB)
    assert theirs.status_code == 404
    assert theirs.headers["Content-Type"] == "application/problem+json"
    assert api.get(f"/orders/{uuid.uuid4()}", headers=ALICE).status_code == 404
    assert api.get("/orders/not-a-uuid", headers=ALICE).status_code == 404


def test_a_declined_payment_is_a_402_and_commits_nothing(api, stack, clean_state):
    response = api.post("/checkout", json=checkout_body(token="tok_declined"), headers=ALICE)
    assert response.status_code == 402, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "declined" in response.json()["detail"]
    assert checkout_counts(clean_state.database_url) == dict.fromkeys(
        ("orders", "outbox", "dispatched", *EFFECTS), 0
    )


def test_a_cart_the_catalogue_does_not_have_is_a_422_before_any_charge(api, stack, clean_state):
    body = checkout_body()
    body["items"] = [{"sku": "NO-SUCH-SKU", "quantity": 1}]
    with payments(stack) as provider:
        before = provider.get("/authorizations").json()["count"]
        response = api.post("/checkout", json=body, headers=ALICE)
        after = provider.get("/authorizations").json()["count"]
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "items", "message": "unknown sku 'NO-SUCH-SKU'"}]
    assert after == before
    assert checkout_counts(clean_state.database_url)["orders"] == 0


@pytest.mark.parametrize(
    "change",
    [
        {"items": []},
        {"items": [{"sku": "TEA-001", "quantity": 0}]},
        {"email": "not-an-email"},
        {"shippingAddress": {"name": "Alice"}},
        {"coupon": "FREE"},
    ],
)
def test_the_schema_refuses_a_malformed_checkout(api, change):
    response = api.post("/checkout", json={**checkout_body(), **change}, headers=ALICE)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
