"""The dev console's pure parts: the trace store, OTLP decoding (against the real SDK's
encoder), the live-request ring, the forwarder's headers, the panels' wording, and what
`portico dev` and the manifests do for the console."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from portico.console import web
from portico.console.activity import RequestFeed, RequestRecord
from portico.console.forward import export_headers
from portico.console.panels import Sources, dead_letter_row, function_rows, policies, size
from portico.console.traces import (
    ATTRIBUTE_CHARS,
    NotOtlp,
    SpanRecord,
    StoreExporter,
    TraceStore,
    from_readable,
    spans_from_otlp,
)
from portico.local import dev
from portico.local.scaler import ProcessLauncher, ScaledFunction
from portico.manifest import Route, load_all
from portico.queueing.dlq import DeadLetter
from tests.conftest import FUNCTIONS_DIR, TEST_FUNCTIONS_DIR
from tests.unit.test_manifest import api, errors_of, write

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def record(span_id: str, start: int, *, trace_id: str = TRACE, **fields: object) -> SpanRecord:
    values: dict[str, object] = {
        "parent_id": "",
        "name": f"span {span_id}",
        "service": "svc",
        "kind": "internal",
        "end_ns": start + 1_000_000,
        "error": None,
    }
    values.update(fields)
    return SpanRecord(trace_id, span_id, start_ns=start, **values)  # type: ignore[arg-type]


def request(path: str, status: int = 200) -> RequestRecord:
    return RequestRecord(
        seq=99, at=0.0, method="GET", path=path, route=None, function=None, consumer=None,
        status=status, latency_ms=1.0, request_id=f"id-{path}", trace_id=None, cold_start=False,
    )  # fmt: skip


# --- TraceStore ---------------------------------------------------------------------------


def test_the_store_keeps_a_traces_spans_earliest_first():
    store = TraceStore()
    store.add([record("b", 300), record("a", 100), record("c", 200, end_ns=900)])
    store.add([record("d", 200, end_ns=250)])  # same start as c: the shorter first

    assert [s.span_id for s in store.trace(TRACE)] == ["a", "d", "c", "b"]
    assert store.trace("0" * 32) == []


def test_the_store_forgets_the_least_recently_touched_trace_first():
    store = TraceStore(max_traces=2)
    first, second, third = ("1" * 32, "2" * 32, "3" * 32)
    store.add([record("a", 1, trace_id=first)])
    store.add([record("b", 1, trace_id=second)])
    store.add([record("c", 2, trace_id=first)])  # first touched again: second is the oldest
    store.add([record("d", 1, trace_id=third)])

    assert store.trace(second) == []
    assert [s.span_id for s in store.trace(first)] == ["a", "c"]
    assert [summary.trace_id for summary in store.recent()] == [third, first]


def test_the_store_bounds_the_spans_of_one_trace():
    store = TraceStore(max_spans=3)
    store.add(record(f"{n:016x}", n) for n in range(10))

    assert [s.span_id for s in store.trace(TRACE)] == [f"{n:016x}" for n in range(3)]


def test_recent_summaries_newest_first_with_root_services_duration_and_errors():
    store = TraceStore()
    other = "5" * 32
    store.add([record("a", 1_000_000, name="GET /x", service="gateway", end_ns=9_000_000)])
    store.add([record("o", 5, trace_id=other)])
    store.add(
        [
            record("b", 2_000_000, service="whoami", end_ns=4_000_000, error="boom"),
            record("c", 3_000_000, service="whoami", error="again", end_ns=11_000_000),
        ]
    )  # TRACE touched last

    summaries = store.recent()
    assert [s.trace_id for s in summaries] == [TRACE, other]
    summary = summaries[0]
    assert summary.root == "GET /x"
    assert summary.services == ["gateway", "whoami"]
    assert summary.spans == 3
    assert summary.start_ns == 1_000_000
    assert summary.duration_ms == 10.0
    assert summary.errors == 2
    assert [s.trace_id for s in store.recent(limit=1)] == [TRACE]


# --- OTLP, with the SDK's own spans and encoder --------------------------------------------


@pytest.fixture()
def sdk_spans() -> Iterator[list[ReadableSpan]]:
    """Spans as the OpenTelemetry SDK finishes them: a server span with a client child that
    failed and an internal grandchild, in a provider of the test's own (not portico.tracing)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as server:
        server.set_attribute("http.response.status_code", 201)
        with tracer.start_as_current_span(
            "upstream payments",
            kind=SpanKind.CLIENT,
            attributes={"db.query.text": "x" * (ATTRIBUTE_CHARS + 20), "flag": True},
        ) as client:
            client.set_attribute("tries", [1, 2])
            client.set_attribute("ratio", 0.5)
            client.set_status(Status(StatusCode.ERROR, "card declined"))
            with tracer.start_as_current_span("validate"):
                pass
    yield list(exporter.get_finished_spans())
    provider.shutdown()


def test_otlp_protobuf_from_the_sdks_encoder_decodes_to_the_spans_it_encoded(sdk_spans):
    body = encode_spans(sdk_spans).SerializeToString()

    decoded = {s.name: s for s in spans_from_otlp(body)}

    assert set(decoded) == {"POST /orders", "upstream payments", "validate"}
    server, client, inner = (decoded[n] for n in ("POST /orders", "upstream payments", "validate"))
    assert {s.trace_id for s in decoded.values()} == {server.trace_id}
    assert len(server.trace_id) == 32 and len(server.span_id) == 16
    assert server.parent_id == "" and server.kind == "server" and server.error is None
    assert server.attributes == {"http.response.status_code": 201}
    assert client.parent_id == server.span_id and client.kind == "client"
    assert client.error == "card declined"
    assert client.attributes["db.query.text"] == "x" * ATTRIBUTE_CHARS + "…"
    assert client.attributes["flag"] is True
    assert client.attributes["tries"] == [1, 2]
    assert client.attributes["ratio"] == 0.5
    assert inner.parent_id == client.span_id and inner.kind == "internal"
    assert all(s.service == "checkout" for s in decoded.values())
    assert all(0 < s.start_ns <= s.end_ns for s in decoded.values())
    # The gateway's own spans (StoreExporter) come out the same as those received over OTLP.
    assert {s.span_id: s for s in map(from_readable, sdk_spans)} == {
        s.span_id: s for s in decoded.values()
    }


@pytest.mark.parametrize("body", [b"hello world", b"\xff\xff\xff", b"\x0a\x05abc", b"{}"])
def test_anything_but_otlp_protobuf_is_refused(body):
    with pytest.raises(NotOtlp, match="not an OTLP ExportTraceServiceRequest"):
        spans_from_otlp(body)


def test_an_empty_export_is_no_spans_and_a_missing_service_is_unknown():
    assert spans_from_otlp(b"") == []
    export = ExportTraceServiceRequest()
    span = export.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = bytes(range(16)), bytes(range(8)), "bare"

    [decoded] = spans_from_otlp(export.SerializeToString())

    assert decoded.service == "unknown" and decoded.kind == "unspecified"
    assert decoded.trace_id == bytes(range(16)).hex()


def test_a_span_kind_this_version_does_not_know_is_still_received():
    """Proto3 enums are open: a newer sender's kind must not make the receiver fail."""
    export = ExportTraceServiceRequest()
    span = export.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name, span.kind = bytes(16 * [1]), bytes(8 * [2]), "x", 9

    [decoded] = spans_from_otlp(export.SerializeToString())

    assert decoded.name == "x" and decoded.kind == "unspecified"


def test_the_store_exporter_puts_the_gateways_spans_in_the_store(sdk_spans):
    store = TraceStore()
    exporter = StoreExporter(store)

    assert exporter.export(sdk_spans) is SpanExportResult.SUCCESS

    [summary] = store.recent()
    assert summary.spans == 3 and summary.services == ["checkout"]
    assert summary.root == "POST /orders" and summary.errors == 1
    assert store.trace(summary.trace_id)[0].name == "POST /orders"
    exporter.shutdown()


# --- RequestFeed --------------------------------------------------------------------------


def test_the_feed_numbers_requests_itself_and_answers_what_came_after():
    feed = RequestFeed()
    kept = [feed.add(request(f"/{n}")) for n in range(3)]

    assert [r.seq for r in kept] == [1, 2, 3]  # whatever seq the record came with
    assert [r.path for r in feed.since(1)] == ["/1", "/2"]
    assert feed.since(3) == []
    assert [r.seq for r in feed.since(0)] == [1, 2, 3]
    assert kept[0].as_dict()["request_id"] == "id-/0"


def test_the_feed_is_a_ring():
    feed = RequestFeed(size=2)
    for n in range(5):
        feed.add(request(f"/{n}"))

    assert [(r.seq, r.path) for r in feed.since(0)] == [(4, "/3"), (5, "/4")]


def test_a_page_that_polled_an_earlier_gateway_gets_the_whole_new_feed():
    feed = RequestFeed()
    assert feed.last() == 0 and feed.since(40) == []
    feed.add(request("/new"))

    assert [r.path for r in feed.since(40)] == ["/new"]  # 40: a number this feed never gave
    assert feed.last() == 1


# --- forwarding headers -------------------------------------------------------------------


def test_export_headers_as_an_otlp_exporter_reads_them():
    both = {
        "OTEL_EXPORTER_OTLP_HEADERS": "x-general=1",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Api-Key=s3cret,x-tenant=a%20b",
    }
    assert export_headers(both) == {"api-key": "s3cret", "x-tenant": "a b"}  # traces' first
    assert export_headers({"OTEL_EXPORTER_OTLP_HEADERS": "x-general=1"}) == {"x-general": "1"}
    empty_traces = {"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "", "OTEL_EXPORTER_OTLP_HEADERS": "a=b"}
    assert export_headers(empty_traces) == {"a": "b"}
    assert export_headers({}) == {}
    assert export_headers({"OTEL_EXPORTER_OTLP_HEADERS": "good=1,bad"}) == {"good": "1"}


# --- panels -------------------------------------------------------------------------------


def test_policies_say_each_gateway_and_runtime_policy():
    by_name = {m.name: m for m in load_all(FUNCTIONS_DIR) + load_all(TEST_FUNCTIONS_DIR)}

    assert policies(by_name["submit-claim"]) == [
        "auth required", "rate limit 10/s, 600/min", "idempotency keys 24 h", "body ≤ 1 MiB",
        "timeout 20 s", "scale 0 to 3",
    ]  # fmt: skip
    assert policies(by_name["claim-status"])[0] == "jwt (audience portico-claims)"
    assert "cache 2 s" in policies(by_name["cached"])
    assert "body ≤ 256 bytes" in policies(by_name["shaped-body"])
    assert "cors https://app.example.com, https://admin.example.com:8443" in policies(
        by_name["shared"]
    )
    assert policies(by_name["tally"]) == ["2 retries", "timeout 4 s", "scale 0 to 5"]


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (1024 * 1024, "1 MiB"),
        (16 * 1024 * 1024, "16 MiB"),
        (2048, "2 KiB"),
        (1024 * 1024 + 1024, "1025 KiB"),
        (1500, "1500 bytes"),
        (256, "256 bytes"),
        (0, "0 bytes"),
    ],
)
def test_sizes_in_the_largest_whole_unit(count, text):
    assert size(count) == text


def test_function_rows_without_redis_still_show_every_function():
    manifests = load_all(TEST_FUNCTIONS_DIR)
    cached = ScaledFunction(
        "cached", ["serve", "cached"], "http://127.0.0.1:1", launcher=ProcessLauncher([]),
        idle_seconds=60,
    )  # fmt: skip
    sources = Sources(manifests, None, None, {"cached": cached})

    rows = {row["name"]: row for row in function_rows(sources, {"whoami": "running"})}

    assert set(rows) == {m.name for m in manifests}
    assert rows["cached"]["state"] == "at zero" and rows["cached"]["cold_starts"] == 0
    assert rows["cached"]["route"] == "GET /cached/{item}" and rows["cached"]["kind"] == "http"
    assert rows["whoami"]["state"] == "running" and rows["whoami"]["cold_starts"] is None
    assert rows["open-echo"]["state"] == "unknown"  # neither scaled nor probed
    assert rows["tally"]["kind"] == "worker" and rows["tally"]["queue"] == "test-tally"
    assert rows["tally"]["state"] == "unknown (Redis unreachable)"
    assert rows["tally"]["route"] is None


def test_a_dead_letters_row_reads_its_envelope_field_by_field():
    failed_at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    message = {
        "id": "m-1", "requestId": "r-1", "payload": {"note": "fail"},
        "traceparent": f"00-{TRACE}-00f067aa0ba902b7-01",
    }  # fmt: skip
    letter = DeadLetter("test-notes", "msg-m-1", message, failed_at, "RuntimeError: no", "tb")

    assert dead_letter_row(letter) == {
        "job_id": "msg-m-1", "queue": "test-notes", "failed_at": "2026-01-02T03:04:05+00:00",
        "error": "RuntimeError: no", "message_id": "m-1", "request_id": "r-1",
        "trace_id": TRACE, "payload": {"note": "fail"},
    }  # fmt: skip
    by_hand = dead_letter_row(DeadLetter("q", "j", {"x": 1}, None, "", ""))
    assert by_hand["failed_at"] is None and by_hand["trace_id"] is None
    assert by_hand["message_id"] is None and by_hand["payload"] is None


def test_console_paths():
    assert web.is_console_path("/_portico") and web.is_console_path("/_portico/api/overview")
    assert not web.is_console_path("/_porticox") and not web.is_console_path("/api/_portico")


# --- portico dev and the manifests ----------------------------------------------------------


def test_portico_dev_exports_to_the_path_the_console_receives_on():
    assert dev.CONSOLE_OTLP_PATH == web.OTLP_PATH == "/_portico/otlp/v1/traces"


def test_every_process_of_portico_dev_exports_to_the_console(monkeypatch):
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    assert dev.tracing_environment(8123) == {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:8123/_portico/otlp/v1/traces"
    }
    monkeypatch.setenv("OTEL_SDK_DISABLED", "false")
    assert list(dev.tracing_environment(8123)) == ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]


@pytest.mark.parametrize("value", ["true", "TRUE", " true "])
def test_none_export_with_the_sdk_disabled(monkeypatch, value):
    monkeypatch.setenv("OTEL_SDK_DISABLED", value)
    assert dev.tracing_environment(8123) == {}


def test_only_the_gateway_forwards_to_the_users_collector():
    manifests = load_all(TEST_FUNCTIONS_DIR)
    collector = "http://127.0.0.1:4318/v1/traces"

    forwarding = dev.plan_services(manifests, 8123, ports=iter(range(20000, 20100)),
                                   otlp_forward=collector)  # fmt: skip
    plain = dev.plan_services(manifests, 8123, ports=iter(range(20000, 20100)))

    gateway = forwarding[-1]
    assert gateway.name == "gateway"
    assert gateway.command[-2:] == ["--otlp-forward", collector]
    assert [s.name for s in forwarding if "--otlp-forward" in s.command] == ["gateway"]
    assert not any("--otlp-forward" in s.command for s in plain)
    assert plain[-1].command == gateway.command[:-2]  # otherwise the same gateway


def test_the_banner_names_the_console():
    text = dev.banner(load_all(TEST_FUNCTIONS_DIR), 8123, "postgresql://db", "redis://r")
    lines = text.splitlines()
    assert "Console: http://127.0.0.1:8123/_portico/" in lines
    assert lines.index("Console: http://127.0.0.1:8123/_portico/") == 2  # right after "up"


@pytest.mark.parametrize("path", ["/_portico/x", "/_portico", "/_portico/{id}"])
def test_the_consoles_paths_cannot_be_routed(path):
    with pytest.raises(ValueError, match="reserved by Portico") as refused:
        Route.parse(f"GET {path}")
    assert str(refused.value).startswith(f"{path} is reserved")
    assert "/_portico/..." in str(refused.value)


@pytest.mark.parametrize("path", ["/_porticos", "/api/_portico", "/portico/x"])
def test_paths_that_only_look_like_the_consoles_can(path):
    assert Route.parse(f"GET {path}").path == path


def test_a_manifest_routing_under_the_console_names_the_field_and_the_reserved_path(tmp_path):
    [error] = errors_of(write(tmp_path, api(route="GET /_portico/x")))

    assert error.field == "api.route" and error.line == 3
    assert "/_portico/x is reserved by Portico" in error.message
    assert "/_portico/..." in error.message
