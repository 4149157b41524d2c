"""The egress guard on real sockets: a handler's connection to what its manifest does not
declare is refused (enforce) or counted (warn); declared ones, and the runtime's own work, pass."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from portico.contract import Message
from portico.manifest import load_all
from portico.problems import EgressDenied
from portico.queueing import worker
from portico.runtime.handler import Invoker
from portico.state.jobs import envelope
from tests.conftest import TEST_FUNCTIONS_DIR, open_resources
from tests.integration.test_dependencies import (
    URL_ENV,
    Upstream,
    committed_writes,
    serve,
    upstream,
)

pytestmark = pytest.mark.integration
__all__ = ["serve", "upstream"]  # fixtures

DENIED = "https://portico.dev/problems/egress-denied"


@pytest.fixture()
def elsewhere() -> Any:
    """A listening port the functions do not declare."""
    server = Upstream()
    yield server
    server.close()


def denied(function: str, mode: str) -> float:
    labels = {"function": function, "mode": mode}
    return REGISTRY.get_sample_value("portico_egress_denied_total", labels) or 0.0


def test_an_undeclared_port_is_refused_and_nothing_commits(serve, upstream, elsewhere, clean_state):
    egress = serve("boundary-egress")
    before = denied("boundary-egress", "enforce")
    response = egress.client.post(
        "/boundary/egress", json={"host": "127.0.0.1", "port": elsewhere.port}
    )
    assert response.status_code == 500
    assert response.json["type"] == DENIED
    detail = response.json["detail"]
    assert f"127.0.0.1:{elsewhere.port}" in detail
    assert "`dependencies:`" in detail and "boundary-egress.yaml" in detail
    assert elsewhere.seen == [] and committed_writes(clean_state) == 0
    assert denied("boundary-egress", "enforce") == before + 1


def test_an_undeclared_name_is_refused_before_any_lookup(serve, upstream, clean_state, caplog):
    egress = serve("boundary-egress")
    response = egress.client.post(
        "/boundary/egress",
        json={"host": "payments.example.invalid", "port": 443},
        headers={"X-Request-ID": "req-egress-name"},
    )
    assert response.status_code == 500
    assert response.json["type"] == DENIED
    assert "payments.example.invalid:443" in response.json["detail"]
    [record] = [r for r in caplog.records if r.name == "portico.runtime.egress"]
    assert record.levelno == logging.WARNING and "payments.example.invalid" in record.getMessage()
    assert getattr(record, "request_id", None) in (None, "req-egress-name")
    assert committed_writes(clean_state) == 0


def test_a_refusal_a_library_swallowed_still_answers_500_and_rolls_back(
    serve, upstream, elsewhere, clean_state
):
    egress = serve("boundary-egress")
    response = egress.client.post(
        "/boundary/egress", json={"host": "127.0.0.1", "port": elsewhere.port, "swallow": True}
    )
    assert response.status_code == 500
    assert response.json["type"] == DENIED
    assert committed_writes(clean_state) == 0


def test_the_declared_dependency_is_reachable_by_another_name(
    serve, upstream, monkeypatch, clean_state
):
    """Declared as localhost, connected to as 127.0.0.1: the same endpoint."""
    monkeypatch.setenv(URL_ENV, f"http://localhost:{upstream.port}")
    egress = serve("boundary-egress")
    response = egress.client.post(
        "/boundary/egress", json={"host": "127.0.0.1", "port": upstream.port}
    )
    assert response.status_code == 200, response.json
    assert committed_writes(clean_state) == 1


def test_warn_mode_lets_it_through_and_counts_it(serve, upstream, elsewhere, clean_state):
    egress = serve("boundary-egress", egress="warn")
    before = denied("boundary-egress", "warn")
    response = egress.client.post(
        "/boundary/egress", json={"host": "127.0.0.1", "port": elsewhere.port}
    )
    assert response.status_code == 200
    assert denied("boundary-egress", "warn") == before + 1
    assert committed_writes(clean_state) == 1


def test_off_watches_nothing(serve, upstream, elsewhere):
    egress = serve("boundary-egress", egress="off")
    before = denied("boundary-egress", "off")
    response = egress.client.post(
        "/boundary/egress", json={"host": "127.0.0.1", "port": elsewhere.port}
    )
    assert response.status_code == 200
    assert denied("boundary-egress", "off") == before


def test_the_runtime_pushes_its_messages_outside_the_guard(serve, upstream, clean_state):
    """boundary-call publishes; its fast-path push to Redis runs after the handler, unwatched."""
    call = serve("boundary-call")
    before = denied("boundary-call", "enforce")
    response = call.client.post(
        "/boundary/call", json={"method": "GET", "path": "/ok", "publishes": 1}
    )
    assert response.status_code == 200
    assert denied("boundary-call", "enforce") == before


def test_a_worker_handler_is_refused_too(clean_state, elsewhere, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="portico.queueing.worker")
    manifest = next(m for m in load_all(TEST_FUNCTIONS_DIR) if m.name == "boundary-worker")
    resources = open_resources(
        clean_state.database_url, clean_state.redis_url, TEST_FUNCTIONS_DIR, 1
    )
    invoker = Invoker(manifest, resources)
    monkeypatch.setattr(worker, "_invoker", invoker)
    message = Message("m-egress", "test-boundary", {"host": "127.0.0.1", "port": elsewhere.port})
    try:
        with pytest.raises(EgressDenied, match=re.escape(f"127.0.0.1:{elsewhere.port}")):
            worker.handle_message(envelope(message))
    finally:
        resources.close()
    assert elsewhere.seen == [] and committed_writes(clean_state) == 0
    [line] = [r for r in caplog.records if r.getMessage().startswith("job m-egress")]
    assert "failed" in line.getMessage()
    assert line.effects["committed"] is False


def test_a_worker_job_line_carries_its_effects(clean_state, upstream, monkeypatch, caplog):
    """In warn mode the worker's connection goes through; its job line says what it did."""
    caplog.set_level(logging.INFO, logger="portico.queueing.worker")
    manifest = next(m for m in load_all(TEST_FUNCTIONS_DIR) if m.name == "boundary-worker")
    resources = open_resources(
        clean_state.database_url, clean_state.redis_url, TEST_FUNCTIONS_DIR, 1
    )
    invoker = Invoker(manifest, resources, egress_mode="warn")
    monkeypatch.setattr(worker, "_invoker", invoker)
    message = Message("m-ok", "test-boundary", {"host": "127.0.0.1", "port": upstream.port})
    started = time.monotonic()
    try:
        worker.handle_message(envelope(message))
    finally:
        resources.close()
    assert time.monotonic() - started < 2
    [line] = [r for r in caplog.records if r.getMessage().startswith("job m-ok")]
    effects = line.effects
    assert (effects["statements"], effects["rows_written"], effects["committed"]) == (1, 1, True)
    assert committed_writes(clean_state) == 1
