"""Serving one HTTP function with gunicorn: one process, `concurrency` threads, graceful drain.

On SIGTERM the worker first keeps serving for PORTICO_DRAIN_SECONDS with /readyz failing (so a
load balancer stops sending traffic), then stops accepting, lets in-flight requests finish
(gunicorn's graceful timeout is set from the function's timeout) and exits.

What gunicorn's parser refuses (an over-long request line, a malformed header, ...) is answered
as problem+json like every other function error, and the Server header names no version.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

import gunicorn.http.wsgi
from gunicorn import glogging, util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from portico import headers, http_limits, problems, tracing
from portico.logs import configure_logging, logging_config
from portico.manifest import Manifest
from portico.runtime.app import FunctionState, create_app
from portico.runtime.resources import Resources
from portico.settings import Settings
from portico.state.jobs import JobPolicy

log = logging.getLogger("portico.runtime.serve")


class QuietLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger without its access log: the runtime logs each request itself. (Given a
    logconfig_dict, gunicorn would otherwise build every request's access-log fields, about 10%
    of a trivial request's CPU, only for its WARNING-level logger to drop them.)"""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


def write_problem(sock: socket.socket, status: int, reason: str, message: str) -> None:
    """gunicorn's util.write_error, the same answer as problem+json instead of an HTML page."""
    body: dict[str, Any] = {"type": "about:blank", "title": reason, "status": status}
    if message:
        body["detail"] = message
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nServer: {headers.SERVER_NAME}\r\n"
        f"Content-Type: {problems.PROBLEM_JSON}\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + payload)


def honour_connection_close(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """gunicorn drops a `Connection: close` from the application (a hop-by-hop header, not
    the application's under WSGI) and answers keep-alive. The runtime sends one when it answered
    without reading the body; gunicorn drains at most 64 KiB of such a body and otherwise closes
    the connection after all, so a client's next request on it would be lost. Make gunicorn
    close it, and say so."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        def start(status: str, response_headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if ("Connection", "close") in response_headers:
                server_response = getattr(start_response, "__self__", None)
                if isinstance(server_response, gunicorn.http.wsgi.Response):
                    server_response.force_close()
            return start_response(status, response_headers, *exc_info)

        return wsgi_app(environ, start)

    return app


class DrainingThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's gthread worker that drains on SIGTERM, answering gunicorn's own refusals as
    problem+json."""

    drain_seconds: float = 0.0

    def init_process(self) -> None:
        # gunicorn offers no setting for either: its error writer and its Server header are
        # module globals, replaced here in the function's own worker process.
        util.write_error = write_problem
        gunicorn.http.wsgi.SERVER = headers.SERVER_NAME
        super().init_process()

    def handle_exit(self, sig: int, frame: Any) -> None:
        state = self._state()
        if state is None:
            super().handle_exit(sig, frame)
            return
        if state.draining.is_set():
            return  # already draining (the arbiter and a process-group signal both send one)
        state.draining.set()
        log.info(
            "SIGTERM: draining for %.1f s, then finishing in-flight requests", self.drain_seconds
        )
        timer = threading.Timer(self.drain_seconds, super().handle_exit, args=(sig, frame))
        timer.daemon = True
        timer.start()

    def run(self) -> None:
        try:
            super().run()
        finally:
            state = self._state()
            if state is not None:
                state.executor.shutdown(wait=True, cancel_futures=False)
                state.invoker.close()
                state.resources.close()
                state.request_log.close()
                tracing.shutdown()
                log.info("stopped")

    def _state(self) -> FunctionState | None:
        app = getattr(self, "wsgi", None)
        return app.extensions.get("portico") if app is not None else None


class FunctionServer(BaseApplication):  # type: ignore[misc]
    def __init__(
        self,
        manifest: Manifest,
        settings: Settings,
        host: str,
        port: int,
        consumers: Mapping[str, JobPolicy] | None = None,
    ) -> None:
        self.manifest = manifest
        self.settings = settings
        self.consumers = consumers
        self.bind = f"{host}:{port}"
        super().__init__()

    def load_config(self) -> None:
        # With setproctitle installed (the laptop's extra), gunicorn would retitle the arbiter
        # and its worker "gunicorn: master [...]"; they keep the command line that started them.
        util._setproctitle = lambda title: None
        spec = self.manifest.function
        DrainingThreadWorker.drain_seconds = self.settings.drain_seconds
        options: dict[str, Any] = {
            "bind": self.bind,
            "workers": 1,
            "threads": spec.concurrency,
            "worker_class": "portico.runtime.serve.DrainingThreadWorker",
            # Heartbeat timeout of the worker process, not of a request: requests are bounded by
            # the deadline in the runtime.
            "timeout": max(30, spec.timeout_seconds + 10),
            "graceful_timeout": math.ceil(self.settings.drain_seconds) + spec.timeout_seconds + 5,
            "keepalive": 75,  # longer than the gateway's idle upstream keep-alive
            "limit_request_line": http_limits.FUNCTION_REQUEST_LINE_BYTES,
            "limit_request_field_size": http_limits.FUNCTION_HEADER_LINE_BYTES,
            "limit_request_fields": http_limits.FUNCTION_HEADER_COUNT,
            "proc_name": f"portico-{self.manifest.name}",
            "logconfig_dict": logging_config(self.settings.log_level, self.manifest.name),
            "logger_class": "portico.runtime.serve.QuietLogger",
            # gunicorn's control socket has one default path per user: several functions on one
            # machine would fight over it, and nothing here uses it.
            "control_socket_disable": True,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        configure_logging(self.settings.log_level, self.manifest.name)
        tracing.configure(self.manifest.name)  # here, in the worker process gunicorn forked
        resources = Resources.for_process(
            self.settings,
            self.manifest.name,
            pool_size=self.manifest.function.concurrency,
            consumers=self.consumers,
            statement_timeout_seconds=self.manifest.function.timeout_seconds,
        )
        try:
            resources.open()
        except Exception as exc:  # keep serving: /readyz reports it until the database is back
            log.error("could not reach Postgres/Redis at start: %s", exc)
        app = create_app(
            self.manifest,
            resources,
            self.settings.gateway_secret,
            self.settings.started_at,
            egress=self.settings.egress,
            server_timing=self.settings.server_timing,
        )
        app.wsgi_app = honour_connection_close(app.wsgi_app)  # type: ignore[method-assign]
        log.info(
            "serving %s on %s", self.manifest.api.route if self.manifest.api else "", self.bind
        )
        return app


def serve(
    manifest: Manifest,
    settings: Settings,
    host: str,
    port: int,
    consumers: Mapping[str, JobPolicy] | None = None,
) -> None:
    """Serve the function; `consumers` (queue -> job policy) as in Resources.for_process: given
    them, the worker process does not read the manifests again."""
    FunctionServer(manifest, settings, host, port, consumers).run()
