"""One Lua script on Redis, run from asyncio at the cost of a write and a read: what the dev
gateway's rate limiter needs on every request (portico.policies.rate_limit).

redis-py's asyncio client spent about a quarter of the gateway's CPU per request on the one
EVALSHA a request needs (its connection pool, retry wrapper, observability hooks, command
table and pure-Python reply parser). This is one connection and a RESP2 reader: a call writes
EVALSHA (EVAL once when the server does not know the script yet, e.g. after a restart) and
awaits its reply. Calls made meanwhile by other requests are pipelined on the same connection;
Redis answers in order, so replies go to the callers first in, first out.

Any failure (refused, closed, a reply later than `timeout`) raises; the connection is then
dropped and the next call opens a new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any

from redis.connection import parse_url

Reply = int | bytes | str | list[Any] | None


class ReplyError(Exception):
    """An error reply from Redis (`-ERR ...`, `-NOSCRIPT ...`)."""


class _Incomplete(Exception):
    """The buffer ends inside a reply."""


def pack(*parts: bytes) -> bytes:
    """One command in RESP (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def parse(buffer: bytes | bytearray, start: int) -> tuple[Reply | ReplyError, int]:
    """The RESP2 reply at `start` and where it ends; _Incomplete if it has not all arrived."""
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise _Incomplete
    kind, line, after = buffer[start], bytes(buffer[start + 1 : end]), end + 2
    if kind == 0x3A:  # ':' integer
        return int(line), after
    if kind == 0x2A:  # '*' array
        count = int(line)
        if count < 0:
            return None, after
        items: list[Any] = []
        for _ in range(count):
            item, after = parse(buffer, after)
            items.append(item)
        return items, after
    if kind == 0x24:  # '$' bulk string
        size = int(line)
        if size < 0:
            return None, after
        if len(buffer) < after + size + 2:
            raise _Incomplete
        return bytes(buffer[after : after + size]), after + size + 2
    if kind == 0x2B:  # '+' simple string
        return line.decode(), after
    if kind == 0x2D:  # '-' error
        return ReplyError(line.decode(errors="replace")), after
    raise ConnectionError(f"unexpected reply from Redis: {bytes(buffer[start:end])[:80]!r}")


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Reply | ReplyError]] = deque()
        self.buffer = bytearray()
        self.lost: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        start = 0
        try:
            while self.waiting and start < len(self.buffer):
                reply, start = parse(self.buffer, start)
                waiter = self.waiting.popleft()
                if not waiter.done():  # a caller that gave up still had its reply coming
                    waiter.set_result(reply)
        except _Incomplete:
            pass
        except (ConnectionError, ValueError) as exc:
            self.close(ConnectionError(f"bad reply from Redis: {exc}"))
            return
        del self.buffer[:start]

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("Redis closed the connection")
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"lost the Redis connection: {self.lost}"))

    def call(self, command: bytes) -> asyncio.Future[Reply | ReplyError]:
        if self.lost is not None or self.transport is None or self.transport.is_closing():
            raise ConnectionError(f"lost the Redis connection: {self.lost}")
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        self.transport.write(command)
        return waiter

    def close(self, reason: BaseException | None = None) -> None:
        if self.transport is not None:
            self.transport.abort()
        if reason is not None:
            self.connection_lost(reason)  # type: ignore[arg-type]


class ScriptClient:
    """Runs one Lua script on the Redis at `url` (redis://, rediss://, unix://, with the
    password and db redis-py reads from a URL); `timeout` bounds the connect and each reply."""

    def __init__(self, url: str, script: str, timeout: float = 0.5) -> None:
        self.options = parse_url(url)  # type: ignore[no-untyped-call]
        self.tls = url.startswith("rediss://")
        self.script = script.encode()
        self.sha = hashlib.sha1(self.script).hexdigest().encode()
        self.timeout = timeout
        self._connection: _Connection | None = None
        self._connecting: asyncio.Future[_Connection] | None = None

    async def run(self, keys: Sequence[str], args: Sequence[int | str]) -> Reply:
        """The script's reply; ReplyError, ConnectionError or TimeoutError when there is none."""
        operands = [str(len(keys)).encode(), *(k.encode() for k in keys)]
        operands += [str(a).encode() for a in args]
        reply = await self._call(pack(b"EVALSHA", self.sha, *operands))
        if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
            reply = await self._call(pack(b"EVAL", self.script, *operands))  # caches it, too
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    async def _call(self, command: bytes) -> Reply | ReplyError:
        connection = self._connection
        if connection is None or connection.lost is not None:
            connection = await self._connect()
        try:
            async with asyncio.timeout(self.timeout):
                return await connection.call(command)
        except TimeoutError:
            self._drop(connection)  # replies may still come: this connection's order is lost
            raise
        except ConnectionError:
            self._drop(connection)
            raise

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        if self._connection is connection:
            self._connection = None

    async def _connect(self) -> _Connection:
        """The connection every caller shares, opened by the first that needs it."""
        connecting = self._connecting
        if connecting is None:
            connecting = self._connecting = asyncio.ensure_future(self._open())
            connecting.add_done_callback(self._opened)
        return await asyncio.shield(connecting)

    def _opened(self, connecting: asyncio.Future[_Connection]) -> None:
        if self._connecting is connecting:
            self._connecting = None  # the next caller that finds no connection tries again
        if not connecting.cancelled():
            connecting.exception()  # its callers have it; retrieved, so never "unretrieved"

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        options = self.options
        async with asyncio.timeout(self.timeout):
            if "path" in options:
                _, connection = await loop.create_unix_connection(_Connection, options["path"])
            else:
                _, connection = await loop.create_connection(
                    _Connection,
                    options.get("host", "localhost"),
                    int(options.get("port", 6379)),
                    ssl=self._ssl_context() if self.tls else None,
                )
            try:
                for command in self._handshake():
                    reply = await connection.call(command)
                    if isinstance(reply, ReplyError):
                        raise ConnectionError(f"Redis refused the connection: {reply}")
            except BaseException:
                connection.close()
                raise
        self._connection = connection
        return connection

    def _handshake(self) -> list[bytes]:
        options, commands = self.options, []
        if options.get("password"):
            credentials = [str(options["password"]).encode()]
            if options.get("username"):
                credentials.insert(0, str(options["username"]).encode())
            commands.append(pack(b"AUTH", *credentials))
        if int(options.get("db", 0) or 0):
            commands.append(pack(b"SELECT", str(options["db"]).encode()))
        return commands

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if str(self.options.get("ssl_cert_reqs", "required")).lower() in ("none", "0"):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
