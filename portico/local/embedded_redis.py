"""A real redis-server on a data dir, daemonized, reused while it runs and answers."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from portico.local.binaries import find_redis_server
from portico.local.embedded_server import EmbeddedServer, EmbeddedServerError
from portico.local.ports import read_recorded_port, record_port
from portico.local.processes import log_tail, process_is_alive, read_pid, wait_until

log = logging.getLogger("portico.local.embedded_redis")

REDIS_START_TIMEOUT_S = 20
PROCESS_EXIT_TIMEOUT_S = 20


class EmbeddedRedis(EmbeddedServer):
    """A redis-server keeping its files (AOF, pidfile, log) in `data_dir`.

    `executable` is the redis-server to run (settings.redis_server); None: found
    (portico.local.binaries)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        durable: bool = True,
        executable: Path | None = None,
    ) -> None:
        super().__init__(data_dir, port=port, durable=durable)
        self._pidfile = self._data_dir / "redis.pid"
        self._logfile = self._data_dir / "redis.log"
        self._preferred_executable = executable
        self._executable: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def executable(self) -> Path:
        """The redis-server this handle runs."""
        if self._executable is None:
            self._executable = find_redis_server(self._preferred_executable)
        return self._executable

    def start(self) -> str:
        """Start redis-server, or reuse the one already serving this data dir."""
        running_port = self._running_port()
        if running_port is not None:
            self._port = running_port
            log.info("reusing the running Redis at %s", self.url)
            return self.url
        self._data_dir.mkdir(parents=True, exist_ok=True)
        record_port(self._data_dir, self.port)
        self._launch()
        if not wait_until(self._answers_ping, REDIS_START_TIMEOUT_S):
            raise EmbeddedServerError(
                f"Redis did not answer on port {self.port} within {REDIS_START_TIMEOUT_S} s. "
                f"Last lines of {self._logfile}:\n{log_tail(self._logfile)}"
            )
        log.info("started Redis %s at %s", self.executable, self.url)
        return self.url

    def stop(self) -> None:
        pid = self._live_pid()
        if pid is None:
            return
        with contextlib.suppress(redis.ConnectionError), self._client() as client:
            client.shutdown(nosave=not self._durable)
        self._wait_for_exit(pid)
        log.info("stopped Redis at %s", self.url)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        pid = self._live_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        self._wait_for_exit(pid)

    def _launch(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"]
        command = [
            str(self.executable),
            "--daemonize", "yes",
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self._data_dir),
            "--pidfile", str(self._pidfile),
            "--logfile", str(self._logfile),
            "--save", "",
            *(persistence if self._durable else ["--appendonly", "no"]),
        ]  # fmt: skip
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"redis-server failed to start: {result.stdout}{result.stderr}"
                f"Last lines of {self._logfile}:\n{log_tail(self._logfile)}"
            )

    def pid(self) -> int | None:
        """The server's pid, while it runs."""
        return self._live_pid()

    def _live_pid(self) -> int | None:
        pid = read_pid(self._pidfile)
        return pid if pid is not None and process_is_alive(pid) else None

    def _running_port(self) -> int | None:
        """The recorded port, if this data dir's server is alive and answers there."""
        port = read_recorded_port(self._data_dir)
        if port is None or self._live_pid() is None or not self._answers_ping(port):
            return None
        return port

    def _answers_ping(self, port: int | None = None) -> bool:
        try:
            with self._client(port) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def _client(self, port: int | None = None) -> redis.Redis:
        # No retries: redis-py's default retries with backoff turn the
        # expected "connection refused" (probing) and "connection closed"
        # (SHUTDOWN) into seconds of waiting.
        return redis.Redis(
            host="127.0.0.1",
            port=port or self.port,
            socket_connect_timeout=1,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 0),
        )

    def _wait_for_exit(self, pid: int) -> None:
        if not wait_until(lambda: not process_is_alive(pid), PROCESS_EXIT_TIMEOUT_S):
            raise EmbeddedServerError(
                f"Redis (pid {pid}) did not exit within {PROCESS_EXIT_TIMEOUT_S} s"
            )
