"""What the containers do, not only that they start: a claim goes from the containerised
submit-claim to the containerised review-claim; SIGTERM drains as the README says; nothing is
written outside the volumes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from portico import headers
from tests.image.conftest import RAN, Backends, Kubelet, Pod, Release
from tests.image.release import workload
from tests.support import wait_until

pytestmark = pytest.mark.timeout(600)

SUBMIT, REVIEW = "Deployment/portico-submit-claim", "Deployment/portico-review-claim"
RELAY = "Deployment/portico-relay"


def caller_headers(kubelet: Kubelet, username: str = "alice") -> dict[str, str]:
    """What Kong sends a function: the consumer, and the release's gateway secret."""
    secret = kubelet.cluster.secrets["portico-gateway"]["PORTICO_GATEWAY_SECRET"]
    return {
        headers.CONSUMER_USERNAME: username,
        headers.CONSUMER_ID: f"{username}-id",
        headers.GATEWAY_SECRET: secret,
    }


def submit(pod: Pod, kubelet: Kubelet, timeout: float = 10) -> httpx.Response:
    body = {"policyId": "P-1001", "documentKey": "claims/2026/image-tests.jpg"}
    return httpx.post(
        pod.url("/claims"), json=body, headers=caller_headers(kubelet), timeout=timeout
    )


def claim_status(database_url: str, claim_id: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT status FROM claims WHERE claim_id = %s", (claim_id,)).fetchone()
    return None if row is None else str(row[0])


def test_a_claim_submitted_to_submit_claim_is_approved_by_the_review_claim_worker(
    release: Release,
) -> None:
    created = submit(release.pods[SUBMIT], release.kubelet)
    assert created.status_code == 201, created.text
    claim_id = created.json()["claimId"]
    get_claim = release.pods["Deployment/portico-get-claim"]
    url = get_claim.url(f"/claims/{claim_id}")

    def reviewed() -> dict[str, Any] | None:
        claim: dict[str, Any] = httpx.get(url, headers=caller_headers(release.kubelet)).json()
        return claim if claim["status"] == "approved" else None

    claim = wait_until(reviewed, 20, f"claim {claim_id} approved")
    assert [e["to"] for e in claim["history"]] == ["submitted", "in_review", "approved"]
    RAN.append(f"claim {claim_id[:8]}: POST submit-claim 201, GET get-claim approved")


# --- SIGTERM, in a release of its own (its own database and Redis database) --------------------


@dataclass
class Isolated:
    backends: Backends
    kubelet: Kubelet


@pytest.fixture(scope="module")
def isolated(
    make_backends: Callable[[str, int], Backends],
    make_kubelet: Callable[[str, Backends], Kubelet],
) -> Iterator[Isolated]:
    backends = make_backends("portico_image_lifecycle", 7)
    kubelet = make_kubelet("deployment", backends)
    kubelet.run_to_completion(workload("deployment", "Job/portico-migrate-1"), "lifecycle")
    yield Isolated(backends, kubelet)
    kubelet.remove_all()


@pytest.fixture()
def blocked_backend(isolated: Isolated) -> Callable[[], bool]:
    """True once a statement of the release waits on a lock the test holds."""

    def waiting() -> bool:
        with psycopg.connect(isolated.backends.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ).fetchone()
        return bool(row and row[0])

    return waiting


def stop_in_background(pod: Pod) -> Future[int]:
    """The kubelet's SIGTERM, with the pod's terminationGracePeriodSeconds before SIGKILL."""
    return ThreadPoolExecutor(1).submit(pod.container.stop, pod.workload.grace_seconds)


def test_sigterm_lets_an_in_flight_request_finish_then_exits_0(
    isolated: Isolated, blocked_backend: Callable[[], bool]
) -> None:
    pod = isolated.kubelet.start(workload("deployment", SUBMIT), "drain-http")
    pod.wait_ready()
    with psycopg.connect(isolated.backends.database_url) as lock:
        lock.execute("LOCK TABLE claims IN SHARE MODE")  # holds back the claim's INSERT
        in_flight = ThreadPoolExecutor(1).submit(submit, pod, isolated.kubelet, 60)
        wait_until(blocked_backend, 10, "the request waits on the lock")
        stopping = stop_in_background(pod)
        readiness = wait_until(
            lambda: httpx.get(pod.url("/readyz")).status_code == 503, 5, "/readyz fails"
        )
        assert readiness and not in_flight.done()
        time.sleep(1)
    response = in_flight.result(timeout=30)
    assert response.status_code == 201, response.text
    assert stopping.result(timeout=pod.workload.grace_seconds + 10) == 0, pod.container.logs()
    drain_seconds = float(pod.workload.env_value("PORTICO_DRAIN_SECONDS") or 0)
    assert pod.container.stop_seconds is not None
    # functions.drainSeconds honoured: serving on (readiness failing) that long, then done.
    assert drain_seconds <= pod.container.stop_seconds < pod.workload.grace_seconds
    RAN.append(
        f"{pod.workload.id}: SIGTERM with a request in flight; it got 201, exit 0 after "
        f"{pod.container.stop_seconds:.1f} s (grace {pod.workload.grace_seconds} s)"
    )


def test_sigterm_lets_the_worker_finish_its_job_then_exits_0(
    isolated: Isolated, blocked_backend: Callable[[], bool]
) -> None:
    submitter = isolated.kubelet.start(workload("deployment", SUBMIT), "drain-job-submit")
    submitter.wait_ready()
    created = submit(submitter, isolated.kubelet)
    assert created.status_code == 201, created.text
    claim_id = created.json()["claimId"]
    with psycopg.connect(isolated.backends.database_url) as lock:
        lock.execute("SELECT 1 FROM claims WHERE claim_id = %s FOR UPDATE", (claim_id,))
        worker = isolated.kubelet.start(workload("deployment", REVIEW), "drain-job")
        worker.wait_ready()
        wait_until(blocked_backend, 20, "the review waits on the claim's row lock")
        stopping = stop_in_background(worker)
        time.sleep(1.5)
        assert worker.container.running(), "the worker waits for its job"
        assert claim_status(isolated.backends.database_url, claim_id) == "submitted"
    assert stopping.result(timeout=worker.workload.grace_seconds + 10) == 0, worker.container.logs()
    assert worker.container.stop_seconds is not None
    assert worker.container.stop_seconds < worker.workload.grace_seconds
    assert claim_status(isolated.backends.database_url, claim_id) == "approved"
    RAN.append(
        f"{worker.workload.id}: SIGTERM mid-job; the job finished (approved), exit 0 after "
        f"{worker.container.stop_seconds:.1f} s (grace {worker.workload.grace_seconds} s)"
    )
    submitter.container.stop(submitter.workload.grace_seconds)


def test_the_containers_write_nothing_outside_their_volumes(isolated: Isolated) -> None:
    """The same pod specs without --read-only, through a claim's whole path and a SIGTERM:
    `docker diff` shows any file the runtime would have written (a .pyc, a temp file)."""
    labels = (SUBMIT, REVIEW, RELAY)
    pods = {
        label: isolated.kubelet.start(workload("deployment", label), "writable", ("--read-only",))
        for label in labels
    }
    for pod in pods.values():
        pod.wait_ready()
    created = submit(pods[SUBMIT], isolated.kubelet)
    assert created.status_code == 201, created.text
    claim_id = created.json()["claimId"]
    wait_until(
        lambda: claim_status(isolated.backends.database_url, claim_id) == "approved",
        20,
        "the claim approved",
    )
    for label, pod in pods.items():
        assert pod.container.stop(pod.workload.grace_seconds) == 0, pod.container.logs()
        assert pod.container.changes() == [], label
    RAN.append(f"{', '.join(labels)}: writable root, a claim end to end, docker diff empty")
