"""Bearer tokens: random, prefixed so a human can tell them apart, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

ADMIN, ENROLL, DEVICE, INVITE = "xca_", "xce_", "xcd_", "xci_"
PREFIXES = (ADMIN, ENROLL, DEVICE, INVITE)


def new_token(prefix: str) -> tuple[str, str]:
    """A fresh token and its hash. 256 random bits, so a plain SHA-256 (no salt, no KDF)
    is enough: nobody can brute-force the preimage, and lookup by hash stays one index hit."""
    token = prefix + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """Hex SHA-256 of a token; the only form the database ever holds."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def looks_like_token(value: str) -> bool:
    """True if `value` carries one of our prefixes (the CLI's revoke uses it)."""
    return value.startswith(PREFIXES)


def new_id() -> str:
    """A random 128-bit id (hex) for organizations and devices."""
    return secrets.token_hex(16)
