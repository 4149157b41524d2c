"""The console at /_portico/, in a real browser, on a real `portico dev`: a claim appears among
the live requests without a reload, its trace shows the worker's span, a job that fails until
it dead-letters is replayed from the page.

PORTICO_CONSOLE_SCREENSHOT=PATH saves the console, a claim's trace open, at PATH (`make
console-screenshot` writes the README's docs/console.png so)."""

from __future__ import annotations

import os
import secrets

import httpx
import psycopg
import pytest
from playwright.sync_api import Locator, Page, expect

from portico.manifest import load_all
from tests.conftest import FUNCTIONS_DIR
from tests.integration.devstack import checkout_body
from tests.support import wait_until

ALICE = {"apikey": "alice-dev-key"}
CLAIM = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}
LIVE_SECONDS = 10_000  # ms: the page polls every second; a cold start takes under one
WORKER_SECONDS = 30_000


def row(page: Page, table: str, attribute: str, value: str) -> Locator:
    return page.locator(f'[data-testid="{table}"] tr[{attribute}="{value}"]')


def span_label(waterfall: Locator, service: str, name: str) -> Locator:
    return waterfall.locator(f'[data-service="{service}"][data-span="{name}"]')


def knobs(url: str, **settings: float) -> None:
    httpx.put(f"{url}/_settings", json=settings, timeout=5).raise_for_status()


def test_the_console_lists_every_function_with_its_routes_policies_and_state(console, stack):
    for manifest in load_all(FUNCTIONS_DIR):
        expect(row(console, "functions", "data-function", manifest.name)).to_have_count(1)
    submit = row(console, "functions", "data-function", "submit-claim")
    expect(submit).to_contain_text("POST /claims")
    expect(submit).to_contain_text("idempotency keys 24 h")
    reviewer = row(console, "functions", "data-function", "review-claim")
    expect(reviewer).to_contain_text("queue claim-review-jobs")
    expect(reviewer.get_by_test_id("function-state")).to_have_text("running (idle)")
    expect(console.get_by_test_id("status")).to_contain_text("live")


def test_a_claim_appears_live_and_its_trace_reaches_the_worker(console, stack):
    trace_id = secrets.token_hex(16)
    headers = {**ALICE, "traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}
    expect(console.get_by_test_id("status")).to_contain_text("live")  # the page is polling
    response = httpx.post(f"{stack.base_url}/claims", json=CLAIM, headers=headers, timeout=30)
    assert response.status_code == 201, response.text

    seen = row(console, "requests", "data-request-id", response.headers["X-Request-ID"])
    expect(seen).to_contain_text("POST /claims", timeout=LIVE_SECONDS)
    expect(seen).to_contain_text("submit-claim")
    expect(seen).to_contain_text("alice")
    expect(seen).to_contain_text("201")
    submit = row(console, "functions", "data-function", "submit-claim")
    expect(submit.get_by_test_id("function-state")).to_have_text("running", timeout=LIVE_SECONDS)

    seen.locator(f'[data-trace="{trace_id}"]').click()
    expect(console.get_by_test_id("trace-id")).to_have_text(trace_id)
    waterfall = console.get_by_test_id("waterfall")
    worker = span_label(waterfall, "review-claim", "process claim-review-jobs")
    expect(worker).to_have_count(1, timeout=WORKER_SECONDS)  # the open trace keeps updating
    for service, span in [
        ("gateway", "POST /claims"),
        ("gateway", "upstream submit-claim"),
        ("submit-claim", "POST /claims"),
        ("submit-claim", "db COMMIT"),
        ("submit-claim", "publish claim-review-jobs"),
    ]:
        expect(span_label(waterfall, service, span)).to_have_count(1)
    summary = console.get_by_test_id("trace-summary")
    expect(summary).to_contain_text("across gateway, review-claim, submit-claim")

    worker.click()
    expect(console.get_by_test_id("span-attributes")).to_contain_text("portico.outcome: succeeded")
    screenshot = os.environ.get("PORTICO_CONSOLE_SCREENSHOT")
    if screenshot:
        console.get_by_test_id("span-attributes").evaluate("node => node.hidden = true")
        console.evaluate("window.scrollTo(0, 0)")
        console.screenshot(path=screenshot, full_page=True)


def test_a_failing_job_dead_letters_and_is_replayed_from_the_page(console, stack):
    mailer = stack.announced("MAIL_RELAY_URL")
    database_url = stack.announced("DATABASE_URL")
    knobs(mailer, failureRate=1)
    try:
        response = httpx.post(
            f"{stack.base_url}/checkout", json=checkout_body(), headers=ALICE, timeout=30
        )
        assert response.status_code == 201, response.text
        request_id = response.headers["X-Request-ID"]
        letters = console.get_by_test_id("dead-letters")
        letter = letters.locator("tr", has_text=request_id)
        expect(letter).to_contain_text("order-emails", timeout=WORKER_SECONDS)  # after 2 retries
        failed = row(console, "queues", "data-queue", "order-emails").locator("td").nth(4)
        expect(failed).to_have_text("1")
    finally:
        knobs(mailer, failureRate=0)

    job_id = letter.get_attribute("data-job-id")
    assert job_id
    letter.get_by_role("button", name="Replay").click()
    expect(console.get_by_test_id("replay-result")).to_have_text(
        f"Replayed {job_id} onto order-emails."
    )
    expect(letter).to_have_count(0, timeout=LIVE_SECONDS)
    order_id = response.json()["orderId"]

    def emailed() -> int:
        with psycopg.connect(database_url) as conn:
            found = conn.execute(
                "SELECT count(*) FROM order_emails WHERE order_id = %s", (order_id,)
            ).fetchone()
        return int(found[0]) if found else 0

    wait_until(lambda: emailed() == 1, 30, "the replayed email is sent, once")


def test_the_replay_refuses_a_request_without_the_console_header(stack):
    response = httpx.post(f"{stack.base_url}/_portico/api/dead-letters/anything/replay")
    assert response.status_code == 403
    assert "X-Portico-Console" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/_portico", "/_portico/"])
def test_the_console_is_where_the_banner_says(stack, path):
    assert f"Console: {stack.base_url}/_portico/" in stack.text()
    response = httpx.get(f"{stack.base_url}{path}", follow_redirects=True)
    assert response.status_code == 200
    assert "<title>Portico console</title>" in response.text
