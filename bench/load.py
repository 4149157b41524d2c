"""The load generator, run as its own process: `python -m bench.load --help`.

Two models, each over HTTP/1.1 keep-alive connections (uvloop + httptools' C parser, so one
generator core outpaces a one-process server):

- closed: N connections send back to back; the peak throughput a server sustains.
- open: requests are *scheduled* at a constant arrival rate and latency is measured from the
  scheduled time, so a slow server cannot slow the generator and hide its queueing
  (coordinated omission). A request waits for a free connection, and that wait counts.

Prints one JSON object: throughput, latency percentiles (ms), statuses, errors and the
generator's own CPU use (near 100% means the generator, not the server, was the limit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools
import uvloop

CONNECT_RETRY_SECONDS = 0.05


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    unique_header: str | None  # a fresh uuid per request, e.g. Idempotency-Key

    def request_bytes(self) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.unique_header:
            lines.append(f"{self.unique_header}: {uuid.uuid4()}")
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class Samples:
    """Completed requests inside the measured window (after the warm-up)."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    def record(self, latency: float, status: str) -> None:
        self.latencies.append(latency)
        self.statuses[status] += 1


class ResponseDone(Exception):
    pass


class Connection:
    """One keep-alive connection; reconnects when the server closes it."""

    opened = 0  # connections opened by this process (a count above --connections means reconnects)

    def __init__(self, target: Target) -> None:
        self.target = target
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._complete = False
        self._keep_alive = True
        self.parser = httptools.HttpResponseParser(self)

    def on_message_complete(self) -> None:
        self._complete = True
        # Only meaningful while the parser is on this message, so read it here.
        self._keep_alive = self.parser.should_keep_alive()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                self.target.host, self.target.port
            )
            self.parser = httptools.HttpResponseParser(self)
            Connection.opened += 1
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self) -> str:
        """One request and its whole response; returns the status code, or an error name."""
        try:
            reader, writer = await self._connect()
            writer.write(self.target.request_bytes())
            self._complete = False
            while not self._complete:
                chunk = await reader.read(65536)
                if not chunk:
                    raise ConnectionResetError("server closed the connection")
                self.parser.feed_data(chunk)
            status = str(self.parser.get_status_code())
            if not self._keep_alive:
                self.close()
            return status
        except (OSError, httptools.HttpParserError) as exc:
            self.close()
            await asyncio.sleep(CONNECT_RETRY_SECONDS)
            return type(exc).__name__


async def closed_model(target: Target, connections: int, warmup: float, duration: float) -> Samples:
    samples = Samples()
    started = time.perf_counter()
    measure_from, end = started + warmup, started + warmup + duration

    async def client() -> None:
        connection = Connection(target)
        while (sent := time.perf_counter()) < end:
            status = await connection.send()
            done = time.perf_counter()
            if sent >= measure_from and done <= end:
                samples.record(done - sent, status)
        connection.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return samples


async def open_model(
    target: Target, rate: float, connections: int, warmup: float, duration: float
) -> tuple[Samples, float]:
    """Returns the samples and the dispatcher's worst lag behind its schedule (seconds)."""
    samples = Samples()
    scheduled: asyncio.Queue[float | None] = asyncio.Queue()
    started = time.perf_counter() + 0.05
    measure_from = started + warmup
    total = math.floor(rate * (warmup + duration))
    worst_lag = 0.0

    async def dispatch() -> None:
        nonlocal worst_lag
        for i in range(total):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            worst_lag = max(worst_lag, time.perf_counter() - due)
            scheduled.put_nowait(due)
        for _ in range(connections):
            scheduled.put_nowait(None)

    async def client() -> None:
        connection = Connection(target)
        while (due := await scheduled.get()) is not None:
            status = await connection.send()
            if due >= measure_from:
                samples.record(time.perf_counter() - due, status)
        connection.close()

    await asyncio.gather(dispatch(), *(client() for _ in range(connections)))
    return samples, worst_lag


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(samples: Samples, duration: float, cpu_seconds: float) -> dict[str, Any]:
    ordered = sorted(samples.latencies)
    ok = sum(n for status, n in samples.statuses.items() if status.isdigit() and int(status) < 400)
    ms: Callable[[float], float] = lambda seconds: round(seconds * 1000, 3)  # noqa: E731
    return {
        "requests": len(ordered),
        "ok": ok,
        "errors": len(ordered) - ok,
        "statuses": dict(samples.statuses),
        "throughput": round(len(ordered) / duration, 1),
        "latency_ms": {
            "p50": ms(percentile(ordered, 0.50)),
            "p90": ms(percentile(ordered, 0.90)),
            "p99": ms(percentile(ordered, 0.99)),
            "max": ms(ordered[-1]) if ordered else math.nan,
            "mean": ms(sum(ordered) / len(ordered)) if ordered else math.nan,
        },
        "generator_cpu_percent": round(100 * cpu_seconds / duration, 1),
        "connections_opened": Connection.opened,
    }


def parse_target(args: argparse.Namespace) -> Target:
    url = urlsplit(args.url)
    if url.scheme != "http" or not url.hostname or not url.port:
        raise SystemExit(f"--url: expected http://HOST:PORT/PATH, got {args.url!r}")
    headers = []
    for item in args.header:
        name, sep, value = item.partition(":")
        if not sep:
            raise SystemExit(f"--header: expected 'Name: value', got {item!r}")
        headers.append((name.strip(), value.strip()))
    if args.body:
        headers.append(("Content-Type", "application/json"))
    return Target(
        host=url.hostname,
        port=url.port,
        method=args.method.upper(),
        path=(url.path or "/") + (f"?{url.query}" if url.query else ""),
        headers=tuple(headers),
        body=args.body.encode(),
        unique_header=args.unique_header,
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="Send HTTP load and print throughput and latency as JSON.",
    )
    p.add_argument("--url", required=True, help="http://HOST:PORT/PATH")
    p.add_argument("--mode", choices=("closed", "open"), default="closed")
    p.add_argument("--connections", type=int, default=16, help="Concurrent connections.")
    p.add_argument("--rate", type=float, help="Requests per second (open model).")
    p.add_argument("--duration", type=float, default=10.0, help="Measured seconds.")
    p.add_argument("--warmup", type=float, default=2.0, help="Unmeasured seconds first.")
    p.add_argument("--method", default="GET")
    p.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'")
    p.add_argument("--body", default="", help="A JSON request body.")
    p.add_argument("--unique-header", metavar="NAME", help="Send a fresh uuid in this header.")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    args = parser().parse_args(argv)
    target = parse_target(args)
    if args.mode == "open" and not args.rate:
        raise SystemExit("--mode open needs --rate")
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    lag = 0.0
    if args.mode == "closed":
        coroutine = closed_model(target, args.connections, args.warmup, args.duration)
        samples = uvloop.run(coroutine)
    else:
        run = open_model(target, args.rate, args.connections, args.warmup, args.duration)
        samples, lag = uvloop.run(run)
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    result = summarize(samples, args.duration, cpu * args.duration / (args.duration + args.warmup))
    result.update(mode=args.mode, connections=args.connections, duration=args.duration)
    if args.mode == "open":
        result.update(rate=args.rate, dispatch_lag_ms=round(lag * 1000, 3))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
