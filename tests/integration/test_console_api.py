"""The console's HTTP side on a real dev gateway: an in-process `Gateway` with its `Console`,
served by aiohttp on a real port, in front of real function and worker processes, against the
real Postgres and Redis: the page, the overview's panels, replay, the OTLP receiver (and its
forwarding to a user's collector), the live requests and their traces."""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psycopg
import pytest
import redis
import yaml
from aiohttp import web
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from portico import tracing
from portico.console import web as console_web
from portico.console.activity import RequestFeed
from portico.console.panels import Sources
from portico.console.traces import TraceStore
from portico.gateway.app import Gateway
from portico.gateway.calls import Upstream
from portico.gateway.server import GatewayServer
from portico.local.dev import portico_command
from portico.local.ports import free_port
from portico.local.scaler import ProcessLauncher, ScaledFunction
from portico.manifest import Manifest, load_all
from portico.render import kong, openapi
from portico.state import outbox
from tests.conftest import FUNCTIONS_DIR, ROOT, TEST_FUNCTIONS_DIR, Services, open_resources
from tests.identity import GATEWAY_SECRET
from tests.integration.test_dlq import fail_one_job
from tests.processes import Process
from tests.support import wait_until
from tests.support.otlp import OtlpReceiver

pytestmark = pytest.mark.integration

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
CONSOLE = {"X-Portico-Console": "1"}
ALICE = {"apikey": "alice-dev-key"}
MANIFESTS = load_all(TEST_FUNCTIONS_DIR)
BY_NAME = {m.name: m for m in MANIFESTS}
EXTERNAL_URL = re.compile(rb"(?:https?:)?//[A-Za-z0-9.-]+")  # http://host, https://, or //host


class ServedGateway:
    """`with ServedGateway(gateway) as served:` the gateway (and its console) on a real port of
    127.0.0.1 at `served.url`, its event loop in a thread of its own; stopped (gateway.close()
    included) on the way out. `portico gateway`'s own `serve` wants the main thread's signals."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runner = web.ServerRunner(GatewayServer(self.gateway.handle), shutdown_timeout=1)
        try:
            await self.gateway.open()
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
        except BaseException as exc:
            self._failed = exc
            raise
        finally:
            self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await self.gateway.close()

    def __enter__(self) -> ServedGateway:
        self._thread.start()
        assert self._ready.wait(30), "the gateway did not start within 30 s"
        if self._failed is not None:
            raise self._failed
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the gateway did not stop within 30 s"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def sources(services: Services, **overrides: Any) -> Sources:
    where: dict[str, Any] = {"redis_url": services.redis_url, "database_url": services.database_url}
    where.update(overrides)
    return Sources(MANIFESTS, **where)


def console(where: Sources, upstream_urls: dict[str, str] | None = None) -> console_web.Console:
    """A console without tracing (console_for turns the gateway's own on)."""
    return console_web.Console(where, TraceStore(), RequestFeed(), upstream_urls)


def upstream(name: str, url: str) -> Upstream:
    return Upstream(BY_NAME[name], url)


def gateway_with(
    the_console: console_web.Console,
    upstreams: tuple[Upstream, ...] = (),
    scaled: tuple[ScaledFunction, ...] = (),
) -> Gateway:
    return Gateway(
        upstreams,
        openapi=openapi.render(MANIFESTS),
        scaled=scaled,
        gateway_secret=GATEWAY_SECRET,
        console=the_console,
    )


def serve_function(services: Services, name: str, port: int, **env: str) -> Process:
    process_env = services.process_env(TEST_FUNCTIONS_DIR, **env)
    return Process(["serve", name, "--port", str(port)], process_env, port)


def export_body(service: str, trace_of: str | None = None) -> tuple[bytes, str]:
    """An OTLP export (protobuf, as the SDK's exporter encodes it) of a server span with one
    child, from `service`; and its trace id."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with (
        tracer.start_as_current_span("POST /claims", kind=SpanKind.SERVER) as root,
        tracer.start_as_current_span("db COMMIT", attributes={"db.system": "postgresql"}),
    ):
        pass
    provider.shutdown()
    body = encode_spans(exporter.get_finished_spans()).SerializeToString()
    return body, format(root.get_span_context().trace_id, "032x")


def protobuf(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/x-protobuf", "Content-Length": str(len(body))}


def overview(api: httpx.Client) -> dict[str, Any]:
    answer = api.get("/_portico/api/overview")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def rows_by(rows: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {row[key]: row for row in rows}


def failed_ids(services: Services, queue: str) -> list[str]:
    connection = redis.Redis.from_url(services.redis_url)
    registry = FailedJobRegistry(queue, connection=connection, serializer=JSONSerializer)
    return sorted(registry.get_job_ids())


def push_a_traced_note_that_fails(services: Services) -> None:
    """A message on test-notes carrying a request's trace context; note-taker fails on it."""
    resources = open_resources(services.database_url, services.redis_url, TEST_FUNCTIONS_DIR)
    message = {
        "id": "traced", "queue": "test-notes", "requestId": "req-traced",
        "payload": {"note": "fail"}, "traceparent": TRACEPARENT,
    }  # fmt: skip
    outbox.push(resources.redis, [("test-notes", message)], resources.consumers)
    resources.close()


@pytest.fixture(autouse=True)
def untraced() -> Iterator[None]:
    """console_for turns tracing on for the whole test process: off again after each test."""
    yield
    tracing.shutdown()


# --- the page ---------------------------------------------------------------------------


def test_the_page_comes_from_the_gateway_and_fetches_nothing_from_elsewhere(clean_state):
    with (
        ServedGateway(gateway_with(console(sources(clean_state)))) as served,
        served.client() as api,
    ):
        page = api.get("/_portico/")
        assets = {path: api.get(path) for path in re.findall(r'(?:src|href)="(/[^"]+)"', page.text)}
        head = api.head("/_portico/")
        bare = api.get("/_portico")
        missing = api.get("/_portico/nope")
        outside = api.get("/_portico/static/../web.py")
        wrong_method = api.put("/_portico/")
        not_a_trace = api.get("/_portico/api/traces/XYZ")
        no_such_trace = api.get(f"/_portico/api/traces/{TRACE_ID}")

    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-cache"
    assert set(assets) == {"/_portico/static/console.css", "/_portico/static/console.js"}
    assert (
        assets["/_portico/static/console.js"].headers["Content-Type"].startswith("text/javascript")
    )
    assert assets["/_portico/static/console.css"].headers["Content-Type"].startswith("text/css")
    for name, answer in {"index.html": page, **assets}.items():
        assert answer.status_code == 200, name
        assert EXTERNAL_URL.findall(answer.content) == [], f"{name} names another host"
    assert head.status_code == 200
    assert bare.status_code == 308 and bare.headers["Location"] == "/_portico/"
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("application/problem+json")
    assert missing.json() == {
        "type": "about:blank", "title": "Not Found", "status": 404,
        "detail": "nothing at /_portico/nope (the console is /_portico/)",
    }  # fmt: skip
    assert outside.status_code == 404
    assert wrong_method.status_code == 405 and wrong_method.json()["title"] == "Method Not Allowed"
    assert not_a_trace.status_code == 400
    assert no_such_trace.status_code == 404


# --- the overview -----------------------------------------------------------------------


def test_the_overview_shows_functions_queues_dead_letters_and_the_outbox(clean_state, tmp_path):
    whoami_port = free_port()
    whoami = serve_function(clean_state, "whoami", whoami_port)
    env = clean_state.process_env(TEST_FUNCTIONS_DIR)
    tally = Process(["worker", "tally", "--no-health"], env, None)
    cached = ScaledFunction(
        "cached", ["serve", "cached"], f"http://127.0.0.1:{free_port()}",
        launcher=ProcessLauncher(portico_command()), idle_seconds=60,
    )  # fmt: skip
    always_on = {"whoami": whoami.url, "open-echo": f"http://127.0.0.1:{free_port()}"}
    where = sources(clean_state, scaled={"cached": cached})
    with whoami, tally:
        push_a_traced_note_that_fails(clean_state)
        fail_one_job(clean_state)  # note-taker's burst worker fails both
        connection = redis.Redis.from_url(clean_state.redis_url)
        Queue("test-notes", connection=connection, serializer=JSONSerializer).enqueue(
            "portico.queueing.worker.process", {"id": "waiting"}, job_id="by-hand"
        )
        with psycopg.connect(clean_state.database_url, autocommit=True) as conn:
            conn.execute(*outbox.insert("test-tally", {"id": "unrelayed", "queue": "test-tally"}))
            conn.execute(*outbox.insert("test-tally", {"id": "pushed", "queue": "test-tally"}))
        connection.set(outbox.delivered_key("pushed"), 1)  # as the fast path marks a push
        whoami.wait_ready()
        the_console = console(where, always_on)
        with (
            ServedGateway(gateway_with(the_console, scaled=(cached,))) as served,
            served.client() as api,
        ):
            seen = wait_until(
                lambda: (
                    (found := overview(api))["functions"]
                    and "running" in rows_by(found["functions"], "name")["tally"]["state"]
                    and found
                ),
                30,
                "the tally worker shows as running",
            )

    functions = rows_by(seen["functions"], "name")
    assert set(functions) == {m.name for m in MANIFESTS}
    assert functions["whoami"]["state"] == "running"
    assert functions["whoami"]["route"] == "GET /whoami"
    assert functions["whoami"]["policies"] == [
        "auth required", "body ≤ 1 MiB", "timeout 10 s", "scale 0 to 5",
    ]  # fmt: skip
    assert functions["open-echo"]["state"] == "down"  # nothing listens on its port
    assert functions["cached"]["state"] == "at zero" and functions["cached"]["cold_starts"] == 0
    assert functions["tally"]["state"] == "running (idle)"
    assert functions["tally"]["kind"] == "worker" and functions["tally"]["queue"] == "test-tally"
    assert functions["note-taker"]["state"] == "not running"  # its burst worker is gone
    assert functions["broken-start"]["state"] == "unknown"  # neither probed nor scaled

    queues = rows_by(seen["queues"], "queue")
    assert set(queues) == set(where.queues)
    assert queues["test-notes"] == {
        "queue": "test-notes", "waiting": 1, "running": 0, "retrying": 0, "failed": 2,
    }  # fmt: skip
    assert queues["test-tally"]["waiting"] == 0 and queues["test-tally"]["failed"] == 0

    letters = rows_by(seen["dead_letters"], "job_id")
    assert set(letters) == {"msg-doomed", "msg-traced"}
    traced = letters["msg-traced"]
    assert traced["queue"] == "test-notes"
    assert traced["trace_id"] == TRACE_ID
    assert traced["request_id"] == "req-traced" and traced["message_id"] == "traced"
    assert traced["error"] == "RuntimeError: note-taker was told to fail"
    assert traced["payload"] == {"note": "fail"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d)?", traced["failed_at"])
    assert letters["msg-doomed"]["trace_id"] is None

    [backlog] = seen["outbox"]
    assert (backlog["queue"], backlog["rows"], backlog["undelivered"]) == ("test-tally", 2, 1)
    assert 0 <= backlog["oldest_undelivered_seconds"] < 60


def test_replay_needs_the_consoles_header_and_puts_the_job_back_on_its_queue(clean_state):
    fail_one_job(clean_state)
    queued = redis.Redis.from_url(clean_state.redis_url)
    with (
        ServedGateway(gateway_with(console(sources(clean_state)))) as served,
        served.client() as api,
    ):
        forged = api.post("/_portico/api/dead-letters/msg-doomed/replay")
        still_dead = failed_ids(clean_state, "test-notes")
        replayed = api.post("/_portico/api/dead-letters/msg-doomed/replay", headers=CONSOLE)
        after = overview(api)
        again = api.post("/_portico/api/dead-letters/msg-doomed/replay", headers=CONSOLE)
        unknown = api.post("/_portico/api/dead-letters/msg-nope/replay", headers=CONSOLE)

    assert forged.status_code == 403
    assert "X-Portico-Console: 1" in forged.json()["detail"]
    assert still_dead == ["msg-doomed"]
    assert replayed.status_code == 200
    assert replayed.json() == {"replayed": "msg-doomed", "queue": "test-notes"}
    assert queued.lrange("rq:queue:test-notes", 0, -1) == [b"msg-doomed"]
    assert failed_ids(clean_state, "test-notes") == []
    assert after["dead_letters"] == []
    assert rows_by(after["queues"], "queue")["test-notes"]["waiting"] == 1
    assert again.status_code == 404
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no dead letter 'msg-nope' (see `portico dlq list`)"


def test_with_redis_away_the_other_panels_still_show_and_replay_is_503(clean_state):
    away = f"redis://127.0.0.1:{free_port()}/0"
    with (
        ServedGateway(gateway_with(console(sources(clean_state, redis_url=away)))) as served,
        served.client() as api,
    ):
        seen = overview(api)
        replay = api.post("/_portico/api/dead-letters/msg-doomed/replay", headers=CONSOLE)

    assert set(seen["queues"]) == {"error"} and "ConnectionError" in seen["queues"]["error"]
    assert set(seen["dead_letters"]) == {"error"}
    functions = rows_by(seen["functions"], "name")
    assert functions["tally"]["state"] == "unknown (Redis unreachable)"
    assert functions["whoami"]["state"] == "unknown"
    assert seen["outbox"] == []  # Postgres is there
    assert replay.status_code == 503
    assert replay.headers["Content-Type"].startswith("application/problem+json")
    assert replay.json()["detail"].startswith("Redis: ")


def test_with_postgres_away_only_the_outbox_panel_says_so(clean_state):
    away = f"postgresql://portico@127.0.0.1:{free_port()}/portico"
    with (
        ServedGateway(gateway_with(console(sources(clean_state, database_url=away)))) as served,
        served.client() as api,
    ):
        seen = overview(api)

    assert set(seen["outbox"]) == {"error"} and "OperationalError" in seen["outbox"]["error"]
    assert isinstance(seen["queues"], list) and isinstance(seen["dead_letters"], list)
    assert len(seen["functions"]) == len(MANIFESTS)


# --- the OTLP receiver ------------------------------------------------------------------


def test_the_otlp_receiver_takes_protobuf_only_and_within_its_limit(clean_state, monkeypatch):
    monkeypatch.setattr(console_web, "MAX_OTLP_BYTES", 4096)
    body, trace_id = export_body("submit-claim")
    path = console_web.OTLP_PATH
    with (
        ServedGateway(gateway_with(console(sources(clean_state)))) as served,
        served.client() as api,
    ):
        as_json = api.post(path, json={"resourceSpans": []})
        garbage = api.post(path, content=b"\xff\xff\xff", headers=protobuf(b"\xff\xff\xff"))
        too_long = api.post(path, content=b"\x00" * 5000, headers=protobuf(b"\x00" * 5000))
        streamed = api.post(
            path,
            content=iter([b"\x00" * 3000, b"\x00" * 3000]),  # chunked: no Content-Length
            headers={"Content-Type": "application/x-protobuf"},
        )
        before = api.get(f"/_portico/api/traces/{trace_id}")
        accepted = api.post(path, content=body, headers=protobuf(body))
        spans = api.get(f"/_portico/api/traces/{trace_id}")
        listed = api.get("/_portico/api/traces")

    assert as_json.status_code == 415
    assert garbage.status_code == 400
    assert "not an OTLP ExportTraceServiceRequest" in garbage.json()["detail"]
    assert too_long.status_code == 413 and too_long.json()["detail"] == "more than 4096 bytes"
    assert streamed.status_code == 413
    assert before.status_code == 404
    assert accepted.status_code == 200
    assert accepted.headers["Content-Type"] == "application/x-protobuf"
    ExportTraceServiceResponse().ParseFromString(accepted.content)  # a collector's answer
    assert spans.status_code == 200
    trace = spans.json()
    assert trace["trace_id"] == trace_id
    names = [(s["name"], s["service"], s["kind"]) for s in trace["spans"]]
    assert names == [("POST /claims", "submit-claim", "server"), ("db COMMIT", "submit-claim",
                                                                 "internal")]  # fmt: skip
    root, commit = trace["spans"]
    assert commit["parent_id"] == root["span_id"] and root["parent_id"] == ""
    assert commit["attributes"] == {"db.system": "postgresql"}
    assert trace["root"] == "POST /claims" and trace["services"] == ["submit-claim"]
    assert [t["trace_id"] for t in listed.json()["traces"]] == [trace_id]


class HeaderRecordingReceiver(OtlpReceiver):
    """The tests' OTLP receiver, also keeping each export's request headers (lower case)."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[dict[str, str]] = []
        handler: Any = self._server.RequestHandlerClass  # the receiver's own Handler class
        received = self.headers

        def do_post(request: Any) -> None:
            received.append({k.lower(): v for k, v in request.headers.items()})
            handler.do_POST(request)

        self._server.RequestHandlerClass = type("Recording", (handler,), {"do_POST": do_post})


def test_received_spans_and_the_gateways_own_go_on_to_the_users_collector(clean_state):
    body, trace_id = export_body("review-claim")
    environ = {"OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme,Api-Key=s3cret"}
    collector = HeaderRecordingReceiver()
    with collector:
        forward_to = f"{collector.endpoint}/v1/traces"
        the_console = console_web.console_for(sources(clean_state), {}, forward_to, environ)
        with ServedGateway(gateway_with(the_console)) as served, served.client() as api:
            accepted = api.post(console_web.OTLP_PATH, content=body, headers=protobuf(body))
            missed = api.get("/nowhere", headers={"traceparent": TRACEPARENT})
            forwarded = collector.wait_for(trace_id, lambda s: len(s) == 2, "the export arrives")
            own = collector.wait_for(TRACE_ID, bool, "the gateway's own span arrives")
            kept = api.get(f"/_portico/api/traces/{TRACE_ID}").json()

    assert accepted.status_code == 200 and missed.status_code == 404
    assert {(s.service, s.name) for s in forwarded} == {
        ("review-claim", "POST /claims"), ("review-claim", "db COMMIT"),
    }  # fmt: skip
    [export] = [h for h in collector.headers if h.get("x-tenant") == "acme"]
    assert export["api-key"] == "s3cret"
    assert export["content-type"] == "application/x-protobuf"
    [gateway_span] = own
    assert gateway_span.service == "gateway" and gateway_span.name == "GET"
    assert gateway_span.kind == "server" and gateway_span.parent_span_id == "b7ad6b7169203331"
    assert [s["name"] for s in kept["spans"]] == ["GET"]  # and in the console's own store


# --- live requests and their traces -------------------------------------------------------


def test_a_request_through_the_gateway_is_a_live_request_with_its_whole_trace(clean_state):
    whoami_port = free_port()
    routes = (upstream("whoami", f"http://127.0.0.1:{whoami_port}"),)
    the_console = console_web.console_for(
        sources(clean_state), {"whoami": routes[0].base_url}, None, {}
    )
    with ServedGateway(gateway_with(the_console, routes)) as served:
        exports_to = f"{served.url}{console_web.OTLP_PATH}"
        with (
            serve_function(
                clean_state, "whoami", whoami_port, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=exports_to
            ) as function,
            served.client() as api,
        ):
            function.wait_ready()
            polls = [api.get("/_portico/api/overview"), api.get("/_portico/api/requests")]
            answer = api.get("/whoami", headers={**ALICE, "traceparent": TRACEPARENT})
            unrouted = api.get("/nowhere")
            api.get("/healthz")
            polls.append(api.get("/_portico/api/traces"))
            feed = api.get("/_portico/api/requests", params={"after": 0}).json()
            later = api.get("/_portico/api/requests", params={"after": feed["requests"][0]["seq"]})
            bad_after = api.get("/_portico/api/requests", params={"after": "soon"})

            def whole_trace() -> dict[str, Any] | None:
                found = api.get(f"/_portico/api/traces/{TRACE_ID}")
                trace: dict[str, Any] = found.json() if found.status_code == 200 else {}
                return trace if {"gateway", "whoami"} <= set(trace.get("services", [])) else None

            trace = wait_until(whole_trace, 20, "the function's spans reach the console")

    assert all(poll.status_code == 200 for poll in polls)
    assert answer.status_code == 200 and answer.json()["caller"] == "alice"
    first, second = feed["requests"]  # the console's own polls and /healthz: not there
    assert feed["last"] == second["seq"] == first["seq"] + 1
    assert first["method"] == "GET" and first["path"] == "/whoami"
    assert first["route"] == "/whoami" and first["function"] == "whoami"
    assert first["consumer"] == "alice" and first["status"] == 200
    assert first["request_id"] == answer.headers["X-Request-ID"]
    assert first["trace_id"] == TRACE_ID and first["cold_start"] is False
    assert first["latency_ms"] > 0
    assert second["path"] == "/nowhere" and second["status"] == 404
    assert second["route"] is None and second["function"] is None and second["consumer"] is None
    assert re.fullmatch(r"[0-9a-f]{32}", second["trace_id"]) and second["trace_id"] != TRACE_ID
    assert second["request_id"] == unrouted.headers["X-Request-ID"]
    assert [r["path"] for r in later.json()["requests"]] == ["/nowhere"]
    assert bad_after.status_code == 400

    spans = {(s["service"], s["name"]): s for s in trace["spans"]}
    server = spans[("gateway", "GET /whoami")]
    assert server["kind"] == "server" and server["parent_id"] == "b7ad6b7169203331"
    assert server["attributes"]["http.route"] == "/whoami"
    assert server["attributes"]["portico.function"] == "whoami"
    assert server["attributes"]["portico.consumer"] == "alice"
    assert server["attributes"]["portico.request_id"] == first["request_id"]
    call = spans[("gateway", "upstream whoami")]
    assert call["kind"] == "client" and call["parent_id"] == server["span_id"]
    assert call["attributes"]["http.response.status_code"] == 200
    [function_span] = [
        s for s in trace["spans"] if (s["service"], s["kind"]) == ("whoami", "server")
    ]
    assert function_span["parent_id"] == call["span_id"]  # the traceparent the gateway injected
    received = {k.lower(): v for k, v in answer.json()["headers"].items()}
    assert received["traceparent"].split("-")[1] == TRACE_ID


def test_a_cold_start_is_a_span_a_live_request_and_a_count(clean_state, monkeypatch):
    for name, url in clean_state.urls.items():  # what the function the gateway starts inherits
        monkeypatch.setenv(name, url)
    port = free_port()
    cached = ScaledFunction(
        "cached",
        ["serve", "cached", "--port", str(port), "--functions-dir", str(TEST_FUNCTIONS_DIR)],
        f"http://127.0.0.1:{port}",
        launcher=ProcessLauncher(portico_command()),
        idle_seconds=60,
    )
    where = sources(clean_state, scaled={"cached": cached})
    the_console = console_web.console_for(where, {}, None, {})
    routes = (upstream("cached", cached.base_url),)
    with (
        ServedGateway(gateway_with(the_console, routes, (cached,))) as served,
        served.client() as api,
    ):
        before = rows_by(overview(api)["functions"], "name")["cached"]
        cold = api.get("/cached/x", headers=ALICE)
        warm = api.get("/cached/y", headers=ALICE)
        after = rows_by(overview(api)["functions"], "name")["cached"]
        cold_record, warm_record = api.get("/_portico/api/requests").json()["requests"]
        trace_id = cold_record["trace_id"]
        trace = wait_until(
            lambda: (
                (found := api.get(f"/_portico/api/traces/{trace_id}")).status_code == 200
                and found.json()
            ),
            10,
            "the cold start's trace",
        )

    assert (before["state"], before["cold_starts"]) == ("at zero", 0)
    assert cold.status_code == 200 and cold.headers["X-Portico-Cold-Start"] == "true"
    assert warm.status_code == 200 and "X-Portico-Cold-Start" not in warm.headers
    assert (after["state"], after["cold_starts"]) == ("running", 1)
    assert cold_record["cold_start"] is True and warm_record["cold_start"] is False
    names = {s["name"]: s for s in trace["spans"]}
    start = names["start cached"]
    assert start["attributes"] == {"portico.cold_start": True}
    assert start["parent_id"] == names["GET /cached/{item}"]["span_id"]
    assert names["upstream cached"]["parent_id"] == names["GET /cached/{item}"]["span_id"]


# --- never in a cluster's config --------------------------------------------------------


def shipped_and_test_manifests() -> list[list[Manifest]]:
    return [
        load_all(FUNCTIONS_DIR),
        MANIFESTS,
        load_all(ROOT / "tests" / "functions" / "adversarial"),
    ]


@pytest.mark.parametrize(
    "manifests", shipped_and_test_manifests(), ids=["shipped", "testapp", "adversarial"]
)
def test_the_rendered_kong_config_and_openapi_never_mention_the_console(manifests):
    rendered = json.dumps([kong.render(manifests), openapi.render(manifests)])

    assert any(p in rendered for p in ("/whoami", "/claims", "/adversarial/body"))
    assert "_portico" not in rendered


def test_the_committed_gateway_config_never_mentions_the_console():
    config = ROOT / "gateway-config"
    kong_yaml = yaml.safe_load((config / "kong.yaml").read_text())
    document = json.loads((config / "openapi.json").read_text())

    assert kong_yaml["routes"] and document["paths"]
    for path in [config / "kong.yaml", config / "openapi.json", *Path(config).rglob("*.yml")]:
        assert "_portico" not in path.read_text(), path


def test_a_dead_letter_enqueued_by_hand_shows_too(clean_state):
    """A job that is not Portico's envelope (its argument a string): listed, not the panel's
    failure."""
    connection = redis.Redis.from_url(clean_state.redis_url)
    job = Job.create(
        "os.getcwd", args=["by hand"], connection=connection, serializer=JSONSerializer,
        id="by-hand", origin="test-notes",
    )  # fmt: skip
    job.save()
    registry = FailedJobRegistry("test-notes", connection=connection, serializer=JSONSerializer)
    registry.add(job)  # moved there by hand: no RQ Result, so no error text
    with (
        ServedGateway(gateway_with(console(sources(clean_state)))) as served,
        served.client() as api,
    ):
        letters = overview(api)["dead_letters"]

    assert isinstance(letters, list), letters
    [letter] = letters
    assert letter["job_id"] == "by-hand" and letter["queue"] == "test-notes"
    assert letter["error"] == "" and letter["failed_at"] is None
    assert letter["message_id"] is None and letter["trace_id"] is None
    assert letter["payload"] is None
