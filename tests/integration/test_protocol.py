"""The HTTP layer of both servers, real processes: what the dev gateway forwards and what it
refuses before any policy runs (Kong's JSON answers, limits no larger than the function
server's), what a function's own server answers to a request its parser refuses, and the
Server headers of both."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from portico import headers, http_limits
from portico.local.ports import free_port
from portico.policies.consumers import DEV_CONSUMERS
from portico.policies.jwt_auth import issue_hs256
from portico.runtime.health import serve_health
from tests.conftest import TEST_FUNCTIONS_DIR, Services
from tests.identity import GATEWAY_SECRET
from tests.processes import Process, behind_a_gateway

pytestmark = pytest.mark.integration

FUNCTIONS = ("whoami", "whoami-jwt", "open-echo")
ALICE_KEY = {headers.API_KEY: "alice-dev-key"}


@dataclass
class Stack:
    gateway: Process
    functions: dict[str, Process]


@pytest.fixture(scope="module")
def stack(services: Services) -> Iterator[Stack]:
    env = services.process_env(TEST_FUNCTIONS_DIR, PORTICO_GATEWAY_SECRET=GATEWAY_SECRET)
    with behind_a_gateway(FUNCTIONS, env) as (gateway, functions):
        yield Stack(gateway, functions)


@pytest.fixture()
def api(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway.url, timeout=10) as client:
        yield client


def jwt_for_alice() -> dict[str, str]:
    credential = DEV_CONSUMERS[0].jwt_credentials[0]
    token = issue_hs256(credential, "testapp-api", time.time() + 300)
    return {"Authorization": f"Bearer {token}"}


# --- what reaches the function -----------------------------------------------------------------


def test_the_api_key_is_checked_and_never_forwarded(api):
    seen = api.get("/whoami", headers=ALICE_KEY).json()
    assert seen["caller"] == "alice"
    assert headers.API_KEY not in {name.lower() for name in seen["headers"]}


def test_the_jwt_is_checked_and_never_forwarded(api):
    seen = api.get("/whoami-jwt", headers=jwt_for_alice()).json()
    assert seen["caller"] == "alice"
    assert "authorization" not in {name.lower() for name in seen["headers"]}


def test_a_clients_own_identity_and_secret_headers_never_reach_the_function(api):
    forged = {
        headers.CONSUMER_USERNAME: "bob",
        headers.CONSUMER_ID: "bob-id",
        "X-Credential-Identifier": "bob-key",
        headers.GATEWAY_SECRET: "guessed",
    }
    open_route = api.post("/open-echo", json={}, headers=forged)
    keyed = api.get("/whoami", headers={**forged, **ALICE_KEY})

    assert (open_route.status_code, open_route.json()["caller"]) == (200, None)
    assert keyed.json()["caller"] == "alice"
    for seen in (open_route.json()["headers"], keyed.json()["headers"]):
        assert "bob" not in json.dumps(seen) and "guessed" not in json.dumps(seen)


def test_a_body_without_a_content_type_is_forwarded_without_one(api):
    response = api.post("/open-echo", content=b'{"a": 1}')  # httpx adds no content type
    assert response.status_code == 415
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "no content type" in response.json()["detail"]


def test_only_the_headers_a_client_sent_are_forwarded(api):
    seen = api.post("/open-echo", json={}, headers={"User-Agent": "acme-client/1"}).json()
    names = {name.lower() for name in seen["headers"]}
    assert seen["headers"]["User-Agent"] == "acme-client/1"
    assert "accept-encoding" in names  # httpx sends it; aiohttp's own is never added
    bare = raw(
        api.base_url.port, b"POST /open-echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    assert bare.status == 200
    assert {name.lower() for name in json.loads(bare.body)["headers"]} & {
        "user-agent",
        "accept",
        "accept-encoding",
        "content-type",
    } == set()


def test_no_server_header_names_a_version(api, stack):
    answers = [
        api.get("/whoami", headers=ALICE_KEY),
        api.get("/whoami"),
        api.get("/nowhere"),
        api.get("/healthz"),
        httpx.get(f"{stack.functions['whoami'].url}/readyz"),
        httpx.get(f"{stack.functions['whoami'].url}/whoami"),
    ]
    assert {answer.headers.get("Server") for answer in answers} == {"portico"}


# --- what the gateway refuses before anything else -------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def raw(port: int | None, request: bytes) -> Answer:
    """Send bytes as they are, read the answer until the server closes or has sent it all."""
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines if ": " in line)
    return Answer(int(status_line.split()[1]), fields, body)


def _expected_length(data: bytes) -> int:
    head, sep, _ = data.partition(b"\r\n\r\n")
    found = re.search(rb"(?i)content-length: (\d+)", head)
    return len(head) + len(sep) + int(found.group(1)) if found and sep else 1 << 30


def request_count(function: Process) -> float:
    text = httpx.get(f"{function.url}/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("portico_http_requests_total{")
    )


LONG = http_limits.GATEWAY_TARGET_BYTES + 10
REFUSED = [
    ("target too long", b"GET /whoami?q=" + b"a" * LONG + b" HTTP/1.1\r\n", 414, "URI too long"),
    (
        "20 KB target",
        b"GET /whoami?q=" + b"a" * 20_000 + b" HTTP/1.1\r\n",
        414,
        "URI too long",
    ),
    (
        "header too long",
        b"GET /whoami HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n",
        494,
        "Request header or cookie too large",
    ),
    (
        "too many headers",
        b"GET /whoami HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(120)),
        494,
        "Request header or cookie too large",
    ),
    ("unknown method", b"FOO /whoami HTTP/1.1\r\n", 400, "Bad request"),
    ("lower-case method", b"get /whoami HTTP/1.1\r\n", 400, "Bad request"),
    ("bad version", b"GET /whoami HTTP/9.9\r\n", 400, "Bad request"),
    ("control byte in target", b"GET /who\x01ami HTTP/1.1\r\n", 400, "Bad request"),
    ("bad header", b"GET /whoami HTTP/1.1\r\nNo Colon Here\r\n", 400, "Bad request"),
    ("TLS on the HTTP port", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400, "Bad request"),
]


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_what_the_parser_refuses_gets_kongs_json_answer_and_is_never_forwarded(
    stack, request_bytes, status, message
):
    before = request_count(stack.functions["whoami"])
    sent = request_bytes
    if sent.endswith(b"\r\n"):
        sent += b"Host: x\r\napikey: alice-dev-key\r\n\r\n"
    answer = raw(stack.gateway.port, sent)

    assert answer.status == status
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == {"message": message}
    assert answer.headers["Server"] == "portico"
    assert request_count(stack.functions["whoami"]) == before


def test_what_the_gateway_accepts_the_function_server_accepts(stack, api):
    longest_target = "/whoami?q=" + "a" * (http_limits.GATEWAY_TARGET_BYTES - len("/whoami?q="))
    longest_header = {"X-" + "n" * 8000: "v" * http_limits.GATEWAY_HEADER_PART_BYTES}
    many = {f"X-H{i}": "1" for i in range(http_limits.GATEWAY_HEADER_COUNT - 10)}  # + httpx's
    for target, extra in [(longest_target, {}), ("/whoami", longest_header), ("/whoami", many)]:
        response = api.get(target, headers={**ALICE_KEY, **extra})
        assert response.status_code == 200, response.text[:300]


def test_the_limits_leave_room_for_what_the_gateway_adds():
    longest_method, version = len("OPTIONS"), len("HTTP/1.1")
    line = longest_method + 1 + http_limits.GATEWAY_TARGET_BYTES + 1 + version
    header_line = 2 * http_limits.GATEWAY_HEADER_PART_BYTES + len(": ")
    count = http_limits.GATEWAY_HEADER_COUNT + http_limits.GATEWAY_ADDED_HEADERS
    assert line <= http_limits.FUNCTION_REQUEST_LINE_BYTES
    assert header_line <= http_limits.FUNCTION_HEADER_LINE_BYTES
    assert count <= http_limits.FUNCTION_HEADER_COUNT


# --- the function's own server -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /whoami?q=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /whoami HTTP/1.1\r\nHost: x\r\nNo Colon Here\r\n\r\n", 400),
        (b"GET /whoami HTTP/9.9\r\nHost: x\r\n\r\n", 400),
        (b"GET /whoami HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(250)), 431),
    ],
    ids=["request line too long", "bad header", "bad version", "too many headers"],
)
def test_what_gunicorn_refuses_is_problem_json(stack, request_bytes, status):
    if not request_bytes.endswith(b"\r\n\r\n"):
        request_bytes += b"Host: x\r\n\r\n"
    answer = raw(stack.functions["whoami"].port, request_bytes)
    assert answer.status == status
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.headers["Server"] == "portico"
    problem = answer.json()
    assert isinstance(problem, dict) and problem["status"] == status


# --- correlation ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [b"\xff\xfe", "caf\u00e9".encode(), b"a" * 4000, b"a b", b"tab\there"],
    ids=["not utf-8", "utf-8 accent", "4000 chars", "space", "tab"],
)
def test_an_unusable_request_id_is_replaced_not_echoed(stack, sent):
    for port, path in [
        (stack.gateway.port, b"/whoami"),
        (stack.functions["open-echo"].port, b"/x"),
    ]:
        answer = raw(
            port,
            b"GET " + path + b" HTTP/1.1\r\nHost: x\r\napikey: alice-dev-key\r\n"
            b"X-Request-ID: " + sent + b"\r\n\r\n",
        )
        assert answer.status in (200, 404), answer
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers[headers.REQUEST_ID])


def test_a_usable_request_id_is_kept_end_to_end(api):
    response = api.get("/whoami", headers={**ALICE_KEY, headers.REQUEST_ID: "client-42.a:b"})
    assert response.headers[headers.REQUEST_ID] == "client-42.a:b"
    seen = {name.lower(): value for name, value in response.json()["headers"].items()}
    assert seen[headers.REQUEST_ID.lower()] == "client-42.a:b"


@pytest.mark.parametrize(
    ("request_bytes", "status", "message"),
    [
        (b"GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Bad request"),
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404, "no Route matched with those values"),
        (
            b"CONNECT evil:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            404,
            "no Route matched with those values",
        ),
        (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 404, None),
        (
            b"POST /open-echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            400,
            "Bad request",
        ),
        (
            b"POST /open-echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6"
            b"\r\n\r\nabcde",
            400,
            "Bad request",
        ),
    ],
    ids=[
        "asterisk GET",
        "asterisk OPTIONS",
        "CONNECT",
        "POST to healthz",
        "bad chunk",
        "two lengths",
    ],
)
def test_odd_requests_without_credentials_get_kongs_json(stack, request_bytes, status, message):
    answer = raw(stack.gateway.port, request_bytes)
    assert answer.status == status
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == {"message": message or "no Route matched with those values"}


def test_a_body_that_stalls_or_breaks_after_the_headers_gets_kongs_408_not_a_hang(stack):
    """nginx's client_body_timeout, Kong's 408. A malformed chunk arriving after the headers
    comes to the same: aiohttp's parser stops there, and the body would never end."""
    head = b"POST /open-echo HTTP/1.1\r\nHost: x\r\n"
    cases = [
        (head + b"Content-Length: 10\r\n\r\nabc", b""),
        (head + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"zz\r\n"),
    ]
    for first, later in cases:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", stack.gateway.port), timeout=30) as sock:
            sock.sendall(first)
            time.sleep(0.3)
            sock.sendall(later)
            answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert answer.endswith(b'{"message": "Request timeout"}')
        assert time.monotonic() - started < 20


def test_the_health_server_of_workers_and_the_relay_names_no_version():
    port = free_port()
    serve_health("review-claim", threading.Event(), lambda: True, "127.0.0.1", port)
    response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert response.status_code == 200
    assert response.headers["Server"] == "portico"
