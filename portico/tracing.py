"""Traces: OpenTelemetry spans from the gateway through a function, its outbox and its queue to
the worker, joined by W3C Trace Context (`traceparent`).

Off unless a process is given somewhere to send its spans: an OTLP endpoint
(OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the ecosystem's convention;
`portico dev` points every process at its console) or an exporter of its own (`configure`).
While off, OpenTelemetry is not even imported and a span is a null context; the context a request
came with is still passed on, to dependency calls and inside queue messages, and its trace id
still goes on the log lines.

One trace per request: a process continues the context it was handed (`start`, a request's
headers or a message's envelope), each step is a span (`span`), and whatever the work hands on
carries the current context (`carrier`): the dependency call's headers, the outbox row and the
queue message, so a worker's span, on every retry, joins the request's trace.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Literal

from portico.logs import trace_id_var
from portico.problems import Problem

if TYPE_CHECKING:
    from opentelemetry.context import Context as OtelContext
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
CARRIER_FIELDS = (TRACEPARENT, TRACESTATE)
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
# The SDK's default of 5 s between exports makes a trace appear long after its request; a
# console beside the request wants it within a second. OTEL_BSP_SCHEDULE_DELAY still decides.
DEFAULT_EXPORT_DELAY_MILLIS = 500.0
# version-traceid-parentid-flags; an all-zero trace or parent id is invalid (W3C Trace Context).
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_INVALID_TRACE_ID = "0" * 32

Kind = Literal["server", "client", "producer", "consumer", "internal"]

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
# The context a request or message came with, passed on as it is while tracing is off.
_received: ContextVar[Mapping[str, str] | None] = ContextVar("received_trace_context", default=None)
_NO_SPAN = contextlib.nullcontext()


def traces_endpoint(environ: Mapping[str, str]) -> str | None:
    """Where OTLP/HTTP spans go, by the OTLP exporter spec: the traces variable as it is, or
    the base variable with `/v1/traces`; None when neither is set or the SDK is disabled."""
    if sdk_disabled(environ):
        return None
    traces, base = (environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)
    if traces:
        return traces
    return f"{base.rstrip('/')}/v1/traces" if base else None


def sdk_disabled(environ: Mapping[str, str]) -> bool:
    """OTEL_SDK_DISABLED=true: the user wants no spans from this process at all."""
    return environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def configure(
    service: str,
    environ: Mapping[str, str] | None = None,
    *,
    exporters: Sequence[SpanExporter] = (),
) -> bool:
    """Trace this process as `service` (the spans' service.name), exporting over OTLP when the
    environment names an endpoint, and to each of `exporters`. Returns whether tracing is on.
    Call it once, in the process that serves (after any fork)."""
    global _tracer, _provider
    environ = os.environ if environ is None else environ
    otlp = traces_endpoint(environ)
    if otlp is None and not exporters:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": service, "service.namespace": "portico"})
    provider = TracerProvider(resource=resource)
    delay = None if environ.get("OTEL_BSP_SCHEDULE_DELAY") else DEFAULT_EXPORT_DELAY_MILLIS
    chosen = list(exporters)
    if otlp is not None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        chosen.append(OTLPSpanExporter(endpoint=otlp))  # headers, timeout: OTEL_EXPORTER_OTLP_*
    for exporter in chosen:
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=delay))
    _provider, _tracer = provider, provider.get_tracer("portico")
    return True


def enabled() -> bool:
    return _tracer is not None


def flush(timeout_millis: int = 5000) -> None:
    """Export what has been ended, now (before a process exits, or in a test)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis)


def shutdown() -> None:
    """Export what is left and stop tracing this process."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a `traceparent` value, when it is a valid one."""
    if not traceparent:
        return None
    found = _TRACEPARENT.fullmatch(traceparent.strip())
    if found is None or found.group(1) == _INVALID_TRACE_ID or found.group(2) == "0" * 16:
        return None
    return found.group(1)


def received(carrier: Mapping[str, Any]) -> dict[str, str]:
    """The trace context fields of a carrier (headers as a function's Request has them, an
    envelope), valid ones only, under their W3C names."""
    found: dict[str, str] = {}
    for name in CARRIER_FIELDS:
        value = carrier.get(name)
        if value is None:
            value = carrier.get(name.title())
        if isinstance(value, str) and value:
            found[name] = value
    if trace_id_of(found.get(TRACEPARENT)) is None:
        return {}
    return found


class Started:
    """A unit of work's own span (a request served, a message processed), current until
    `end`. With tracing off it holds only the context it came with, for the log lines and for
    whatever the work hands on."""

    __slots__ = ("_context_token", "_received_token", "_trace_token", "span", "trace_id")

    def __init__(
        self,
        span: Span | None,
        context_token: Token[OtelContext] | None,
        received_token: Token[Mapping[str, str] | None],
        trace_token: Token[str | None],
        trace_id: str | None,
    ) -> None:
        self.span = span
        self.trace_id = trace_id
        self._context_token = context_token
        self._received_token = received_token
        self._trace_token = trace_token

    def set(self, name: str, value: str | int | float | bool) -> None:
        if self.span is not None:
            self.span.set_attribute(name, value)

    def rename(self, name: str) -> None:
        """Name the span once the work knows what it is (a request's route, after routing)."""
        if self.span is not None:
            self.span.update_name(name)

    def end(self, *, status_code: int | None = None, error: BaseException | None = None) -> None:
        """End the span: an HTTP status (5xx an error), or the exception the work ended with."""
        span = self.span
        if span is not None:
            from opentelemetry.trace import Status, StatusCode

            if status_code is not None:
                span.set_attribute("http.response.status_code", status_code)
                if status_code >= 500:
                    span.set_status(Status(StatusCode.ERROR, f"HTTP {status_code}"))
            if error is not None:
                record_failure(span, error)
            span.end()
            if self._context_token is not None:
                from opentelemetry import context

                context.detach(self._context_token)
        trace_id_var.reset(self._trace_token)
        _received.reset(self._received_token)


def start(
    name: str,
    kind: Kind,
    carrier: Mapping[str, Any],
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> Started:
    """Begin a unit of work's span, continuing the trace context of `carrier` (a request's
    headers, a message's envelope), or a new trace; it is current until `.end()`."""
    incoming = received(carrier)
    received_token = _received.set(incoming)
    tracer = _tracer
    if tracer is None:
        trace_id = trace_id_of(incoming.get(TRACEPARENT))
        return Started(None, None, received_token, trace_id_var.set(trace_id), trace_id)
    from opentelemetry import context, trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract(incoming)
    span = tracer.start_span(name, context=parent, kind=_kind(kind), attributes=attributes)
    context_token = context.attach(trace.set_span_in_context(span, parent))
    trace_id = format(span.get_span_context().trace_id, "032x")
    return Started(span, context_token, received_token, trace_id_var.set(trace_id), trace_id)


def span(
    name: str,
    kind: Kind = "internal",
    attributes: Mapping[str, str | int | float | bool] | None = None,
) -> contextlib.AbstractContextManager[Any]:
    """A step of the current unit of work, as a child span (nothing while tracing is off)."""
    tracer = _tracer
    if tracer is None:
        return _NO_SPAN
    return _child(tracer, name, kind, attributes)


@contextlib.contextmanager
def _child(
    tracer: Tracer,
    name: str,
    kind: Kind,
    attributes: Mapping[str, str | int | float | bool] | None,
) -> Iterator[Span]:
    with tracer.start_as_current_span(
        name,
        kind=_kind(kind),
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as exc:
            record_failure(current, exc)
            raise


def record_failure(current: Span, exc: BaseException) -> None:
    """A step ended by an exception: an error, unless it is a client's problem (a 4xx), which
    is the work's answer rather than its failure (OpenTelemetry's HTTP conventions)."""
    from opentelemetry.trace import Status, StatusCode

    status = getattr(exc, "status", None)
    if isinstance(exc, Problem) and isinstance(status, int) and status < 500:
        current.set_attribute("portico.problem.status", status)
        return
    current.record_exception(exc)
    current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


def carrier() -> dict[str, str]:
    """The current trace context, to hand on (headers of a call, fields of a message): the
    current span's, or, while tracing is off, the context the work came with."""
    if _tracer is None:
        return dict(_received.get() or {})
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    out: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(out)
    return out


@contextlib.contextmanager
def continued(carrier_fields: Mapping[str, Any]) -> Iterator[None]:
    """Make a carrier's context the current one (without a span of its own), so spans begun
    inside are its children: a relay delivering a message on behalf of its request."""
    if _tracer is None:
        yield
        return
    from opentelemetry import context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    token = context.attach(TraceContextTextMapPropagator().extract(received(carrier_fields)))
    try:
        yield
    finally:
        context.detach(token)


def _kind(kind: Kind) -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind[kind.upper()]
