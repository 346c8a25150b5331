"""Bearer tokens: random, prefixed so a human can tell them apart, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets

# Kinds of bearer token (`tokens.kind`) and the prefix each is issued with. Invite codes
# are not bearer tokens (they live in `invites`), but are made and hashed the same way.
ADMIN, ENROLL, DEVICE = "admin", "enroll", "device"
PREFIX = {ADMIN: "xca_", ENROLL: "xce_", DEVICE: "xcd_"}
INVITE_PREFIX = "xci_"
PREFIXES = (*PREFIX.values(), INVITE_PREFIX)


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
