"""What only a local `portico dev` can show: its logs, its OpenAPI endpoint, and one trace per
request from the gateway to the worker, in its console and in the user's collector (an
in-process OTLP receiver, named by OTEL_EXPORTER_OTLP_ENDPOINT). The API contract itself is
tested by tests/conformance, against any gateway."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from portico.local.ports import free_port
from tests.conftest import Services, scratch_dir
from tests.integration.devstack import DevStack
from tests.support import wait_until
from tests.support.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.integration

ALICE = {"apikey": "alice-dev-key"}


CLAIM = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}
CLAIM_PATH = {"gateway", "submit-claim", "review-claim"}


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def stack(services: Services, collector: OtlpReceiver) -> Iterator[DevStack]:
    dev = DevStack(
        scratch_dir("portico-test-dev-"),
        free_port(),
        env={**services.urls, "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint},
        extra_args=("--no-scale-to-zero",),
    )
    try:
        dev.wait_ready()
        yield dev
    finally:
        dev.stop()


@pytest.fixture()
def api(stack: DevStack, clean_state: Services) -> Iterator[httpx.Client]:
    with stack.client() as client:
        yield client


def test_request_ids_appear_in_the_function_logs(api, stack):
    api.post("/claims", json={}, headers={**ALICE, "X-Request-ID": "find-me-in-logs"})
    time.sleep(0.5)
    tagged = [
        line for line in stack.text().splitlines() if '"request_id": "find-me-in-logs"' in line
    ]
    assert any(" submit-claim " in line and "-> 422" in line for line in tagged), tagged
    assert any(" gateway " in line and "-> 422" in line for line in tagged), tagged


def test_the_gateway_serves_the_openapi_document(api):
    from portico.manifest import load_all
    from portico.render.openapi import render
    from tests.conftest import FUNCTIONS_DIR

    response = api.get("/openapi.json")
    assert response.status_code == 200
    assert response.json() == render(load_all(FUNCTIONS_DIR))


def traceparent() -> tuple[str, str]:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, f"00-{trace_id}-{parent}-01"


def reaches_the_worker(spans: list[ReceivedSpan]) -> bool:
    return {s.service for s in spans} >= CLAIM_PATH and any(
        s.name == "process claim-review-jobs" for s in spans
    )


def one(spans: list[ReceivedSpan], service: str, name: str) -> ReceivedSpan:
    [found] = [s for s in spans if s.service == service and s.name == name]
    return found


def test_a_claim_with_a_traceparent_is_one_trace_from_gateway_to_worker(api, stack, collector):
    assert f"traces: to the console and on to {collector.endpoint}/v1/traces" in stack.text()
    trace_id, header = traceparent()
    response = api.post("/claims", json=CLAIM, headers={**ALICE, "traceparent": header})
    assert response.status_code == 201, response.text

    spans = collector.wait_for(trace_id, reaches_the_worker, "the claim's spans up to the worker")
    gateway = one(spans, "gateway", "POST /claims")
    upstream = one(spans, "gateway", "upstream submit-claim")
    function = one(spans, "submit-claim", "POST /claims")
    publish = one(spans, "submit-claim", "publish claim-review-jobs")
    worker = one(spans, "review-claim", "process claim-review-jobs")
    assert gateway.parent_span_id == header.split("-")[2]  # the client's span
    assert (gateway.kind, upstream.kind, function.kind) == ("server", "client", "server")
    assert upstream.parent_span_id == gateway.span_id
    assert function.parent_span_id == upstream.span_id
    assert worker.kind == "consumer" and worker.parent_span_id == publish.span_id
    assert worker.attributes["portico.outcome"] == "succeeded"
    assert gateway.attributes["portico.request_id"] == response.headers["X-Request-ID"]

    # The console holds the same spans as the collector (which got them through the gateway).
    def console_spans() -> set[str]:
        found = api.get(f"/_portico/api/traces/{trace_id}")
        return {s["span_id"] for s in found.json()["spans"]} if found.status_code == 200 else set()

    wait_until(
        lambda: console_spans() >= {s.span_id for s in collector.trace(trace_id)},
        10,
        "the console has every span the collector got",
    )
    listed = api.get("/_portico/api/requests").json()["requests"]
    [seen] = [r for r in listed if r["request_id"] == response.headers["X-Request-ID"]]
    assert (seen["trace_id"], seen["function"], seen["status"]) == (trace_id, "submit-claim", 201)


def test_every_log_line_of_a_request_carries_its_trace_id(api, stack, collector):
    trace_id, header = traceparent()
    response = api.post("/claims", json=CLAIM, headers={**ALICE, "traceparent": header})
    assert response.status_code == 201
    collector.wait_for(trace_id, reaches_the_worker, "the claim's spans up to the worker")
    request_id = response.headers["X-Request-ID"]
    lines = [
        json.loads(line.split("| ", 1)[1])
        for line in stack.text().splitlines()
        if f'"request_id": "{request_id}"' in line
    ]
    assert {line["function"] for line in lines} >= CLAIM_PATH, lines
    assert all(line.get("trace_id") == trace_id for line in lines), lines


def test_a_request_without_a_traceparent_starts_a_trace_at_the_gateway(api, collector):
    response = api.post("/claims", json={}, headers=ALICE)
    assert response.status_code == 422
    request_id = response.headers["X-Request-ID"]

    def gateway_span() -> list[ReceivedSpan]:
        return [
            s
            for s in collector.spans
            if s.service == "gateway" and s.attributes.get("portico.request_id") == request_id
        ]

    wait_until(lambda: len(gateway_span()) == 1, 10, "the gateway's span of the 422")
    [root] = gateway_span()
    assert root.parent_span_id == "" and not root.error  # a client's error, not the platform's
    spans = collector.wait_for(
        root.trace_id, lambda found: any(s.service == "submit-claim" for s in found), "its span"
    )
    assert one(spans, "submit-claim", "POST /claims").attributes["http.response.status_code"] == 422
