"""The dev gateway: Kong's request path for a laptop, driven by the same manifests.

Routes each request to its function by the manifests' routes, authenticates API keys (the
`apikey` header) or JWTs (`Authorization: Bearer`, see portico.policies.jwt_auth), sets the
correlation id, and tells the function who is calling with Kong's upstream headers, as
portico.policies.upstream describes (credentials and client-sent identity dropped, the
deployment's gateway secret added).
Rejections use Kong's status codes and `{"message": ...}` bodies; the server under it
(portico.gateway.server) answers what the HTTP parser refuses the same way. The request itself,
on its way, is portico.gateway.calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import hdrs, web
from multidict import CIMultiDict
from prometheus_client import generate_latest

from portico import headers, tracing
from portico.console.activity import RequestRecord
from portico.console.web import Console, is_console_path
from portico.gateway.cache import Entry, ResponseCache
from portico.gateway.calls import BODY_IDLE_SECONDS, HOP_BY_HOP, Call, Upstream, read_body
from portico.gateway.server import kong_message, serve
from portico.local.scaler import ScaledFunction, StartFailed
from portico.logs import RequestLog, request_id_from, request_id_var
from portico.manifest import Api, Cors
from portico.policies import jwt_auth
from portico.policies.consumers import DEV_CONSUMERS, Consumer, by_api_key, by_issuer
from portico.policies.cors import is_preflight, origin_headers, preflight_headers
from portico.policies.rate_limit import RateLimiter
from portico.policies.response_cache import cache_key, cacheable

log = logging.getLogger("portico.gateway.app")
# The `function` of the gateway's log lines: what `portico gateway` configures logging with.
LOG_NAME = "gateway"

# What an upstream says of itself stays upstream (nginx's proxy_hide_header default).
HIDDEN_RESPONSE_HEADERS = HOP_BY_HOP | {"server"}
# Headers aiohttp's client would add of its own accord; a client's own are forwarded as sent.
NOT_ADDED = frozenset({hdrs.ACCEPT, hdrs.ACCEPT_ENCODING, hdrs.USER_AGENT, hdrs.CONTENT_TYPE})
INTERNAL_METHODS = frozenset({"GET", "HEAD"})


@dataclass
class Routed:
    """What the gateway learned of a request on its way: for its log line, span and the
    console's live requests."""

    upstream: Upstream | None = None
    consumer: Consumer | None = None

    @property
    def route(self) -> str | None:
        api = self.upstream.manifest.api if self.upstream else None
        return api.route.path if api else None

    def record(
        self,
        request: web.BaseRequest,
        response: web.StreamResponse,
        at: float,
        elapsed_ms: float,
        request_id: str,
        trace_id: str | None,
    ) -> RequestRecord:
        """The request as the console's live requests show it."""
        return RequestRecord(
            seq=0,  # the feed numbers it
            at=at,
            method=request.method,
            path=request.path,
            route=self.route,
            function=self.upstream.manifest.name if self.upstream else None,
            consumer=self.consumer.username if self.consumer else None,
            status=response.status,
            latency_ms=round(elapsed_ms, 1),
            request_id=request_id,
            trace_id=trace_id,
            cold_start=headers.COLD_START in response.headers,
        )


class Gateway:
    def __init__(
        self,
        upstreams: Sequence[Upstream],
        consumers: tuple[Consumer, ...] = DEV_CONSUMERS,
        openapi: Mapping[str, Any] | None = None,
        redis_url: str | None = None,
        scaled: Sequence[ScaledFunction] = (),
        gateway_secret: str | None = None,
        console: Console | None = None,
    ) -> None:
        self.upstreams = [u for u in upstreams if u.manifest.api is not None]
        self.gateway_secret = gateway_secret
        self.openapi = dict(openapi or {})
        self.redis_url = redis_url
        self.rate_limiter: RateLimiter | None = None
        self.cache = ResponseCache()
        self.scaled = {function.name: function for function in scaled}
        self.console = console
        self._reaper: asyncio.Task[None] | None = None
        self.keys = by_api_key(consumers)
        self.issuers = by_issuer(consumers)
        self.session: aiohttp.ClientSession | None = None
        # One line per request, as the JSON formatter writes it, without the logging
        # machinery (a tenth of the gateway's CPU per request went there).
        self.request_log = RequestLog(log, LOG_NAME)
        self.internal_routes: dict[str, Callable[[web.BaseRequest], Awaitable[web.Response]]] = {
            "/healthz": self.healthz,
            "/openapi.json": self.openapi_document,
            "/metrics": self.metrics,
        }

    def route(self, method: str, path: str) -> tuple[Upstream, dict[str, str]] | None:
        for upstream in self.upstreams:
            assert upstream.manifest.api is not None
            params = upstream.manifest.api.route.match(method, path)
            if params is not None:
                return upstream, params
        return None

    def authenticate(self, request: web.BaseRequest, api: Api) -> Consumer | web.Response:
        if api.jwt is not None:
            return self.authenticate_jwt(request, api.jwt.audience)
        key = request.headers.get(headers.API_KEY)
        if not key:
            return kong_message(401, "No API key found in request", {"WWW-Authenticate": "Key"})
        consumer = self.keys.get(key)
        if consumer is None:
            return kong_message(401, "Unauthorized", {"WWW-Authenticate": "Key"})
        return consumer

    def authenticate_jwt(self, request: web.BaseRequest, audience: str) -> Consumer | web.Response:
        token = jwt_auth.bearer_token(request.headers.get("Authorization"))
        outcome = jwt_auth.check_audience(token, audience) or jwt_auth.authenticate(
            token, self.issuers, time.time()
        )
        if isinstance(outcome, jwt_auth.Rejection):
            return web.json_response(outcome.body, status=401)
        return outcome

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if self.console is not None and is_console_path(request.path):
            return await self.console.handle(request)  # its own polling: not logged or traced
        at, started = time.time(), time.perf_counter()
        request_id = request_id_from(request.headers.get(headers.REQUEST_ID))
        request_id_var.set(request_id)  # each aiohttp request runs in its own task and context
        internal = request.path in self.internal_routes
        span = None if internal else self.begin_span(request, request_id)
        routed = Routed()
        try:
            response = await self._respond(request, request_id, routed)
        except Exception:
            log.exception("unexpected error in the gateway")
            response = kong_message(500)
        response.headers[headers.REQUEST_ID] = request_id
        response.headers["Server"] = headers.SERVER_NAME
        elapsed_ms = (time.perf_counter() - started) * 1000
        trace_id = None
        if span is not None:
            trace_id = span.trace_id
            self.end_span(span, request, routed, response.status)
        self.request_log.write(
            f"{request.method} {request.path} -> {response.status} in {elapsed_ms:.1f} ms",
            request_id,
            trace_id=trace_id,
        )
        if self.console is not None and not internal:
            self.console.feed.add(
                routed.record(request, response, at, elapsed_ms, request_id, trace_id)
            )
        return response

    def begin_span(self, request: web.BaseRequest, request_id: str) -> tracing.Started:
        """The gateway's server span: the trace the client's traceparent names, or a new one."""
        attributes = {
            "http.request.method": request.method,
            "url.path": request.path,
            "portico.request_id": request_id,
        }
        return tracing.start(request.method, "server", request.headers, attributes)

    def end_span(
        self, span: tracing.Started, request: web.BaseRequest, routed: Routed, status: int
    ) -> None:
        route = routed.route
        if route is not None:
            span.rename(f"{request.method} {route}")
            span.set("http.route", route)
        if routed.upstream is not None:
            span.set("portico.function", routed.upstream.manifest.name)
        if routed.consumer is not None:
            span.set("portico.consumer", routed.consumer.username)
        span.end(status_code=status)

    async def _respond(
        self, request: web.BaseRequest, request_id: str, routed: Routed
    ) -> web.StreamResponse:
        internal = self.internal_routes.get(request.path)
        if internal is not None and request.method in INTERNAL_METHODS:
            return await internal(request)
        if is_preflight(request.method, request.headers):
            policy = self.cors_for_path(request.path)
            if policy is not None:  # cors runs before auth in Kong, too
                return web.Response(status=200, headers=preflight_headers(policy, request.headers))
        matched = self.route(request.method, request.path)
        if matched is None:
            return kong_message(404, "no Route matched with those values")
        upstream, _ = matched
        routed.upstream = upstream
        assert upstream.manifest.api is not None
        response = await self._apply_policies(
            request, upstream, upstream.manifest.api, request_id, routed
        )
        if upstream.manifest.api.cors is not None:
            cors = origin_headers(upstream.manifest.api.cors, request.headers.get("Origin"))
            response.headers.update(cors)
        return response

    def cors_for_path(self, path: str) -> Cors | None:
        for upstream in self.upstreams:
            api = upstream.manifest.api
            if api is not None and api.cors is not None and api.route.matches_path(path):
                return api.cors
        return None

    async def _apply_policies(
        self,
        request: web.BaseRequest,
        upstream: Upstream,
        api: Api,
        request_id: str,
        routed: Routed,
    ) -> web.StreamResponse:
        """key-auth or jwt, request-size-limiting, rate-limiting, proxy-cache: Kong's plugin
        order."""
        consumer: Consumer | None = None
        if api.auth == "required":
            outcome = self.authenticate(request, api)
            if isinstance(outcome, web.Response):
                return outcome
            consumer = routed.consumer = outcome
        try:
            body = await read_body(request, api.max_body_bytes)
        except TimeoutError:  # nginx's client_body_timeout: Kong answers 408 too
            log.info("no body data for %.0f s: 408", BODY_IDLE_SECONDS)
            response = kong_message(408)
            response.force_close()
            return response
        if body is None:
            return kong_message(413, "Request size limit exceeded")
        limit_headers: dict[str, str] = {}
        if api.rate_limit is not None and self.rate_limiter is not None:
            who = consumer.id if consumer else request.remote or ""
            decision = await self.rate_limiter.check(
                upstream.manifest.name, who, api.rate_limit, time.time()
            )
            limit_headers = decision.headers
            if not decision.allowed:
                return kong_message(429, "API rate limit exceeded", limit_headers)
        call = Call(request, upstream, consumer, request_id, body)
        response = await self._cached_or_proxied(call)
        response.headers.update(limit_headers)
        return response

    async def _cached_or_proxied(self, call: Call) -> web.Response:
        cache = call.api.cache
        if cache is None or call.request.method != "GET":
            return await self._proxy(call)
        query = list(call.request.query.items())
        key = cache_key(call.consumer_id, call.request.method, call.request.path, query)
        now = time.time()
        entry = self.cache.get(key, now)
        if entry is not None:
            response = web.Response(status=entry.status, body=entry.body, headers=entry.headers)
            response.headers["Age"] = str(int(now - entry.stored_at))
            status = "Hit"
        else:
            response = await self._proxy(call)
            status = self._remember(key, response, now, cache.ttl_seconds)
        response.headers["X-Cache-Status"] = status
        response.headers["X-Cache-Key"] = key
        return response

    def _remember(self, key: str, response: web.Response, now: float, ttl: int) -> str:
        """Store a cacheable fresh answer; returns its X-Cache-Status."""
        body = response.body
        if not cacheable(response.status, response.content_type):
            return "Bypass"
        if not isinstance(body, bytes | bytearray):
            return "Bypass"
        headers = CIMultiDict(response.headers)
        self.cache.put(key, Entry(response.status, headers, bytes(body), now, now + ttl))
        return "Miss"

    async def _proxy(self, call: Call) -> web.Response:
        """Forward, first starting the function if it is scaled to zero."""
        scaled = self.scaled.get(call.upstream.manifest.name)
        if scaled is None:
            return await self._forward(call)
        assert self.session is not None
        scaled.in_flight += 1
        try:
            if scaled.running():
                cold_seconds = None
            else:
                with tracing.span(f"start {scaled.name}", attributes={"portico.cold_start": True}):
                    cold_seconds = await scaled.ensure_running(self.session)
            response = await self._forward(call)
        except StartFailed as exc:
            log.error("%s", exc)
            return kong_message(503, "The function could not be started", {"Retry-After": "5"})
        finally:
            scaled.in_flight -= 1
            scaled.last_used = time.monotonic()
        if cold_seconds is not None:
            response.headers[headers.COLD_START] = "true"
            response.headers[headers.COLD_START_MS] = str(round(cold_seconds * 1000))
        return response

    async def _forward(self, call: Call) -> web.Response:
        assert self.session is not None
        request, consumer = call.request, call.consumer
        forwarded: CIMultiDict[str] = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in call.upstream.dropped
        )
        forwarded[headers.REQUEST_ID] = call.request_id
        forwarded["X-Forwarded-For"] = request.remote or ""
        forwarded["X-Forwarded-Proto"] = request.scheme
        if consumer is not None:
            forwarded[headers.CONSUMER_USERNAME] = consumer.username
            forwarded[headers.CONSUMER_ID] = consumer.id
        if self.gateway_secret:
            forwarded[headers.GATEWAY_SECRET] = self.gateway_secret
        name = call.upstream.manifest.name
        with tracing.span(f"upstream {name}", "client", {"portico.function": name}) as current:
            forwarded.update(tracing.carrier())  # the function's span: a child of this one
            response = await self._send(call, forwarded)
            if current is not None:
                current.set_attribute("http.response.status_code", response.status)
        return response

    async def _send(self, call: Call, forwarded: CIMultiDict[str]) -> web.Response:
        assert self.session is not None
        request = call.request
        try:
            async with self.session.request(
                request.method,
                call.upstream.base_url + request.rel_url.raw_path_qs,
                headers=forwarded,
                data=call.body or None,
                timeout=call.upstream.client_timeout,
                allow_redirects=False,
            ) as upstream_response:
                reply = await upstream_response.read()
                reply_headers = CIMultiDict(
                    (k, v)
                    for k, v in upstream_response.headers.items()
                    if k.lower() not in HIDDEN_RESPONSE_HEADERS
                )
                return web.Response(
                    status=upstream_response.status, body=reply, headers=reply_headers
                )
        except TimeoutError:
            return kong_message(504, "The upstream server is timing out")
        except aiohttp.ClientError as exc:
            log.warning("upstream %s failed: %s", call.upstream.manifest.name, exc)
            return kong_message(502, "An invalid response was received from the upstream server")

    async def healthz(self, _: web.BaseRequest) -> web.Response:
        return web.json_response({"status": "alive"})

    async def openapi_document(self, _: web.BaseRequest) -> web.Response:
        return web.json_response(self.openapi)

    async def metrics(self, _: web.BaseRequest) -> web.Response:
        response = web.Response(body=generate_latest())
        response.content_type = "text/plain"
        return response

    async def open(self) -> None:
        if self.redis_url:
            # Short timeouts, no retries: with Redis away, requests pass unlimited at once
            # rather than wait (Kong's fault_tolerant behaviour).
            self.rate_limiter = RateLimiter(self.redis_url, timeout=0.5)
        self._reaper = asyncio.create_task(self._stop_idle_functions())
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=60),
            auto_decompress=False,
            skip_auto_headers=NOT_ADDED,  # once here, not converted on every request
            # The gateway keeps no cookies of its own: the client's Cookie header is forwarded
            # as sent, and an upstream's Set-Cookie goes back to that client only.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def _stop_idle_functions(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for function in self.scaled.values():
                await function.stop_if_idle()

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
        # Each drains for up to its own timeout: in parallel, so stopping takes the longest.
        await asyncio.gather(*(function.stop() for function in self.scaled.values()))
        if self.session is not None:
            await self.session.close()
        if self.rate_limiter is not None:
            await self.rate_limiter.aclose()
        if self.console is not None:
            await self.console.close()

    def shutdown_seconds(self) -> float:
        """Long enough for any request in flight to get its function's answer."""
        waits = [u.timeout_seconds for u in self.upstreams]
        return float(max(waits, default=5))


def run_gateway(
    upstreams: Sequence[Upstream],
    host: str,
    port: int,
    openapi: Mapping[str, Any],
    redis_url: str | None,
    scaled: Sequence[ScaledFunction] = (),
    consumers: tuple[Consumer, ...] = DEV_CONSUMERS,
    gateway_secret: str | None = None,
    console: Console | None = None,
) -> None:
    if not gateway_secret:
        log.warning(
            "no PORTICO_GATEWAY_SECRET: functions will refuse the callers this gateway names"
        )
    gateway = Gateway(
        upstreams,
        consumers,
        openapi=openapi,
        redis_url=redis_url,
        scaled=scaled,
        gateway_secret=gateway_secret,
        console=console,
    )
    asyncio.run(
        serve(
            gateway.handle,
            host,
            port,
            on_start=gateway.open,
            on_stop=gateway.close,
            shutdown_seconds=gateway.shutdown_seconds(),
        )
    )
