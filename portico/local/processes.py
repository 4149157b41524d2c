"""Checks on the detached processes of the embedded servers, found by their pidfiles, and
waiting for a condition."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

LOG_TAIL_LINES = 20


def process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A daemonized server killed with SIGKILL is reparented to PID 1, which
    # may never reap it; a zombie is as good as gone.
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return status.rpartition(")")[2].split()[0] != "Z"


def looks_like_postgres(pid: int) -> bool:
    # After a reboot, a stale postmaster.pid may name an unrelated process.
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return b"postgres" in command_line or b"postmaster" in command_line


def read_pid(pidfile: Path) -> int | None:
    """The pid on the pidfile's first line."""
    try:
        return int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `condition` until it holds (True) or `timeout_s` passes (its last answer)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """A server log's last lines, for an error message."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
