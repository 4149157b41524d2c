"""API consumers and their credentials: API keys, and JWT issuers with their keys.

Locally the dev consumers of DESIGN.md's contract; otherwise a consumers file (the same file for
the dev gateway and `portico render kong`). In the cluster consumers come from a Secret; the
dev credentials must never be used there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, TypeGuard, get_args

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Plain strings, not an enum: they go into the rendered YAML as they are.
JwtAlgorithm = Literal["HS256", "RS256"]
JWT_ALGORITHMS: tuple[JwtAlgorithm, ...] = get_args(JwtAlgorithm)


class KeyField(NamedTuple):
    """Which field holds a JWT credential's key, in the consumers file and in Kong's
    jwt_secret."""

    consumers_file: str
    kong: str


# A shared secret for HS256; the issuer's PEM public key for RS256.
KEY_FIELDS: dict[JwtAlgorithm, KeyField] = {
    "HS256": KeyField("secret", "secret"),
    "RS256": KeyField("public_key", "rsa_public_key"),
}


def is_jwt_algorithm(value: object) -> TypeGuard[JwtAlgorithm]:
    return value in JWT_ALGORITHMS


@dataclass(frozen=True)
class JwtCredential:
    """Kong's jwt_secret: tokens whose `iss` is `issuer` must be signed with `algorithm` by this
    key (a shared secret for HS256, the issuer's PEM public key for RS256)."""

    issuer: str
    algorithm: JwtAlgorithm
    key: str

    @property
    def key_field(self) -> KeyField:
        return KEY_FIELDS[self.algorithm]


@dataclass(frozen=True)
class Consumer:
    """An API consumer of the gateway (Kong's consumer) and its credentials."""

    username: str
    id: str
    api_keys: tuple[str, ...] = ()
    jwt_credentials: tuple[JwtCredential, ...] = ()

    def secrets(self) -> tuple[str, ...]:
        """Its API keys and JWT keys."""
        return (*self.api_keys, *(c.key for c in self.jwt_credentials))


def consumer_id(username: str) -> str:
    """A stable id per username, the same in the dev gateway and in the rendered Kong config."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"portico:consumer:{username}"))


def dev_consumer(username: str) -> Consumer:
    secret = f"{username}-dev-jwt-secret-not-for-production"
    return Consumer(
        username=username,
        id=consumer_id(username),
        api_keys=(f"{username}-dev-key",),
        jwt_credentials=(JwtCredential(f"{username}-dev-issuer", "HS256", secret),),
    )


DEV_CONSUMERS = (dev_consumer("alice"), dev_consumer("bob"))
DEV_SECRETS = frozenset(secret for consumer in DEV_CONSUMERS for secret in consumer.secrets())


def has_dev_credentials(consumers: Iterable[Consumer]) -> bool:
    return any(secret in DEV_SECRETS for consumer in consumers for secret in consumer.secrets())


def by_api_key(consumers: Iterable[Consumer]) -> dict[str, Consumer]:
    return {key: consumer for consumer in consumers for key in consumer.api_keys}


def by_issuer(consumers: Iterable[Consumer]) -> dict[str, tuple[Consumer, JwtCredential]]:
    return {
        credential.issuer: (consumer, credential)
        for consumer in consumers
        for credential in consumer.jwt_credentials
    }


# --- The consumers file ------------------------------------------------------------------------


def load_consumers(
    path: Path | None, default: tuple[Consumer, ...] = DEV_CONSUMERS
) -> tuple[Consumer, ...]:
    """The consumers in the file, or `default` (the dev consumers) without one; ValueError names
    the problem (never quoting a secret)."""
    if path is None:
        return default
    return parse_consumers(path.read_text(encoding="utf-8"))


def parse_consumers(text: str) -> tuple[Consumer, ...]:
    entries = yaml.safe_load(text)
    if not isinstance(entries, list) or not entries:
        raise ValueError(
            "expected a non-empty YAML list of {username: ..., keys: [...], jwt: [...]}"
        )
    consumers = tuple(parse_consumer(entry, number) for number, entry in enumerate(entries, 1))
    usernames = [c.username for c in consumers]
    if len(set(usernames)) != len(usernames):
        raise ValueError("each username may be listed only once")
    keys = [key for c in consumers for key in c.api_keys]
    if len(set(keys)) != len(keys):
        raise ValueError("each key may be listed only once, across all consumers")
    issuers = [credential.issuer for c in consumers for credential in c.jwt_credentials]
    if len(set(issuers)) != len(issuers):
        raise ValueError("each JWT issuer may be listed only once, across all consumers")
    return consumers


def parse_consumer(entry: object, number: int) -> Consumer:
    if not isinstance(entry, dict) or "username" not in entry:
        raise ValueError(f"consumer {number}: expected a mapping with a username")
    unknown = set(entry) - {"username", "keys", "jwt"}
    if unknown:
        raise ValueError(
            f"consumer {number}: unknown field(s) {', '.join(sorted(map(str, unknown)))}; "
            "expected username, keys and jwt"
        )
    username = entry["username"]
    if not isinstance(username, str) or not username:
        raise ValueError(f"consumer {number}: username must be a non-empty string")
    keys = entry.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise ValueError(f"consumer {username!r}: keys must be a list of non-empty strings")
    jwt = entry.get("jwt", [])
    if not isinstance(jwt, list):
        raise ValueError(f"consumer {username!r}: jwt must be a list of issuers")
    credentials = tuple(parse_jwt_credential(username, item) for item in jwt)
    if not keys and not credentials:
        raise ValueError(f"consumer {username!r}: needs at least one key or jwt issuer")
    return Consumer(username, consumer_id(username), tuple(keys), credentials)


def parse_jwt_credential(username: str, item: object) -> JwtCredential:
    where = f"consumer {username!r}, jwt"
    if not isinstance(item, dict):
        raise ValueError(f"{where}: expected a mapping with issuer, algorithm and its key")
    issuer, algorithm = item.get("issuer"), item.get("algorithm", "HS256")
    if not isinstance(issuer, str) or not issuer:
        raise ValueError(f"{where}: issuer must be a non-empty string (the tokens' iss claim)")
    if not is_jwt_algorithm(algorithm):
        raise ValueError(
            f"{where} {issuer!r}: algorithm must be one of {', '.join(JWT_ALGORITHMS)}"
        )
    key_field = KEY_FIELDS[algorithm].consumers_file
    expected = {"issuer", "algorithm", key_field}
    if set(item) - expected:
        raise ValueError(
            f"{where} {issuer!r}: an {algorithm} issuer has the fields "
            f"{', '.join(sorted(expected))}"
        )
    key = item.get(key_field)
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"{where} {issuer!r}: {algorithm} needs a non-empty {key_field}")
    if algorithm == "RS256" and not is_rsa_public_key(key):
        raise ValueError(f"{where} {issuer!r}: public_key must be a PEM RSA public key")
    return JwtCredential(issuer, algorithm, key)


def is_rsa_public_key(pem: str) -> bool:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        return False
    return isinstance(key, rsa.RSAPublicKey)
