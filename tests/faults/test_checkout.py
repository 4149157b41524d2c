"""The checkout app under its dependencies' faults, on a real `portico dev` (its own Postgres
and Redis): the payment provider slow, failing or gone fails a checkout on time and commits
nothing; a failing mail relay never fails a checkout, its jobs dead-letter while the other
effects land; a replayed checkout charges once.

The payment provider here is a stand-in the test runs itself, named by PAYMENT_PROVIDER_URL in
`portico dev`'s environment (so portico dev starts none, and the test can kill it); the mail
relay is portico dev's own stand-in, driven through its `/_settings`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from portico.local.ports import free_port
from tests.conftest import FUNCTIONS_DIR, ROOT, scratch_dir
from tests.faults.harness import report, stand_in
from tests.integration.devstack import DevStack, checkout_body, checkout_counts
from tests.support import Process, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

ALICE = {"apikey": "alice-dev-key"}
PAYMENTS_APP = FUNCTIONS_DIR / "checkout" / "providers" / "payments.py"
PAYMENTS_TIMEOUT_SECONDS = 3.0  # functions/checkout/checkout.yaml, dependencies.payments
SLOW_PROVIDER_MS = 5000
# What a 504 may take past the dependency's timeout: the gateway hop and the rollback.
ANSWER_MARGIN_SECONDS = 1.0
STACK_ENV = {"PORTICO_RELAY_GRACE_SECONDS": "1", "PORTICO_ABANDONED_JOB_GRACE_SECONDS": "2"}
NOTHING_FROM_ONE_CHECKOUT = ("orders", "outbox", "dispatched", "labels", "emails")


@pytest.fixture(scope="module")
def provider() -> Iterator[Process]:
    with stand_in(PAYMENTS_APP) as process:
        process.wait_ready()
        yield process


@pytest.fixture(scope="module")
def stack(provider: Process) -> Iterator[DevStack]:
    assert provider.base_url is not None
    dev = DevStack(
        scratch_dir("portico-fault-checkout-"),
        free_port(),
        env={**STACK_ENV, "PAYMENT_PROVIDER_URL": provider.base_url},
        unset=("MAIL_RELAY_URL",),
    )
    try:
        dev.wait_ready()
        with dev.client() as client:  # the first checkout starts the function: not timed below
            assert client.post("/checkout", json=checkout_body(), headers=ALICE).status_code == 201
        yield dev
    finally:
        dev.stop()


@pytest.fixture()
def api(stack: DevStack, provider: Process) -> Iterator[httpx.Client]:
    if not provider.running():
        provider.start()
    provider.wait_ready()
    knobs(provider.base_url, latencyMs=0, failureRate=0)
    knobs(stack.announced("MAIL_RELAY_URL"), latencyMs=0, failureRate=0)
    database_url = stack.announced("DATABASE_URL")
    # Earlier checkouts' outbox rows gone (the relay deletes them), so a new row shows.
    wait_until(lambda: checkout_counts(database_url)["outbox"] == 0, 10, "the outbox is empty")
    with stack.client() as client:
        yield client


def knobs(url: str | None, **settings: float) -> dict[str, Any]:
    response = httpx.put(f"{url}/_settings", json=settings, timeout=5)
    response.raise_for_status()
    return dict(response.json())


def authorizations(provider: Process, order_id: str) -> int:
    response = httpx.get(f"{provider.base_url}/authorizations", params={"reference": order_id})
    return int(response.json()["count"])


def queued(stack: DevStack, queue: str) -> int:
    return int(redis.Redis.from_url(stack.announced("REDIS_URL")).llen(f"rq:queue:{queue}"))


def test_portico_dev_uses_the_provider_in_its_environment_and_starts_no_stand_in(stack):
    banner = stack.text()
    assert "PAYMENT_PROVIDER_URL" in banner and "the real system, no stand-in" in banner
    assert "payments-stand-in" not in banner
    assert "mailer-stand-in" in banner


@pytest.mark.parametrize(
    ("fault", "status", "problem"),
    [
        ("slow", 504, "dependency-timeout"),
        ("failing", 502, "bad-gateway"),
        ("down", 503, "dependency-unavailable"),
    ],
)
def test_a_provider_fault_fails_the_checkout_on_time_and_commits_nothing(
    api, stack, provider, fault, status, problem
):
    database_url = stack.announced("DATABASE_URL")
    if fault == "slow":
        knobs(provider.base_url, latencyMs=SLOW_PROVIDER_MS)
    elif fault == "failing":
        knobs(provider.base_url, failureRate=1)
    else:
        provider.kill()
    before = checkout_counts(database_url)
    started = time.monotonic()
    response = api.post("/checkout", json=checkout_body(), headers=ALICE)
    elapsed = time.monotonic() - started
    time.sleep(1.5)  # long enough for a message to reach dispatch-order, had one been sent
    after = checkout_counts(database_url)
    report(
        f"checkout, payment provider {fault}",
        {"status": response.status_code, "seconds": round(elapsed, 2), "committed": after},
    )

    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith(problem)
    assert {k: after[k] for k in NOTHING_FROM_ONE_CHECKOUT} == {
        k: before[k] for k in NOTHING_FROM_ONE_CHECKOUT
    }
    assert queued(stack, "order-placed") == 0
    if fault == "slow":  # the dependency's own timeout, not the function's 10 s
        assert (
            PAYMENTS_TIMEOUT_SECONDS <= elapsed < PAYMENTS_TIMEOUT_SECONDS + ANSWER_MARGIN_SECONDS
        )
    else:
        assert elapsed < ANSWER_MARGIN_SECONDS


def test_a_failing_mail_relay_never_fails_a_checkout_and_its_jobs_dead_letter(api, stack):
    database_url, redis_url = stack.announced("DATABASE_URL"), stack.announced("REDIS_URL")
    dead = FailedJobRegistry("order-emails", connection=redis.Redis.from_url(redis_url))
    dead_before, before = dead.count, checkout_counts(database_url)
    knobs(stack.announced("MAIL_RELAY_URL"), failureRate=1)
    responses = [api.post("/checkout", json=checkout_body(), headers=ALICE) for _ in range(5)]
    assert [r.status_code for r in responses] == [201] * 5

    started = time.monotonic()
    wait_until(lambda: dead.count == dead_before + 5, 60, "the 5 email jobs are dead letters")
    to_dead_letter, dead_letters = time.monotonic() - started, dead.count - dead_before
    jobs = Job.fetch_many(dead.get_job_ids(), connection=dead.connection)
    assert all(job is not None and job.retries_left == 0 for job in jobs)  # retried first
    after = checkout_counts(database_url)
    for effect in ("labels", "analytics", "loyalty"):
        assert after[effect] == before[effect] + 5, after
    assert after["emails"] == before["emails"], after

    # The relay recovers: replayed, each email is sent once.
    knobs(stack.announced("MAIL_RELAY_URL"), failureRate=0)
    replay = portico(stack, "dlq", "replay", "--all")
    wait_until(
        lambda: checkout_counts(database_url)["emails"] == before["emails"] + 5,
        30,
        "the replayed emails are sent",
    )
    report(
        "checkout, mail relay failing",
        {"checkouts": 5, "acknowledged": 5, "dead letters": dead_letters,
         "seconds to dead letter": round(to_dead_letter, 1),
         "replayed": len(replay.strip().splitlines()), "emails after replay": 5},
    )  # fmt: skip
    assert dead.count == dead_before


def test_a_replayed_checkout_charges_once_and_answers_the_same(api, stack, provider):
    headers = {**ALICE, "Idempotency-Key": f"checkout-{time.time_ns()}"}
    first = api.post("/checkout", json=checkout_body(), headers=headers)
    again = api.post("/checkout", json=checkout_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert authorizations(provider, first.json()["orderId"]) == 1


def test_a_retry_after_a_provider_timeout_charges_once(api, stack, provider):
    """The provider authorizes after the checkout gave up on it; the client's retry (same key)
    asks it again under the same key, so the late authorization and the retry are one."""
    headers = {**ALICE, "Idempotency-Key": f"checkout-{time.time_ns()}"}
    knobs(provider.base_url, latencyMs=SLOW_PROVIDER_MS)
    timed_out = api.post("/checkout", json=checkout_body(), headers=headers)
    knobs(provider.base_url, latencyMs=0)
    retried = api.post("/checkout", json=checkout_body(), headers=headers)
    assert (timed_out.status_code, retried.status_code) == (504, 201), retried.text
    time.sleep(SLOW_PROVIDER_MS / 1000)  # until the late authorization has reached the app
    assert authorizations(provider, retried.json()["orderId"]) == 1


def portico(stack: DevStack, *args: str) -> str:
    env = {"DATABASE_URL": stack.announced("DATABASE_URL"),
           "REDIS_URL": stack.announced("REDIS_URL"), "PATH": "/usr/bin:/bin"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "portico.cli", *args, "--functions-dir", str(FUNCTIONS_DIR)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout
