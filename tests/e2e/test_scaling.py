"""Scale to zero, end to end on kind: an idle HTTP function goes to zero pods and answers the
next request from zero (Knative); the queue worker scales up from zero on a backlog and back
down when the queue is empty (KEDA). The figures are printed and collected in the summary."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.cluster import Cluster, report, wait_for_pods
from tests.support import wait_until

# Functions, by name: their objects are <fullname>-<name>, labelled with the name as component.
HTTP_FUNCTION = "get-claim"
WORKER = "review-claim"

IDLE_TO_ZERO_S = 180  # Knative: stable-window 10 s + grace 6 s + pod shutdown, with margin
WORKER_TO_ZERO_S = 180  # KEDA: cooldownPeriod 30 s + pollingInterval 5 s + shutdown, with margin
WORKER_UP_S = 120  # KEDA polls every 5 s; then the pod starts
REVIEWED_S = 180
BACKLOG = 20
CLAIM = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}
READ_PACE_S = 0.25  # GET /claims/{id} is limited to 10/s and 300/min per consumer


def is_zero(count: int) -> bool:
    return count == 0


def is_some(count: int) -> bool:
    return count >= 1


def wait_for_function(cluster: Cluster, wanted: Callable[[int], bool], description: str) -> float:
    pods = cluster.of(HTTP_FUNCTION)
    return wait_for_pods(cluster, pods, wanted, description, IDLE_TO_ZERO_S, "ksvc", "-l", pods)


def wait_for_worker(
    cluster: Cluster, wanted: Callable[[int], bool], description: str, timeout_s: float
) -> float:
    pods = cluster.of(WORKER)
    description = f"{WORKER} {description}"
    return wait_for_pods(cluster, pods, wanted, description, timeout_s, "scaledobject", "-l", pods)


def get_past_rate_limit(api: httpx.Client, path: str, key: dict[str, str]) -> httpx.Response:
    return timed_get_past_rate_limit(api, path, key)[0]


def timed_get_past_rate_limit(
    api: httpx.Client, path: str, key: dict[str, str]
) -> tuple[httpx.Response, float]:
    """GET, waiting out a 429 (Kong's, not the function's) a few times; return the last answer
    and how long that request alone took."""
    for _ in range(5):
        started = time.perf_counter()
        response = api.get(path, headers=key)
        took_s = time.perf_counter() - started
        if response.status_code != 429:
            break
        time.sleep(float(response.headers.get("retry-after", "1")))
    return response, took_s


@pytest.mark.timeout(IDLE_TO_ZERO_S + 300)
def test_an_idle_function_scales_to_zero_and_answers_from_zero(
    cluster: Cluster, api: httpx.Client, alice: dict[str, str]
) -> None:
    cluster.named("ksvc", HTTP_FUNCTION)  # fails, saying why, if it is not deployed
    waited = wait_for_function(cluster, is_zero, f"idle {HTTP_FUNCTION} to reach zero pods")

    response, cold_start_s = timed_get_past_rate_limit(api, f"/claims/{uuid.uuid4()}", alice)

    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    assert cluster.live_pods(cluster.of(HTTP_FUNCTION)), f"{HTTP_FUNCTION} answered but has no pod"
    report(
        f"{HTTP_FUNCTION}: zero pods after waiting {waited:.1f} s; "
        f"first request from zero answered {response.status_code} in {cold_start_s:.2f} s"
    )


@pytest.mark.timeout(WORKER_TO_ZERO_S * 2 + WORKER_UP_S + REVIEWED_S + 300)
def test_the_worker_scales_up_on_a_backlog_and_back_to_zero(
    cluster: Cluster, api: httpx.Client, alice: dict[str, str]
) -> None:
    cluster.named("deployment", WORKER)  # fails, saying why, if it is not deployed
    cluster.named("scaledobject", WORKER)
    wait_for_worker(cluster, is_zero, "to be at zero pods before the backlog", WORKER_TO_ZERO_S)

    submitted_at = time.monotonic()
    claim_ids = submit_backlog(api, alice)
    wait_for_worker(cluster, is_some, f"to scale up on {BACKLOG} queued reviews", WORKER_UP_S)
    scale_up_s = time.monotonic() - submitted_at
    wait_until_approved(api, alice, claim_ids)
    reviewed_s = time.monotonic() - submitted_at
    scale_down_s = wait_for_worker(
        cluster, is_zero, "to scale back to zero on an empty queue", WORKER_TO_ZERO_S
    )

    report(
        f"{WORKER}: {BACKLOG} claims; first worker pod {scale_up_s:.1f} s after the first "
        f"submission; all approved after {reviewed_s:.1f} s; back to zero pods "
        f"{scale_down_s:.1f} s after the last approval"
    )


def submit_backlog(api: httpx.Client, key: dict[str, str]) -> list[str]:
    claim_ids = []
    for _ in range(BACKLOG):
        response = api.post("/claims", json=CLAIM, headers=key)
        assert response.status_code == 201, response.text
        claim_ids.append(str(response.json()["claimId"]))
    return claim_ids


def wait_until_approved(api: httpx.Client, key: dict[str, str], claim_ids: list[str]) -> None:
    pending = list(claim_ids)
    statuses: dict[str, str] = {}

    def all_approved() -> bool:  # one claim read per call, round-robin over those pending
        if pending:
            claim_id = pending.pop(0)
            claim = read_claim(api, key, claim_id)
            statuses[claim_id] = str(claim["status"])
            assert claim["status"] != "rejected", f"claim {claim_id} was rejected: {claim}"
            if claim["status"] != "approved":
                pending.append(claim_id)
        return not pending

    wait_until(
        all_approved,
        REVIEWED_S,
        f"all {len(claim_ids)} claims are approved",
        interval=READ_PACE_S,
        details=lambda: (
            f"{len(pending)} of {len(claim_ids)} claims not approved within {REVIEWED_S} s; "
            f"their statuses: {sorted(statuses.get(c, 'not read yet') for c in pending)}"
        ),
    )


def read_claim(api: httpx.Client, key: dict[str, str], claim_id: str) -> dict[str, object]:
    response = get_past_rate_limit(api, f"/claims/{claim_id}", key)
    assert response.status_code == 200, response.text
    return dict(response.json())
