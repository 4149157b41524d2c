"""The dependency binding's rules, over httpx's in-memory transport (no sockets): the bound of
each attempt, what is retried, what is sent."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from portico.manifest import Dependency
from portico.problems import DependencyTimeout, DependencyUnavailable
from portico.runtime.dependencies import DependencyBinding, DependencyClient
from portico.runtime.effects import Effects

Answer = Callable[[httpx.Request], httpx.Response]


def binding(
    answer: Answer,
    *,
    deadline_in: float = 10.0,
    timeout: float = 2.0,
    retries: int = 2,
    base_url: str | None = "http://payments.test",
) -> tuple[DependencyBinding, list[httpx.Request], Effects]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer(request)

    dependency = Dependency("payments", "PAYMENTS_URL", None, timeout, retries, None)
    client = DependencyClient(
        "checkout", dependency, base_url, transport=httpx.MockTransport(handle)
    )
    effects = Effects()
    bound = client.bind(time.monotonic() + deadline_in, "req-1", {"traceparent": "00-ab"}, effects)
    return bound, sent, effects


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={})


def busy(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503)


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def test_each_attempt_gets_the_smaller_of_its_timeout_and_the_deadline():
    call, sent, _ = binding(ok, deadline_in=0.8, timeout=2.0)
    call.get("/a")
    assert 0.7 < sent[0].extensions["timeout"]["read"] <= 0.8
    call, sent, _ = binding(ok, deadline_in=10, timeout=2.0)
    call.get("/a")
    assert sent[0].extensions["timeout"]["read"] == 2.0


def test_with_no_time_left_nothing_is_sent():
    call, sent, _ = binding(ok, deadline_in=-0.1)
    with pytest.raises(DependencyTimeout, match="deadline has passed"):
        call.get("/a")
    assert sent == []


def test_the_request_id_and_trace_context_are_sent_with_the_handlers_headers():
    call, sent, _ = binding(ok)
    call.post("/charges", json={"amount": 5}, headers={"X-Extra": "1"})
    headers = sent[0].headers
    assert headers["X-Request-ID"] == "req-1" and headers["traceparent"] == "00-ab"
    assert headers["X-Extra"] == "1"
    assert str(sent[0].url) == "http://payments.test/charges"


@pytest.mark.parametrize(
    ("method", "headers", "attempts"),
    [
        ("GET", None, 3),
        ("DELETE", None, 3),
        ("POST", {"idempotency-key": "k"}, 3),
        ("POST", None, 1),
        ("PATCH", None, 1),
    ],
)
def test_a_busy_answer_is_retried_only_when_safe(method, headers, attempts):
    call, sent, effects = binding(busy)
    response = call.request(method, "/x", headers=headers)
    assert response.status_code == 503
    assert len(sent) == attempts
    assert [c.outcome for c in effects.calls] == ["5xx"] * attempts


def test_a_refused_connection_is_retried_then_unavailable():
    call, sent, effects = binding(refused)
    with pytest.raises(DependencyUnavailable, match="'payments'"):
        call.get("/x")
    assert len(sent) == 3
    assert [c.outcome for c in effects.calls] == ["unavailable"] * 3


def test_a_timeout_is_not_retried():
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    call, sent, effects = binding(slow)
    with pytest.raises(DependencyTimeout, match="'payments'"):
        call.get("/x")
    assert len(sent) == 1 and effects.calls[0].outcome == "timeout"


def test_no_base_url_names_the_variable_and_an_absolute_url_is_refused():
    call, _, _ = binding(ok, base_url=None)
    with pytest.raises(DependencyUnavailable, match="PAYMENTS_URL"):
        call.get("/x")
    call, sent, _ = binding(ok)
    with pytest.raises(ValueError, match="path of its base URL"):
        call.get("http://elsewhere.test/x")
    assert sent == []
