"""Deeply nested JSON inside a JWT on GET /claims/{claimId}/status, signed with alice's real
HS256 secret so the signature is never what refuses it: the gateway answers Kong's 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import pytest

from tests.adversarial.conftest import Stack
from tests.adversarial.harness import (
    CLAIMS_AUDIENCE,
    JWT_CREDENTIALS,
    Api,
    assert_kong_rejection,
    refused_before_the_function,
)

pytestmark = pytest.mark.adversarial

SOME_ID = "3b0c6f8e-2a51-4d7e-9f0a-1c2d3e4f5a6b"
DEPTH = 2000  # past Python's default recursion limit (1000); each token stays under 8 KB


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signed(header: bytes, payload: bytes) -> str:
    """A token over exactly these bytes, with alice's real HS256 secret."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    secret = JWT_CREDENTIALS["alice"].key.encode()
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims(**extra: object) -> bytes:
    body = {
        "iss": JWT_CREDENTIALS["alice"].issuer,
        "aud": CLAIMS_AUDIENCE,
        "exp": int(time.time()) + 300,
        **extra,
    }
    return json.dumps(body).encode()


def arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def objects(depth: int) -> bytes:
    return b'{"":' * depth + b"1" + b"}" * depth


HS256 = b'{"alg":"HS256","typ":"JWT"}'
TOKENS = [
    ("payload of nested arrays", lambda: signed(HS256, arrays(DEPTH))),
    (
        "payload with a claim of nested arrays",
        lambda: signed(HS256, claims().replace(b'"iss"', b'"x":' + arrays(DEPTH) + b',"iss"', 1)),
    ),
    ("payload of nested objects", lambda: signed(HS256, objects(1100))),  # 5 bytes a level
    ("header of nested arrays", lambda: signed(arrays(DEPTH), claims())),
    (
        "header with a field of nested arrays",
        lambda: signed(b'{"alg":"HS256","x":' + arrays(DEPTH) + b"}", claims()),
    ),
]


@pytest.mark.parametrize("make", [t for _, t in TOKENS], ids=[n for n, _ in TOKENS])
def test_a_jwt_of_deeply_nested_json_is_kongs_401(
    stack: Stack, api: Api, make: Callable[[], str]
) -> None:
    bearer = make()
    exchange = refused_before_the_function(
        stack.functions,
        api,
        None,
        lambda: api.get(f"/claims/{SOME_ID}/status", headers={"Authorization": f"Bearer {bearer}"}),
    )
    assert_kong_rejection(exchange, 401)


def test_the_same_token_shape_without_nesting_is_accepted(api: Api) -> None:
    """The tokens above are refused for their nesting, not for how they are built."""
    bearer = signed(HS256, claims(x={"a": [1]}))
    exchange = api.get(
        f"/claims/{SOME_ID}/status",
        consumer="alice",
        jwt=True,
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert exchange.status == 404, exchange.describe()  # authenticated; no such claim
