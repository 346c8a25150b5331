"""Membership on the exchange: who is in a circle, with which role, and who may remove whom.

The exchange enforces what it can see without reading content: a removal is done by a
convener or by the member itself (leaving), a role changes only by a convener's hand, and
a circle never loses its last convener while others remain. Every change of membership
takes the circle's row lock first (`lock_circle`), the same lock a push and a rekey take,
so two conveners demoting each other, or a removal racing a rekey, are serialized.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select, update

from .db import circle_members, circles, devices, invites, joins, organizations, read_tx, write_tx
from .errors import ExchangeError, forbidden, not_found

CONVENER, MEMBER = "convener", "member"
ROLES = (CONVENER, MEMBER)


def lock_circle(conn: Connection, circle_id: str) -> int | None:
    """Take the circle's row lock for the rest of the transaction (`FOR UPDATE` on
    PostgreSQL; SQLite's write transaction already holds the database lock) and return
    its current epoch, or None if there is no such circle."""
    row = conn.execute(
        select(circles.c.epoch).where(circles.c.id == circle_id).with_for_update()
    ).first()
    return None if row is None else int(row.epoch)


def _live(circle_id: str) -> Any:
    """Active member rows of non-revoked devices: the circle's current member devices."""
    return and_(
        circle_members.c.circle_id == circle_id,
        circle_members.c.removed_at.is_(None),
        devices.c.revoked_at.is_(None),
    )


def caller_row(conn: Connection, circle_id: str, device_id: str) -> Any:
    """The caller's active membership row (`member_id`, `role`), or 404: a circle the
    caller does not belong to is indistinguishable from one that does not exist."""
    row = conn.execute(
        select(circle_members.c.member_id, circle_members.c.role).where(
            circle_members.c.circle_id == circle_id,
            circle_members.c.device_id == device_id,
            circle_members.c.removed_at.is_(None),
        )
    ).first()
    if row is None:
        raise not_found("circle not found")
    return row


def member_devices(conn: Connection, circle_id: str) -> dict[str, str]:
    """`{device_id: member_id}` of the circle's current member devices."""
    rows = conn.execute(
        select(circle_members.c.device_id, circle_members.c.member_id)
        .join(devices, devices.c.id == circle_members.c.device_id)
        .where(_live(circle_id))
    )
    return {r.device_id: r.member_id for r in rows}


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def circle_view(engine: Engine, device_id: str, circle_id: str) -> dict[str, Any]:
    """What a member device sees of a circle: epoch, next seq, the current member devices
    with role and public keys, and the pending joins waiting for confirmation."""
    with read_tx(engine) as conn:
        caller_row(conn, circle_id, device_id)
        members = [
            {
                "member_id": r.member_id,
                "device_id": r.device_id,
                "org_name": r.org_name,
                "joined": r.joined,
                "role": r.role,
                "x25519": _b64(r.x25519),
                "ed25519": _b64(r.ed25519),
            }
            for r in conn.execute(
                select(
                    circle_members.c.member_id,
                    circle_members.c.device_id,
                    organizations.c.name.label("org_name"),
                    circle_members.c.joined,
                    circle_members.c.role,
                    devices.c.x25519,
                    devices.c.ed25519,
                )
                .join(devices, devices.c.id == circle_members.c.device_id)
                .join(organizations, organizations.c.id == devices.c.org_id)
                .where(_live(circle_id))
                .order_by(circle_members.c.joined, circle_members.c.member_id)
            )
        ]
        pending = [
            {
                "device_id": r.device_id,
                "member_id": r.member_id,
                "org_name": r.org_name,
                "invited_by": r.invited_by,
                "created": r.created,
                "x25519": _b64(r.x25519),
                "ed25519": _b64(r.ed25519),
                "bundle": _b64(r.bundle),
            }
            for r in conn.execute(
                select(
                    joins.c.device_id,
                    joins.c.member_id,
                    organizations.c.name.label("org_name"),
                    joins.c.invited_by,
                    joins.c.created,
                    joins.c.bundle,
                    devices.c.x25519,
                    devices.c.ed25519,
                )
                .join(devices, devices.c.id == joins.c.device_id)
                .join(organizations, organizations.c.id == devices.c.org_id)
                .where(joins.c.circle_id == circle_id, devices.c.revoked_at.is_(None))
                .order_by(joins.c.created, joins.c.device_id)
            )
        ]
        circle = conn.execute(
            select(circles.c.next_seq, circles.c.epoch).where(circles.c.id == circle_id)
        ).one()
    return {
        "circle_id": circle_id,
        "epoch": int(circle.epoch),
        "next_seq": int(circle.next_seq),
        "members": members,
        "joins": pending,
    }


def _conveners(conn: Connection, circle_id: str) -> set[str]:
    rows = conn.execute(
        select(circle_members.c.member_id)
        .join(devices, devices.c.id == circle_members.c.device_id)
        .where(_live(circle_id), circle_members.c.role == CONVENER)
    )
    return {r.member_id for r in rows}


def _others_remain(conn: Connection, circle_id: str, member_id: str) -> bool:
    n = conn.execute(
        select(func.count())
        .select_from(circle_members.join(devices, devices.c.id == circle_members.c.device_id))
        .where(_live(circle_id), circle_members.c.member_id != member_id)
    ).scalar_one()
    return bool(n)


def _last_convener() -> ExchangeError:
    return ExchangeError(
        409, "last_convener", "a circle needs a convener: promote another member first"
    )


def remove_member(engine: Engine, device_id: str, circle_id: str, member_id: str, now: int) -> None:
    """Remove every device of `member_id` (and its pending joins). A convener may remove
    anyone; anyone may remove themselves (leaving); others get 403. The exchange does not
    rekey: the remaining devices do, with a wrap set that no longer holds the removed."""
    with write_tx(engine) as conn:
        if lock_circle(conn, circle_id) is None:
            raise not_found("circle not found")
        me = caller_row(conn, circle_id, device_id)
        target = conn.execute(
            select(circle_members.c.role).where(
                circle_members.c.circle_id == circle_id,
                circle_members.c.member_id == member_id,
                circle_members.c.removed_at.is_(None),
            )
        ).first()
        # Members see the member list anyway: naming an absent one is 404 for everyone.
        if target is None:
            raise not_found("member not found")
        if me.member_id != member_id and me.role != CONVENER:
            raise forbidden()
        if (
            target.role == CONVENER
            and _conveners(conn, circle_id) <= {member_id}
            and _others_remain(conn, circle_id, member_id)
        ):
            raise _last_convener()
        conn.execute(
            update(circle_members)
            .where(
                circle_members.c.circle_id == circle_id,
                circle_members.c.member_id == member_id,
                circle_members.c.removed_at.is_(None),
            )
            .values(removed_at=now)
        )
        conn.execute(
            joins.delete().where(joins.c.circle_id == circle_id, joins.c.member_id == member_id)
        )


def set_role(engine: Engine, device_id: str, circle_id: str, member_id: str, role: str) -> None:
    """A convener sets `member_id`'s role (on all its devices); demoting the last convener
    is refused."""
    with write_tx(engine) as conn:
        if lock_circle(conn, circle_id) is None:
            raise not_found("circle not found")
        if caller_row(conn, circle_id, device_id).role != CONVENER:
            raise forbidden()
        active = circle_members.c.removed_at.is_(None)
        where = and_(
            circle_members.c.circle_id == circle_id, circle_members.c.member_id == member_id, active
        )
        if conn.execute(select(circle_members.c.role).where(where)).first() is None:
            raise not_found("member not found")
        if role != CONVENER and _conveners(conn, circle_id) <= {member_id}:
            raise _last_convener()
        conn.execute(update(circle_members).where(where).values(role=role))


def member_id_held(conn: Connection, circle_id: str, member_id: str, now: int) -> bool:
    """True if `member_id` is or was held in the circle (by any device, active or
    removed), waits in a pending join, or is promised by an open invite: a joiner must
    never step into another member's identity."""
    held = conn.execute(
        select(circle_members.c.device_id).where(
            circle_members.c.circle_id == circle_id, circle_members.c.member_id == member_id
        )
    ).first()
    if held is not None:
        return True
    pending = conn.execute(
        select(joins.c.device_id).where(
            joins.c.circle_id == circle_id, joins.c.member_id == member_id
        )
    ).first()
    if pending is not None:
        return True
    promised = conn.execute(
        select(invites.c.hash).where(
            invites.c.circle_id == circle_id,
            invites.c.member_id == member_id,
            invites.c.used_at.is_(None),
            invites.c.expires_at > now,
        )
    ).first()
    return promised is not None
