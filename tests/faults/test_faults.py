"""Fault tests: real processes killed and restarted; nothing acknowledged is lost, nothing is
done twice. Each prints its figures (run with -s, or see the captured output on failure)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from rq.registry import StartedJobRegistry

from portico.state import outbox
from portico.state.jobs import JobPolicy
from tests.conftest import TEST_FUNCTIONS_DIR
from tests.faults.harness import (
    ALICE,
    PHOTO,
    Load,
    all_reviewed,
    claim_figures,
    report,
    stack,
)
from tests.support import wait_until

pytestmark = pytest.mark.faults
FAULT_INJECTION = Path(__file__).parent / "inject"  # its sitecustomize.py
NO_LOSS = {"acknowledged but not stored": 0, "reviewed twice": 0}


def assert_no_loss_no_double(figures: dict[str, int]) -> None:
    assert figures["acknowledged but not stored"] == 0, figures
    assert figures["reviewed"] == figures["stored"], figures
    assert figures["reviewed twice"] == 0, figures
    assert figures["review messages for unknown claims"] == 0, figures
    assert figures["dead letters"] == 0, figures


def test_sigkill_of_the_function_during_a_burst():
    with stack() as s:
        function = s.start_claims()
        with Load(lambda: function.url) as load:
            time.sleep(1.5)
            function.kill()
            time.sleep(0.5)
            function.restart()
            function.wait_ready()
            time.sleep(1.5)
        wait_until(lambda: all_reviewed(s), 30, "every stored claim is reviewed", fail=False)
        figures = claim_figures(s, load.acknowledged)
        attempts = {"attempts": sum(load.statuses.values()), "outcomes": dict(load.statuses)}
        report("SIGKILL function mid-burst", {**attempts, **figures})

    assert figures["acknowledged"] > 20
    assert_no_loss_no_double(figures)


def test_redis_down_during_submissions():
    with stack() as s:
        function = s.start_claims()
        s.redis.kill()
        with httpx.Client(base_url=function.url, timeout=10) as client:
            responses = [client.post("/claims", json=PHOTO, headers=ALICE) for _ in range(20)]
        in_outbox = s.scalar("SELECT count(*) FROM portico_outbox")
        s.redis.start()
        wait_until(lambda: all_reviewed(s), 45, "every claim is reviewed", fail=False)
        acknowledged = [r.json()["claimId"] for r in responses if r.status_code == 201]
        figures = claim_figures(s, acknowledged)
        report("Redis down during submissions", {"held in outbox": in_outbox, **figures})

    assert [r.status_code for r in responses] == [201] * 20
    assert in_outbox == 20
    assert figures["stored"] == 20
    assert_no_loss_no_double(figures)


def tally_messages(s, count: int, **payload: object) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"id": f"t{n}", "queue": "test-tally", "payload": {"n": n, **payload}} for n in range(count)
    ]
    r = redis.Redis.from_url(s.redis.url)
    outbox.push(r, [("test-tally", m) for m in messages], {"test-tally": JobPolicy(4, 2)})
    return messages


def tallies(s) -> dict[str, int]:
    rows = s.sql("SELECT note, count(*) FROM test_writes WHERE note LIKE 'tally:%' GROUP BY note")
    return {note: n for note, n in rows}


def test_sigkill_of_a_worker_mid_job_is_recovered_with_no_worker_running():
    with stack() as s:
        tally_messages(s, 1, sleep=3)
        worker = s.start("worker", "tally", functions=TEST_FUNCTIONS_DIR)
        started = StartedJobRegistry("test-tally", connection=redis.Redis.from_url(s.redis.url))
        wait_until(lambda: started.count == 1, 10, "the job has started")
        worker.kill()
        s.start("relay", functions=TEST_FUNCTIONS_DIR)  # workers are at zero now
        r = redis.Redis.from_url(s.redis.url)
        wait_until(
            lambda: r.llen("rq:queue:test-tally") == 1, 30, "the abandoned job is back on its queue"
        )
        recovered_at_zero = r.llen("rq:queue:test-tally")
        s.start("worker", "tally", functions=TEST_FUNCTIONS_DIR)
        wait_until(lambda: tallies(s) == {"tally:0": 1}, 30, "the retried job has run")
        time.sleep(1)
        effects = tallies(s)
        figures = {"jobs": 1, "requeued with no worker": recovered_at_zero, "effects": effects}
        report("SIGKILL worker mid-job", figures)

    assert tallies_once(effects, 1)


def tallies_once(effects: dict[str, int], expected: int) -> bool:
    return len(effects) == expected and set(effects.values()) == {1}


def test_relay_crash_between_push_and_delete_has_no_second_effect():
    with stack() as s:
        with s.postgres_connection() as conn:
            for n in range(10):
                outbox.write(
                    conn, "test-tally", {"id": f"r{n}", "queue": "test-tally", "payload": {"n": n}}
                )
            conn.commit()
        crashing = s.start_unready(
            "relay",
            functions=TEST_FUNCTIONS_DIR,
            PYTHONPATH=str(FAULT_INJECTION),
            PORTICO_FAULT="relay-crash-after-push",
        )
        exit_code = crashing.popen.wait(30)
        r = redis.Redis.from_url(s.redis.url)
        pushed_before_crash = r.llen("rq:queue:test-tally")
        left_in_outbox = s.scalar("SELECT count(*) FROM portico_outbox")
        s.start("relay", functions=TEST_FUNCTIONS_DIR)
        wait_until(lambda: s.scalar("SELECT count(*) FROM portico_outbox") == 0, 20, "relayed")
        delivered = r.llen("rq:queue:test-tally")
        s.start("worker", "tally", functions=TEST_FUNCTIONS_DIR)
        wait_until(lambda: r.llen("rq:queue:test-tally") == 0, 30, "the queue is drained")
        time.sleep(1)
        effects = tallies(s)
        figures = {
            "messages": 10,
            "relay exit code": exit_code,
            "left in outbox by the crash": left_in_outbox,
            "jobs delivered": delivered,
            "effects": sum(effects.values()),
        }
        report("relay crash between push and delete", figures)

    assert exit_code == 17
    assert pushed_before_crash == 10 and left_in_outbox == 10
    assert delivered == 20  # every message delivered twice...
    assert tallies_once(effects, 10)  # ...and done once


def test_postgres_restarted_under_load():
    with stack() as s:
        function = s.start_claims()
        with Load(lambda: function.url) as load:
            time.sleep(1.5)
            s.postgres.stop()
            time.sleep(2)  # an outage long enough to outlast the pool's wait
            s.postgres.start()
            time.sleep(3)
            after_restart = dict(load.statuses)
            time.sleep(1.5)
        recovered = load.statuses[201] - after_restart.get(201, 0)
        wait_until(lambda: all_reviewed(s), 60, "every stored claim is reviewed", fail=False)
        figures = claim_figures(s, load.acknowledged)
        report(
            "Postgres restarted under load",
            {"statuses": dict(load.statuses), "201 after recovery": recovered, **figures},
        )

    assert set(load.statuses) <= {201, 503}, load.statuses
    assert load.statuses[503] > 0  # the outage was seen...
    assert recovered > 0  # ...and the function recovered by itself
    assert_no_loss_no_double(figures)


def test_client_retries_with_the_same_idempotency_key():
    with stack() as s:
        function = s.start("serve", "submit-claim")
        key = {**ALICE, "Idempotency-Key": '"retry-me"'}
        with httpx.Client(base_url=function.url, timeout=10) as client:
            sequential = [
                client.post("/claims", json=PHOTO, headers=key).status_code for _ in range(5)
            ]
            concurrent: list[int] = []
            barrier = threading.Barrier(10)

            def retry() -> None:
                barrier.wait()
                other = {**ALICE, "Idempotency-Key": "together"}
                concurrent.append(client.post("/claims", json=PHOTO, headers=other).status_code)

            threads = [threading.Thread(target=retry) for _ in range(10)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        claims = s.scalar("SELECT count(*) FROM claims")
        report(
            "Idempotency-Key retries",
            {"sequential": sequential, "concurrent": sorted(concurrent), "claims": claims},
        )

    assert sequential == [201] * 5
    assert set(concurrent) <= {201, 409} and 201 in concurrent
    assert claims == 2  # one per key


def test_sigterm_to_a_function_and_a_worker_under_load():
    with stack() as s:
        function = s.start("serve", "submit-claim", PORTICO_DRAIN_SECONDS="1")
        with Load(lambda: function.url) as load:
            # A load balancer's view: stop sending once /readyz fails.
            def readiness() -> str | None:
                if not function.running():
                    return "exited"
                try:
                    ready = httpx.get(f"{function.url}/readyz", timeout=1).status_code == 200
                except httpx.HTTPError:
                    ready = False
                return None if ready else "failing"

            def watch() -> None:
                if wait_until(readiness, 60, "/readyz fails", interval=0.02) == "failing":
                    load.in_rotation.clear()

            watcher = threading.Thread(target=watch)
            watcher.start()
            time.sleep(1)
            function_exit = function.terminate()
            watcher.join()
        tally_messages(s, 3, sleep=1)
        worker = s.start("worker", "tally", functions=TEST_FUNCTIONS_DIR)
        time.sleep(0.5)
        worker_exit = worker.terminate()
        done_before_exit = dict(tallies(s))
        s.start("worker", "tally", functions=TEST_FUNCTIONS_DIR)
        wait_until(lambda: len(tallies(s)) == 3, 20, "the other jobs are done by a new worker")
        effects = tallies(s)
        figures = {
            "requests": dict(load.statuses),
            "function exit": function_exit,
            "worker exit": worker_exit,
            "job done before the worker exited": sum(done_before_exit.values()),
            "effects": effects,
        }
        report("SIGTERM under load", figures)

    assert set(load.statuses) == {201}, load.statuses  # zero failed requests
    assert function_exit == 0 and worker_exit == 0
    assert sum(done_before_exit.values()) == 1  # the current job finished, no more were taken
    assert tallies_once(effects, 3)
