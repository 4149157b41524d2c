"""The load generator (bench/load.py), run as the bench runs it: its own process, real sockets."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import Target, percentile
from tests.conftest import ROOT

SERVICE_SECONDS = 0.02  # the test server answers one request at a time, 20 ms each: 50 req/s


class SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the servers under test
    one_at_a_time = threading.Lock()

    def do_GET(self) -> None:
        with self.one_at_a_time:
            time.sleep(SERVICE_SECONDS)
        body = b'{"ok": true}'
        self.send_response(200 if self.path == "/ok" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run_load(url: str, *args: str) -> dict:  # type: ignore[type-arg]
    finished = subprocess.run(
        [sys.executable, "-m", "bench.load", "--url", url, "--warmup", "0.3", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout)  # type: ignore[no-any-return]


def test_closed_model_keeps_its_connections_alive_and_counts_statuses(slow_server: str) -> None:
    ok = run_load(f"{slow_server}/ok", "--connections", "2", "--duration", "1")
    assert ok["errors"] == 0 and ok["requests"] > 0
    assert ok["connections_opened"] == 2  # keep-alive: no reconnect per request
    assert ok["latency_ms"]["p50"] >= SERVICE_SECONDS * 1000
    missing = run_load(f"{slow_server}/missing", "--connections", "1", "--duration", "0.5")
    assert missing["errors"] == missing["requests"] > 0
    assert set(missing["statuses"]) == {"404"}


def test_open_model_counts_queueing_that_a_closed_model_hides(slow_server: str) -> None:
    """At twice the server's capacity, requests queue. The open model measures each from its
    scheduled time, so its latency grows with the queue; a closed model with one connection
    only ever sees the service time (coordinated omission)."""
    closed = run_load(f"{slow_server}/ok", "--connections", "1", "--duration", "1")
    open_ = run_load(
        f"{slow_server}/ok", "--mode", "open", "--rate", "100", "--connections", "64",
        "--duration", "2",
    )  # fmt: skip
    assert closed["latency_ms"]["p99"] < 10 * SERVICE_SECONDS * 1000
    assert open_["latency_ms"]["p99"] > 10 * SERVICE_SECONDS * 1000
    assert open_["latency_ms"]["p99"] > 5 * closed["latency_ms"]["p99"]


def test_an_unreachable_server_is_reported_as_errors_not_a_crash() -> None:
    result = run_load("http://127.0.0.1:9/ok", "--connections", "1", "--duration", "0.3")
    assert result["ok"] == 0
    assert all(not status.isdigit() for status in result["statuses"])


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99), percentile(values, 1.0)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([7.0], 0.99) == 7.0


def test_each_request_can_carry_a_fresh_idempotency_key() -> None:
    target = Target(
        "127.0.0.1", 80, "POST", "/claims", (("apikey", "k"),), b"{}", "Idempotency-Key"
    )
    first, second = target.request_bytes(), target.request_bytes()
    assert first != second
    assert first.startswith(b"POST /claims HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 2\r\n\r\n{}" in first
