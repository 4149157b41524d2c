"""Dependency bindings and the effects ledger, against a real HTTP server as the dependency
and real Postgres and Redis."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from portico.logs import RequestLog
from portico.manifest import load_all
from portico.runtime import effects
from portico.runtime.app import create_app
from portico.settings import EgressMode
from tests.conftest import TEST_FUNCTIONS_DIR, Services, open_resources
from tests.identity import GATEWAY_SECRET

pytestmark = pytest.mark.integration

URL_ENV = "PORTICO_TEST_UPSTREAM_URL"


class Upstream:
    """A dependency on a port of its own: /ok answers 200 with what it was sent, /slow takes
    2 s, /flaky answers 503 twice per path and then 200. It keeps every request it got."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._flaky: dict[str, int] = {}
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.answer(self)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        if length:
            request.rfile.read(length)
        self.seen.append((request.command, request.path, dict(request.headers)))
        status = 200
        if request.path.startswith("/slow"):
            time.sleep(2)
        elif request.path.startswith("/flaky"):
            key = f"{request.command} {request.path}"
            self._flaky[key] = self._flaky.get(key, 0) + 1
            status = 503 if self._flaky[key] <= 2 else 200
        payload = json.dumps({"headers": dict(request.headers)}).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
        except OSError:
            pass  # the caller gave up on it

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.seen if (m, p) == (method, path))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[Upstream]:
    server = Upstream()
    monkeypatch.setenv(URL_ENV, server.url)
    yield server
    server.close()


class Served:
    """A test function's app, its request log kept in memory."""

    def __init__(
        self,
        services: Services,
        name: str,
        *,
        egress: EgressMode = "enforce",
        server_timing: bool = False,
    ) -> None:
        manifest = next(m for m in load_all(TEST_FUNCTIONS_DIR) if m.name == name)
        self.resources = open_resources(
            services.database_url, services.redis_url, TEST_FUNCTIONS_DIR, pool_size=2
        )
        app = create_app(
            manifest, self.resources, GATEWAY_SECRET, egress=egress, server_timing=server_timing
        )
        self.state = app.extensions["portico"]
        self.log = io.StringIO()
        self.state.request_log = RequestLog(
            logging.getLogger("portico.runtime.app"), name, self.log
        )
        self.client: FlaskClient = app.test_client()

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.getvalue().splitlines()]

    def close(self) -> None:
        self.state.invoker.close()
        self.resources.close()


@pytest.fixture()
def serve(clean_state: Services, caplog: pytest.LogCaptureFixture) -> Iterator[Any]:
    caplog.set_level(logging.INFO, logger="portico.runtime.app")  # the request log line
    opened: list[Served] = []

    def build(name: str, **options: Any) -> Served:
        opened.append(Served(clean_state, name, **options))
        return opened[-1]

    yield build
    for served in opened:
        served.close()


def committed_writes(services: Services) -> int:
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM test_writes").fetchone()
    assert row is not None
    return int(row[0])


def outbox_count(services: Services) -> int:
    with psycopg.connect(services.database_url) as conn:
        row = conn.execute("SELECT count(*) FROM portico_outbox").fetchone()
    assert row is not None
    return int(row[0])


def calls_counted(dependency: str, outcome: str) -> float:
    labels = {"function": "boundary-call", "dependency": dependency, "outcome": outcome}
    return REGISTRY.get_sample_value("portico_dependency_calls_total", labels) or 0.0


def server_timing_entries(header: str) -> list[str]:
    """The header's metrics: split at the commas outside quoted descriptions."""
    return [e.strip() for e in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', header)]


def test_a_call_carries_the_request_id_and_the_trace_context(serve, upstream):
    call = serve("boundary-call")
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = call.client.post(
        "/boundary/call",
        json={"method": "GET", "path": "/ok"},
        headers={"X-Request-ID": "req-dep-1", "traceparent": traceparent, "tracestate": "a=1"},
    )
    assert response.status_code == 200, response.json
    [(_, _, sent)] = upstream.seen
    assert sent["X-Request-ID"] == "req-dep-1"
    assert sent["traceparent"] == traceparent
    assert sent["tracestate"] == "a=1"


def test_a_slow_dependency_is_a_504_within_its_timeout_and_nothing_commits(
    serve, upstream, clean_state
):
    call = serve("boundary-call")
    before = calls_counted("upstream", "timeout")
    started = time.monotonic()
    response = call.client.post(
        "/boundary/call", json={"method": "POST", "path": "/slow", "writes": 2, "publishes": 1}
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    problem = response.json
    assert problem["type"] == "https://portico.dev/problems/dependency-timeout"
    assert "'upstream'" in problem["detail"] and "0.50 s" in problem["detail"]
    assert elapsed < 1.5  # its 0.5 s bound, not the server's 2 s nor the function's 2 s
    assert committed_writes(clean_state) == 0
    assert outbox_count(clean_state) == 0
    assert calls_counted("upstream", "timeout") == before + 1


@pytest.mark.parametrize(
    ("method", "key", "attempts", "status"),
    [("GET", None, 3, 200), ("PUT", None, 3, 200), ("POST", "k-1", 3, 200), ("POST", None, 1, 502)],
)
def test_only_requests_safe_to_repeat_are_retried(serve, upstream, method, key, attempts, status):
    call = serve("boundary-call")
    body: dict[str, Any] = {"method": method, "path": "/flaky"}
    if key is not None:
        body["key"] = key
    response = call.client.post("/boundary/call", json=body)
    assert response.status_code == status, response.json
    assert upstream.count(method, "/flaky") == attempts
    if status == 502:
        assert response.json["type"] == "https://portico.dev/problems/bad-gateway"


def test_an_unreachable_dependency_is_a_503_naming_it(serve, monkeypatch, clean_state):
    closed = Upstream()
    closed.close()  # nothing listens on its port now
    monkeypatch.setenv(URL_ENV, closed.url)
    call = serve("boundary-call")
    response = call.client.post(
        "/boundary/call", json={"method": "GET", "path": "/ok", "writes": 1}
    )
    assert response.status_code == 503
    assert response.json["type"] == "https://portico.dev/problems/dependency-unavailable"
    assert "'upstream'" in response.json["detail"] and closed.url in response.json["detail"]
    assert committed_writes(clean_state) == 0


def test_a_dependency_without_a_base_url_names_the_variable_to_set(serve, monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    call = serve("boundary-call")
    response = call.client.post("/boundary/call", json={"method": "GET", "path": "/ok"})
    assert response.status_code == 503
    assert URL_ENV in response.json["detail"]


def test_the_ledger_is_on_the_log_line_and_in_server_timing(serve, upstream, clean_state):
    call = serve("boundary-call", server_timing=True)
    response = call.client.post(
        "/boundary/call",
        json={"method": "GET", "path": "/ok", "writes": 2, "publishes": 3},
        headers={"X-Request-ID": "req-ledger"},
    )
    assert response.status_code == 200
    [line] = call.log_lines()
    assert line["request_id"] == "req-ledger"
    effects = line["effects"]
    assert (effects["statements"], effects["rows_written"]) == (2, 2)
    assert effects["messages"] == {"test-notes": 3}
    [dependency_call] = effects["calls"]
    assert dependency_call["dependency"] == "upstream"
    assert (dependency_call["method"], dependency_call["path"]) == ("GET", "/ok")
    assert dependency_call["outcome"] == "2xx"
    assert effects["committed"] is True
    assert effects["handler_ms"] >= dependency_call["ms"]

    timing = server_timing_entries(response.headers["Server-Timing"])
    names = [entry.split(";")[0] for entry in timing]
    assert names == ["sql", "dep-upstream", "queue", "handler"]
    assert timing[0].endswith('desc="2 statements, 2 rows"')
    assert 'desc="3 messages"' in timing[2]
    assert committed_writes(clean_state) == 2


def test_without_server_timing_no_header_and_a_failed_write_counts_no_rows(serve, upstream):
    call = serve("boundary-call")
    labels = {"function": "boundary-call"}
    rows_before = REGISTRY.get_sample_value("portico_effect_rows_written_total", labels) or 0
    statements_before = REGISTRY.get_sample_value("portico_effect_statements_total", labels) or 0
    response = call.client.post(
        "/boundary/call", json={"method": "POST", "path": "/flaky", "writes": 2}
    )
    assert response.status_code == 502
    assert "Server-Timing" not in response.headers
    [line] = call.log_lines()
    assert line["effects"]["rows_written"] == 2 and line["effects"]["committed"] is False
    assert REGISTRY.get_sample_value("portico_effect_statements_total", labels) == (
        statements_before + 2
    )
    assert (REGISTRY.get_sample_value("portico_effect_rows_written_total", labels) or 0) == (
        rows_before
    )


def test_a_handler_that_touches_nothing_spends_no_time_in_postgres(serve):
    """A unit of work that sent no statement commits nothing: its ledger has no SQL time, so
    the log line takes the short path of an empty ledger."""
    echo = serve("open-echo", server_timing=True)
    tx = echo.state.invoker.begin(time.monotonic() + 5)
    tx.commit()
    tx.release()
    ledger = effects.of(tx)
    assert (ledger.sql_seconds, ledger.committed) == (0.0, True)

    response = echo.client.post("/open-echo", json={"n": 1})
    assert response.status_code == 200
    [line] = echo.log_lines()
    assert (line["effects"]["statements"], line["effects"]["sql_ms"]) == (0, 0.0)
    sql = server_timing_entries(response.headers["Server-Timing"])[0]
    assert sql == 'sql;dur=0.0;desc="0 statements, 0 rows"'
