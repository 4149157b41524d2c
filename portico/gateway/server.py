"""The dev gateway's HTTP server: aiohttp's low-level server, with the parser limits of
portico.http_limits and every refusal answered as Kong answers it.

Kong (nginx) answers what its parser refuses through its error handler: JSON
`{"message": ...}` with the bodies of kong/error_handlers.lua, 414 for an over-long request
target, 494 for an over-long or too many headers, 400 for anything else malformed. aiohttp would
answer those in text/plain, before any handler runs; here they get Kong's answers, as does any
error a handler lets escape (500). No answer carries a Server header with a version.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.http_exceptions import LineTooLong
from aiohttp.web_protocol import RequestHandler

from portico import headers, http_limits

log = logging.getLogger("portico.gateway.app")

# kong/error_handlers.lua
KONG_BODIES = {
    400: "Bad request",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    411: "Length required",
    412: "Precondition failed",
    413: "Payload too large",
    414: "URI too long",
    417: "Expectation failed",
    494: "Request header or cookie too large",
    500: "An unexpected error occurred",
    502: "An invalid response was received from the upstream server",
    503: "The upstream server is currently unavailable",
    504: "The upstream server is timing out",
}

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def kong_message(
    status: int, message: str | None = None, extra: Mapping[str, str] | None = None
) -> web.Response:
    """A gateway answer as Kong gives it: {"message": ...}, Kong's own text by default."""
    text = message or KONG_BODIES.get(status, f"The upstream server responded with {status}")
    response = web.Response(
        status=status, text=json.dumps({"message": text}), content_type="application/json"
    )
    response.headers.update(extra or {})
    response.headers["Server"] = headers.SERVER_NAME
    return response


def refusal_status(exc: BaseException | None) -> int:
    """The status Kong's nginx gives what aiohttp's parser refused."""
    if isinstance(exc, LineTooLong):
        # aiohttp names the limit it hit: the target's, or a header's.
        return 414 if exc.args[1] == http_limits.GATEWAY_TARGET_BYTES else 494
    if exc is not None and "Too many headers" in str(exc):
        return 494
    return 400


class _KongStyleRequestHandler(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status == 500:
            log.error("unexpected error answering %s", request.path, exc_info=exc)
        else:
            status = refusal_status(exc)
            log.info("refused a request from %s with %d: %s", request.remote, status, exc)
        response = kong_message(status)
        response.force_close()
        return response


class GatewayServer(web.Server):
    """aiohttp's low-level server with the request handler above and Portico's limits."""

    def __call__(self) -> RequestHandler:
        return _KongStyleRequestHandler(
            self,
            loop=asyncio.get_running_loop(),
            access_log=None,  # type: ignore[arg-type]  # None turns it off, as in run_app
            max_line_size=http_limits.GATEWAY_TARGET_BYTES,
            max_field_size=http_limits.GATEWAY_HEADER_PART_BYTES,
            max_headers=http_limits.GATEWAY_HEADER_COUNT,
        )


async def serve(
    handler: Handler,
    host: str,
    port: int,
    *,
    on_start: Callable[[], Awaitable[None]],
    on_stop: Callable[[], Awaitable[None]],
    shutdown_seconds: float,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop accepting, let in-flight requests finish (at
    most shutdown_seconds) and run on_stop."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await on_start()
    runner = web.ServerRunner(GatewayServer(handler), shutdown_timeout=shutdown_seconds)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("listening on %s:%d", host, port)
        await stopping.wait()
        log.info("stopping: finishing in-flight requests")
    finally:
        await runner.cleanup()
        await on_stop()
