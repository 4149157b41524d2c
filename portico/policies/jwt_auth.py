"""JWT authentication as Kong's jwt plugin does it, plus Portico's audience check.

Kong (kong/plugins/jwt/handler.lua) takes the token from `Authorization: Bearer`, finds the
credential by the token's `iss` claim, requires the token's `alg` to be the credential's
algorithm (so `alg: none` and HS256-signed-with-the-RSA-public-key are refused), verifies the
signature, then `exp`. Each failure is a 401 with Kong's body. Kong OSS has no audience check;
Portico adds one that runs before the jwt plugin (a pre-function in Kong; see
portico.render.kong), so the dev gateway checks the audience first as well.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from portico import bounded_json
from portico.policies.consumers import Consumer, JwtCredential

BEARER = re.compile(r"\s*[Bb]earer\s+(.+)")
# Algorithms Kong's jwt_parser can parse; a token naming any other `alg` (such as "none") is a
# bad token before any credential is looked at.
PARSEABLE_ALGORITHMS = frozenset(
    [
        "HS256",
        "HS384",
        "HS512",
        "RS256",
        "RS384",
        "RS512",
        "ES256",
        "ES384",
        "ES512",
        "PS256",
        "PS384",
        "PS512",
        "EdDSA",
    ]
)


@dataclass(frozen=True)
class Rejection:
    """A 401 with Kong's body: {"message": ...}, or the failed claims such as {"exp": ...}."""

    body: dict[str, str]


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    match = BEARER.search(authorization)
    return match.group(1) if match else None


def check_audience(token: str | None, audience: str) -> Rejection | None:
    """Refuse a readable token whose `aud` does not name this API. A missing or unreadable
    token is left to authenticate(), which says what is wrong with it."""
    if token is None:
        return None
    parts = token.split(".")
    claims = _json_segment(parts[1]) if len(parts) == 3 else None
    if not isinstance(claims, dict):
        return None
    named = claims.get("aud")
    audiences = [named] if isinstance(named, str) else named
    if isinstance(audiences, list) and audience in audiences:
        return None
    return _message("Invalid audience")


def authenticate(
    token: str | None, issuers: Mapping[str, tuple[Consumer, JwtCredential]], now: float
) -> Consumer | Rejection:
    if token is None:
        return _message("Unauthorized")
    parsed = _parse(token)
    if isinstance(parsed, Rejection):
        return parsed
    header, claims = parsed
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if issuer is None:
        issuer = header.get("iss")
    if issuer is None:
        return _message("No mandatory 'iss' in claims")
    if issuer == "":
        return _message("Invalid 'iss' in claims")
    found = issuers.get(issuer) if isinstance(issuer, str) else None
    if found is None:
        return _message("No credentials found for given 'iss'")
    consumer, credential = found
    if header.get("alg") != credential.algorithm:
        return _message("Invalid algorithm")
    if not _signature_is_valid(token, credential):
        return _message("Invalid signature")
    expired = _expiry_problem(claims.get("exp") if isinstance(claims, dict) else None, now)
    if expired is not None:
        return Rejection({"exp": expired})
    return consumer


def _message(text: str) -> Rejection:
    return Rejection({"message": text})


def _parse(token: str) -> tuple[dict[str, Any], object] | Rejection:
    parts = token.split(".", 2)
    if len(parts) != 3:
        return _message("Bad token; invalid JSON")
    header, claims = _json_segment(parts[0]), _json_segment(parts[1])
    if not isinstance(header, dict) or claims is None or _b64url(parts[2]) is None:
        return _message("Bad token; invalid JSON")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in PARSEABLE_ALGORITHMS:
        return _message("Bad token; invalid alg")
    return header, claims


def _json_segment(segment: str) -> object:
    raw = _b64url(segment)
    if raw is None:
        return None
    try:
        return bounded_json.loads(raw)  # a token's JSON is a client's: its depth is bounded
    except ValueError:
        return None


def _b64url(segment: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None


def _signature_is_valid(token: str, credential: JwtCredential) -> bool:
    """The signature alone: PyJWS checks it with exactly the credential's algorithm."""
    try:
        jwt.PyJWS().decode(token, credential.key, algorithms=[credential.algorithm])
    except jwt.InvalidTokenError:
        return False
    return True


def _expiry_problem(exp: object, now: float) -> str | None:
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return "must be a number"
    return "token expired" if exp <= now else None


def issue_hs256(credential: JwtCredential, audience: str, expires_at: float) -> str:
    """A token this credential's issuer could have issued (for `portico dev-token` and tests)."""
    claims = {"iss": credential.issuer, "aud": audience, "exp": int(expires_at)}
    return jwt.encode(claims, credential.key, algorithm="HS256")
