"""One dependency's stand-in (`dependencies.<binding>.stand_in`), served by `portico dev` in
place of the real system: the app's own WSGI app, wrapped in the knobs a fault test turns.

    python -m portico.local.stand_in FILE ATTR --port N [--latency-ms MS] [--failure-rate R]

Every request but the knobs' own waits `latencyMs`, then fails with `failureStatus` (500) at
`failureRate` (0..1); otherwise the app answers. `GET /_settings` shows the knobs, `PUT
/_settings {latencyMs, failureRate, failureStatus}` changes any of them while it runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SETTINGS_PATH = "/_settings"
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class Knobs:
    latencyMs: float = 0.0  # the names the admin endpoint reads and writes
    failureRate: float = 0.0
    failureStatus: int = 500

    def update(self, changes: dict[str, Any]) -> None:
        latency = float(changes.get("latencyMs", self.latencyMs))
        rate = float(changes.get("failureRate", self.failureRate))
        status = int(changes.get("failureStatus", self.failureStatus))
        if latency < 0 or not 0 <= rate <= 1 or not 400 <= status <= 599:
            raise ValueError("latencyMs >= 0, 0 <= failureRate <= 1, 400 <= failureStatus <= 599")
        self.latencyMs, self.failureRate, self.failureStatus = latency, rate, status


class WithKnobs:
    """WSGI middleware: the admin endpoint, then latency and failures, then the app."""

    def __init__(self, app: WSGIApp, knobs: Knobs) -> None:
        self.app = app
        self.knobs = knobs
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == SETTINGS_PATH:
            return self.settings(environ, start_response)
        with self.lock:
            latency, rate, status = (
                self.knobs.latencyMs,
                self.knobs.failureRate,
                self.knobs.failureStatus,
            )
        time.sleep(latency / 1000)
        if random.random() < rate:
            return answer(start_response, status, {"error": "injected failure (stand-in)"})
        return self.app(environ, start_response)

    def settings(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ["REQUEST_METHOD"] == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                changes = json.loads(environ["wsgi.input"].read(length) or b"{}")
                with self.lock:
                    self.knobs.update(changes)
            except (ValueError, TypeError, AttributeError) as exc:
                return answer(start_response, 400, {"error": str(exc)})
        with self.lock:
            return answer(start_response, 200, asdict(self.knobs))


def answer(start_response: Callable[..., Any], status: int, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    start_response(f"{status} {'OK' if status < 400 else 'Error'}", headers)
    return [data]


def load_app(app_file: Path, attr: str) -> WSGIApp:
    """The stand-in's app, imported from its file (its directory importable, as a handler's)."""
    sys.path.insert(0, str(app_file.parent))
    spec = importlib.util.spec_from_file_location(f"portico_stand_in_{app_file.stem}", app_file)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot import {app_file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = getattr(module, attr, None)
    if not callable(app):
        raise SystemExit(f"{app_file} has no WSGI app {attr!r}")
    return app  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> None:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class PlainLog(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            print(f"{self.command} {self.path} -> {code}", flush=True)  # no ANSI colours

    parser = argparse.ArgumentParser(prog="python -m portico.local.stand_in")
    parser.add_argument("app_file", type=Path)
    parser.add_argument("attr")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--failure-rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    knobs = Knobs()
    knobs.update({"latencyMs": args.latency_ms, "failureRate": args.failure_rate})
    app = WithKnobs(load_app(args.app_file, args.attr), knobs)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=PlainLog)
    # Nothing to drain: stop at once, with code 0 (the supervisor's "stopped (code 0)").
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"stand-in {args.app_file.name}:{args.attr} on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
