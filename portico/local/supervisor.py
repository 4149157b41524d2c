"""The supervisor behind `portico dev`: keeps every local process running until told to stop.

A process that exits on its own is started again after a backoff (0.5 s, doubling, at most
16 s; back to 0.5 s once it has stayed up for 30 s), with a line naming what died and how.
SIGINT or SIGTERM stops everything: each process's group gets SIGTERM and its own grace time
to drain, all at once; only one that overruns its grace is SIGKILLed. The servers (embedded
Postgres and Redis) stop last. A second SIGINT/SIGTERM kills the processes still draining.

Each child runs in its own session, so a terminal's Ctrl-C reaches only the supervisor, and
whatever a child started (gunicorn's worker, the gateway's on-demand functions) shares its
process group: it is signalled with it, and ended with it when the child dies.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Protocol

BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 16.0
STABLE_AFTER_SECONDS = 30.0  # an uptime this long means the next exit starts the backoff over
SERVER_POLL_SECONDS = 0.5
SUPERVISOR_NAME = "portico"
COLOURS = ("36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91")


def restart_delay(failures: int) -> float:
    """Seconds to wait before restarting a process that has exited `failures` times in a row."""
    return min(BACKOFF_FIRST_SECONDS * 2.0 ** max(failures - 1, 0), BACKOFF_CAP_SECONDS)


def failures_in_a_row(previous: int, uptime_seconds: float) -> int:
    """The count of exits in a row after one more, given how long the process had been up."""
    return 1 if uptime_seconds >= STABLE_AFTER_SECONDS else previous + 1


def describe_exit(returncode: int) -> str:
    """Popen's returncode in words: "code 1", or "killed by SIGKILL"."""
    if returncode >= 0:
        return f"code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


class Printer:
    """Each line of output prefixed with the time and the name of its process (coloured on a
    terminal), as honcho prints them; one lock, so lines never interleave."""

    def __init__(self, stream: IO[str], names: Iterable[str]) -> None:
        self.stream = stream
        known = [SUPERVISOR_NAME, *names]
        self.width = max(len(name) for name in known)
        colour = stream.isatty()
        self.colours = dict(zip(known, itertools.cycle(COLOURS), strict=False)) if colour else {}
        self.lock = threading.RLock()  # re-entrant: a signal handler may print mid-line

    def line(self, name: str, text: str) -> None:
        prefix = f"{time.strftime('%H:%M:%S')} {name:<{self.width}} | "
        if name in self.colours:
            prefix = f"\033[{self.colours[name]}m{prefix}\033[0m"
        with self.lock:
            self.stream.write(prefix + text.rstrip("\n") + "\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        self.line(SUPERVISOR_NAME, text)


class Supervised(Protocol):
    name: str

    def start(self) -> int | None:
        """Start it; returns its pid."""

    def wait(self, stopping: threading.Event) -> str:
        """Block until it has exited (or `stopping` is set); returns how it ended."""

    def leftovers(self) -> int:
        """How many processes it started are still running after it exited."""

    def stop(self) -> str:
        """Stop it within its grace time, or kill it when it overruns; returns how it ended."""


@dataclass(frozen=True)
class Program:
    name: str
    command: Sequence[str]
    grace_seconds: float  # from SIGTERM to SIGKILL: the time it needs to drain


class ChildProcess:
    """A program run as a child of the supervisor, in a session (and process group) of its own,
    its output printed line by line."""

    def __init__(self, program: Program, env: Mapping[str, str], printer: Printer) -> None:
        self.program = program
        self.name = program.name
        self.env = dict(env)
        self.printer = printer
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> int:
        self.popen = subprocess.Popen(
            list(self.program.command),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        threading.Thread(target=self._print_output, args=(self.popen,), daemon=True).start()
        return self.popen.pid

    def _print_output(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None
        for raw in popen.stdout:
            self.printer.line(self.name, raw.decode(errors="replace"))

    def wait(self, stopping: threading.Event) -> str:
        assert self.popen is not None
        return describe_exit(self.popen.wait())

    def leftovers(self) -> int:
        return len(live_group_members(self.popen.pid)) if self.popen is not None else 0

    def stop(self) -> str:
        if self.popen is None or not self._group_alive():
            return "was not running"
        self._signal_group(signal.SIGTERM)
        if not self._gone_within(self.program.grace_seconds):
            self.printer.say(
                f"{self.name} did not stop within {self.program.grace_seconds:.0f} s of SIGTERM;"
                " killing it (SIGKILL)"
            )
            self.kill()
        return describe_exit(self.popen.wait())

    def kill(self) -> None:
        self._signal_group(signal.SIGKILL)

    def _gone_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self._group_alive():
                return True
            time.sleep(0.05)
        return not self._group_alive()

    def _group_alive(self) -> bool:
        if self.popen is None:
            return False
        return self.popen.poll() is None or bool(live_group_members(self.popen.pid))

    def _signal_group(self, signum: signal.Signals) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signum)  # its own session: the group id is its pid


def live_group_members(pgid: int) -> list[int]:
    """The pids of the group's live processes. Zombies do not count: a process orphaned by a
    killed parent may wait a while for PID 1 to reap it, or forever."""
    proc = Path("/proc")
    if not proc.is_dir():  # no /proc (macOS): ask the kernel, which counts zombies too
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for stat in proc.glob("[0-9]*/stat"):
        try:
            state, _ppid, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


class Server(Protocol):
    """An embedded server that runs detached (portico.local.embedded_postgres, embedded_redis)."""

    def start(self) -> str: ...

    def stop(self) -> None: ...

    def pid(self) -> int | None: ...


class WatchedServer:
    """A detached server, watched by its pid: not our child, so how it died is not known."""

    def __init__(self, name: str, server: Server) -> None:
        self.name = name
        self.server = server

    def start(self) -> int | None:
        self.server.start()  # reuses the server when it is already running
        return self.server.pid()

    def wait(self, stopping: threading.Event) -> str:
        pid = self.server.pid()
        while not stopping.wait(SERVER_POLL_SECONDS):
            if pid is None or self.server.pid() != pid:
                return f"pid {pid} is gone"
        return "stopped"

    def leftovers(self) -> int:
        return 0  # its backends exit by themselves when they see it gone

    def stop(self) -> str:
        self.server.stop()
        return "shut down"


class Supervisor:
    """Keeps `programs` and `servers` running; on a stop, the programs first (all at once),
    then the servers (in reverse order)."""

    def __init__(
        self, programs: Sequence[ChildProcess], servers: Sequence[WatchedServer], printer: Printer
    ) -> None:
        self.programs = list(programs)
        self.servers = list(servers)
        self.printer = printer
        self.stopping = threading.Event()
        self._locks = {id(unit): threading.Lock() for unit in self.everything}
        self._watchers: list[threading.Thread] = []

    @property
    def everything(self) -> list[Supervised]:
        return [*self.servers, *self.programs]

    def run(self) -> None:
        """Start everything, keep it running until SIGINT or SIGTERM, then stop it all."""
        requested = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            if requested.is_set():
                self.printer.say("stopping now: killing the processes still draining")
                for program in self.programs:
                    program.kill()
                return
            self.printer.say(f"{signal.Signals(signum).name}: stopping every process")
            requested.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not requested.wait(1.0):
                pass
            self.stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def start(self) -> None:
        for unit in self.everything:
            watcher = threading.Thread(target=self._keep_running, args=(unit,), daemon=True)
            watcher.start()
            self._watchers.append(watcher)

    def _keep_running(self, unit: Supervised) -> None:
        failures = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            how = self._start_and_wait(unit)
            if self.stopping.is_set():
                return
            failures = failures_in_a_row(failures, time.monotonic() - started)
            delay = restart_delay(failures)
            self._report_exit(unit, how, delay)
            self.stopping.wait(delay)

    def _report_exit(self, unit: Supervised, how: str, delay: float) -> None:
        """Say what died and how; first stop what it left running (gunicorn's worker, the
        gateway's on-demand functions), which would hold the ports its successor needs."""
        left = unit.leftovers()
        if not left:
            self.printer.say(f"{unit.name} exited ({how}); restarting in {delay:.1f} s")
            return
        self.printer.say(
            f"{unit.name} exited ({how}); stopping the {left} process(es) it left running,"
            f" then restarting in {delay:.1f} s"
        )
        unit.stop()

    def _start_and_wait(self, unit: Supervised) -> str:
        with self._locks[id(unit)]:
            if self.stopping.is_set():
                return "stopped"
            try:
                pid = unit.start()
            except Exception as exc:
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                return f"failed to start: {first_line}"
        self.printer.say(f"{unit.name} started (pid {pid})")
        return unit.wait(self.stopping)

    def stop(self) -> None:
        self.stopping.set()
        stoppers = [threading.Thread(target=self._stop, args=(p,)) for p in self.programs]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in reversed(self.servers):
            self._stop(server)
        for watcher in self._watchers:
            watcher.join(5)

    def _stop(self, unit: Supervised) -> None:
        started = time.monotonic()
        with self._locks[id(unit)]:  # waits for a start under way
            try:
                how = unit.stop()
            except Exception as exc:
                self.printer.say(f"{unit.name} did not stop cleanly: {exc}")
                return
        self.printer.say(f"{unit.name} stopped ({how}) in {time.monotonic() - started:.1f} s")
