"""Traces across real processes: a claim POSTed with a `traceparent` is one trace, from the
function's span through its SQL, commit, publish and outbox push to the worker's span, exported
over OTLP to a receiver in the test; and the relay's delivery joins the same trace."""

from __future__ import annotations

import json
import os
import uuid

import httpx
import pytest
from rq.job import Job
from rq.serializers import JSONSerializer

from portico import tracing
from portico.local.ports import free_port
from portico.state import outbox
from portico.state.jobs import job_id
from portico.state.queue import Queue
from portico.state.transaction import Transaction
from tests.conftest import FUNCTIONS_DIR, Services, open_resources
from tests.identity import caller
from tests.processes import Process
from tests.support import wait_until
from tests.support.otlp import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.integration

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
CLAIM = {"policyId": "P-1001", "documentKey": "claims/2026/photo-1.jpg"}


def by_name(spans: list[ReceivedSpan]) -> dict[str, ReceivedSpan]:
    return {s.name: s for s in spans}


def has_both_ends(spans: list[ReceivedSpan]) -> bool:
    """The function's server span and the worker's consumer span (each process exports its
    own, in its own time)."""
    kinds = {(s.service, s.kind) for s in spans}
    return {("submit-claim", "server"), ("review-claim", "consumer")} <= kinds


def log_lines(process: Process) -> list[dict[str, object]]:
    lines = []
    for line in process.text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_a_claim_is_one_trace_from_its_request_to_the_worker(clean_state: Services):
    with OtlpReceiver() as receiver:
        env = clean_state.process_env(
            FUNCTIONS_DIR, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, PORTICO_LOG_LEVEL="INFO"
        )
        port = free_port()
        serve = Process(["serve", "submit-claim", "--port", str(port)], env, port)
        worker = Process(["worker", "review-claim"], env, None)
        with serve, worker:
            serve.wait_ready()
            answer = httpx.post(
                f"http://127.0.0.1:{port}/claims",
                json=CLAIM,
                headers={**caller("alice"), "traceparent": TRACEPARENT},
                timeout=10,
            )
            assert answer.status_code == 201, answer.text
            spans = receiver.wait_for(TRACE_ID, has_both_ends, "both processes' spans arrive")
            request_lines = [
                line for line in log_lines(serve) if str(line["message"]).startswith("POST ")
            ]
            job_lines = [line for line in log_lines(worker) if "job " in str(line["message"])]

    function = [s for s in spans if s.service == "submit-claim"]
    named = by_name(function)
    server = named["POST /claims"]
    assert server.kind == "server" and server.parent_span_id == CLIENT_SPAN
    assert server.attributes["http.response.status_code"] == 201
    steps = {s.name for s in function if s.parent_span_id == server.span_id}
    assert {"validate", "handler", "db COMMIT", "outbox push"} <= steps
    statements = [s for s in function if s.name.startswith("db ") and s.name != "db COMMIT"]
    assert statements and all("db.query.text" in s.attributes for s in statements)
    assert all("photo-1" not in str(s.attributes) for s in statements)  # SQL, never the data
    publish = named["publish claim-review-jobs"]
    assert publish.kind == "producer" and publish.parent_span_id == named["handler"].span_id

    [consumer] = [s for s in spans if s.service == "review-claim" and s.kind == "consumer"]
    assert consumer.name == "process claim-review-jobs"
    assert consumer.parent_span_id == publish.span_id  # through the outbox row and the message
    assert consumer.attributes["portico.outcome"] == "succeeded"
    assert consumer.attributes["portico.request_id"] == server.attributes["portico.request_id"]
    worker_steps = {s.name for s in spans if s.parent_span_id == consumer.span_id}
    assert "handler" in worker_steps and "db COMMIT" in worker_steps
    assert not any(s.error for s in spans)

    assert request_lines and all(line["trace_id"] == TRACE_ID for line in request_lines)
    assert len(job_lines) >= 2 and all(line["trace_id"] == TRACE_ID for line in job_lines)
    assert all(line["request_id"] for line in job_lines)
    assert "photo-1" not in worker.text()  # the message's payload stays out of the logs


def test_a_request_without_a_traceparent_starts_a_trace_of_its_own(clean_state: Services):
    with OtlpReceiver() as receiver:
        env = clean_state.process_env(FUNCTIONS_DIR, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
        port = free_port()
        serve = Process(["serve", "submit-claim", "--port", str(port)], env, port)
        with serve:
            serve.wait_ready()
            answer = httpx.post(
                f"http://127.0.0.1:{port}/claims",
                json={"policyId": "P-1001"},  # no documentKey: a 422
                headers={**caller("alice"), "traceparent": "00-not-a-trace-01"},
                timeout=10,
            )
            assert answer.status_code == 422
            request_id = answer.headers["X-Request-ID"]

            def the_server_span() -> list[ReceivedSpan]:
                return [
                    s
                    for s in receiver.spans
                    if s.kind == "server" and s.attributes.get("portico.request_id") == request_id
                ]

            [server] = wait_until(the_server_span, 20, "the 422's span arrives")
    assert server.parent_span_id == "" and server.trace_id != TRACE_ID
    assert server.attributes["http.response.status_code"] == 422
    assert not server.error  # a client's mistake is not the function's failure
    validate = [s for s in receiver.trace(server.trace_id) if s.name == "validate"]
    assert validate and not validate[0].error


def test_the_relays_delivery_joins_the_trace_that_published_the_message(
    clean_state: Services,
):
    """A message the fast path did not push (a crash between commit and push): the relay
    delivers it later in a span of the request's trace, and the job carries the context."""
    with OtlpReceiver() as receiver:
        assert tracing.configure("relay-test", {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint})
        resources = open_resources(clean_state.database_url, clean_state.redis_url, FUNCTIONS_DIR)
        try:
            started = tracing.start("POST /notes", "server", {"traceparent": TRACEPARENT})
            tx = Transaction(resources.pool, deadline=float("inf"))
            message_id = Queue("test-notes", tx).publish({"note": uuid.uuid4().hex})
            tx.commit()
            tx.release()
            started.end(status_code=201)
            with resources.pool.connection() as conn:
                settled = outbox.settle_batch(
                    conn, resources.redis, {}, grace_seconds=0, batch_size=10
                )
            assert settled.delivered == 1
            job = Job.fetch(job_id(message_id), resources.redis, serializer=JSONSerializer)
            tracing.flush()
        finally:
            tracing.shutdown()
            resources.close()
        spans = receiver.wait_for(
            TRACE_ID,
            lambda s: {"relay test-notes", "publish test-notes"} <= set(by_name(s)),
            "the relay's span arrives",
        )
    named = by_name(spans)
    relay = named["relay test-notes"]
    assert relay.kind == "producer" and relay.parent_span_id == named["publish test-notes"].span_id
    assert relay.attributes["messaging.message.id"] == message_id
    [envelope] = job.args  # the job's envelope carries the context on, to the worker
    assert tracing.trace_id_of(envelope["traceparent"]) == TRACE_ID


def test_with_tracing_off_the_context_is_passed_on_as_it_came(clean_state: Services):
    """No endpoint: no spans, no OpenTelemetry import needed, and yet the message carries the
    request's own traceparent, so a traced worker downstream still joins the caller's trace."""
    assert not tracing.enabled() and not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    resources = open_resources(clean_state.database_url, clean_state.redis_url, FUNCTIONS_DIR)
    try:
        started = tracing.start("POST /notes", "server", {"traceparent": TRACEPARENT})
        tx = Transaction(resources.pool, deadline=float("inf"))
        Queue("test-notes", tx).publish({"note": "untraced"})
        tx.commit()
        tx.release()
        started.end(status_code=201)
    finally:
        resources.close()
    [(_, message)] = tx.pending_messages
    assert message["traceparent"] == TRACEPARENT
