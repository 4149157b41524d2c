"""The e2e tier: Portico deployed on a kind cluster, reached through Kong.

    PORTICO_E2E_BASE_URL=http://localhost:32080 pytest tests/e2e    (make e2e does this)

Optional: PORTICO_E2E_KUBE_CONTEXT (the kubectl context, default: the current one),
PORTICO_E2E_NAMESPACE (default portico) and PORTICO_E2E_RELEASE (the Helm release, default
portico). Without a base URL and a cluster kubectl can reach, every test here is skipped with a
reason naming what is missing; they never pass without one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.cluster import FIGURES, NAMESPACE, RELEASE, SETUP_HINT, Cluster, missing_for_e2e


@pytest.fixture(scope="session", autouse=True)
def cluster() -> Cluster:
    missing = missing_for_e2e(os.environ)
    if missing:
        pytest.skip(
            "e2e needs Portico deployed on a reachable Kubernetes cluster; missing: "
            + "; ".join(missing)
            + f" — {SETUP_HINT}"
        )
    return Cluster(
        base_url=os.environ["PORTICO_E2E_BASE_URL"].rstrip("/"),
        namespace=os.environ.get("PORTICO_E2E_NAMESPACE", NAMESPACE),
        context=os.environ.get("PORTICO_E2E_KUBE_CONTEXT") or None,
        release=os.environ.get("PORTICO_E2E_RELEASE", RELEASE),
    )


@pytest.fixture()
def api(cluster: Cluster) -> Iterator[httpx.Client]:
    """A client for Kong; the timeout leaves room for a cold start (image already on the node)."""
    with httpx.Client(base_url=cluster.base_url, timeout=120) as client:
        yield client


@pytest.fixture()
def alice() -> dict[str, str]:
    return {"apikey": os.environ.get("PORTICO_E2E_ALICE_KEY", "alice-dev-key")}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The scaling figures (cold-start latency, time to scale up and down)."""
    if FIGURES:
        terminalreporter.section("e2e scaling figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
