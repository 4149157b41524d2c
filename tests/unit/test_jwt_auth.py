"""JWT checks as Kong's jwt plugin makes them (messages from kong/plugins/jwt/handler.lua),
with Portico's audience check in front."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from click.testing import CliRunner

from portico.cli import main
from portico.policies.consumers import Consumer, JwtCredential, by_issuer, consumer_id
from portico.policies.jwt_auth import (
    Rejection,
    authenticate,
    bearer_token,
    check_audience,
    issue_hs256,
)
from tests.keys import PRIVATE_KEY, PUBLIC_KEY

SECRET = "acme-batch-secret-long-enough-for-hs256"
HS = JwtCredential("acme-batch", "HS256", SECRET)
RS = JwtCredential("https://login.globex.example", "RS256", PUBLIC_KEY)
ACME = Consumer("acme", consumer_id("acme"), (), (HS,))
GLOBEX = Consumer("globex", consumer_id("globex"), (), (RS,))
ISSUERS = by_issuer([ACME, GLOBEX])
NOW = time.time()
LATER = int(NOW + 600)


def token(claims: dict[str, object], key: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    def segment(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment(header)}.{segment(claims)}."


def message(outcome: Consumer | Rejection) -> object:
    assert isinstance(outcome, Rejection)
    return outcome.body.get("message", outcome.body)


def test_hs256_and_rs256_tokens_name_their_consumer():
    assert authenticate(token({"iss": "acme-batch", "exp": LATER}), ISSUERS, NOW) == ACME
    rs256 = token({"iss": RS.issuer, "exp": LATER}, PRIVATE_KEY, "RS256")
    assert authenticate(rs256, ISSUERS, NOW) == GLOBEX


def test_the_issuer_may_be_in_the_header_as_kong_allows():
    signed = jwt.encode({"exp": LATER}, SECRET, algorithm="HS256", headers={"iss": "acme-batch"})
    assert authenticate(signed, ISSUERS, NOW) == ACME


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, "Unauthorized"),
        ("not-a-token", "Bad token; invalid JSON"),
        ("a.b.c", "Bad token; invalid JSON"),
        (unsigned({"alg": "none"}, {"iss": "acme-batch", "exp": LATER}), "Bad token; invalid alg"),
        (unsigned({"alg": "HS256"}, {"exp": LATER}), "No mandatory 'iss' in claims"),
        (unsigned({"alg": "HS256"}, {"iss": "", "exp": LATER}), "Invalid 'iss' in claims"),
        (unsigned({"alg": "HS256"}, {"iss": "stranger"}), "No credentials found for given 'iss'"),
        (unsigned({"alg": "HS256"}, {"iss": 7}), "No credentials found for given 'iss'"),
    ],
)
def test_kongs_refusals_before_the_signature(raw, expected):
    assert message(authenticate(raw, ISSUERS, NOW)) == expected


def test_a_token_signed_with_another_secret_has_an_invalid_signature():
    forged = token({"iss": "acme-batch", "exp": LATER}, key="another-secret-another-secret-123")
    assert message(authenticate(forged, ISSUERS, NOW)) == "Invalid signature"


def test_algorithm_confusion_is_refused():
    # HS256 signed with the RS256 issuer's public key as the shared secret: the classic attack.
    # PyJWT itself refuses a PEM as an HMAC key, so the signature is made by hand.
    header_claims = unsigned({"alg": "HS256"}, {"iss": RS.issuer, "exp": LATER})[:-1]
    mac = hmac.new(PUBLIC_KEY.encode(), header_claims.encode(), hashlib.sha256).digest()
    confused = header_claims + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert message(authenticate(confused, ISSUERS, NOW)) == "Invalid algorithm"


def test_an_rs256_token_for_an_hs256_issuer_is_refused():
    rs256 = token({"iss": "acme-batch", "exp": LATER}, PRIVATE_KEY, "RS256")
    assert message(authenticate(rs256, ISSUERS, NOW)) == "Invalid algorithm"


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ({"iss": "acme-batch"}, "must be a number"),
        ({"iss": "acme-batch", "exp": "tomorrow"}, "must be a number"),
        ({"iss": "acme-batch", "exp": True}, "must be a number"),
        ({"iss": "acme-batch", "exp": int(NOW) - 1}, "token expired"),
    ],
)
def test_expiry_is_required_and_checked_with_kongs_body(claims, problem):
    assert authenticate(token(claims), ISSUERS, NOW) == Rejection({"exp": problem})


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer  abc", "abc"),
        ("Basic abc", None),
        ("", None),
        (None, None),
    ],
)
def test_the_token_comes_from_authorization_bearer(authorization, expected):
    assert bearer_token(authorization) == expected


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        ("portico-claims", True),
        (["other", "portico-claims"], True),
        ("other", False),
        (["other"], False),
        (None, False),
    ],
)
def test_the_audience_must_name_the_api(aud, accepted):
    claims = {"iss": "acme-batch", "exp": LATER} | ({} if aud is None else {"aud": aud})
    outcome = check_audience(token(claims), "portico-claims")
    assert outcome == (None if accepted else Rejection({"message": "Invalid audience"}))


@pytest.mark.parametrize("raw", [None, "garbage", "a.b.c"])
def test_an_unreadable_token_is_left_for_authenticate_to_describe(raw):
    assert check_audience(raw, "portico-claims") is None


def test_issued_dev_tokens_pass_both_checks():
    issued = issue_hs256(HS, "portico-claims", NOW + 60)
    assert check_audience(issued, "portico-claims") is None
    assert authenticate(issued, ISSUERS, NOW) == ACME


def test_the_dev_token_command_signs_for_the_named_consumer():
    result = CliRunner().invoke(main, ["dev-token", "alice", "--audience", "portico-claims"])
    assert result.exit_code == 0, result.output
    claims = jwt.decode(
        result.output.strip(),
        "alice-dev-jwt-secret-not-for-production",
        algorithms=["HS256"],
        audience="portico-claims",
    )
    assert claims["iss"] == "alice-dev-issuer"
    assert 3590 < claims["exp"] - time.time() <= 3600


def test_the_dev_token_command_names_an_unknown_consumer():
    result = CliRunner().invoke(main, ["dev-token", "mallory", "--audience", "x"])
    assert result.exit_code == 2 and "no consumer named 'mallory'" in result.output


def deep_segment(depth: int) -> str:
    nested = '{"alg": "HS256", "x": ' + "[" * depth + "]" * depth + "}"
    return base64.urlsafe_b64encode(nested.encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("depth", [100, 100_000])
def test_a_token_nested_too_deeply_is_bad_json_in_its_header_or_its_payload(depth):
    plain = base64.urlsafe_b64encode(b'{"alg": "HS256"}').rstrip(b"=").decode()
    deep_header, deep_payload = (
        f"{deep_segment(depth)}.{plain}.sig",
        f"{plain}.{deep_segment(depth)}.sig",
    )
    for raw in (deep_header, deep_payload):
        assert message(authenticate(raw, ISSUERS, NOW)) == "Bad token; invalid JSON"
    assert check_audience(deep_payload, "api") is None  # unreadable: left to authenticate
    assert check_audience(deep_header, "api") == Rejection({"message": "Invalid audience"})
