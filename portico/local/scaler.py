"""Scale from and to zero on a laptop: the dev gateway owns the processes of functions with
`scale.min: 0`. The first request starts the function and waits (bounded) for its /readyz;
a function idle for the idle time is stopped (SIGTERM: it drains). Knative does this in the
cluster. A function that died (killed, crashed) is started again by the next request.

How a function process starts is its `Launcher`'s business: `ProcessLauncher` spawns a new
interpreter; `TemplateLauncher` forks it from the gateway's warm template
(`portico.local.template`), already past the imports, and spawns when the template cannot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import Counter, Gauge, Histogram

from portico.local.supervisor import describe_exit
from portico.local.template import TemplateUnavailable, WarmTemplate

log = logging.getLogger("portico.local.scaler")

STOP_TIMEOUT_SECONDS = 30.0
# A killed gunicorn arbiter leaves its worker holding the port until it notices (a second or
# two); a new process could not bind it, and the old worker would answer the new one's /readyz.
PORT_RELEASE_TIMEOUT_SECONDS = 10.0

COLD_STARTS = Counter(
    "portico_gateway_cold_starts_total", "Function processes started by a request.", ["function"]
)
COLD_START_SECONDS = Histogram(
    "portico_gateway_cold_start_seconds",
    "From a request finding no process to the function answering /readyz.",
    ["function"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
WARM_TEMPLATE_READY = Gauge(
    "portico_gateway_warm_template_ready",
    "1 while the warm template is ready to fork functions at zero, else 0.",
)


class FunctionProcess(Protocol):
    """What the scaler needs of a function's process: asyncio.subprocess.Process, or a fork
    of the warm template (portico.local.template.TemplateChild)."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    def send_signal(self, signum: int) -> None: ...

    def kill(self) -> None: ...

    async def wait(self) -> int: ...


class Launcher(Protocol):
    async def launch(self, args: Sequence[str]) -> FunctionProcess:
        """A process running `portico ARGS`."""
        ...


class ProcessLauncher:
    """A new interpreter per start: `program` (e.g. python -m portico.cli) with the args."""

    def __init__(self, program: Sequence[str]) -> None:
        self.program = list(program)

    async def launch(self, args: Sequence[str]) -> FunctionProcess:
        # Same process group as the gateway: whoever stops the gateway's group stops these.
        # It inherits the environment, stdio included.
        return await asyncio.create_subprocess_exec(*self.program, *args)


class TemplateLauncher:
    """A fork of the warm template per start; a new process (`fallback`) whenever the template
    cannot fork, so a failing template never keeps a function from starting."""

    def __init__(
        self, template: WarmTemplate, fallback: ProcessLauncher, name: str = "portico"
    ) -> None:
        self.template = template
        self.fallback = fallback
        self.name = name  # the program name a forked command sees as its argv[0]
        WARM_TEMPLATE_READY.set_function(lambda: 1.0 if template.ready() else 0.0)

    def title(self, args: Sequence[str]) -> str:
        """The command line the fork shows: the one a new process would have had."""
        return " ".join([*self.fallback.program, *args])

    async def launch(self, args: Sequence[str]) -> FunctionProcess:
        try:
            return await self.template.fork([self.name, *args], title=self.title(args))
        except TemplateUnavailable as exc:
            log.info("starting %s as a new process: %s", " ".join(args), exc)
            return await self.fallback.launch(args)


class StartFailed(Exception):
    """The function did not become ready within the start timeout."""


class ScaledFunction:
    def __init__(
        self,
        name: str,
        args: Sequence[str],
        base_url: str,
        *,
        launcher: Launcher,
        idle_seconds: float,
        start_timeout: float = 30.0,
    ) -> None:
        """`args` are the `portico` command's arguments that serve it (`serve NAME --port P
        ...`), started by `launcher`."""
        self.name = name
        self.args = list(args)
        self.base_url = base_url
        self.launcher = launcher
        self.idle_seconds = idle_seconds
        self.start_timeout = start_timeout
        self.process: FunctionProcess | None = None
        self.in_flight = 0
        self.last_used = time.monotonic()
        self.starting = False  # between a request finding no process and its /readyz
        self.cold_starts = 0
        self._lock = asyncio.Lock()

    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def state(self) -> str:
        """What the console shows: starting, running or at zero."""
        if self.starting:
            return "starting"
        return "running" if self.running() else "at zero"

    async def ensure_running(self, session: aiohttp.ClientSession) -> float | None:
        """Start the function if it has no process; returns the cold start's seconds, or None
        when it was already running."""
        async with self._lock:
            if self.running():
                return None
            if self.process is not None and self.process.returncode is not None:
                exited = describe_exit(self.process.returncode)  # not stopped by us: it died
                log.warning("%s exited (%s); starting it again", self.name, exited)
            started = time.monotonic()
            self.starting = True
            try:
                await self._wait_for_port_release()
                self.process = await self.launcher.launch(self.args)
                ready = await self._wait_ready(session)
            finally:
                self.starting = False
            if not ready:
                await self.stop()
                raise StartFailed(f"{self.name} was not ready within {self.start_timeout:.0f} s")
            seconds = time.monotonic() - started
            self.cold_starts += 1
            COLD_STARTS.labels(self.name).inc()
            COLD_START_SECONDS.labels(self.name).observe(seconds)
            log.info("cold start of %s: ready in %.0f ms", self.name, seconds * 1000)
            return seconds

    async def _wait_ready(self, session: aiohttp.ClientSession) -> bool:
        deadline = time.monotonic() + self.start_timeout
        timeout = aiohttp.ClientTimeout(total=1)
        while time.monotonic() < deadline and self.running():
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
                async with session.get(f"{self.base_url}/readyz", timeout=timeout) as response:
                    # Only our own process counts: another one may hold the port.
                    if response.status == 200 and (await response.json())["function"] == self.name:
                        return True
            await asyncio.sleep(0.02)
        return False

    async def _wait_for_port_release(self) -> None:
        address = urlsplit(self.base_url)
        host, port = address.hostname or "127.0.0.1", address.port or 80
        deadline = time.monotonic() + PORT_RELEASE_TIMEOUT_SECONDS
        while not port_is_free(host, port) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning(
                "%s did not stop within %.0f s of SIGTERM; killing it (SIGKILL)",
                self.name,
                STOP_TIMEOUT_SECONDS,
            )
            process.kill()
            await process.wait()

    def idle(self) -> bool:
        quiet = time.monotonic() - self.last_used
        return self.running() and self.in_flight == 0 and quiet >= self.idle_seconds

    async def stop_if_idle(self) -> None:
        if not self.idle():
            return
        async with self._lock:
            if self.idle():  # a request may have come in while we waited for the lock
                log.info("%s idle for %.0f s: scaling to zero", self.name, self.idle_seconds)
                await self.stop()


def port_is_free(host: str, port: int) -> bool:
    # SO_REUSEADDR, as gunicorn binds: connections lingering in TIME_WAIT do not hold the port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True
