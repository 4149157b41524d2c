"""What every answer of a function's app gets, as WSGI middleware around the Flask app: the
request id (taken from the caller or made, echoed on the answer, bound for the log lines), and
for the function's own route its metric series, its one request log line and the end of its
span (begun by the app, portico.tracing).

Middleware rather than Flask's before/after-request hooks: those cost a coroutine check and a
context-local lookup each per request, which a trivial handler's throughput shows (bench/README).
The app marks the request in its WSGI environ, under the keys below.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from portico import headers
from portico.logs import request_id_from, request_id_var
from portico.runtime.effects import Effects

REQUEST_ID = "portico.request_id"  # the request's id
STARTED = "portico.started"  # time.perf_counter() when it came in
INVOKED = "portico.invoked"  # the function's route ran: log and measure the answer
BODY_READ = "portico.body_read"  # the body was read (else an answer must close the connection)
ANSWERED = "portico.answered"  # the deadline's watchdog already answered (and logged) it
EFFECTS = "portico.effects"  # the invocation's effects ledger (portico.runtime.effects)
TRACE = "portico.trace"  # the invocation's span (portico.tracing.Started), ended with the answer

REQUEST_ID_ENVIRON = "HTTP_" + headers.REQUEST_ID.upper().replace("-", "_")
_REQUEST_ID_LOWER = headers.REQUEST_ID.lower()

# (method, path, status, seconds, request id, effects) of an answer from the function's route
Answered = Callable[[str, str, int, float, str, Effects | None], None]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def has_body(environ: dict[str, Any]) -> bool:
    length = environ.get("CONTENT_LENGTH")
    return bool(length and length != "0") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "")


class RequestScope:
    def __init__(self, app: WsgiApp, answered: Answered, *, server_timing: bool = False) -> None:
        """`server_timing`: answer an invocation's effects as a Server-Timing header."""
        self.app = app
        self.answered = answered
        self.server_timing = server_timing

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_from(environ.get(REQUEST_ID_ENVIRON))
        environ[REQUEST_ID], environ[STARTED] = request_id, started
        token = request_id_var.set(request_id)
        status = 500

        def start(head: str, response_headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            nonlocal status
            status = int(head[:3])
            response_headers[:] = [h for h in response_headers if h[0].lower() != _REQUEST_ID_LOWER]
            response_headers.append((headers.REQUEST_ID, request_id))
            if self.server_timing and EFFECTS in environ:
                response_headers.append((headers.SERVER_TIMING, environ[EFFECTS].server_timing()))
            if not environ.get(BODY_READ) and has_body(environ):
                # Answered without reading the body (413, 405, ...): gunicorn drains at most
                # 64 KiB of it and otherwise closes the connection, after an answer that said
                # keep-alive, so the client's next request on it would be lost. Say so instead.
                response_headers.append(("Connection", "close"))
            return start_response(head, response_headers, *exc_info)

        try:
            return self.app(environ, start)
        finally:
            if environ.get(INVOKED) and not environ.get(ANSWERED):
                elapsed = time.perf_counter() - started
                path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
                method, effects = environ["REQUEST_METHOD"], environ.get(EFFECTS)
                self.answered(method, path, status, elapsed, request_id, effects)
            traced = environ.get(TRACE)
            if traced is not None:
                traced.end(status_code=status)
            request_id_var.reset(token)
