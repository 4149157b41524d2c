"""JWT routes as a client sees them, whichever gateway serves them: GET /claims/{id}/status
takes `Authorization: Bearer` tokens for the audience portico-claims, from the issuers of the
target's consumers, with Kong's 401 bodies."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest

from portico.policies.consumers import JwtCredential
from portico.policies.jwt_auth import issue_hs256
from tests.conformance.conftest import Target
from tests.conformance.test_claims_api import submit

pytestmark = pytest.mark.conformance

AUDIENCE = "portico-claims"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(credential: JwtCredential, **claims: object) -> str:
    defaults = {"iss": credential.issuer, "aud": AUDIENCE, "exp": int(time.time() + 300)}
    return jwt.encode({**defaults, **claims}, credential.key, algorithm="HS256")


@pytest.fixture()
def alice_claim(api: httpx.Client, alice: dict[str, str]) -> str:
    return submit(api, alice)


def test_the_owner_reads_a_claims_status_with_a_jwt(api, target: Target, alice_claim):
    token = issue_hs256(target.alice_jwt, AUDIENCE, time.time() + 60)
    response = api.get(f"/claims/{alice_claim}/status", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json()["claimId"] == alice_claim
    assert response.json()["status"] in ("submitted", "in_review", "approved", "rejected")


def test_bob_with_a_valid_jwt_never_sees_alices_claim(api, target: Target, alice_claim):
    response = api.get(f"/claims/{alice_claim}/status", headers=bearer(token_for(target.bob_jwt)))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    def segment(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment(header)}.{segment(claims)}."


def test_refusals_are_kongs_401s(api, target: Target, alice, alice_claim):
    alice_jwt = target.alice_jwt
    forged = JwtCredential(alice_jwt.issuer, "HS256", "not-alices-secret-not-alices-secret")
    cases = {
        "no token": ({}, {"message": "Unauthorized"}),
        "an API key": (alice, {"message": "Unauthorized"}),
        "expired": (
            bearer(token_for(alice_jwt, exp=int(time.time()) - 10)),
            {"exp": "token expired"},
        ),
        "no expiry": (bearer(token_for(alice_jwt, exp=None)), {"exp": "must be a number"}),
        "another audience": (
            bearer(token_for(alice_jwt, aud="another-api")),
            {"message": "Invalid audience"},
        ),
        "a forged signature": (bearer(token_for(forged)), {"message": "Invalid signature"}),
        "an unknown issuer": (
            bearer(token_for(alice_jwt, iss="https://mallory.example")),
            {"message": "No credentials found for given 'iss'"},
        ),
        "alg none": (
            bearer(unsigned({"alg": "none"}, {"iss": alice_jwt.issuer, "aud": AUDIENCE})),
            {"message": "Bad token; invalid alg"},
        ),
    }
    for case, (headers, body) in cases.items():
        response = api.get(f"/claims/{alice_claim}/status", headers=headers)
        assert (response.status_code, response.json()) == (401, body), case
