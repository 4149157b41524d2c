"""`portico` subprocesses for tests that need real processes (faults, gateway policies)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import httpx

from portico.local.ports import free_port
from tests.conftest import ROOT


class Process:
    """One `portico ...` subprocess in its own process group, its output kept."""

    def __init__(self, args: list[str], env: dict[str, str], port: int | None) -> None:
        self.args, self.env, self.port = args, env, port
        self.output: list[str] = []
        self.popen = self._start()

    def _start(self) -> subprocess.Popen[str]:
        popen = subprocess.Popen(
            [sys.executable, "-m", "portico.cli", *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._collect, args=(popen,), daemon=True).start()
        return popen

    def _collect(self, popen: subprocess.Popen[str]) -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            self.output.append(line)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30.0, path: str = "/readyz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}{path}", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.args} not ready:\n{self.text()}")

    def kill(self) -> None:
        """SIGKILL the whole process group (gunicorn's worker too), as a crash would."""
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(30)

    def restart(self) -> None:
        self.popen = self._start()

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)

    def text(self) -> str:
        return "".join(self.output)


@contextmanager
def behind_a_gateway(
    names: Sequence[str], env: dict[str, str], *gateway_args: str
) -> Iterator[tuple[Process, dict[str, Process]]]:
    """`portico serve` for each named function and a `portico gateway` routing to them, all
    ready; stopped on the way out."""
    functions: dict[str, Process] = {}
    started: list[Process] = []
    try:
        for name in names:
            port = free_port()
            functions[name] = Process(["serve", name, "--port", str(port)], env, port)
            started.append(functions[name])
        upstreams = [arg for n, p in functions.items() for arg in ("--upstream", f"{n}={p.url}")]
        port = free_port()
        gateway = Process(["gateway", "--port", str(port), *upstreams, *gateway_args], env, port)
        started.append(gateway)
        for function in functions.values():
            function.wait_ready()
        gateway.wait_ready(path="/healthz")
        yield gateway, functions
    finally:
        for process in started:
            process.stop()
