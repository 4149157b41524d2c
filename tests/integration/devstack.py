"""Run `portico dev` as a real subprocess and wait for it, as a user would."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

from portico.local.embedded_postgres import EmbeddedPostgres
from portico.local.embedded_redis import EmbeddedRedis

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR_LINE = re.compile(r"^\d\d:\d\d:\d\d portico +\| ")


class DevStack:
    """`portico dev` on `data_dir`. Its DATABASE_URL / REDIS_URL are those in `env`, if any:
    never the caller's own, so without them it runs its own embedded Postgres and Redis. It
    inherits the rest of the caller's environment, less the variables named in `unset`."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        unset: tuple[str, ...] = (),
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.output: list[str] = []
        dropped = {"DATABASE_URL", "REDIS_URL", *unset}
        inherited = {k: v for k, v in os.environ.items() if k not in dropped}
        environment = {**inherited, **(env or {}), "PORTICO_LOG_LEVEL": "INFO"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "portico.cli",
                "dev",
                "--data-dir",
                str(data_dir),
                "--port",
                str(port),
                *extra_args,
            ],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def text(self) -> str:
        return "".join(self.output)

    def supervisor_lines(self) -> list[str]:
        """What `portico dev` itself said about its processes (started, exited, stopped)."""
        return [line for line in self.text().splitlines() if SUPERVISOR_LINE.match(line)]

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Portico is up" in self.text():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"portico dev exited early:\n{self.text()}")
            time.sleep(0.2)
        raise AssertionError(f"portico dev not ready in {timeout}s:\n{self.text()}")

    def announced(self, variable: str) -> str:
        """A value from the banner, e.g. DATABASE_URL."""
        match = re.search(rf"^{variable}=(\S+)$", self.text(), re.MULTILINE)
        assert match is not None, f"{variable} is not in the banner:\n{self.text()}"
        return match.group(1)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def portico_process(self, *args: str) -> psutil.Process | None:
        """The live `portico <args...>` process that `portico dev` or its gateway started (for
        a function, gunicorn's arbiter, not its worker)."""
        for process in self.descendants():
            if _runs(process, args) and any(
                _runs(parent, ("dev",)) or _runs(parent, ("gateway",))
                for parent in _parent(process)
            ):
                return process
        return None

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL `portico dev` and everything it started, and stop its embedded servers: the
        last resort of a failed test."""
        for process in self.descendants():
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        self.process.kill()
        self.process.wait(10)
        EmbeddedRedis(self.data_dir / "redis").stop()
        EmbeddedPostgres(self.data_dir / "postgres").stop()


def _runs(process: psutil.Process, args: tuple[str, ...]) -> bool:
    try:
        command = process.cmdline()
        alive = process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
    if not alive or "portico.cli" not in command:
        return False
    rest = command[command.index("portico.cli") + 1 :]
    return tuple(rest[: len(args)]) == args


def _parent(process: psutil.Process) -> list[psutil.Process]:
    try:
        parent = process.parent()
    except psutil.Error:
        return []
    return [parent] if parent is not None else []
