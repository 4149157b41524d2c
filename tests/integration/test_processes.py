"""Real processes: graceful drain of a gunicorn-served function, the RQ worker, and
`portico dev` from an empty data dir (the fresh-machine path, embedded servers included)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import redis
from rq.registry import FailedJobRegistry

from portico.local.ports import free_port
from portico.state import outbox
from portico.state.jobs import job_id
from tests.conftest import ROOT, TEST_FUNCTIONS_DIR, Services, open_resources, scratch_dir
from tests.integration.devstack import DevStack
from tests.processes import Process
from tests.support import answers, wait_until

pytestmark = pytest.mark.integration


def portico(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "portico.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(url: str, status: int = 200, timeout: float = 30.0) -> None:
    wait_until(answers(url, status), timeout, f"{url} answers {status}", ignoring=httpx.HTTPError)


def count_writes(services: Services, note: str) -> int:
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM test_writes WHERE note = %s", (note,)).fetchone()
        assert row is not None
        return int(row[0])


def test_sigterm_fails_readiness_finishes_in_flight_requests_then_exits(clean_state):
    port = free_port()
    env = {
        "DATABASE_URL": clean_state.database_url,
        "REDIS_URL": clean_state.redis_url,
        "PORTICO_FUNCTIONS_DIR": str(TEST_FUNCTIONS_DIR),
        "PORTICO_DRAIN_SECONDS": "1",
    }
    server = portico("serve", "write-then-sleep", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/readyz")
        results: list[httpx.Response] = []
        in_flight = threading.Thread(
            target=lambda: results.append(
                httpx.post(f"{base}/writes", json={"note": "in-flight", "sleep": 0.8}, timeout=10)
            )
        )
        in_flight.start()
        time.sleep(0.2)
        server.send_signal(signal.SIGTERM)

        wait_for(f"{base}/readyz", status=503, timeout=2)
        in_flight.join()
        exit_code = server.wait(timeout=15)
    finally:
        if server.poll() is None:
            server.kill()
        output = server.stdout.read() if server.stdout else ""

    assert [r.status_code for r in results] == [200], output
    assert count_writes(clean_state, "in-flight") == 1
    assert exit_code == 0, output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", timeout=1)


def publish_notes(services: Services, *payloads: dict[str, object]) -> None:
    resources = open_resources(services.database_url, services.redis_url, TEST_FUNCTIONS_DIR)
    outbox.push(
        resources.redis,
        [
            ("test-notes", {"id": f"m{i}", "queue": "test-notes", "payload": p, "requestId": None})
            for i, p in enumerate(payloads)
        ],
        resources.consumers,
    )
    resources.close()


def test_worker_runs_queued_messages_in_a_transaction_each(clean_state):
    publish_notes(clean_state, {"note": "one"}, {"note": "fail"}, {"note": "three"})
    env = {
        "DATABASE_URL": clean_state.database_url,
        "REDIS_URL": clean_state.redis_url,
        "PORTICO_FUNCTIONS_DIR": str(TEST_FUNCTIONS_DIR),
    }
    worker = portico("worker", "note-taker", "--burst", "--no-health", env=env)
    output, _ = worker.communicate(timeout=60)

    assert worker.returncode == 0, output
    assert count_writes(clean_state, "taken:one") == 1
    assert count_writes(clean_state, "taken:three") == 1
    assert "note-taker was told to fail" in output  # the failed job is logged, not lost silently
    failed = FailedJobRegistry("test-notes", connection=redis.Redis.from_url(clean_state.redis_url))
    assert failed.get_job_ids() == [job_id("m1")]


def test_worker_serves_health_and_finishes_its_job_on_sigterm(clean_state):
    publish_notes(clean_state, {"note": "slow", "sleep": 2})
    port = free_port()
    env = {
        "DATABASE_URL": clean_state.database_url,
        "REDIS_URL": clean_state.redis_url,
        "PORTICO_FUNCTIONS_DIR": str(TEST_FUNCTIONS_DIR),
    }
    worker = portico("worker", "note-taker", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/readyz")
        assert httpx.get(f"{base}/healthz").json() == {"status": "alive", "function": "note-taker"}
        assert "# TYPE portico_jobs_total counter" in httpx.get(f"{base}/metrics").text
        time.sleep(0.5)  # the job (2 s) is under way
        worker.send_signal(signal.SIGTERM)
        wait_for(f"{base}/readyz", status=503, timeout=1)
        assert count_writes(clean_state, "taken:slow") == 0  # still working on it
        exit_code = worker.wait(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
    output = worker.stdout.read() if worker.stdout else ""

    assert exit_code == 0, output
    assert count_writes(clean_state, "taken:slow") == 1, output


def test_make_dev_from_an_empty_data_dir_starts_serves_stops_and_keeps_the_data():
    data_dir = scratch_dir("portico-test-fresh-")
    port = free_port()
    # No DATABASE_URL/REDIS_URL: embedded servers. No gateway secret: one made for this run.
    stack = DevStack(data_dir, port, unset=("PORTICO_GATEWAY_SECRET",))
    try:
        stack.wait_ready()
        banner = stack.text()
        assert f"Send requests to http://127.0.0.1:{port}" in banner
        assert "POST /claims" in banner and "alice-dev-key" in banner and "curl" in banner
        with stack.client() as api:
            created = api.post(
                "/claims",
                json={"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"},
                headers={"apikey": "alice-dev-key"},
            )
        assert created.status_code == 201, stack.text()
        claim_id = created.json()["claimId"]
        made = gateway_secret_of(stack)
    finally:
        exit_code = stack.stop()
    assert exit_code == 0, stack.text()
    assert (data_dir / "postgres" / "pgdata" / "PG_VERSION").exists()
    assert len(made) >= 43, "expected secrets.token_urlsafe(32)"
    assert made not in stack.text()

    given = "given-" + secrets.token_urlsafe(16)
    again = DevStack(data_dir, port, env={"PORTICO_GATEWAY_SECRET": given})
    try:
        again.wait_ready()
        assert "none pending" in again.text()  # migrations already applied
        with again.client() as api:
            kept = api.get(f"/claims/{claim_id}", headers={"apikey": "alice-dev-key"})
        assert kept.status_code == 200
        assert gateway_secret_of(again) == given
    finally:
        assert again.stop() == 0, again.text()
    leftovers = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True)
    assert leftovers.stdout == "", "processes still running on the data dir after Ctrl-C"


def gateway_secret_of(stack: DevStack) -> str:
    """The PORTICO_GATEWAY_SECRET that `portico dev` gave its processes: one value, in the
    environment of the gateway, the functions it started and the workers alike."""
    found, forks = {}, set()
    for process in stack.descendants():
        if "portico.local.template" in process.cmdline():
            forks = {child.pid for child in process.children(recursive=True)}
    for process in stack.descendants():
        # A fork of the warm template has the template's environment, the gateway's; but its
        # /proc environ area holds its process title (setproctitle), so it cannot be read.
        if "portico.cli" in process.cmdline() and process.pid not in forks:
            found[process.pid] = process.environ().get("PORTICO_GATEWAY_SECRET")
    values = set(found.values())
    # gateway, worker, relay (and any function spawned rather than forked); a fork proves it has
    # the same secret by answering the gateway at all.
    assert len(found) >= 3 and len(values) == 1, found
    [secret] = values
    assert secret is not None
    return secret


def test_migrate_and_seed_are_idempotent(clean_state):
    from portico.migrate import migrate
    from portico.seed import seed

    functions_dir = Path(ROOT / "functions")
    assert migrate(clean_state.database_url, functions_dir) == []
    with psycopg.connect(clean_state.database_url) as conn:
        conn.execute("UPDATE policies SET status = 'active' WHERE policy_id = 'P-1002'")
    seed(clean_state.database_url, functions_dir)
    seed(clean_state.database_url, functions_dir)
    with psycopg.connect(clean_state.database_url) as conn:
        policies = conn.execute(
            "SELECT policy_id, owner, status FROM policies ORDER BY 1"
        ).fetchall()
    assert policies == [
        ("P-1001", "alice", "active"),
        ("P-1002", "alice", "inactive"),
        ("P-2001", "bob", "active"),
    ]


@pytest.mark.parametrize(
    ("function", "kind"),
    [("get-claim", "HTTP function"), ("review-claim", "worker"), ("relay", "relay")],
)
def test_the_container_entrypoint_runs_what_portico_function_names(clean_state, function, kind):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": clean_state.database_url,
        "REDIS_URL": clean_state.redis_url,
        "PORTICO_FUNCTION": function,
        "PORT": str(port),
    }
    process = Process(["run"], env, port)
    try:
        process.wait_ready()
        for _ in range(3):  # a kubelet's probes, every few seconds: no log line each
            assert httpx.get(f"{process.url}/readyz").json()["function"] == function, kind
            assert httpx.get(f"{process.url}/healthz").status_code == 200, kind
    finally:
        process.stop()
    probe_lines = [line for line in process.output if "/readyz" in line or "/healthz" in line]
    assert probe_lines == [], kind


def test_the_container_entrypoint_migrates_and_seeds_then_exits(clean_state):
    env = {
        "DATABASE_URL": clean_state.database_url,
        "PORTICO_FUNCTION": "migrate",
        "PORTICO_SEED": "1",
    }
    run = portico("run", env=env)
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 0, output
    assert "up to date" in output and "seeded" in output


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "set PORTICO_FUNCTION"), ("no-such-function", "no function named 'no-such-function'")],
)
def test_the_container_entrypoint_names_a_missing_or_unknown_function(value, message):
    run = portico("run", env={"PORTICO_FUNCTION": value})
    output, _ = run.communicate(timeout=60)
    assert run.returncode == 2 and message in output
