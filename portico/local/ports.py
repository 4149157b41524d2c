"""TCP ports for the embedded servers: a free one, and the one a data dir's server last used
(recorded in `data_dir/port`, so a restarted server keeps its URL)."""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR like the servers themselves, so a port whose previous
    # connections linger in TIME_WAIT still counts as free.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def read_recorded_port(data_dir: Path) -> int | None:
    try:
        return int((data_dir / "port").read_text().strip())
    except (OSError, ValueError):
        return None


def choose_port(data_dir: Path) -> int:
    """The data dir's recorded port while it is free, else a fresh one."""
    recorded = read_recorded_port(data_dir)
    if recorded is not None and port_is_free(recorded):
        return recorded
    return free_port()


def record_port(data_dir: Path, port: int) -> None:
    (data_dir / "port").write_text(f"{port}\n")
