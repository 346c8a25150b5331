"""Operator actions on the exchange database, shared by the CLI, the tests and the bench."""

from __future__ import annotations

import re

from sqlalchemy import Connection, Engine, or_, select, update
from sqlalchemy.exc import IntegrityError

from .db import devices, organizations, tokens, write_tx
from .errors import AdminError
from .settings import wall_clock_ms
from .tokens import ADMIN, ENROLL, PREFIX, hash_token, looks_like_token, new_id, new_token

MIN_TTL_S = 60
# Enrollment tokens and invite codes are bearer secrets that travel by mail or chat: they
# live a week at most. An invite defaults to 72 hours, an enrollment token to the week.
MAX_TTL_S = 7 * 24 * 3600
DEFAULT_TTL_S = MAX_TTL_S
DEFAULT_INVITE_TTL_S = 72 * 3600
_TTL_RE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_ttl(text: str) -> int:
    """`'7d'`, `'12h'`, `'90m'`, `'3600'` → seconds, within 60 s … 7 days."""
    m = _TTL_RE.match(text)
    if not m:
        raise AdminError(f"invalid duration {text!r} (use e.g. 90m, 12h, 7d)")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if not MIN_TTL_S <= seconds <= MAX_TTL_S:
        raise AdminError("duration must be between 60s and 7d")
    return seconds


def _now(now_ms: int | None) -> int:
    return wall_clock_ms() if now_ms is None else now_ms


def add_org(engine: Engine, name: str, now_ms: int | None = None) -> tuple[str, str]:
    """Register an organization; returns `(org_id, admin_token)`. The token is shown once."""
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise AdminError("organization name must be 1 to 200 characters")
    now = _now(now_ms)
    org_id = new_id()
    token, token_hash = new_token(PREFIX[ADMIN])
    try:
        with write_tx(engine) as conn:
            conn.execute(organizations.insert().values(id=org_id, name=name, created=now))
            conn.execute(
                tokens.insert().values(hash=token_hash, kind=ADMIN, org_id=org_id, created=now)
            )
    except IntegrityError:
        raise AdminError(f"organization {name!r} already exists") from None
    return org_id, token


def find_org(engine: Engine, org: str) -> str:
    """The id of the organization named (or identified by) `org`."""
    with engine.connect() as conn:
        org_id = conn.execute(
            select(organizations.c.id).where(
                or_(organizations.c.name == org, organizations.c.id == org)
            )
        ).scalar()
    if org_id is None:
        raise AdminError(f"unknown organization {org!r}")
    return str(org_id)


def issue_enrollment(
    engine: Engine, org: str, ttl_seconds: int = DEFAULT_TTL_S, now_ms: int | None = None
) -> tuple[str, int]:
    """A single-use enrollment token for a device of `org` (name or id): `(token, expires_at)`."""
    return create_enrollment(engine, find_org(engine, org), ttl_seconds, _now(now_ms))


def create_enrollment(engine: Engine, org_id: str, ttl_seconds: int, now: int) -> tuple[str, int]:
    """Insert an enrollment token for `org_id`; used by the CLI and `POST /v1/enrollments`."""
    token, token_hash = new_token(PREFIX[ENROLL])
    expires = now + ttl_seconds * 1000
    with write_tx(engine) as conn:
        conn.execute(
            tokens.insert().values(
                hash=token_hash, kind=ENROLL, org_id=org_id, expires_at=expires, created=now
            )
        )
    return token, expires


def revoke(engine: Engine, token_or_device: str, now_ms: int | None = None) -> str:
    """Revoke a token, or a device and all its tokens; returns a line saying what was done."""
    now = _now(now_ms)
    with write_tx(engine) as conn:
        if looks_like_token(token_or_device):
            token_hash = hash_token(token_or_device)
            row = conn.execute(
                select(tokens.c.kind, tokens.c.device_id).where(tokens.c.hash == token_hash)
            ).first()
            if row is None:
                raise AdminError("unknown token")
            if row.device_id is None:
                conn.execute(
                    update(tokens).where(tokens.c.hash == token_hash).values(revoked_at=now)
                )
                return f"revoked {row.kind} token"
            device_id = row.device_id
        else:
            device_id = token_or_device
        return revoke_device(conn, device_id, now)


def revoke_device(conn: Connection, device_id: str, now: int) -> str:
    """Mark a device and its tokens revoked (inside the caller's write transaction)."""
    done = conn.execute(
        update(devices)
        .where(devices.c.id == device_id, devices.c.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    exists = conn.execute(select(devices.c.id).where(devices.c.id == device_id)).first()
    if exists is None:
        raise AdminError(f"unknown device {device_id!r}")
    conn.execute(
        update(tokens)
        .where(tokens.c.device_id == device_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return f"revoked device {device_id}" if done else f"device {device_id} was already revoked"


def rotate_admin(engine: Engine, org: str, now_ms: int | None = None) -> str:
    """Revoke every admin token of `org` (name or id) and issue a new one, in one
    transaction: returns the new token (shown once)."""
    now = _now(now_ms)
    org_id = find_org(engine, org)
    token, token_hash = new_token(PREFIX[ADMIN])
    with write_tx(engine) as conn:
        conn.execute(
            update(tokens)
            .where(tokens.c.org_id == org_id, tokens.c.kind == ADMIN, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        conn.execute(
            tokens.insert().values(hash=token_hash, kind=ADMIN, org_id=org_id, created=now)
        )
    return token
