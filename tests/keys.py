"""An RSA key pair made for this test run, for RS256 tokens (no key is ever committed)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE_KEY = _KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()
PUBLIC_KEY = (
    _KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
    .strip()
)


def consumer_yaml(username: str, issuer: str) -> str:
    """A consumers-file entry for `username` whose tokens from `issuer` are RS256-signed."""
    key = "\n".join("        " + line for line in PUBLIC_KEY.splitlines())
    return (
        f"- username: {username}\n"
        "  jwt:\n"
        f"    - issuer: {issuer}\n"
        "      algorithm: RS256\n"
        "      public_key: |\n"
        f"{key}\n"
    )
