"""The console's traces: the spans every process of `portico dev` exports, kept in memory.

The functions, workers and relay send theirs over OTLP/HTTP (protobuf) to the gateway's
`/_portico/otlp/v1/traces` (`spans_from_otlp`); the gateway's own arrive through
`StoreExporter`. The store keeps the most recently touched traces, a bounded number of them,
each with a bounded number of spans: a long `portico dev` session never grows it without end.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as ProtoStatus
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

MAX_TRACES = 500
MAX_SPANS_PER_TRACE = 2000
ATTRIBUTE_CHARS = 500  # an SQL statement's text is long; the waterfall shows its start


@dataclass(frozen=True)
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str  # "" for a trace's root
    name: str
    service: str
    kind: str  # server, client, producer, consumer, internal
    start_ns: int
    end_ns: int
    error: str | None  # the status description of a span that failed
    attributes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TraceSummary:
    trace_id: str
    root: str  # the earliest span's name
    services: list[str]
    spans: int
    start_ns: int
    duration_ms: float
    errors: int


class TraceStore:
    """Spans by trace, thread-safe: spans arrive from the exporter's thread and the server."""

    def __init__(self, max_traces: int = MAX_TRACES, max_spans: int = MAX_SPANS_PER_TRACE):
        self.max_traces = max_traces
        self.max_spans = max_spans
        self._traces: OrderedDict[str, dict[str, SpanRecord]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, spans: Iterable[SpanRecord]) -> None:
        with self._lock:
            for span in spans:
                trace = self._traces.setdefault(span.trace_id, {})
                self._traces.move_to_end(span.trace_id)
                if len(trace) < self.max_spans:
                    trace[span.span_id] = span
            while len(self._traces) > self.max_traces:
                self._traces.popitem(last=False)

    def trace(self, trace_id: str) -> list[SpanRecord]:
        """Its spans, earliest first (empty when unknown)."""
        with self._lock:
            spans = list(self._traces.get(trace_id, {}).values())
        return sorted(spans, key=lambda s: (s.start_ns, s.end_ns))

    def recent(self, limit: int = 50) -> list[TraceSummary]:
        with self._lock:
            newest = list(self._traces)[-limit:]
        return [summarize(trace_id, self.trace(trace_id)) for trace_id in reversed(newest)]


def summarize(trace_id: str, spans: Sequence[SpanRecord]) -> TraceSummary:
    start = min((s.start_ns for s in spans), default=0)
    end = max((s.end_ns for s in spans), default=0)
    return TraceSummary(
        trace_id=trace_id,
        root=spans[0].name if spans else "",
        services=sorted({s.service for s in spans}),
        spans=len(spans),
        start_ns=start,
        duration_ms=(end - start) / 1e6,
        errors=sum(1 for s in spans if s.error is not None),
    )


class NotOtlp(ValueError):
    """A body that is not an OTLP ExportTraceServiceRequest in protobuf."""


def spans_from_otlp(body: bytes) -> list[SpanRecord]:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise NotOtlp(f"not an OTLP ExportTraceServiceRequest (protobuf): {exc}") from exc
    records = []
    for resource_spans in request.resource_spans:
        resource = attribute_values(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "unknown"))
        for scope_spans in resource_spans.scope_spans:
            records += [from_proto(span, service) for span in scope_spans.spans]
    return records


def from_proto(span: ProtoSpan, service: str) -> SpanRecord:
    failed = span.status.code == ProtoStatus.STATUS_CODE_ERROR
    return SpanRecord(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        name=span.name,
        service=service,
        kind=kind_name(span.kind),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        error=(span.status.message or "error") if failed else None,
        attributes=attribute_values(span.attributes),
    )


def kind_name(kind: int) -> str:
    """server, client, ...; "unspecified" for a kind this version does not know (proto3 enums
    are open: a newer sender's kind arrives as its number)."""
    try:
        return str(ProtoSpan.SpanKind.Name(kind)).removeprefix("SPAN_KIND_").lower()
    except ValueError:
        return "unspecified"


def attribute_values(attributes: Iterable[KeyValue]) -> dict[str, Any]:
    return {a.key: shortened(any_value(a.value)) for a in attributes}


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return attribute_values(value.kvlist_value.values)
    if which == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, which) if which else None


def shortened(value: Any) -> Any:
    if isinstance(value, str) and len(value) > ATTRIBUTE_CHARS:
        return value[:ATTRIBUTE_CHARS] + "…"
    return value


def from_readable(span: ReadableSpan) -> SpanRecord:
    context = span.context
    failed = span.status.status_code is StatusCode.ERROR
    attributes: Mapping[str, Any] = span.attributes or {}
    return SpanRecord(
        trace_id=format(context.trace_id, "032x") if context else "",
        span_id=format(context.span_id, "016x") if context else "",
        parent_id=format(span.parent.span_id, "016x") if span.parent else "",
        name=span.name,
        service=str(span.resource.attributes.get("service.name", "unknown")),
        kind=span.kind.name.lower(),
        start_ns=span.start_time or 0,
        end_ns=span.end_time or 0,
        error=(span.status.description or "error") if failed else None,
        attributes={
            k: shortened(v if isinstance(v, str | int | float | bool) else list(v))
            for k, v in attributes.items()
        },
    )


class StoreExporter(SpanExporter):
    """The gateway's own spans, straight into the store (no OTLP round trip to itself)."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.store.add(from_readable(span) for span in spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass
