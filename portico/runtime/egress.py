"""The egress guard: while a handler runs, it may connect only to what its manifest binds.

That is its store (DATABASE_URL's host:port), its queues (REDIS_URL's) and its declared
dependencies (their base URLs' host:port). A connection to anything else is refused
(PORTICO_EGRESS=enforce, the default), or logged and counted only (warn); with `off` nothing
watches. Every refusal is a warning log line with the request id and a count in
`portico_egress_denied_total{function,mode}`.

The guard is a Python audit hook (PEP 578), installed once per process, on the events
`socket.connect` (an AF_INET/AF_INET6 socket; Unix sockets are not egress) and
`socket.getaddrinfo` (a name the function may not reach is refused before any DNS). A
thread-local scope says "a handler of this function is running on this thread", so the
runtime's own work around the handler (the commit, the fast-path push, the idempotency store,
logging) is never looked at. A refusal raises `EgressDenied`, a Problem and not an OSError, so
a library does not take it for a network error and retry or carry on; it is also recorded in
the invocation's effects ledger, so that even when something catches it the invocation answers
500 and rolls back.

Allowed names are resolved to addresses when the guard is built and again on a miss (at most
every few seconds), so `localhost` and `127.0.0.1` are the same endpoint. libpq connects in C,
out of the hook's sight; Postgres is allowed anyway.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

from portico import metrics
from portico.problems import EgressDenied
from portico.runtime.effects import Effects
from portico.settings import EgressMode

log = logging.getLogger("portico.runtime.egress")

Endpoint = tuple[str, int]
EVENTS = frozenset({"socket.connect", "socket.getaddrinfo"})
INET = frozenset({socket.AF_INET, socket.AF_INET6})
RESOLVE_AGAIN_SECONDS = 5.0
DEFAULT_PORTS = {"http": 80, "https": 443, "redis": 6379, "rediss": 6379}


def normal(host: str | bytes) -> str:
    """A host as the guard compares it: an address in its canonical text, a name lower-case."""
    text = host.decode("idna") if isinstance(host, bytes) else host
    text = text.strip("[]")
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        return text.lower().rstrip(".")


def url_endpoint(url: str) -> Endpoint | None:
    """An http(s) or redis URL's host:port; None for a Unix socket or no host."""
    parts = urlsplit(url)
    if not parts.hostname or parts.scheme not in DEFAULT_PORTS:
        return None
    return normal(parts.hostname), parts.port or DEFAULT_PORTS[parts.scheme]


def database_endpoints(url: str) -> list[Endpoint]:
    """A libpq URL's host:port pairs (it may name several); Unix-socket directories are not."""
    try:
        params = conninfo_to_dict(url)
    except Exception:  # psycopg.ProgrammingError: not a conninfo the guard can read
        return []
    hosts = str(params.get("host") or "localhost").split(",")
    ports = str(params.get("port") or "5432").split(",")
    if len(ports) == 1:
        ports = ports * len(hosts)
    return [
        (normal(host), int(port or 5432))
        for host, port in zip(hosts, ports, strict=False)
        if host and not host.startswith("/") and not host.startswith("@")
    ]


class Allowance:
    """What one function's handler may connect to, and how a refusal is told."""

    def __init__(
        self, function: str, manifest_file: str, mode: EgressMode, endpoints: Iterable[Endpoint]
    ) -> None:
        self.function = function
        self.manifest_file = manifest_file
        self.mode = mode
        self.endpoints = frozenset(endpoints)
        self.names = frozenset(host for host, _ in self.endpoints)
        self._addresses: frozenset[Endpoint] = self.endpoints
        self._resolved_at = 0.0
        self._resolve()

    def allows(self, host: str | bytes, port: int) -> bool:
        endpoint = (normal(host), port)
        return self._known(lambda: endpoint in self._addresses)

    def allows_name(self, host: str | bytes) -> bool:
        """A name or address looked up (getaddrinfo): one the function may reach at all."""
        name = normal(host)
        if name in self.names:
            return True
        return self._known(lambda: any(name == address for address, _ in self._addresses))

    def _known(self, check: Any) -> bool:
        if check():
            return True
        if time.monotonic() - self._resolved_at < RESOLVE_AGAIN_SECONDS:
            return False
        self._resolve()
        return bool(check())

    def _resolve(self) -> None:
        """The allowed names' addresses now (the names themselves stay allowed)."""
        addresses = set(self.endpoints)
        for host, port in self.endpoints:
            try:
                found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                log.debug("egress: cannot resolve %s: %s", host, exc)
                continue
            addresses.update((normal(str(info[4][0])), port) for info in found)
        self._addresses = frozenset(addresses)
        self._resolved_at = time.monotonic()

    def refusal(self, target: str) -> EgressDenied:
        return EgressDenied(
            f"{self.function} may not connect to {target}: its manifest does not declare it; "
            f"declare it under `dependencies:` in {self.manifest_file}"
        )


class Scope:
    __slots__ = ("allowance", "effects")

    def __init__(self, allowance: Allowance, effects: Effects) -> None:
        self.allowance = allowance
        self.effects = effects


_local = threading.local()
_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Add the audit hook to this process, once (a hook cannot be removed)."""
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True


def enter(allowance: Allowance, effects: Effects) -> Scope | None:
    """The handler of `allowance`'s function starts on this thread; returns what to restore."""
    previous: Scope | None = getattr(_local, "scope", None)
    _local.scope = Scope(allowance, effects)
    return previous


def leave(previous: Scope | None) -> None:
    _local.scope = previous


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audit event in the process (imports, opens, ...): out fast.
    if event not in EVENTS:
        return
    scope: Scope | None = getattr(_local, "scope", None)
    if scope is None:
        return
    allowance = scope.allowance
    if event == "socket.connect":
        sock, address = args
        if sock.family not in INET or allowance.allows(address[0], address[1]):
            return
        target = f"{address[0]}:{address[1]}"
    else:
        host, port = args[0], args[1]
        if host is None or allowance.allows_name(host):
            return
        target = f"{normal(host)}:{port}" if port is not None else normal(host)
    _refuse(scope, target)


def _refuse(scope: Scope, target: str) -> None:
    allowance = scope.allowance
    _local.scope = None  # whatever the log handlers do, the guard does not watch itself
    try:
        enforced = allowance.mode == "enforce"
        log.warning(
            "egress to %s %s: %s declares no such binding (PORTICO_EGRESS=%s); declare it "
            "under `dependencies:` in %s",
            target,
            "refused" if enforced else "allowed",
            allowance.function,
            allowance.mode,
            allowance.manifest_file,
        )
        metrics.EGRESS_DENIED.labels(allowance.function, allowance.mode).inc()
    finally:
        _local.scope = scope
    if enforced:
        problem = allowance.refusal(target)
        if scope.effects.denied is None:
            scope.effects.denied = problem
        raise problem
