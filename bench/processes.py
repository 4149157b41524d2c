"""The processes under test: start one, wait until it answers, read its memory and CPU, stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


class NotReady(RuntimeError):
    pass


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def portico(*args: str) -> list[str]:
    return python_module("portico.cli", *args)


def gunicorn(app: str, port: int, threads: int) -> list[str]:
    """gunicorn with the Portico runtime's settings (portico.runtime.serve): one worker process,
    gthread with one thread per unit of concurrency, 75 s keep-alive, no access log."""
    return python_module(
        "gunicorn",
        "--bind", f"127.0.0.1:{port}",
        "--workers", "1",
        "--worker-class", "gthread",
        "--threads", str(threads),
        "--keep-alive", "75",
        "--log-level", "warning",
        app,
    )  # fmt: skip


def wait_for(url: str, timeout: float, alive: subprocess.Popen[bytes] | None = None) -> float:
    """Poll url every 5 ms until it answers 200; returns the seconds it took."""
    started = time.perf_counter()
    deadline = started + timeout
    with httpx.Client(timeout=1.0) as client:
        while time.perf_counter() < deadline:
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if alive is not None and alive.poll() is not None:
                break
            time.sleep(0.005)
    raise NotReady(f"{url} did not answer 200 within {timeout:.0f} s")


@dataclass
class Server:
    """One server process (and its children), its output in a log file."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    log_dir: Path
    ready_url: str | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait until ready_url answers; returns seconds from spawn to ready."""
        with self.log_path.open("ab") as log:
            started = time.perf_counter()
            self.popen = subprocess.Popen(
                list(self.command),
                cwd=ROOT,
                env=dict(self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.ready_url is None:
            return 0.0
        try:
            wait_for(self.ready_url, timeout, self.popen)
        except NotReady as exc:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise NotReady(f"{self.name}: {exc}; its log ends:\n{tail}") from None
        return time.perf_counter() - started

    def processes(self) -> list[psutil.Process]:
        if self.popen is None or self.popen.poll() is not None:
            return []
        try:
            parent = psutil.Process(self.popen.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def serving_rss_mib(self) -> float:
        """RSS of the process that does the work: gunicorn's worker, else the process itself."""
        processes = self.processes()
        if not processes:
            return float("nan")
        return processes[-1].memory_info().rss / MIB

    def tree_pss_mib(self) -> float:
        """Proportional set size of the whole tree (shared pages counted once in total)."""
        return sum(p.memory_full_info().pss for p in self.processes()) / MIB

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self.processes():
            times = process.cpu_times()
            total += times.user + times.system
        return total

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left after 10 s."""
        popen, self.popen = self.popen, None
        if popen is None or popen.poll() is not None:
            return
        try:
            os.killpg(popen.pid, signal.SIGTERM)
            popen.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(10)
        except ProcessLookupError:
            pass
