"""The processes under test: start one, wait until it answers, read its memory and CPU, stop it."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.support import Process, ProcessExited, WaitTimeout

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


@dataclass
class Server:
    """One server process (and its children), its output in a log file: a tests.support.Process,
    spawned anew by each start()."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    log_dir: Path
    ready_url: str | None = None
    process: Process | None = field(default=None, init=False)

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait until ready_url answers 200, polled every 5 ms; returns seconds from
        spawn to ready."""
        self.process = Process(
            self.command, name=self.name, env=self.env, cwd=ROOT, log=self.log_path
        )
        if self.ready_url is None:
            return 0.0
        try:
            return self.process.wait_ready(self.ready_url, timeout=timeout, interval=0.005)
        except (WaitTimeout, ProcessExited) as exc:
            self.stop()
            raise NotReady(f"{self.name}: {exc}") from None

    def processes(self) -> list[psutil.Process]:
        """The server and its children while it runs (gunicorn's worker last)."""
        return self.process.tree() if self.process is not None else []

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
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        """SIGTERM the process group, then SIGKILL what is left after 10 s."""
        process, self.process = self.process, None
        if process is not None:
            process.stop(grace=10)
