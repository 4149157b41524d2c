"""The deadline on a real `portico serve` (gunicorn): the handler runs on the request thread
and the process's watchdog answers 504 on the request's socket when timeout_seconds passes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from portico import headers
from portico.local.ports import free_port
from tests.conftest import TEST_FUNCTIONS_DIR, Services
from tests.processes import Process

pytestmark = pytest.mark.integration


@pytest.fixture()
def writes(clean_state: Services) -> Iterator[Process]:
    env = {**clean_state.urls, "PORTICO_FUNCTIONS_DIR": str(TEST_FUNCTIONS_DIR)}
    port = free_port()
    server = Process(["serve", "write-then-sleep", "--port", str(port)], env, port)
    with server:
        server.wait_ready()
        yield server


def scalar(services: Services, sql: str) -> object:
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return row[0]


def timed_post(url: str, body: dict[str, object], request_id: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(url, json=body, headers={headers.REQUEST_ID: request_id}, timeout=10)
    return response, time.monotonic() - started


def test_a_handler_stuck_outside_the_database_gets_its_504_on_time(writes, clean_state):
    response, elapsed = timed_post(f"{writes.url}/writes", {"note": "late", "sleep": 4}, "r-late")

    assert response.status_code == 504
    assert 1.0 <= elapsed < 2.0  # timeout_seconds is 1; the handler sleeps 4
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers[headers.REQUEST_ID] == "r-late"
    assert response.headers["connection"] == "close"
    assert response.json()["requestId"] == "r-late"
    assert response.json()["status"] == 504
    time.sleep(3.5)  # the handler wakes and reaches its commit, which must be refused
    assert scalar(clean_state, "SELECT count(*) FROM test_writes") == 0
    assert scalar(clean_state, "SELECT count(*) FROM portico_outbox") == 0
    lines = [json.loads(line) for line in writes.text().splitlines() if line.startswith("{")]
    answered = [
        line for line in lines if line.get("request_id") == "r-late" and "->" in line["message"]
    ]
    assert len(answered) == 1 and "-> 504" in answered[0]["message"]  # one request line


def test_a_statement_running_at_the_deadline_is_cancelled(writes, clean_state):
    response, elapsed = timed_post(
        f"{writes.url}/writes", {"note": "slow-sql", "pgSleep": 30}, "r-sql"
    )

    assert response.status_code == 504
    assert elapsed < 2.0
    time.sleep(0.5)
    running = scalar(
        clean_state,
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
    )
    assert running == 0
    assert scalar(clean_state, "SELECT count(*) FROM test_writes") == 0


def test_a_stuck_handler_holds_only_its_own_thread(writes, clean_state):
    stuck: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: stuck.append(
            timed_post(f"{writes.url}/writes", {"note": "s", "sleep": 3}, "s")[0]
        )
    )
    thread.start()
    time.sleep(0.2)
    quick, elapsed = timed_post(f"{writes.url}/writes", {"note": "quick"}, "q")
    thread.join()

    assert quick.status_code == 200 and elapsed < 1.0
    assert [r.status_code for r in stuck] == [504]
    assert scalar(clean_state, "SELECT count(*) FROM test_writes") == 1  # only the quick one


def test_after_a_504_the_function_keeps_serving_on_a_kept_alive_connection(writes, clean_state):
    with httpx.Client(base_url=writes.url, timeout=10) as client:
        assert client.post("/writes", json={"note": "a", "sleep": 2}).status_code == 504
        answers = [client.post("/writes", json={"note": f"n{n}"}).status_code for n in range(5)]

    assert answers == [200] * 5
    assert scalar(clean_state, "SELECT count(*) FROM test_writes WHERE note LIKE 'n%'") == 5


def test_a_pools_connections_carry_their_functions_timeout_as_statement_timeout(clean_state):
    from portico.runtime.resources import Resources
    from portico.settings import Settings

    settings = Settings(database_url=clean_state.database_url, redis_url=clean_state.redis_url)
    resources = Resources.for_process(settings, "t", 1, {}, statement_timeout_seconds=1.5)
    resources.open()
    try:
        with resources.pool.connection() as conn:
            shown = conn.execute("SHOW statement_timeout").fetchone()
            with pytest.raises(psycopg.errors.QueryCanceled):
                conn.execute("SELECT pg_sleep(3)")
    finally:
        resources.close()

    assert shown == {"statement_timeout": "1500ms"}
