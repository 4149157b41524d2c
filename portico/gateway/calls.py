"""A request on its way through the dev gateway: the function it goes to (`Upstream`), what
the gateway knows of it (`Call`), and its body, read within the route's limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cached_property

import aiohttp
from aiohttp import web

from portico.manifest import Api, Manifest
from portico.manifest.limits import GATEWAY_MARGIN_SECONDS, upstream_timeout_seconds
from portico.policies.consumers import Consumer
from portico.policies.upstream import header_policy

# Hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded; Host is the upstream's.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
        "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length",
    )
)  # fmt: skip
BODY_IDLE_SECONDS = 10.0  # the longest a client may pause while sending a body (Kong: 60)
READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upstream:
    manifest: Manifest
    base_url: str
    margin_seconds: int = GATEWAY_MARGIN_SECONDS

    @property
    def timeout_seconds(self) -> int:
        return upstream_timeout_seconds(self.manifest, self.margin_seconds)

    @cached_property
    def client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.timeout_seconds)

    @cached_property
    def dropped(self) -> frozenset[str]:
        """Client headers never forwarded (lower case): hop-by-hop ones and
        portico.policies.upstream's."""
        api = self.manifest.api
        return HOP_BY_HOP | (header_policy(api).removed() if api is not None else frozenset())


@dataclass(frozen=True)
class Call:
    """One request on its way through the gateway's policies to its function."""

    request: web.BaseRequest
    upstream: Upstream
    consumer: Consumer | None
    request_id: str
    body: bytes

    @property
    def api(self) -> Api:
        assert self.upstream.manifest.api is not None  # only HTTP functions are upstreams
        return self.upstream.manifest.api

    @property
    def consumer_id(self) -> str:
        return self.consumer.id if self.consumer else ""


async def read_body(request: web.BaseRequest, limit: int) -> bytes | None:
    """The body, or None when it is larger than the route's max_body_bytes; TimeoutError when
    the client sends none of it for BODY_IDLE_SECONDS (also what a malformed chunk arriving
    after the headers comes to: aiohttp's parser stops, and the body never ends).

    What has already arrived is taken without a timer: the timeout only bounds a wait."""
    if request.content_length is not None and request.content_length > limit:
        return None
    content = request.content
    body = bytearray()
    while True:
        chunk = content.read_nowait(READ_BYTES)
        if not chunk:
            if content.at_eof():  # also every request without a body
                return bytes(body)
            async with asyncio.timeout(BODY_IDLE_SECONDS):
                chunk = await content.read(READ_BYTES)  # chunked bodies too
            if not chunk:
                return bytes(body)
        body += chunk
        if len(body) > limit:
            return None
