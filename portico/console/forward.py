"""Spans received by the console, passed on to the collector the user named.

`portico dev` points its processes at the console; when the user's environment names an OTLP
endpoint too, the gateway sends each export on there as it came (`portico gateway
--otlp-forward`), with the headers of OTEL_EXPORTER_OTLP_TRACES_HEADERS or
OTEL_EXPORTER_OTLP_HEADERS, as an OTLP exporter would. A collector that is away or slow never
holds a request up: sends run in the background, at most a few at once, and the rest are dropped
with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

import aiohttp
from opentelemetry.util.re import parse_env_headers

log = logging.getLogger("portico.console")

MAX_IN_FLIGHT = 8
TIMEOUT = aiohttp.ClientTimeout(total=10)
WARN_EVERY_SECONDS = 30.0
HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")


def export_headers(environ: Mapping[str, str]) -> dict[str, str]:
    for name in HEADER_VARIABLES:
        if environ.get(name):
            return dict(parse_env_headers(environ[name], liberal=True))
    return {}


class OtlpForward:
    def __init__(self, endpoint: str, headers: Mapping[str, str] | None = None) -> None:
        self.endpoint = endpoint
        self.headers = {**(headers or {}), "Content-Type": "application/x-protobuf"}
        self.session: aiohttp.ClientSession | None = None
        self.in_flight: set[asyncio.Task[None]] = set()
        self.dropped = 0
        self.failed = 0
        self._warned_at = 0.0

    def send(self, body: bytes) -> None:
        """Start sending one export; dropped when MAX_IN_FLIGHT are still on their way."""
        if len(self.in_flight) >= MAX_IN_FLIGHT:
            self.dropped += 1
            self._warn(f"{self.endpoint} is not keeping up: dropped an export")
            return
        task = asyncio.get_running_loop().create_task(self._send(body))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def _send(self, body: bytes) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=TIMEOUT)
        try:
            async with self.session.post(self.endpoint, data=body, headers=self.headers) as sent:
                if sent.status >= 300:
                    self.failed += 1
                    self._warn(f"{self.endpoint} answered an export with {sent.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.failed += 1
            self._warn(f"could not forward spans to {self.endpoint}: {exc!r}")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("%s (warnings repeat at most every %.0f s)", message, WARN_EVERY_SECONDS)

    async def close(self) -> None:
        """Let the exports on their way finish (each bounded by its timeout)."""
        if self.in_flight:
            await asyncio.gather(*self.in_flight, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
