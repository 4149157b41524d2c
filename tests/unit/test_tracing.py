"""portico.tracing: which context a unit of work continues and hands on, with tracing on (spans
to an exporter in memory) and off (the context passed on as it came)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from portico import tracing
from portico.logs import trace_id_var
from portico.problems import InternalError, NotFound

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT}-01"


@pytest.fixture()
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    assert tracing.configure("unit", {}, exporters=[exporter])
    try:
        yield exporter
    finally:
        tracing.shutdown()


def finished(exporter: InMemorySpanExporter) -> dict[str, Any]:  # name -> ReadableSpan
    tracing.flush()
    return {span.name: span for span in exporter.get_finished_spans()}


@pytest.mark.parametrize(
    ("value", "trace_id"),
    [
        (TRACEPARENT, TRACE_ID),
        (f" {TRACEPARENT} ", TRACE_ID),
        (f"00-{'0' * 32}-{PARENT}-01", None),  # an all-zero trace id is invalid
        (f"00-{TRACE_ID}-{'0' * 16}-01", None),  # so is an all-zero parent
        (f"00-{TRACE_ID.upper()}-{PARENT}-01", None),  # lowercase hex only
        ("00-abc-def-01", None),
        ("", None),
        (None, None),
    ],
)
def test_a_traceparents_trace_id(value, trace_id):
    assert tracing.trace_id_of(value) == trace_id


def test_the_otlp_endpoint_follows_the_exporter_spec():
    base = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}
    assert tracing.traces_endpoint(base) == "http://collector:4318/v1/traces"
    traces = {**base, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://other:4318/custom"}
    assert tracing.traces_endpoint(traces) == "http://other:4318/custom"  # as it is
    assert tracing.traces_endpoint({**base, "OTEL_SDK_DISABLED": "true"}) is None
    assert tracing.traces_endpoint({}) is None
    assert not tracing.configure("unit", {}) and not tracing.enabled()


def test_an_invalid_context_is_not_passed_on():
    assert tracing.received({"traceparent": "garbage", "tracestate": "a=b"}) == {}
    assert tracing.received({"Traceparent": TRACEPARENT, "Tracestate": "a=b"}) == {
        "traceparent": TRACEPARENT,
        "tracestate": "a=b",
    }


def test_with_tracing_off_the_context_is_handed_on_as_it_came_and_logged():
    assert not tracing.enabled()
    started = tracing.start("POST /claims", "server", {"traceparent": TRACEPARENT})
    try:
        assert trace_id_var.get() == TRACE_ID
        with tracing.span("handler"):
            assert tracing.carrier() == {"traceparent": TRACEPARENT}
    finally:
        started.end(status_code=201)
    assert trace_id_var.get() is None and tracing.carrier() == {}


def test_a_unit_of_work_continues_its_callers_trace(exported):
    started = tracing.start("POST /claims", "server", {"traceparent": TRACEPARENT})
    with tracing.span("handler"), tracing.span("publish q", "producer"):
        handed_on = tracing.carrier()
    logged = trace_id_var.get()
    started.end(status_code=201)
    spans = finished(exported)
    server, handler, publish = spans["POST /claims"], spans["handler"], spans["publish q"]
    assert format(server.context.trace_id, "032x") == TRACE_ID == logged
    assert format(server.parent.span_id, "016x") == PARENT
    assert handler.parent.span_id == server.context.span_id
    assert publish.parent.span_id == handler.context.span_id
    # what is handed on names the innermost span, so the next hop is its child
    assert handed_on["traceparent"] == f"00-{TRACE_ID}-{publish.context.span_id:016x}-01"
    assert server.attributes["http.response.status_code"] == 201
    assert server.resource.attributes["service.name"] == "unit"


def test_without_a_context_a_new_trace_begins_and_a_worker_continues_it(exported):
    started = tracing.start("POST /claims", "server", {})
    envelope = {"id": "m1", **tracing.carrier()}
    started.end(status_code=201)
    job = tracing.start("process q", "consumer", envelope)  # as the worker does
    job.end()
    spans = finished(exported)
    request, worker = spans["POST /claims"], spans["process q"]
    assert request.parent is None
    assert worker.context.trace_id == request.context.trace_id
    assert worker.parent.span_id == request.context.span_id


def test_a_clients_problem_is_not_an_error_a_failure_is(exported):
    started = tracing.start("GET /claims/{id}", "server", {})
    with pytest.raises(NotFound), tracing.span("handler"):
        raise NotFound("no such claim")
    started.end(status_code=404)
    failed = tracing.start("process q", "consumer", {})
    with pytest.raises(InternalError), tracing.span("handler"):
        raise InternalError("boom")
    failed.end(error=InternalError("boom"))
    tracing.flush()
    by_trace: dict[int, list[Any]] = {}
    for span in exported.get_finished_spans():
        by_trace.setdefault(span.context.trace_id, []).append(span)
    not_found, failure = by_trace.values()
    assert all(s.status.is_ok for s in not_found)
    assert [s.attributes.get("portico.problem.status") for s in not_found if s.name == "handler"]
    assert all(not s.status.is_ok for s in failure)
    assert any(event.name == "exception" for s in failure for event in s.events)


def test_a_relay_delivery_is_a_span_of_the_messages_trace(exported):
    with tracing.continued({"traceparent": TRACEPARENT}), tracing.span("relay q", "producer"):
        pass
    relay = finished(exported)["relay q"]
    assert format(relay.context.trace_id, "032x") == TRACE_ID
    assert format(relay.parent.span_id, "016x") == PARENT
