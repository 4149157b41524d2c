"""`Process`: a command the tests or the bench run as a real child process."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

import httpx
import psutil

from tests.support.wait import answers, wait_until

TAIL_CHARS = 3000  # of its output, in a failure message


class ProcessExited(AssertionError):
    """The process ended while something waited for it to be ready. `summary` is one line; the
    message adds the end of its output."""

    def __init__(self, summary: str, details: str) -> None:
        super().__init__(f"{summary}\n{details}")
        self.summary = summary


class Process:
    """One command as a child process, from start to a stop that leaves nothing running.

    - Its own process group (`own_group`, the default), so signals reach what it started (a
      gunicorn arbiter's worker, say) and kill() is a crash of the whole tree. Without one it
      shares the caller's group and only the process itself is signalled.
    - Its output (stdout and stderr) goes to `log`, appended, or else is kept in memory as it
      comes; text(), output and tail() read it either way.
    - wait_ready(): until a URL answers or a predicate holds, failing at once, with its exit
      code and the end of its output, if the process ends first.
    - stop(): SIGTERM, then SIGKILL after `grace` seconds (grace 0: SIGKILL at once); kill():
      SIGKILL; terminate(): SIGTERM to the process alone, as a kubelet or a supervisor sends
      it; restart() runs the same command again, its output added to the same log.
    - A context manager: started on entry if it is not yet, stopped on exit.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        log: Path | None = None,
        own_group: bool = True,
        grace: float = 10.0,
        base_url: str | None = None,
        ready: str | Callable[[], object] | None = None,
        start: bool = True,
    ) -> None:
        """`base_url` is where it serves (wait_ready(path=...) is relative to it); `ready` what
        wait_ready() with no argument waits for: a URL to answer 200, or a predicate."""
        self.command = list(command)
        self.name = name or shlex.join(self.command)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log = log
        self.own_group = own_group
        self.grace = grace
        self.base_url = base_url
        self.ready = ready
        self._lines: list[str] = []
        self._popen: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.started_at = 0.0  # time.monotonic() just before the last spawn
        if start:
            self.start()

    # --- running it -------------------------------------------------------------------------

    def start(self) -> None:
        if self.running():
            raise RuntimeError(f"{self.name} is already running")
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("ab") as out:
                self._popen = self._spawn(out)
        else:
            self._popen = self._spawn(subprocess.PIPE)
            self._reader = threading.Thread(target=self._collect, args=(self._popen,), daemon=True)
            self._reader.start()

    def _spawn(self, stdout: int | IO[bytes]) -> subprocess.Popen[str]:
        self.started_at = time.monotonic()
        return subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=self.own_group,
        )

    def _collect(self, popen: subprocess.Popen[str]) -> None:
        assert popen.stdout is not None
        with popen.stdout:
            for line in popen.stdout:
                self._lines.append(line)

    def restart(self) -> None:
        """The same command again (stopped first if it still runs)."""
        self.stop()
        self.start()

    @property
    def popen(self) -> subprocess.Popen[str]:
        if self._popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._popen

    @property
    def pid(self) -> int:
        return self.popen.pid

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """Its exit code once it has ended (negative: the signal that killed it), else None."""
        return None if self._popen is None else self._popen.poll()

    def status(self) -> str:
        """ "running (pid N)", "exited with code N", "killed by SIGKILL" or "not started"."""
        code = self.returncode
        if self._popen is None:
            return "not started"
        if code is None:
            return f"running (pid {self._popen.pid})"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def tree(self) -> list[psutil.Process]:
        """The process and everything it started, while it runs."""
        if not self.running():
            return []
        try:
            parent = psutil.Process(self.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    # --- waiting for it -----------------------------------------------------------------------

    def wait_ready(
        self,
        check: str | Callable[[], object] | None = None,
        *,
        path: str | None = None,
        status: int = 200,
        timeout: float = 30.0,
        interval: float = 0.05,
        what: str | None = None,
    ) -> float:
        """Wait until `check` holds: a URL that answers `status`, a predicate that returns
        something truthy; `path` is a URL under base_url; neither is the `ready` it was made
        with. Returns the seconds since it was spawned. Raises ProcessExited as soon as it
        ends, WaitTimeout after `timeout` seconds; both say how it ended and its output."""
        if path is not None:
            if self.base_url is None:
                raise ValueError(f"{self.name} has no base_url for path {path!r}")
            check = f"{self.base_url}{path}"
        check = check if check is not None else self.ready
        if check is None:
            raise ValueError(f"{self.name}: wait_ready needs a URL or a predicate")
        with httpx.Client(timeout=1.0) as client:
            if isinstance(check, str):
                probe: Callable[[], object] = answers(check, status, client)
                what = what or f"{self.name} answers {status} at {check}"
                ignoring: tuple[type[BaseException], ...] = (httpx.HTTPError,)
            else:
                probe, what, ignoring = check, what or f"{self.name} is ready", ()

            def ready() -> object:
                try:
                    value = probe()
                except BaseException:
                    self._fail_if_ended(what)
                    raise
                if not value:
                    self._fail_if_ended(what)
                return value

            wait_until(
                ready, timeout, what, interval=interval, ignoring=ignoring, details=self.report
            )
            return time.monotonic() - self.started_at

    def _fail_if_ended(self, what: str) -> None:
        if self._popen is not None and self._popen.poll() is not None:
            raise ProcessExited(f"{self.name} {self.status()} before {what}", self.report())

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to end by itself; its exit code (subprocess.TimeoutExpired if not)."""
        return self.popen.wait(timeout)

    # --- stopping it --------------------------------------------------------------------------

    def send_signal(self, sig: int) -> None:
        """Send `sig` to its process group (to the process alone without a group of its own)."""
        if self._popen is None:
            return
        if self.own_group:
            with contextlib.suppress(ProcessLookupError):  # the whole group has ended
                os.killpg(self._popen.pid, sig)
        elif self._popen.poll() is None:
            self._popen.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL, the whole group: as a crash would."""
        self.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM to the process alone (its group is its own to stop); its exit code."""
        if self.running():
            self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM, then SIGKILL if it still runs after `grace` seconds (the one it was made
        with by default; 0 SIGKILLs at once). Its exit code; None if it never started."""
        if self._popen is None:
            return None
        grace = self.grace if grace is None else grace
        if self._popen.poll() is None and grace > 0:
            self.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._popen.wait(grace)
        if self._popen.poll() is None:
            self.send_signal(signal.SIGKILL)
            self._popen.wait(10)
        return self._popen.returncode

    def __enter__(self) -> Process:
        if self._popen is None:
            self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- what it said -------------------------------------------------------------------------

    @property
    def output(self) -> list[str]:
        """Its output, one line (with its newline) each."""
        if self.log is None:
            return self._lines
        return self.text().splitlines(keepends=True)

    def text(self) -> str:
        if self.log is None:
            return "".join(self._lines)
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tail(self, chars: int = TAIL_CHARS) -> str:
        return self.text()[-chars:]

    def report(self) -> str:
        """For a failure message: how it is, and the end of its output."""
        if self._reader is not None and not self.running():
            self._reader.join(1.0)  # what it said last, unless a survivor holds its pipe open
        said = self.tail()
        where = f" (all of it in {self.log})" if self.log is not None else ""
        ending = f"; its output ends{where}:\n{said}" if said else "; it printed nothing"
        return f"{self.name}: {self.status()}{ending}"

    def __repr__(self) -> str:
        return f"<Process {self.name!r} {self.status()}>"
