"""Sending requests the way the adversarial suite does: through the gateway with alice's or bob's
credentials (paced under each route's rate limit), or as raw bytes over a socket; every answer
is checked by tests.adversarial.checks and every failure names the exact request and answer."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import httpx
import psutil
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from portico.manifest import Manifest, load_all
from portico.policies.consumers import DEV_CONSUMERS, JwtCredential
from portico.policies.jwt_auth import issue_hs256
from tests.adversarial.checks import Exchange, Ownership, violations
from tests.conftest import FUNCTIONS_DIR

CLAIMS_AUDIENCE = "portico-claims"
KEYS = {c.username: c.api_keys[0] for c in DEV_CONSUMERS}
JWT_CREDENTIALS: dict[str, JwtCredential] = {
    c.username: c.jwt_credentials[0] for c in DEV_CONSUMERS
}
# POST /claims gets a per-consumer limit of about this (issue 11); paced under it meanwhile.
ASSUMED_WRITE_LIMITS = {"second": 10, "minute": 600}
MARGIN = 1  # stay this far under each window's limit


def token(consumer: str, audience: str = CLAIMS_AUDIENCE, lifetime: float = 300) -> str:
    return issue_hs256(JWT_CREDENTIALS[consumer], audience, time.time() + lifetime)


class Pacer:
    """Keeps each (consumer, function) under its rate limit's fixed windows, which are aligned
    to the clock as the gateway's are, correcting its counts from the answers' headers (so
    traffic from earlier tests in the session is accounted for)."""

    WINDOWS: ClassVar[dict[str, int]] = {"second": 1, "minute": 60}

    def __init__(self) -> None:
        self.used: dict[tuple[str, str], tuple[int, int]] = {}  # (bucket, window) -> (index, n)
        self.limits: dict[tuple[str, str], int] = {}

    def _count(self, bucket: str, window: str, now: float) -> int:
        index = int(now // self.WINDOWS[window])
        seen, count = self.used.get((bucket, window), (index, 0))
        return count if seen == index else 0

    def wait(self, bucket: str, limits: Mapping[str, int]) -> None:
        while True:
            now = time.time()
            until = 0.0
            for window, size in self.WINDOWS.items():
                limit = self.limits.get((bucket, window), limits.get(window))
                if limit is not None and self._count(bucket, window, now) >= limit - MARGIN:
                    until = max(until, (int(now // size) + 1) * size + 0.02)
            if not until:
                return
            time.sleep(until - now)

    def sent(self, bucket: str) -> None:
        now = time.time()
        for window, size in self.WINDOWS.items():
            self.used[(bucket, window)] = (int(now // size), self._count(bucket, window, now) + 1)

    def observe(self, bucket: str, headers: httpx.Headers) -> None:
        now = time.time()
        for window, size in self.WINDOWS.items():
            limit = headers.get(f"X-RateLimit-Limit-{window.capitalize()}")
            remaining = headers.get(f"X-RateLimit-Remaining-{window.capitalize()}")
            if limit and remaining and limit.isdigit() and remaining.isdigit():
                self.limits[(bucket, window)] = int(limit)
                self.used[(bucket, window)] = (int(now // size), int(limit) - int(remaining))


class Failures(AssertionError):
    pass


def assert_clean(exchange: Exchange, ownership: Ownership) -> Exchange:
    found = violations(exchange, ownership)
    if found:
        raise Failures(f"{'; '.join(found)}\n  {exchange.describe()}")
    return exchange


@dataclass
class Api:
    """Requests through one gateway, as alice, bob or nobody."""

    base_url: str
    ownership: Ownership
    pacer: Pacer = field(default_factory=Pacer)
    manifests: list[Manifest] = field(default_factory=lambda: load_all(FUNCTIONS_DIR))

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    def close(self) -> None:
        self.client.close()

    def function_of(self, method: str, path: str) -> Manifest | None:
        for manifest in self.manifests:
            if manifest.api is not None and manifest.api.route.match(method, path) is not None:
                return manifest
        return None

    def request(
        self,
        method: str,
        target: str,
        *,
        consumer: str | None = None,
        jwt: bool = False,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        json_body: object = None,
        check: bool = True,
        pace: bool = True,
        retry_429: bool = True,
    ) -> Exchange:
        """`target` is sent as given (path and query, already percent-encoded)."""
        sent: dict[str, str] = {}
        if consumer is not None:
            if jwt:
                sent["Authorization"] = f"Bearer {token(consumer)}"
            else:
                sent["apikey"] = KEYS[consumer]
        sent.update(headers or {})
        if json_body is not None:
            import json

            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        function = self.function_of(method, target.split("?")[0])
        bucket = f"{consumer}:{function.name}" if consumer and function else None
        limits = self._limits(function)
        for attempt in (1, 2):
            if bucket and pace:
                self.pacer.wait(bucket, limits)
            request = self.client.build_request(method, target, headers=sent, content=body)
            # httpx would normalise the target; send exactly what the test wrote.
            request.url = request.url.copy_with(raw_path=target.encode("ascii"))
            try:
                response = self.client.send(request)
            except httpx.TransportError as exc:
                exchange = Exchange(
                    consumer, method, target, tuple(sent.items()), body or b"", None, note=repr(exc)
                )
                return assert_clean(exchange, self.ownership) if check else exchange
            if bucket:
                self.pacer.sent(bucket)
                self.pacer.observe(bucket, response.headers)
            if response.status_code == 429 and retry_429 and attempt == 1:
                time.sleep(min(61.0, float(response.headers.get("Retry-After", "1"))) + 0.05)
                continue
            break
        exchange = Exchange(
            consumer=consumer,
            method=method,
            target=target,
            request_headers=tuple(sent.items()),
            request_body=body or b"",
            status=response.status_code,
            headers=tuple(response.headers.multi_items()),
            body=response.content,
        )
        return assert_clean(exchange, self.ownership) if check else exchange

    def _limits(self, function: Manifest | None) -> dict[str, int]:
        if function is None or function.api is None:
            return {}
        limit = function.api.rate_limit
        if limit is None:
            return dict(ASSUMED_WRITE_LIMITS) if function.api.route.method == "POST" else {}
        found = {"second": limit.per_second, "minute": limit.per_minute}
        return {window: n for window, n in found.items() if n is not None}

    def get(self, target: str, **options: object) -> Exchange:
        return self.request("GET", target, **options)  # type: ignore[arg-type]

    def post(self, target: str, **options: object) -> Exchange:
        return self.request("POST", target, **options)  # type: ignore[arg-type]


# --- raw sockets --------------------------------------------------------------------------------


def send_raw(port: int, data: bytes, consumer: str | None = None, timeout: float = 5.0) -> Exchange:
    """Send `data` as is and read one HTTP answer (by Content-Length, or until the server closes
    the connection)."""
    received = b""
    note = ""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        try:
            conn.sendall(data)
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    note = "connection closed"
                    break
                received += chunk
                if answer_complete(received):
                    break
        except TimeoutError:
            note = f"no complete answer within {timeout:.0f} s"
        except ConnectionError as exc:
            note = f"connection error: {exc!r}"
    return parse_answer(data, received, consumer, note)


def answer_complete(received: bytes) -> bool:
    head, separator, body = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value.strip())
    return False


def parse_answer(sent: bytes, received: bytes, consumer: str | None, note: str) -> Exchange:
    request_line = sent.split(b"\r\n", 1)[0].decode("latin-1")
    method, _, rest = request_line.partition(" ")
    target = rest.rsplit(" ", 1)[0] if " " in rest else rest
    head, separator, body = received.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if not separator or len(parts) < 2 or not parts[1].isdigit():
        return Exchange(
            consumer,
            method,
            target,
            (),
            b"",
            None,
            raw_request=sent,
            note=note or f"not an HTTP answer: {received[:200]!r}",
        )
    headers = []
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1").strip(), value.decode("latin-1").strip()))
    return Exchange(
        consumer, method, target, (), b"", int(parts[1]), tuple(headers), body, raw_request=sent
    )


# --- what reached the functions ------------------------------------------------------------------


def function_ports(pid: int) -> dict[str, int]:
    """The port of every `portico serve NAME --port N` under the process `pid`."""
    found: dict[str, int] = {}
    for process in psutil.Process(pid).children(recursive=True):
        try:
            args = process.cmdline()
        except psutil.Error:
            continue
        if "serve" in args and "--port" in args:
            name = args[args.index("serve") + 1]
            found[name] = int(args[args.index("--port") + 1])
    return found


def requests_served(ports: Mapping[str, int]) -> float:
    """How many requests the functions' handlers have answered (their own /metrics)."""
    total = 0.0
    for port in ports.values():
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            if family.name == "portico_http_requests":
                total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return total


# --- ownership from the database ----------------------------------------------------------------


class ClaimOwners:
    """Claim id -> owner, read from the claims table (a real Postgres query, no model)."""

    def __init__(self, database_url: str) -> None:
        self.conn = psycopg.connect(database_url, autocommit=True)

    def __call__(self, claim_ids: Iterable[str]) -> dict[str, str]:
        rows = self.conn.execute(
            "SELECT claim_id::text, owner FROM claims WHERE claim_id = ANY(%s::uuid[])",
            (list(claim_ids),),
        ).fetchall()
        return {claim_id: owner for claim_id, owner in rows}

    def policies(self) -> list[tuple[str, str, str]]:
        rows = self.conn.execute("SELECT policy_id, owner, holder_name FROM policies").fetchall()
        return [(policy_id, owner, holder) for policy_id, owner, holder in rows]

    def close(self) -> None:
        self.conn.close()


# --- what a gateway rejection and a function's problem look like --------------------------------


def assert_kong_rejection(exchange: Exchange, *statuses: int) -> dict[str, object]:
    """A 4xx from the gateway itself, as Kong answers: application/json {"message": "..."}."""
    status = exchange.status or 0
    wanted = statuses or tuple(range(400, 500))
    if exchange.method == "HEAD" and not exchange.body:  # no body to a HEAD, by HTTP
        if status not in wanted or exchange.media_type != "application/json":
            raise Failures(f"expected Kong's {statuses or '4xx'} as JSON\n  {exchange.describe()}")
        return {}
    body = _json_object(exchange)
    if status not in wanted or exchange.media_type != "application/json" or body is None:
        raise Failures(
            f'expected Kong\'s {statuses or "4xx"} {{"message": ...}}\n  {exchange.describe()}'
        )
    if not isinstance(body.get("message"), str):
        raise Failures(f'expected Kong\'s {{"message": ...}} body\n  {exchange.describe()}')
    return body


def assert_problem(exchange: Exchange, *statuses: int) -> dict[str, object]:
    """A function's error: application/problem+json with its status."""
    body = _json_object(exchange)
    if (
        exchange.status not in statuses
        or exchange.media_type != "application/problem+json"
        or body is None
        or body.get("status") != exchange.status
    ):
        raise Failures(
            f"expected a problem+json {'/'.join(map(str, statuses))}\n  {exchange.describe()}"
        )
    return body


def _json_object(exchange: Exchange) -> dict[str, object] | None:
    try:
        body = exchange.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def request_bytes(
    method: bytes,
    target: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    version: bytes = b"HTTP/1.1",
) -> bytes:
    lines = [method + b" " + target + b" " + version, b"Host: 127.0.0.1", b"Connection: close"]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


# --- refused before any function -------------------------------------------------------------


def remaining_reads(api: Api, consumer: str) -> tuple[int, int]:
    """(the minute window's index, the caller's requests left in it on GET /claims)."""
    probe = api.get("/claims?limit=1", consumer=consumer)
    return int(time.time() // 60), int(probe.header("X-RateLimit-Remaining-Minute") or -1)


def outside_a_minutes_last_seconds() -> None:
    if time.time() % 60 > 55:
        time.sleep(60.5 - time.time() % 60)


def refused_before_the_function(
    ports: Mapping[str, int], api: Api, consumer: str | None, send: Callable[[], Exchange]
) -> Exchange:
    """Send, and check that no function answered it and (with a key) that the caller's rate
    limit did not count it."""
    if consumer:
        outside_a_minutes_last_seconds()
    before = remaining_reads(api, consumer) if consumer else None
    served = requests_served(ports)
    exchange = send()
    forwarded = requests_served(ports) - served
    assert forwarded == 0, (
        f"passed on to a function ({forwarded:.0f} requests)\n  {exchange.describe()}"
    )
    if consumer and before is not None:
        after = remaining_reads(api, consumer)
        if after[0] == before[0]:  # same minute window
            counted = before[1] - after[1] - 1
            assert counted == 0, f"counted against {consumer}'s rate limit\n  {exchange.describe()}"
    return exchange
