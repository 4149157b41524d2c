"""The conformance suite's target: any deployment's base URL, or a local `portico dev`.

    PORTICO_CONFORMANCE_BASE_URL=http://localhost:32080 \\
    PORTICO_CONFORMANCE_ALICE_KEY=... PORTICO_CONFORMANCE_BOB_KEY=... \\
    PORTICO_CONFORMANCE_ALICE_JWT=issuer:secret PORTICO_CONFORMANCE_BOB_JWT=issuer:secret \\
    pytest tests/conformance

(the JWT credentials are HS256 issuers of the target's consumers; the defaults are the dev ones).

Without a base URL the suite starts `portico dev` (all functions warm) on the test session's
Postgres and Redis, for this package's tests only (its review worker would otherwise go on
consuming the queues later tests use). The tests never rely on wiping state: they create what
they check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from portico.local.ports import free_port
from portico.policies.consumers import DEV_CONSUMERS, JwtCredential
from tests.conftest import Services, scratch_dir
from tests.integration.devstack import DevStack


@dataclass(frozen=True)
class Target:
    base_url: str
    alice_key: str
    bob_key: str
    alice_jwt: JwtCredential
    bob_jwt: JwtCredential


def hs256_issuer(variable: str, username: str) -> JwtCredential:
    """ISSUER:SECRET from the environment, or the dev consumer's own HS256 issuer."""
    if variable in os.environ:
        issuer, _, secret = os.environ[variable].rpartition(":")
        return JwtCredential(issuer, "HS256", secret)
    [consumer] = [c for c in DEV_CONSUMERS if c.username == username]
    return consumer.jwt_credentials[0]


@pytest.fixture(scope="package")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    alice = os.environ.get("PORTICO_CONFORMANCE_ALICE_KEY", "alice-dev-key")
    bob = os.environ.get("PORTICO_CONFORMANCE_BOB_KEY", "bob-dev-key")
    alice_jwt = hs256_issuer("PORTICO_CONFORMANCE_ALICE_JWT", "alice")
    bob_jwt = hs256_issuer("PORTICO_CONFORMANCE_BOB_JWT", "bob")
    base_url = os.environ.get("PORTICO_CONFORMANCE_BASE_URL")
    if base_url:
        yield Target(base_url.rstrip("/"), alice, bob, alice_jwt, bob_jwt)
        return
    services: Services = request.getfixturevalue("services")
    stack = DevStack(
        scratch_dir("portico-conformance-"),
        free_port(),
        env=services.urls,
        extra_args=("--no-scale-to-zero",),
    )
    try:
        stack.wait_ready()
        yield Target(stack.base_url, alice, bob, alice_jwt, bob_jwt)
    finally:
        stack.stop()


@pytest.fixture()
def api(target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.base_url, timeout=30) as client:
        yield client


@pytest.fixture()
def alice(target: Target) -> dict[str, str]:
    return {"apikey": target.alice_key}


@pytest.fixture()
def bob(target: Target) -> dict[str, str]:
    return {"apikey": target.bob_key}
