"""The fat checkout (tests/functions/fatcheckout: five synchronous dependencies and an
undeclared urllib call on the request path) against the checkout app done right: the boundary
lint tells them apart, and the egress guard refuses the fat one's undeclared call."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from portico.local.ports import free_port
from tests.conftest import FUNCTIONS_DIR, ROOT, TEST_FUNCTIONS_DIR, Services
from tests.identity import caller
from tests.processes import Process
from tests.support import Process as SupportProcess

pytestmark = pytest.mark.integration

FAT_DIR = TEST_FUNCTIONS_DIR / "fatcheckout"
ANYTHING_APP = FAT_DIR / "providers" / "anything.py"
DECLARED = ("PAYMENTS", "SHIPPING", "MAILER", "ANALYTICS", "LOYALTY")
ORDER = {"paymentToken": "tok_visa", "email": "alice@example.com"}


def portico_check(functions_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portico.cli", "check", "--functions-dir", str(functions_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_boundary_lint_reports_the_fat_checkout_and_not_the_real_one(tmp_path):
    fat = portico_check(FAT_DIR)
    assert fat.returncode == 1
    findings = [line for line in fat.stderr.splitlines() if line.startswith("error:")]
    assert any(
        "fat-checkout.yaml" in line and "PB101" in line and "calls 5 dependencies" in line
        for line in findings
    ), fat.stderr
    assert any(
        "fatcheckout.py" in line and "PB107" in line and "urllib.request" in line
        for line in findings
    ), fat.stderr

    shutil.copytree(FUNCTIONS_DIR / "checkout", tmp_path / "checkout")
    lean = portico_check(tmp_path)
    assert lean.returncode == 0, lean.stderr
    assert "boundaries: 0 finding(s)" in lean.stdout + lean.stderr


def anything() -> SupportProcess:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "portico.local.stand_in", str(ANYTHING_APP), "app"]
    return SupportProcess(
        [*command, "--port", str(port)], base_url=url, ready=f"{url}/_settings", grace=0
    )


@pytest.fixture()
def systems() -> Iterator[tuple[SupportProcess, SupportProcess]]:
    """The five declared systems (one stand-in) and the undeclared fraud service."""
    with anything() as declared, anything() as undeclared:
        declared.wait_ready()
        undeclared.wait_ready()
        yield declared, undeclared


def fat_checkout(services: Services, systems: tuple[SupportProcess, ...], egress: str) -> Process:
    declared, undeclared = systems
    env = services.process_env(
        FAT_DIR,
        PORTICO_EGRESS=egress,
        FAT_FRAUD_SCORE_URL=f"{undeclared.base_url}/score",
        **{f"FAT_{name}_URL": str(declared.base_url) for name in DECLARED},
    )
    port = free_port()
    return Process(["serve", "fat-checkout", "--port", str(port)], env, port)


def calls(system: SupportProcess) -> list[str]:
    return list(httpx.get(f"{system.base_url}/calls").json()["calls"])


def orders(services: Services) -> int:
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM fat_orders").fetchone()
        assert row is not None
        return int(row[0])


def test_the_egress_guard_refuses_the_undeclared_call_and_nothing_commits(clean_state, systems):
    declared, undeclared = systems
    function = fat_checkout(clean_state, systems, "enforce")
    with function:
        function.wait_ready()
        response = httpx.post(f"{function.url}/fat-checkout", json=ORDER, headers=caller("alice"))

    assert response.status_code == 500, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/egress-denied")
    assert calls(undeclared) == []  # refused before it connected
    assert len(calls(declared)) == 5  # the declared ones were let through
    assert orders(clean_state) == 0


def test_without_the_guard_the_undeclared_call_goes_out(clean_state, systems):
    """What the guard stops is real: with PORTICO_EGRESS=off the fraud service is called."""
    _, undeclared = systems
    function = fat_checkout(clean_state, systems, "off")
    with function:
        function.wait_ready()
        response = httpx.post(f"{function.url}/fat-checkout", json=ORDER, headers=caller("alice"))

    assert response.status_code == 201, response.text
    assert calls(undeclared) == ["/score"]
    assert orders(clean_state) == 1
