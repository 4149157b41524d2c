"""/healthz, /readyz and /metrics: served by every function process, HTTP or worker."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from flask import Flask, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from werkzeug.serving import WSGIRequestHandler, make_server

from portico import headers


class Health(StrEnum):
    """The `status` of /healthz and /readyz."""

    ALIVE = "alive"  # /healthz: the process runs
    READY = "ready"  # /readyz: not draining, and Postgres and Redis answer
    DRAINING = "draining"  # /readyz 503: SIGTERMed, finishing what it has
    UNAVAILABLE = "unavailable"  # /readyz 503: Postgres or Redis does not answer


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug's handler, without the versions in its Server header or a log line per probe."""

    def version_string(self) -> str:
        return headers.SERVER_NAME

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


def json_response(body: Any, status: int = 200, mimetype: str = "application/json") -> Response:
    return Response(json.dumps(body, default=str), status=status, mimetype=mimetype)


def serve_health(
    name: str, draining: threading.Event, is_ready: Callable[[], bool], host: str, port: int
) -> None:
    """The health endpoints of a process that is not a web app (a worker, the relay), served
    from a background thread."""
    app = Flask(f"{name}-health")
    add_health_routes(app, name, draining, is_ready)
    server = make_server(host, port, app, threaded=True, request_handler=QuietRequestHandler)
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()


def add_health_routes(
    app: Flask, name: str, draining: threading.Event, is_ready: Callable[[], bool]
) -> None:
    """Alive while the process runs; ready while not draining and its backends answer. Both
    name the function, so whoever polls knows it reached the process it meant."""

    def readiness() -> Response:
        if draining.is_set():
            return json_response({"status": Health.DRAINING, "function": name}, 503)
        if not is_ready():
            return json_response({"status": Health.UNAVAILABLE, "function": name}, 503)
        return json_response({"status": Health.READY, "function": name})

    alive = {"status": Health.ALIVE, "function": name}
    app.add_url_rule("/healthz", "healthz", lambda: json_response(alive))
    app.add_url_rule("/readyz", "readyz", readiness)
    app.add_url_rule(
        "/metrics", "metrics", lambda: Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
    )
