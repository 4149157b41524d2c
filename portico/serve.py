"""Serving one HTTP function with gunicorn: one process, `concurrency` threads, graceful drain.

On SIGTERM the worker first keeps serving for PORTICO_DRAIN_SECONDS with /readyz failing (so a
load balancer stops sending traffic), then stops accepting, lets in-flight requests finish
(gunicorn's graceful timeout is set from the function's timeout) and exits.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from portico.config import Settings
from portico.logs import configure_logging, logging_config
from portico.manifest import Manifest, load_all
from portico.resources import Resources, consumers_of
from portico.runtime import FunctionState, create_app

log = logging.getLogger("portico.serve")


class QuietLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger without its access log: the runtime logs each request itself. (Given a
    logconfig_dict, gunicorn would otherwise build every request's access-log fields, about 10%
    of a trivial request's CPU, only for its WARNING-level logger to drop them.)"""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None


class DrainingWorker(ThreadWorker):  # type: ignore[misc]
    drain_seconds: float = 0.0

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
                state.resources.close()
                log.info("stopped")

    def _state(self) -> FunctionState | None:
        app = getattr(self, "wsgi", None)
        return app.extensions.get("portico") if app is not None else None


class FunctionServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, manifest: Manifest, settings: Settings, host: str, port: int) -> None:
        self.manifest = manifest
        self.settings = settings
        self.bind = f"{host}:{port}"
        super().__init__()

    def load_config(self) -> None:
        spec = self.manifest.function
        DrainingWorker.drain_seconds = self.settings.drain_seconds
        options: dict[str, Any] = {
            "bind": self.bind,
            "workers": 1,
            "threads": spec.concurrency,
            "worker_class": "portico.serve.DrainingWorker",
            # Heartbeat timeout of the worker process, not of a request: requests are bounded by
            # the deadline in the runtime.
            "timeout": max(30, spec.timeout_seconds + 10),
            "graceful_timeout": math.ceil(self.settings.drain_seconds) + spec.timeout_seconds + 5,
            "keepalive": 75,  # longer than the gateway's idle upstream keep-alive
            "proc_name": f"portico-{self.manifest.name}",
            "logconfig_dict": logging_config(self.settings.log_level, self.manifest.name),
            "logger_class": "portico.serve.QuietLogger",
            # gunicorn's control socket has one default path per user: several functions on one
            # machine would fight over it, and nothing here uses it.
            "control_socket_disable": True,
        }
        for key, value in options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        configure_logging(self.settings.log_level, self.manifest.name)
        manifests = load_all(self.settings.functions_dir)
        resources = Resources(
            database_url=self.settings.database_url,
            redis_url=self.settings.redis_url,
            pool_size=self.manifest.function.concurrency,
            consumers=consumers_of(manifests),
            name=self.manifest.name,
        )
        try:
            resources.open()
        except Exception as exc:  # keep serving: /readyz reports it until the database is back
            log.error("could not reach Postgres/Redis at start: %s", exc)
        app = create_app(self.manifest, resources)
        log.info(
            "serving %s on %s", self.manifest.api.route if self.manifest.api else "", self.bind
        )
        return app


def serve(manifest: Manifest, settings: Settings, host: str, port: int) -> None:
    FunctionServer(manifest, settings, host, port).run()
