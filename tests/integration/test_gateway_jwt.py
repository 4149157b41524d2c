"""JWT routes through the real dev gateway: consumers from a consumers file, RS256 and HS256
tokens, Kong's refusals, the audience check, and the caller's identity reaching the function."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from portico.local.ports import free_port
from tests.conftest import TEST_FUNCTIONS_DIR, Services
from tests.keys import PRIVATE_KEY, consumer_yaml
from tests.processes import Process

pytestmark = pytest.mark.integration

AUDIENCE = "testapp-api"
HS_SECRET = "partner-batch-secret-long-enough-for-hs256"
CONSUMERS = consumer_yaml("acme", "https://login.acme.example") + (
    "- username: globex\n"
    "  keys: [globex-key]\n"
    f"  jwt: [{{issuer: globex-batch, algorithm: HS256, secret: {HS_SECRET}}}]\n"
)


def rs256(**claims: object) -> str:
    defaults = {"iss": "https://login.acme.example", "aud": AUDIENCE, "exp": time.time() + 60}
    return jwt.encode({**defaults, **claims}, PRIVATE_KEY, algorithm="RS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def gateway_url(services: Services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    consumers = Path(tmp_path_factory.mktemp("jwt")) / "consumers.yaml"
    consumers.write_text(CONSUMERS)
    env = services.process_env(TEST_FUNCTIONS_DIR, PORTICO_CONSUMERS_FILE=str(consumers))
    function_port, gateway_port = free_port(), free_port()
    function = Process(["serve", "guarded", "--port", str(function_port)], env, function_port)
    upstream = f"guarded=http://127.0.0.1:{function_port}"
    gateway = Process(
        ["gateway", "--port", str(gateway_port), "--upstream", upstream], env, gateway_port
    )
    try:
        function.wait_ready()
        gateway.wait_ready(path="/healthz")
        yield gateway.url
    finally:
        gateway.stop()
        function.stop()


@pytest.fixture()
def api(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway_url, timeout=10) as client:
        yield client


def test_an_rs256_token_reaches_the_function_as_its_consumer(api):
    response = api.get("/guarded", headers={**bearer(rs256()), "X-Consumer-Username": "globex"})
    assert response.status_code == 200, response.text
    assert response.json()["caller"] == "acme"  # the client's copy of the header was stripped


def test_an_hs256_token_from_the_consumers_file(api):
    token = jwt.encode(
        {"iss": "globex-batch", "aud": [AUDIENCE], "exp": time.time() + 60},
        HS_SECRET,
        algorithm="HS256",
    )
    response = api.get("/guarded", headers=bearer(token))
    assert response.status_code == 200 and response.json()["caller"] == "globex"


def unsigned_none(claims: dict[str, object]) -> str:
    def segment(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims)}."


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, {"message": "Unauthorized"}),
        ({"apikey": "globex-key"}, {"message": "Unauthorized"}),  # keys do not open jwt routes
        (bearer(rs256(exp=time.time() - 5)), {"exp": "token expired"}),
        (bearer(rs256(aud="another-api")), {"message": "Invalid audience"}),
        (
            bearer(rs256(iss="https://evil.example")),
            {"message": "No credentials found for given 'iss'"},
        ),
        (
            bearer(unsigned_none({"iss": "https://login.acme.example", "aud": AUDIENCE})),
            {"message": "Bad token; invalid alg"},
        ),
    ],
    ids=["no-token", "api-key", "expired", "wrong-audience", "unknown-issuer", "alg-none"],
)
def test_refusals_are_kongs_401s(api, headers, body):
    response = api.get("/guarded", headers=headers)
    assert response.status_code == 401
    assert response.json() == body
    assert response.headers["X-Request-ID"]
