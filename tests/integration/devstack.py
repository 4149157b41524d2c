"""Run `portico dev` as a real subprocess and wait for it, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


class DevStack:
    def __init__(
        self,
        data_dir: Path,
        port: int,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.output: list[str] = []
        environment = {**os.environ, **(env or {}), "PORTICO_LOG_LEVEL": "INFO"}
        if env is None:
            environment.pop("DATABASE_URL", None)
            environment.pop("REDIS_URL", None)
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

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Portico is up" in self.text():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"portico dev exited early:\n{self.text()}")
            time.sleep(0.2)
        raise AssertionError(f"portico dev not ready in {timeout}s:\n{self.text()}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def stop(self, timeout: float = 30.0) -> int:
        """Ctrl-C, as a user would; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
