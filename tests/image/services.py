"""The host's Postgres and Redis at an address the containers reach, as a Service would give.

The embedded servers listen on 127.0.0.1 only, which a container does not share; a forwarder
on the test network's gateway address stands where kube-proxy's Service address would, so the
servers keep their loopback-only settings (and their trust authentication stays local).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Address:
    host: str
    port: int


class Forwarder:
    """Accepts on `listen` and copies bytes both ways to `target`, a thread per direction."""

    def __init__(self, listen_host: str, target: Address) -> None:
        self.target = target
        self._server = socket.create_server((listen_host, 0))
        self.address = Address(listen_host, self._server.getsockname()[1])
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name=f"forward-{target.port}", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((self.target.host, self.target.port), 5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # the 5 s were for connecting: idle connections stay open
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        self._server.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
    # Both pumps of a pair end here; closing twice is harmless.
    source.close()
