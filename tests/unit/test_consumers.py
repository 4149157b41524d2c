"""The consumers file: API keys and JWT issuers per consumer, refused with a reason that never
quotes a secret."""

from __future__ import annotations

import pytest

from portico.policies.consumers import (
    DEV_CONSUMERS,
    JwtCredential,
    by_api_key,
    by_issuer,
    consumer_id,
    has_dev_credentials,
    load_consumers,
    parse_consumers,
)
from tests.keys import PUBLIC_KEY, consumer_yaml


def test_without_a_file_the_dev_consumers_are_used():
    assert load_consumers(None) == DEV_CONSUMERS
    assert [c.username for c in DEV_CONSUMERS] == ["alice", "bob"]
    assert by_api_key(DEV_CONSUMERS)["alice-dev-key"].username == "alice"
    consumer, credential = by_issuer(DEV_CONSUMERS)["bob-dev-issuer"]
    assert consumer.username == "bob" and credential.algorithm == "HS256"
    assert has_dev_credentials(DEV_CONSUMERS)


def test_ids_are_stable_per_username():
    assert consumer_id("alice") == consumer_id("alice") != consumer_id("bob")
    assert DEV_CONSUMERS[0].id == consumer_id("alice")


def test_a_file_with_keys_and_both_kinds_of_issuer(tmp_path):
    path = tmp_path / "consumers.yaml"
    path.write_text(
        "- username: acme\n"
        "  keys: [a-key]\n"
        "  jwt:\n"
        "    - {issuer: acme-batch, algorithm: HS256, secret: s3cret-s3cret-s3cret-s3cret-s3cret}\n"
        + consumer_yaml("globex", "https://login.globex.example")
    )
    acme, globex = load_consumers(path)
    assert acme.api_keys == ("a-key",)
    assert acme.jwt_credentials == (
        JwtCredential("acme-batch", "HS256", "s3cret-s3cret-s3cret-s3cret-s3cret"),
    )
    assert globex.api_keys == ()
    assert globex.jwt_credentials == (
        JwtCredential("https://login.globex.example", "RS256", PUBLIC_KEY + "\n"),
    )
    assert not has_dev_credentials((acme, globex))


def test_the_algorithm_defaults_to_hs256():
    [acme] = parse_consumers("- {username: acme, jwt: [{issuer: i, secret: s}]}\n")
    assert acme.jwt_credentials[0].algorithm == "HS256"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty YAML list"),
        ("username: acme\n", "non-empty YAML list"),
        ("- keys: [k]\n", "expected a mapping with a username"),
        ("- username: acme\n", "needs at least one key or jwt issuer"),
        ("- {username: acme, keys: [k], id: x}\n", r"unknown field\(s\) id"),
        ("- {username: '', keys: [k]}\n", "username must be a non-empty string"),
        ("- {username: acme, keys: ['']}\n", "keys must be a list of non-empty strings"),
        ("- {username: acme, keys: [k]}\n- {username: acme, keys: [j]}\n", "username"),
        ("- {username: acme, keys: [k]}\n- {username: globex, keys: [k]}\n", "each key"),
        ("- {username: acme, jwt: k}\n", "jwt must be a list of issuers"),
        ("- {username: acme, jwt: [{secret: k}]}\n", "issuer must be a non-empty string"),
        ("- {username: acme, jwt: [{issuer: i, algorithm: none, secret: k}]}\n", "one of HS256"),
        ("- {username: acme, jwt: [{issuer: i, algorithm: RS256, secret: k}]}\n", "public_key"),
        ("- {username: acme, jwt: [{issuer: i, algorithm: HS256}]}\n", "needs a non-empty secret"),
        (
            "- {username: acme, jwt: [{issuer: i, algorithm: RS256, public_key: k}]}\n",
            "must be a PEM RSA public key",
        ),
        (
            "- {username: a, jwt: [{issuer: i, secret: k}]}\n"
            "- {username: b, jwt: [{issuer: i, secret: j}]}\n",
            "each JWT issuer",
        ),
    ],
)
def test_a_bad_consumers_file_is_refused_without_quoting_secrets(text, message):
    with pytest.raises(ValueError, match=message) as caught:
        parse_consumers(text)
    assert "'k'" not in str(caught.value) and "[k]" not in str(caught.value)
