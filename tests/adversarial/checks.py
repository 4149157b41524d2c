"""What every answer in the adversarial suite must be, whatever was sent.

An `Exchange` is one request and what came back (or that nothing came back). `violations`
lists what is wrong with it:

- a 5xx, or no HTTP answer at all;
- a body that is not JSON: gateway rejections are Kong's `{"message": ...}` application/json,
  function errors application/problem+json; text/plain or text/html never;
- a stack trace or a server's own error page in the body;
- another consumer's data: a claim id, a policy id, a policy holder's name or a marker string
  owned by someone other than the caller, in the body or a header, that the caller did not send
  itself (an id the caller asked about may be echoed back in a 404).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
JSON_TYPES = ("application/json", "application/problem+json")
# What a stack trace or a server's built-in error page looks like in a body.
TRACE_MARKERS = (
    b"Traceback (most recent call last)",
    b'File "/',
    b"Server got itself in trouble",  # aiohttp's 500 page
    b"Internal Server Error</h1>",
    b"<html",
    b"<!DOCTYPE",
)
METRICS_PATH = "/metrics"  # Prometheus text, by design


@dataclass(frozen=True)
class Exchange:
    """One request as sent and the answer as received (status None: no answer came)."""

    consumer: str | None  # whose credentials were sent, if any
    method: str
    target: str  # the request target as sent: path and query
    request_headers: tuple[tuple[str, str], ...]
    request_body: bytes
    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    raw_request: bytes | None = None  # for requests sent over a raw socket
    note: str = ""  # e.g. why no answer came

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    @property
    def media_type(self) -> str:
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def json(self) -> object:
        return json.loads(self.body)

    def sent_text(self) -> bytes:
        """Everything the caller sent, percent-decoded too: what an answer may echo back."""
        if self.raw_request is not None:
            sent = self.raw_request
        else:
            lines = [f"{self.method} {self.target}"] + [
                f"{k}: {v}" for k, v in self.request_headers
            ]
            sent = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n" + self.request_body
        return sent + b"\n" + unquote_to_bytes(sent)

    def describe(self, limit: int = 400) -> str:
        """The exact request and the answer, short enough for a failure message."""
        if self.raw_request is not None:
            shown = self.raw_request[:limit]
            request = f"raw bytes ({len(self.raw_request)}): {shown!r}"
        else:
            headers = {
                k: (v if len(v) <= 80 else f"{v[:80]}…({len(v)} chars)")
                for k, v in self.request_headers
            }
            target = (
                self.target
                if len(self.target) <= 200
                else f"{self.target[:200]}…({len(self.target)} chars)"
            )
            body = self.request_body[:200]
            extra = f"…({len(self.request_body)} bytes)" if len(self.request_body) > 200 else ""
            request = f"{self.method} {target} headers={headers} body={body!r}{extra}"
        if self.status is None:
            return f"{request}\n    -> no answer ({self.note})"
        server = self.header("Server")
        answer = (
            f"{self.status} {self.header('Content-Type')!r}"
            + (f" Server={server!r}" if server else "")
            + f" body={self.body[:limit]!r}"
        )
        return f"{request}\n    -> {answer}"


Owners = Callable[[Iterable[str]], Mapping[str, str]]  # claim ids -> their owners (known ones)


@dataclass
class Ownership:
    """Who owns what: claim ids (looked up as they are seen), and fixed strings per consumer
    (policy ids, policy holders' names, the markers the suite puts in what it submits)."""

    claim_owners: Owners
    strings: dict[str, set[str]] = field(default_factory=dict)  # owner -> strings they own

    def add(self, owner: str, text: str) -> None:
        self.strings.setdefault(owner, set()).add(text)


def violations(exchange: Exchange, ownership: Ownership) -> list[str]:
    found = []
    if exchange.status is None:
        return [f"no HTTP answer ({exchange.note})"]
    if exchange.status >= 500:
        found.append(f"a {exchange.status}")
    found += body_problems(exchange)
    found += leaks(exchange, ownership)
    return found


def body_problems(exchange: Exchange) -> list[str]:
    status = exchange.status or 0
    target_path = exchange.target.split("?")[0]
    body, media = exchange.body, exchange.media_type
    found = [
        f"a stack trace or server error page ({m.decode()!r})" for m in TRACE_MARKERS if m in body
    ]
    if target_path == METRICS_PATH and status == 200:
        return found
    if exchange.method == "HEAD" and not body:
        if status >= 400 and media not in JSON_TYPES:
            found.append(f"a {status} with content type {media or 'none'!r}, not JSON")
        return found
    if not body and status < 400:
        return found  # 204, or a 2xx/3xx without a body
    if media not in JSON_TYPES:
        found.append(f"a {status} with content type {media or 'none'!r}, not JSON")
        return found
    try:
        parsed = exchange.json()
    except ValueError:
        return [*found, f"a {status} whose {media} body is not JSON"]
    if status >= 400 and not isinstance(parsed, dict):
        found.append(f"a {status} whose body is not a JSON object")
    elif status >= 400 and media == "application/problem+json":
        assert isinstance(parsed, dict)
        if parsed.get("status") != status or not isinstance(parsed.get("title"), str):
            found.append(f"a {status} problem without its status and title")
    return found


def leaks(exchange: Exchange, ownership: Ownership) -> list[str]:
    """Another consumer's data in the answer (body or headers) that the caller did not send."""
    answer = (
        exchange.body
        + b"\n"
        + "\n".join(f"{k}: {v}" for k, v in exchange.headers).encode("utf-8", "surrogateescape")
    )
    sent = exchange.sent_text().lower()
    found = []
    ids = {m.group().decode().lower() for m in UUID.finditer(answer)}
    echoed = {claim_id for claim_id in ids if claim_id.encode() in sent}
    owners = ownership.claim_owners(sorted(ids - echoed)) if ids - echoed else {}
    for claim_id, owner in sorted(owners.items()):
        if owner != exchange.consumer:
            found.append(
                f"{owner}'s claim {claim_id} shown to {exchange.consumer or 'an anonymous caller'}"
            )
    for owner, strings in sorted(ownership.strings.items()):
        if owner == exchange.consumer:
            continue
        for text in sorted(strings):
            encoded = text.encode()
            if encoded in answer and encoded.lower() not in sent:
                found.append(
                    f"{owner}'s {text!r} shown to {exchange.consumer or 'an anonymous caller'}"
                )
    return found
