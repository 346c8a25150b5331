"""Bearer-token authentication: one indexed lookup by hash per request (on the push and
pull paths inside their own transaction; on push the same query also checks membership)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, bindparam, select

from .db import circle_members, devices, organizations, tokens
from .errors import forbidden, not_found, unauthorized
from .tokens import DEVICE, hash_token


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's kind, its organization and (for devices) the device."""

    kind: str
    token_hash: str
    org_id: str
    org_name: str
    device_id: str | None


# What `_check` reads to tell a live token from a dead one.
_LIVENESS = (
    tokens.c.kind,
    tokens.c.device_id,
    tokens.c.expires_at,
    tokens.c.used_at,
    tokens.c.revoked_at,
    devices.c.revoked_at.label("device_revoked_at"),
)

_LOOKUP = (
    select(*_LIVENESS, tokens.c.org_id, organizations.c.name.label("org_name"))
    .join(organizations, organizations.c.id == tokens.c.org_id)
    .outerjoin(devices, devices.c.id == tokens.c.device_id)
    .where(tokens.c.hash == bindparam("token_hash"))
)


# A device token and, in the same indexed lookup, its membership of one circle (NULL if
# none): what a push needs before it takes the circle's counter lock.
_MEMBER_LOOKUP = (
    select(*_LIVENESS, circle_members.c.member_id)
    .select_from(
        tokens.outerjoin(devices, devices.c.id == tokens.c.device_id).outerjoin(
            circle_members,
            and_(
                circle_members.c.device_id == tokens.c.device_id,
                circle_members.c.circle_id == bindparam("circle_id"),
                circle_members.c.removed_at.is_(None),
            ),
        )
    )
    .where(tokens.c.hash == bindparam("token_hash"))
)


def _hash_or_none(token: str | None) -> str | None:
    return hash_token(token) if token is not None and 0 < len(token) <= 200 else None


def _check(row: Any, roles: tuple[str, ...], now: int) -> Any:
    """The row of a live token of one of `roles`; else 401 for a missing or dead token,
    403 for a wrong role. (A 401 is counted against the client's address once its
    transaction is over: see `app._on_http_error`.)"""
    if (
        row is None
        or row.revoked_at is not None
        or row.used_at is not None
        or row.device_revoked_at is not None
        or (row.expires_at is not None and row.expires_at <= now)
    ):
        raise unauthorized()
    if row.kind not in roles:
        raise forbidden()
    return row


def authenticate(
    db: Engine | Connection,
    token: str | None,
    roles: tuple[str, ...],
    now: int,
) -> Principal:
    """Resolve the caller or raise 401/403. `db` is the engine (a connection just for the
    lookup) or the caller's transaction."""
    row = None
    token_hash = _hash_or_none(token)
    if token_hash is not None:
        with _connection(db) as conn:
            row = conn.execute(_LOOKUP, {"token_hash": token_hash}).first()
    row = _check(row, roles, now)
    assert token_hash is not None
    return Principal(row.kind, token_hash, row.org_id, row.org_name, row.device_id)


def authenticate_member(
    conn: Connection,
    token: str | None,
    circle_id: str,
    now: int,
) -> str:
    """The device id of a device token that belongs to `circle_id`, in one query on the
    caller's transaction: 401/403 exactly as `authenticate`, then 404 for a non-member."""
    token_hash = _hash_or_none(token)
    row = None
    if token_hash is not None:
        row = conn.execute(
            _MEMBER_LOOKUP, {"token_hash": token_hash, "circle_id": circle_id}
        ).first()
    row = _check(row, (DEVICE,), now)
    if row.member_id is None:
        raise not_found("circle not found")
    return str(row.device_id)


# For routes that fold the token lookup into a query of their own (`live.wait`).
LIVENESS = _LIVENESS
check_token = _check
hash_or_none = _hash_or_none


def require_device(p: Principal) -> str:
    """The device id of a device principal (for type checkers; routes already checked)."""
    if p.device_id is None:
        raise forbidden()
    return p.device_id


def _connection(db: Engine | Connection) -> AbstractContextManager[Connection]:
    return db.connect() if isinstance(db, Engine) else nullcontext(db)
