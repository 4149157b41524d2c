"""The supervised local platform: a real `portico dev` on its own embedded Postgres and Redis,
under `make dev`-like load through its gateway, has each kind of process `kill -9`ed in turn.
The API must answer again within seconds of each kill, and every acknowledged claim must end
stored and reviewed exactly once; Ctrl-C must then drain and stop everything, killing nothing."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest
import redis
import yaml
from rq.registry import FailedJobRegistry

from portico.headers import COLD_START
from portico.local.embedded_postgres import EmbeddedPostgres
from portico.local.embedded_redis import EmbeddedRedis
from portico.local.ports import free_port
from tests.conftest import FUNCTIONS_DIR, scratch_dir
from tests.faults.harness import report
from tests.integration.devstack import DevStack
from tests.support import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

ALICE, BOB = "alice-dev-key", "bob-dev-key"
CLAIM_BY_KEY = {
    ALICE: {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"},
    BOB: {"policyId": "P-2001", "documentKey": "claims/2026/photo-1.jpg"},
}
POST_EVERY_SECONDS = 0.3  # per consumer: well under the write rate limit
# Each kill fails the test unless the API answers again (and the process is replaced) within
# this; the figures report how long it took. Generous: a loaded 2-core machine is slow to boot.
RECOVERY_LIMIT_SECONDS = 30.0
STOP_LIMIT_SECONDS = 45.0
# review-claim's timeout (30 s) + PORTICO_ABANDONED_JOB_GRACE_SECONDS, then the relay's next
# maintenance pass and the retry.
ABANDONED_JOB_LIMIT_SECONDS = 60.0
STACK_ENV = {"PORTICO_ABANDONED_JOB_GRACE_SECONDS": "2", "PORTICO_RELAY_GRACE_SECONDS": "1"}


# --- the load --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    api_key: str
    sent: float
    received: float
    status: int | str
    claim_id: str | None


class ClaimLoad:
    """One thread per consumer, each posting a claim through the gateway every
    POST_EVERY_SECONDS; every outcome is kept."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(k,)) for k in CLAIM_BY_KEY]

    def __enter__(self) -> ClaimLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def _run(self, api_key: str) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while not self._stop.is_set():
                started = time.monotonic()
                self.post(client, api_key)
                self._stop.wait(max(0.0, POST_EVERY_SECONDS - (time.monotonic() - started)))

    def post(self, client: httpx.Client, api_key: str) -> Outcome:
        sent = time.monotonic()
        claim_id: str | None = None
        try:
            response = client.post(
                "/claims", json=CLAIM_BY_KEY[api_key], headers={"apikey": api_key}
            )
            status: int | str = response.status_code
            if status == 201:
                claim_id = response.json()["claimId"]
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        outcome = Outcome(api_key, sent, time.monotonic(), status, claim_id)
        with self._lock:
            self.outcomes.append(outcome)
        return outcome

    def acknowledged(self, api_key: str | None = None) -> list[str]:
        with self._lock:
            return [
                o.claim_id for o in self.outcomes if o.claim_id and api_key in (None, o.api_key)
            ]

    def steady_since(self, moment: float, in_a_row: int = 6) -> bool:
        """Whether the last `in_a_row` claims were all sent after `moment` and acknowledged (or
        turned away by the rate limit, which is not a failure)."""
        with self._lock:
            last = self.outcomes[-in_a_row:]
        return len(last) == in_a_row and all(
            o.sent >= moment and o.status in (201, 429) for o in last
        )

    def first_acknowledged_after(self, moment: float) -> float | None:
        """When the first claim sent after `moment` was acknowledged."""
        with self._lock:
            times = [o.received for o in self.outcomes if o.claim_id and o.sent >= moment]
        return min(times) if times else None

    def statuses(self, sent_from: float = 0.0, sent_until: float = float("inf")) -> dict[str, int]:
        with self._lock:
            sent = [o for o in self.outcomes if sent_from <= o.sent <= sent_until]
        return dict(sorted(Counter(str(o.status) for o in sent).items()))


# --- the stack -------------------------------------------------------------------------------


def functions_with_an_always_on_writer(root: Path) -> Path:
    """The claims app as written, but POST /claims always on (scale.min 1), so one stack has
    both kinds of HTTP function: an always-on one and on-demand ones (the reads)."""
    functions = root / "functions"
    shutil.copytree(FUNCTIONS_DIR, functions, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = functions / "claims" / "submit-claim.yaml"
    document = yaml.safe_load(manifest.read_text())
    document["function"]["scale"] = {"min": 1, "max": 5}
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    return functions


@contextlib.contextmanager
def dev_stack(root: Path, *extra_args: str) -> Iterator[DevStack]:
    stack = DevStack(root / "data", free_port(), env=STACK_ENV, extra_args=extra_args)
    try:
        stack.wait_ready()
        yield stack
    finally:
        if stack.process.poll() is None:
            try:
                stack.stop()
            except Exception:
                stack.kill()
                raise


def postgres_of(stack: DevStack) -> EmbeddedPostgres:
    return EmbeddedPostgres(stack.data_dir / "postgres")  # a handle: reads its postmaster.pid


def redis_of(stack: DevStack) -> EmbeddedRedis:
    return EmbeddedRedis(stack.data_dir / "redis")


def pid_of(stack: DevStack, *args: str) -> Callable[[], int | None]:
    def current() -> int | None:
        process = stack.portico_process(*args)
        return process.pid if process is not None else None

    return current


# --- the kills -------------------------------------------------------------------------------


@dataclass
class Recovery:
    killed: str
    killed_at: float  # time.monotonic()
    answered_after: float  # until the API answered again (201, or 200 for a read)
    replaced_after: float  # until a new process of its kind ran
    steady_after: float = 0.0  # until every claim posted was acknowledged again

    def figures(self, load: ClaimLoad) -> str:
        meanwhile = load.statuses(self.killed_at, self.killed_at + self.steady_after)
        return (
            f"answered after {self.answered_after:.1f}s, replaced after"
            f" {self.replaced_after:.1f}s, steady after {self.steady_after:.1f}s,"
            f" requests meanwhile {meanwhile}"
        )


def seconds_until(condition: Callable[[], bool], since: float, what: str) -> float:
    wait_until(condition, RECOVERY_LIMIT_SECONDS, what)
    return time.monotonic() - since


def steadied(load: ClaimLoad, recovery: Recovery) -> Recovery:
    """Wait until the stack serves every claim again, so that the next kill is measured on its
    own (a function's replacement may still be starting when its orphan answered)."""
    since = recovery.killed_at + recovery.replaced_after
    recovery.steady_after = seconds_until(
        lambda: load.steady_since(since), recovery.killed_at, f"steady after the {recovery.killed}"
    )
    return recovery


def kill_and_recover(
    stack: DevStack, load: ClaimLoad, killed: str, pid: Callable[[], int | None]
) -> Recovery:
    """SIGKILL the process `pid()` names; measure until a claim sent after the kill is
    acknowledged, and until a new process has taken its place."""
    old = pid()
    assert old is not None, f"no {killed} to kill:\n{stack.text()[-3000:]}"
    killed_at = time.monotonic()
    os.kill(old, signal.SIGKILL)
    replaced = seconds_until(lambda: pid() not in (None, old), killed_at, f"{killed} is replaced")
    wait_until(
        lambda: load.first_acknowledged_after(killed_at) is not None,
        RECOVERY_LIMIT_SECONDS,
        f"a claim is acknowledged after the {killed} was killed",
    )
    answered = (load.first_acknowledged_after(killed_at) or killed_at) - killed_at
    return steadied(load, Recovery(killed, killed_at, answered, replaced))


def kill_worker_mid_review(
    stack: DevStack, load: ClaimLoad, database_url: str
) -> tuple[Recovery, str]:
    """SIGKILL review-claim while it reviews a claim: the claim's row is held locked, so the
    review is under way for as long as it takes to see it waiting, then killed."""
    worker = stack.portico_process("worker", "review-claim")
    assert worker is not None, stack.text()[-3000:]
    worker.suspend()  # so the claim is locked before the worker can review it
    with stack.client() as client:
        claim_id = load.post(client, ALICE).claim_id
    assert claim_id is not None
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM claims WHERE claim_id = %s FOR UPDATE", (claim_id,))
        worker.resume()
        wait_until(lambda: review_waits_for_a_lock(database_url), 30, "the review is under way")
        recovery = kill_and_recover(
            stack,
            load,
            "worker (review-claim, mid-review)",
            pid_of(stack, "worker", "review-claim"),
        )
    return recovery, claim_id


def review_waits_for_a_lock(database_url: str) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
    return row is not None and row[0] > 0


def kill_on_demand_function(stack: DevStack, load: ClaimLoad, claim_id: str) -> Recovery:
    """SIGKILL get-claim (started by the gateway on a request); measure until the gateway has
    started it again for a later request. (Until then gunicorn's orphaned worker may still
    answer a request or two: it exits once it sees its arbiter gone.)"""
    with stack.client() as client:

        def read(cold: bool = False) -> bool:
            response = client.get(f"/claims/{claim_id}", headers={"apikey": ALICE})
            started = response.headers.get(COLD_START) == "true"
            return response.status_code == 200 and (started or not cold)

        wait_until(read, 30, "get-claim answers (started on demand)")
        pid = pid_of(stack, "serve", "get-claim")
        old = pid()
        assert old is not None, stack.text()[-3000:]
        killed_at = time.monotonic()
        os.kill(old, signal.SIGKILL)
        answered = seconds_until(lambda: read(cold=True), killed_at, "get-claim is started again")
        replaced = seconds_until(lambda: pid() not in (None, old), killed_at, "a new get-claim")
    return steadied(load, Recovery("on-demand function (get-claim)", killed_at, answered, replaced))


# --- the figures -----------------------------------------------------------------------------


def review_figures(database_url: str, redis_url: str, acknowledged: list[str]) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        stored = {str(r[0]) for r in conn.execute("SELECT claim_id FROM claims")}
        reviews = Counter(
            str(r[0])
            for r in conn.execute("SELECT claim_id FROM claim_events WHERE to_status = 'in_review'")
        )
    dead = FailedJobRegistry("claim-review-jobs", connection=redis.Redis.from_url(redis_url))
    return {
        "acknowledged": len(acknowledged),
        "acknowledged but not stored": len(set(acknowledged) - stored),
        "reviewed once": sum(1 for claim in acknowledged if reviews[claim] == 1),
        "not reviewed": sum(1 for claim in acknowledged if reviews[claim] == 0),
        "reviewed more than once": sum(1 for n in reviews.values() if n > 1),
        "dead letters": dead.count,
    }


def exits(restarts: list[str]) -> dict[str, list[str]]:
    """How each process ended, from the supervisor's "NAME exited (HOW); restarting" lines."""
    found: dict[str, list[str]] = {}
    for line in restarts:
        match = re.search(r"\| (\S+) exited \((.*?)\);", line)
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


def all_reviewed(database_url: str, claim_ids: list[str]) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(DISTINCT claim_id) FROM claim_events"
            " WHERE to_status = 'in_review' AND claim_id = ANY(%s::uuid[])",
            (claim_ids,),
        ).fetchone()
    return row is not None and row[0] == len(set(claim_ids))


# --- the tests -------------------------------------------------------------------------------


def test_kill_9_of_each_process_the_api_answers_again_and_every_claim_is_reviewed_once():
    root = scratch_dir("portico-supervision-")
    functions = functions_with_an_always_on_writer(root)
    with dev_stack(root, "--functions-dir", str(functions)) as stack:
        database_url, redis_url = stack.announced("DATABASE_URL"), stack.announced("REDIS_URL")
        with ClaimLoad(stack.base_url) as load:
            wait_until(lambda: len(load.acknowledged()) >= 5, 30, "claims are acknowledged")
            worker, claim_under_review = kill_worker_mid_review(stack, load, database_url)
            recoveries = [
                worker,
                kill_and_recover(stack, load, "relay", pid_of(stack, "relay")),
                kill_on_demand_function(stack, load, load.acknowledged(ALICE)[-1]),
                kill_and_recover(stack, load, "gateway", pid_of(stack, "gateway")),
                kill_and_recover(
                    stack,
                    load,
                    "always-on function (submit-claim)",
                    pid_of(stack, "serve", "submit-claim"),
                ),
                kill_and_recover(stack, load, "postgres", postgres_of(stack).pid),
                kill_and_recover(stack, load, "redis", redis_of(stack).pid),
            ]
            recovered_review = wait_until(
                lambda: all_reviewed(database_url, [claim_under_review]),
                ABANDONED_JOB_LIMIT_SECONDS,
                "the claim under review when its worker was killed is reviewed",
                fail=False,
            )
            review_recovered_after = time.monotonic() - worker.killed_at
        acknowledged = load.acknowledged()
        wait_until(
            lambda: all_reviewed(database_url, acknowledged),
            RECOVERY_LIMIT_SECONDS,
            "every acknowledged claim is reviewed",
            fail=False,
        )
        figures = review_figures(database_url, redis_url, acknowledged)
        print("\n".join(stack.supervisor_lines()))  # shown when the test fails
        restarts = [line for line in stack.supervisor_lines() if "restarting in" in line]
    report(
        "portico dev, kill -9 of each process under load",
        {
            **{r.killed: r.figures(load) for r in recoveries},
            "the review killed mid-way done after": f"{review_recovered_after:.1f}s",
            "requests": load.statuses(),
            "restarts": exits(restarts),
            **figures,
        },
    )

    assert recovered_review and claim_under_review in acknowledged
    assert figures["acknowledged"] >= 50, figures
    assert figures["acknowledged but not stored"] == 0, figures
    assert figures["reviewed once"] == figures["acknowledged"], figures
    assert figures["reviewed more than once"] == 0, figures
    assert figures["dead letters"] == 0, figures
    assert any("review-claim exited (killed by SIGKILL); restarting in" in r for r in restarts)


def test_ctrl_c_under_load_drains_every_process_and_leaves_none_behind():
    root = scratch_dir("portico-ctrl-c-")
    with dev_stack(root) as stack, ClaimLoad(stack.base_url) as load:
        wait_until(lambda: len(load.acknowledged()) >= 5, 30, "claims are acknowledged")
        with stack.client() as client:  # get-claim, too, started by the gateway on demand
            read = client.get(f"/claims/{load.acknowledged(ALICE)[-1]}", headers={"apikey": ALICE})
        assert read.status_code == 200, read.text
        processes = everything_running(stack)
        started = time.monotonic()
        exit_code = stack.stop(timeout=STOP_LIMIT_SECONDS)
        took = time.monotonic() - started
    left_behind = [describe(p) for p in processes if still_running(p)]
    stopped = [line for line in stack.supervisor_lines() if " stopped (" in line]
    report(
        "portico dev, Ctrl-C under load",
        {"exit code": exit_code, "seconds": round(took, 1), "processes": len(processes)},
    )

    assert exit_code == 0, stack.text()[-5000:]
    assert "SIGKILL" not in stack.text(), stack.text()[-5000:]
    for name in ("review-claim", "relay", "gateway"):
        assert any(f"{name} stopped (code 0)" in line for line in stopped), stopped
    assert left_behind == []
    assert took < STOP_LIMIT_SECONDS


def everything_running(stack: DevStack) -> list[psutil.Process]:
    """`portico dev`, all it started, and the embedded servers with their own processes."""
    processes = [psutil.Process(stack.process.pid), *stack.descendants()]
    for pid in (postgres_of(stack).pid(), redis_of(stack).pid()):
        assert pid is not None
        server = psutil.Process(pid)
        processes += [server, *server.children(recursive=True)]
    names = {" ".join(p.cmdline()[3:5]) for p in processes if "portico.cli" in p.cmdline()}
    assert {"serve submit-claim", "serve get-claim", "worker review-claim"} <= names, names
    return processes


def still_running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def describe(process: psutil.Process) -> dict[str, Any]:
    try:
        return {"pid": process.pid, "command": " ".join(process.cmdline())}
    except psutil.Error:
        return {"pid": process.pid}
