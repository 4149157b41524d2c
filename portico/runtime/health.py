"""/healthz, /readyz and /metrics: served by every function process, HTTP or worker.

An HTTP function's Flask app gets them as routes (`add_health_routes`); a process that is no
web app (a worker, the relay) serves them from a small standard-library server in a thread
(`serve_health`), so it never imports Flask, Jinja or Werkzeug.
"""

from __future__ import annotations

import functools
import json
import socket
import threading
from collections.abc import Callable
from enum import StrEnum
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from portico import headers

if TYPE_CHECKING:
    from flask import Flask, Response

JSON = "application/json"


class Health(StrEnum):
    """The `status` of /healthz and /readyz."""

    ALIVE = "alive"  # /healthz: the process runs
    READY = "ready"  # /readyz: not draining, and Postgres and Redis answer
    DRAINING = "draining"  # /readyz 503: SIGTERMed, finishing what it has
    UNAVAILABLE = "unavailable"  # /readyz 503: Postgres or Redis does not answer


def alive(name: str) -> dict[str, str]:
    return {"status": Health.ALIVE, "function": name}


def readiness(
    name: str, draining: threading.Event, is_ready: Callable[[], bool]
) -> tuple[dict[str, str], int]:
    """/readyz's body and status: ready while not draining and its backends answer."""
    if draining.is_set():
        return {"status": Health.DRAINING, "function": name}, 503
    if not is_ready():
        return {"status": Health.UNAVAILABLE, "function": name}, 503
    return {"status": Health.READY, "function": name}, 200


def encode(body: Any) -> str:
    return json.dumps(body, default=str)


# --- in an HTTP function's Flask app ----------------------------------------------------------


@functools.cache
def _response_class() -> type[Response]:
    from flask import Response

    return Response


def json_response(body: Any, status: int = 200, mimetype: str = JSON) -> Response:
    return _response_class()(encode(body), status=status, mimetype=mimetype)


def add_health_routes(
    app: Flask, name: str, draining: threading.Event, is_ready: Callable[[], bool]
) -> None:
    """Alive while the process runs; ready while not draining and its backends answer. Both
    name the function, so whoever polls knows it reached the process it meant."""
    response_class = _response_class()

    def ready() -> Response:
        return json_response(*readiness(name, draining, is_ready))

    app.add_url_rule("/healthz", "healthz", lambda: json_response(alive(name)))
    app.add_url_rule("/readyz", "readyz", ready)
    app.add_url_rule(
        "/metrics",
        "metrics",
        lambda: response_class(generate_latest(), mimetype=CONTENT_TYPE_LATEST),
    )


# --- in a worker or the relay -----------------------------------------------------------------


class HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        name: str,
        draining: threading.Event,
        is_ready: Callable[[], bool],
    ) -> None:
        self.name = name
        self.draining = draining
        self.is_ready = is_ready
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, HealthRequestHandler)


class HealthRequestHandler(BaseHTTPRequestHandler):
    """GET (and HEAD) of the three endpoints; a Server header without versions, and no log
    line per probe."""

    protocol_version = "HTTP/1.1"
    server: HealthServer

    def version_string(self) -> str:
        return headers.SERVER_NAME

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def refuse(self) -> None:
        self._answer(send_body=True, allowed=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = refuse

    def _answer(self, *, send_body: bool, allowed: bool = True) -> None:
        path = self.path.split("?", 1)[0]
        server = self.server
        if not allowed:
            refused = {"type": "about:blank", "title": "Method Not Allowed", "status": 405}
            body, status, content_type = encode(refused).encode(), 405, JSON
        elif path == "/healthz":
            body, status, content_type = encode(alive(server.name)).encode(), 200, JSON
        elif path == "/readyz":
            ready, status = readiness(server.name, server.draining, server.is_ready)
            body, content_type = encode(ready).encode(), JSON
        elif path == "/metrics":
            body, status, content_type = generate_latest(), 200, CONTENT_TYPE_LATEST
        else:
            not_found = {"type": "about:blank", "title": "Not Found", "status": 404}
            body, status, content_type = encode(not_found).encode(), 404, JSON
        self.send_response(status, HTTPStatus(status).phrase)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 405:
            self.send_header("Allow", "GET, HEAD")
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def serve_health(
    name: str, draining: threading.Event, is_ready: Callable[[], bool], host: str, port: int
) -> None:
    """The health endpoints of a process that is not a web app (a worker, the relay), served
    from a background thread."""
    server = HealthServer((host, port), name, draining, is_ready)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
