"""What the embedded Postgres and Redis share: a data dir, a port kept between runs,
start/stop/restart, and the error they raise.

Real servers for local development and tests: `portico dev` keeps their data in `.dev/`
between runs; the test suite uses throwaway directories. Servers are started detached, so a
later run can find and reuse them.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self

from portico.local.ports import choose_port


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found, started or stopped."""


class EmbeddedServer:
    """A server on `data_dir`; subclasses say how to start, stop and find it running."""

    def __init__(self, data_dir: Path, *, port: int | None = None, durable: bool = True) -> None:
        self._data_dir = Path(data_dir).absolute()
        self._port = port
        self._durable = durable

    @property
    def port(self) -> int:
        # A server already running on this data dir keeps its port, so a fresh handle (say,
        # after `portico dev` was killed) reaches it.
        if self._port is None:
            self._port = self._running_port() or choose_port(self._data_dir)
        return self._port

    def start(self) -> str:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        port = self.port
        self.stop()
        self._port = port
        self.start()

    def is_running(self) -> bool:
        return self._running_port() is not None

    def _running_port(self) -> int | None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
