"""The console's HTTP side, under `/_portico/` of the dev gateway: the page, its JSON API, and
the OTLP receiver the processes of `portico dev` export their spans to.

    GET  /_portico/                                 the page (static HTML, CSS and JavaScript)
    GET  /_portico/api/overview                     functions, queues, dead letters, outbox
    GET  /_portico/api/requests?after=SEQ           live requests after SEQ
    GET  /_portico/api/traces                       the latest traces
    GET  /_portico/api/traces/TRACE_ID              one trace's spans
    POST /_portico/api/dead-letters/JOB_ID/replay   `portico dlq replay JOB_ID`
    POST /_portico/otlp/v1/traces                   OTLP/HTTP, protobuf

The page polls (every second) rather than holding a server-sent event stream open: the gateway
drains its open requests when it stops, and a stream never finishes. The replay button's POST
must carry `X-Portico-Console: 1`, a header no cross-site form can send and whose preflight
the gateway never grants, so another site open in the same browser cannot replay jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib.resources import files
from typing import Any

import aiohttp
import redis
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from portico import tracing
from portico.console import panels
from portico.console.activity import RequestFeed
from portico.console.forward import OtlpForward, export_headers
from portico.console.traces import (
    NotOtlp,
    StoreExporter,
    TraceStore,
    spans_from_otlp,
    summarize,
)
from portico.queueing.dlq import UnknownDeadLetter

log = logging.getLogger("portico.console")

PREFIX = "/_portico"
OTLP_PATH = f"{PREFIX}/otlp/v1/traces"
CONSOLE_HEADER = "X-Portico-Console"
MAX_OTLP_BYTES = 16 * 1024 * 1024
PROBE_TIMEOUT = aiohttp.ClientTimeout(total=0.5)
STATIC = {
    "index.html": "text/html",
    "console.js": "text/javascript",
    "console.css": "text/css",
}
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_REPLAY = re.compile(rf"{PREFIX}/api/dead-letters/([^/]+)/replay")

Route = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def is_console_path(path: str) -> bool:
    return path == PREFIX or path.startswith(f"{PREFIX}/")


def problem(status: int, title: str, detail: str) -> web.Response:
    return web.json_response(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


class Console:
    def __init__(
        self,
        sources: panels.Sources,
        store: TraceStore,
        feed: RequestFeed,
        upstream_urls: Mapping[str, str] | None = None,
        forward: OtlpForward | None = None,
    ) -> None:
        """`upstream_urls`: the always-on HTTP functions, probed on their /readyz."""
        self.sources = sources
        self.store = store
        self.feed = feed
        self.upstream_urls = dict(upstream_urls or {})
        self.forward = forward
        self.session: aiohttp.ClientSession | None = None
        self.pages = {name: files("portico.console").joinpath("static", name).read_bytes()
                      for name in STATIC}  # fmt: skip
        self.gets: dict[str, Route] = {
            f"{PREFIX}/api/overview": self.overview,
            f"{PREFIX}/api/requests": self.requests,
            f"{PREFIX}/api/traces": self.traces,
        }

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path, method = request.path, request.method
        if method == "POST":
            return await self._post(request)
        if method not in {"GET", "HEAD"}:
            return problem(405, "Method Not Allowed", f"{method} is not served under {PREFIX}")
        if path == PREFIX:
            return web.Response(status=308, headers={"Location": f"{PREFIX}/"})
        if path == f"{PREFIX}/":
            return self.static("index.html")
        name = path.removeprefix(f"{PREFIX}/static/")
        if name != path and name in STATIC:
            return self.static(name)
        route = self.gets.get(path)
        if route is not None:
            return await route(request)
        trace_id = path.removeprefix(f"{PREFIX}/api/traces/")
        if trace_id != path:
            return self.trace(trace_id)
        return problem(404, "Not Found", f"nothing at {path} (the console is {PREFIX}/)")

    async def _post(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path == OTLP_PATH:
            return await self.receive_spans(request)
        replay = _REPLAY.fullmatch(request.path)
        if replay is not None:
            return await self.replay(request, replay.group(1))
        return problem(405, "Method Not Allowed", f"POST is not served at {request.path}")

    def static(self, name: str) -> web.Response:
        response = web.Response(body=self.pages[name], content_type=STATIC[name])
        response.headers["Cache-Control"] = "no-cache"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
        )
        return response

    async def overview(self, _: web.BaseRequest) -> web.Response:
        http_states = await self.probe_functions()
        functions, queues, letters, backlog = await asyncio.gather(
            read(panels.function_rows, self.sources, http_states),
            read(panels.queue_rows, self.sources),
            read(panels.dead_letter_rows, self.sources),
            read(panels.outbox_rows, self.sources),
        )
        return web.json_response(
            {
                "functions": functions,
                "queues": queues,
                "dead_letters": letters,
                "outbox": backlog,
                "now": time.time(),
            },
            dumps=dumps,
        )

    async def probe_functions(self) -> dict[str, str]:
        names = list(self.upstream_urls)
        states = await asyncio.gather(*(self.probe(self.upstream_urls[n]) for n in names))
        return dict(zip(names, states, strict=True))

    async def probe(self, base_url: str) -> str:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=PROBE_TIMEOUT)
        try:
            async with self.session.get(f"{base_url}/readyz") as response:
                return "running" if response.status == 200 else f"not ready ({response.status})"
        except (aiohttp.ClientError, TimeoutError):
            return "down"

    async def requests(self, request: web.BaseRequest) -> web.Response:
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return problem(400, "Bad Request", "after: expected a sequence number")
        records = self.feed.since(after)
        last = records[-1].seq if records else self.feed.last()
        return web.json_response({"requests": [r.as_dict() for r in records], "last": last})

    async def traces(self, _: web.BaseRequest) -> web.Response:
        return web.json_response({"traces": [vars(s) for s in self.store.recent()]})

    def trace(self, trace_id: str) -> web.Response:
        if not _TRACE_ID.fullmatch(trace_id):
            return problem(400, "Bad Request", "expected a trace id of 32 lowercase hex digits")
        spans = self.store.trace(trace_id)
        if not spans:
            return problem(404, "Not Found", f"no spans of trace {trace_id} (yet)")
        return web.json_response(
            {**vars(summarize(trace_id, spans)), "spans": [s.as_dict() for s in spans]}
        )

    async def replay(self, request: web.BaseRequest, job_id: str) -> web.Response:
        if request.headers.get(CONSOLE_HEADER) != "1":
            return problem(403, "Forbidden", f"the console's replay needs {CONSOLE_HEADER}: 1")
        try:
            letter = await asyncio.to_thread(panels.replay, self.sources, job_id)
        except UnknownDeadLetter as exc:
            return problem(404, "Not Found", str(exc))
        except (redis.RedisError, ConnectionError) as exc:  # builtin: no REDIS_URL
            return problem(503, "Service Unavailable", f"Redis: {exc}")
        log.info("replayed dead letter %s onto %s from the console", job_id, letter.queue)
        return web.json_response({"replayed": letter.job_id, "queue": letter.queue})

    async def receive_spans(self, request: web.BaseRequest) -> web.Response:
        if request.content_type != "application/x-protobuf":
            return problem(
                415, "Unsupported Media Type", "expected OTLP/HTTP in application/x-protobuf"
            )
        body = await bounded_body(request, MAX_OTLP_BYTES)
        if body is None:
            return problem(413, "Content Too Large", f"more than {MAX_OTLP_BYTES} bytes")
        try:
            spans = spans_from_otlp(body)
        except NotOtlp as exc:
            return problem(400, "Bad Request", str(exc))
        self.store.add(spans)
        if self.forward is not None:
            self.forward.send(body)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.forward is not None:
            await self.forward.close()
        await asyncio.to_thread(self.sources.close)


async def read(panel: Callable[..., Any], *args: Any) -> Any:
    """A panel's rows, read in a thread; what kept them from being read, as {"error": ...}."""
    try:
        return await asyncio.to_thread(panel, *args)
    except Exception as exc:  # a panel's source away (Redis, Postgres): the others still show
        return {"error": f"{type(exc).__name__}: {exc}"}


async def bounded_body(request: web.BaseRequest, limit: int) -> bytes | None:
    """The whole body, or None once it is longer than `limit`."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def dumps(value: Any) -> str:
    """A job's payload is whatever its publisher sent: anything JSON cannot say, as text."""
    return json.dumps(value, default=str)


def console_for(
    sources: panels.Sources,
    upstream_urls: Mapping[str, str],
    forward_to: str | None,
    environ: Mapping[str, str],
) -> Console:
    """The gateway's console, and the gateway's own tracing: its spans go into the console's
    store and, with `forward_to`, to that collector (as received spans do). OTEL_SDK_DISABLED
    leaves the gateway untraced."""
    store = TraceStore()
    forward = OtlpForward(forward_to, export_headers(environ)) if forward_to else None
    if not tracing.sdk_disabled(environ):
        own = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": forward_to} if forward_to else {}
        tracing.configure("gateway", own, exporters=[StoreExporter(store)])
    return Console(sources, store, RequestFeed(), upstream_urls, forward)
