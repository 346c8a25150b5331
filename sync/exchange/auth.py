"""Bearer-token authentication: one indexed lookup by hash per request."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, select

from .db import devices, organizations, tokens
from .errors import ExchangeError, forbidden, unauthorized
from .limits import RateLimiter
from .tokens import hash_token

ADMIN, ENROLL, DEVICE = "admin", "enroll", "device"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's kind, its organization and (for devices) the device."""

    kind: str
    token_hash: str
    org_id: str
    org_name: str
    device_id: str | None


_LOOKUP = (
    select(
        tokens.c.kind,
        tokens.c.org_id,
        tokens.c.device_id,
        tokens.c.expires_at,
        tokens.c.used_at,
        tokens.c.revoked_at,
        organizations.c.name.label("org_name"),
        devices.c.revoked_at.label("device_revoked_at"),
    )
    .join(organizations, organizations.c.id == tokens.c.org_id)
    .outerjoin(devices, and_(devices.c.id == tokens.c.device_id))
)


def authenticate(
    engine: Engine,
    token: str | None,
    roles: tuple[str, ...],
    now: int,
    fail_limiter: RateLimiter,
    client_ip: str,
) -> Principal:
    """Resolve the caller or raise 401/403. Failures count against the caller's IP: past the
    limit a guesser gets 429 instead of 401 (valid tokens are never slowed down)."""
    row = None
    token_hash = ""
    if token is not None and 0 < len(token) <= 200:
        token_hash = hash_token(token)
        with engine.connect() as conn:
            row = conn.execute(_LOOKUP.where(tokens.c.hash == token_hash)).first()
    if (
        row is None
        or row.revoked_at is not None
        or row.used_at is not None
        or row.device_revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        fail_limiter.check(client_ip, "failed authentications")
        raise unauthorized()
    if row.kind not in roles:
        raise forbidden()
    return Principal(row.kind, token_hash, row.org_id, row.org_name, row.device_id)


def require_device(p: Principal) -> str:
    """The device id of a device principal (for type checkers; routes already checked)."""
    if p.device_id is None:
        raise ExchangeError(403, "forbidden", "this token may not do that")
    return p.device_id
