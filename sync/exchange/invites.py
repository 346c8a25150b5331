"""Invites, joins and device keys.

An invite is made for a member id: a fresh one (nobody in the circle holds, held, waits
for or was promised it) or the inviter's own (to add its own second device). The joiner
gets that id and cannot pick another, so nobody joins as "bob". The client sends a token
derived from its invite secret and the exchange keeps only the token's SHA-256; legacy
invites (no token) get a code minted here, and their joiner proposes an id that must be
fresh. An invite dies with its maker: once the maker's device is removed from the circle
or revoked, redeeming answers as for an unknown code.

In an encrypted circle (epoch ≥ 1) a redeem makes a pending join: the joiner's opaque
bundle (its keys bound, its name sealed, with a key only invite holders know) waits until a member's
device checks it and confirms the join with a rekey that includes the joiner.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, and_, select, update
from sqlalchemy.exc import IntegrityError

from .db import circle_members, devices, invites, joins, write_tx
from .errors import ExchangeError, not_found
from .members import MEMBER, caller_row, lock_circle, member_id_held
from .quotas import Quotas, check_circles_per_device, check_members, check_open_invites
from .tokens import INVITE_PREFIX, hash_token, new_token

PENDING = "pending"  # redeem status of a join waiting for its confirming rekey


def _taken() -> ExchangeError:
    return ExchangeError(409, "member_id_taken", "this member id belongs to someone else")


def _invite_not_found() -> ExchangeError:
    return ExchangeError(404, "invite_not_found", "invite code unknown, used or expired")


def create_invite(
    engine: Engine,
    device_id: str,
    circle_id: str,
    ttl_s: int,
    now: int,
    q: Quotas,
    *,
    token: str | None = None,
    member_id: str | None = None,
) -> tuple[str | None, int]:
    """A single-use invite: `(code, expires_at)`; `code` is None when the client brought
    its own `token` (the exchange keeps only its hash either way)."""
    code: str | None
    if token is None:
        code, code_hash = new_token(INVITE_PREFIX)
    else:
        code, code_hash = None, hash_token(token)
    expires = now + ttl_s * 1000
    with write_tx(engine) as conn:
        if lock_circle(conn, circle_id) is None:
            raise not_found("circle not found")
        me = caller_row(conn, circle_id, device_id)
        if (
            member_id is not None
            and member_id != me.member_id
            and member_id_held(conn, circle_id, member_id, now)
        ):
            raise _taken()
        check_open_invites(conn, circle_id, now, q)
        if conn.execute(select(invites.c.hash).where(invites.c.hash == code_hash)).first():
            raise ExchangeError(409, "conflict", "this invite token is already in use")
        conn.execute(
            invites.insert().values(
                hash=code_hash,
                circle_id=circle_id,
                created_by=device_id,
                expires_at=expires,
                created=now,
                member_id=member_id,
            )
        )
    return code, expires


def _open_invite(conn: Connection, code_hash: str, now: int) -> Any:
    """The invite behind a code if it can still be redeemed: unused, unexpired, and its
    maker's device still a member of the circle and not revoked."""
    inv = conn.execute(
        select(invites.c.circle_id, invites.c.created_by, invites.c.member_id).where(
            invites.c.hash == code_hash, invites.c.used_at.is_(None), invites.c.expires_at > now
        )
    ).first()
    if inv is None:
        return None
    maker = conn.execute(
        select(circle_members.c.member_id)
        .join(devices, devices.c.id == circle_members.c.device_id)
        .where(
            circle_members.c.circle_id == inv.circle_id,
            circle_members.c.device_id == inv.created_by,
            circle_members.c.removed_at.is_(None),
            devices.c.revoked_at.is_(None),
        )
    ).first()
    return None if maker is None else inv


def redeem_invite(
    engine: Engine,
    device_id: str,
    code: str,
    proposed: str | None,
    bundle: bytes | None,
    now: int,
    q: Quotas,
) -> tuple[str, str, str]:
    """Redeem an invite: `(circle_id, member_id, status)` with status `member` (a plaintext
    circle: in at once) or `pending` (an encrypted circle: waits for a confirming rekey).
    Redeeming again while already in (or pending) answers the same and leaves the code
    unused.

    Single use is one conditional UPDATE under the circle's row lock: of any number of
    concurrent redeems of one code, exactly one matches the unused, unexpired row; the
    others answer 404."""
    code_hash = hash_token(code)
    try:
        return _redeem(engine, device_id, code_hash, proposed, bundle, now, q)
    except IntegrityError:
        # The same device joining the same circle in two transactions at once: the loser
        # rolls back (its invite unused) and the client may simply retry.
        raise ExchangeError(
            409, "conflict", "a concurrent request changed this membership; retry"
        ) from None


def _redeem(
    engine: Engine,
    device_id: str,
    code_hash: str,
    proposed: str | None,
    bundle: bytes | None,
    now: int,
    q: Quotas,
) -> tuple[str, str, str]:
    with write_tx(engine) as conn:
        found = conn.execute(select(invites.c.circle_id).where(invites.c.hash == code_hash))
        circle_id = found.scalar()
        if circle_id is None:
            raise _invite_not_found()
        circle_id = str(circle_id)
        epoch = lock_circle(conn, circle_id)  # concurrent joins of one circle queue here
        assert epoch is not None  # invites reference their circle
        row = conn.execute(
            select(circle_members.c.member_id, circle_members.c.removed_at).where(
                circle_members.c.circle_id == circle_id, circle_members.c.device_id == device_id
            )
        ).first()
        if row is not None and row.removed_at is None:
            return circle_id, str(row.member_id), MEMBER
        waiting = conn.execute(
            select(joins.c.member_id).where(
                joins.c.circle_id == circle_id, joins.c.device_id == device_id
            )
        ).first()
        if waiting is not None:
            return circle_id, str(waiting.member_id), PENDING
        inv = _open_invite(conn, code_hash, now)  # read after the lock: current
        if inv is None:
            raise _invite_not_found()
        member_id = _member_id(conn, inv, row, proposed, circle_id, now)
        check_members(conn, circle_id, q)
        check_circles_per_device(conn, device_id, q)
        # The conditional UPDATE is the single-use check: of racing redeems, exactly one
        # sees rowcount 1 (PostgreSQL re-checks `used_at` after the first commits).
        used = conn.execute(
            update(invites)
            .where(
                and_(
                    invites.c.hash == code_hash,
                    invites.c.used_at.is_(None),
                    invites.c.expires_at > now,
                )
            )
            .values(used_at=now)
        ).rowcount
        if used != 1:
            raise _invite_not_found()
        if epoch > 0:
            _pending_join(conn, circle_id, device_id, member_id, inv.created_by, bundle, now)
            return circle_id, member_id, PENDING
        admit(conn, circle_id, device_id, member_id, now, rejoin=row is not None)
    return circle_id, member_id, MEMBER


def _member_id(
    conn: Connection, inv: Any, row: Any, proposed: str | None, circle_id: str, now: int
) -> str:
    """The member id a redeem gets: the invite's; else (legacy invite) a returning
    device's previous id; else the joiner's proposal if nobody holds or held it."""
    if inv.member_id is not None:
        if proposed is not None and proposed != inv.member_id:
            raise _taken()
        return str(inv.member_id)
    if row is not None:
        return str(row.member_id)
    if proposed is None:
        raise ExchangeError(422, "invalid_request", "member_id: required for this invite")
    if member_id_held(conn, circle_id, proposed, now):
        raise _taken()
    return proposed


def _pending_join(
    conn: Connection,
    circle_id: str,
    device_id: str,
    member_id: str,
    invited_by: str,
    bundle: bytes | None,
    now: int,
) -> None:
    keys = conn.execute(
        select(devices.c.x25519, devices.c.ed25519).where(devices.c.id == device_id)
    ).one()
    if keys.x25519 is None or keys.ed25519 is None:
        raise ExchangeError(
            422, "keys_required", "register this device's public keys before joining"
        )
    conn.execute(
        joins.insert().values(
            circle_id=circle_id,
            device_id=device_id,
            member_id=member_id,
            invited_by=invited_by,
            bundle=bundle,
            created=now,
        )
    )


def admit(
    conn: Connection, circle_id: str, device_id: str, member_id: str, now: int, *, rejoin: bool
) -> None:
    """Make `device_id` an active member (role `member`): a new row, or its old row
    brought back when it was removed before. The caller holds the circle's lock."""
    if rejoin:
        conn.execute(
            update(circle_members)
            .where(circle_members.c.circle_id == circle_id, circle_members.c.device_id == device_id)
            .values(member_id=member_id, joined=now, removed_at=None, role=MEMBER)
        )
        return
    conn.execute(
        circle_members.insert().values(
            circle_id=circle_id, device_id=device_id, member_id=member_id, joined=now, role=MEMBER
        )
    )


def set_keys(conn: Connection, device_id: str, x25519: bytes, ed25519: bytes) -> None:
    """Register a device's public keys, once: the same keys again is a no-op, other keys
    409 (keys that could change under a member's feet would let a swap go unnoticed)."""
    row = conn.execute(
        select(devices.c.x25519, devices.c.ed25519).where(devices.c.id == device_id)
    ).one()
    if row.x25519 is None and row.ed25519 is None:
        conn.execute(
            update(devices).where(devices.c.id == device_id).values(x25519=x25519, ed25519=ed25519)
        )
    elif (bytes(row.x25519), bytes(row.ed25519)) != (x25519, ed25519):
        raise ExchangeError(409, "keys_already_set", "this device's keys are already registered")


def put_keys(engine: Engine, device_id: str, x25519: bytes, ed25519: bytes) -> None:
    """`set_keys` in its own transaction."""
    with write_tx(engine) as conn:
        set_keys(conn, device_id, x25519, ed25519)


def pending_circles(conn: Connection, device_id: str) -> list[str]:
    """Circles where this device waits for its join to be confirmed."""
    rows = conn.execute(
        select(joins.c.circle_id).where(joins.c.device_id == device_id).order_by(joins.c.circle_id)
    )
    return [r.circle_id for r in rows]
