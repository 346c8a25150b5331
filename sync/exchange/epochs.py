"""Key epochs: the current epoch of a circle, the per-device wraps of each epoch's secret,
and the rekey that moves a circle to the next epoch.

A rekey is a compare-and-swap on the epoch under the circle's row lock (the lock a push
takes too): of concurrent rekeys at the same expected epoch exactly one commits, the
others get 409 and store nothing. Its wrap set must be exactly the circle's current member
devices, plus any pending joiners it confirms: a rekey that leaves a member out (or slips
a stranger in) is refused with 422, so the exchange can neither be asked to drop someone
silently nor to add someone silently. The wraps themselves are opaque bytes.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import Engine, select, update

from .db import circle_members, circles, devices, joins, read_tx, wraps, write_tx
from .errors import ExchangeError, forbidden, not_found
from .invites import admit
from .members import CONVENER, caller_row, lock_circle, member_devices


def epoch_error(pushed: int, current: int) -> ExchangeError:
    """The 409 for a new op sealed under another epoch than the circle's current one."""
    if pushed < current:
        return ExchangeError(
            409,
            "epoch_retired",
            f"epoch {pushed} is retired (current {current}): re-seal and push again",
        )
    return ExchangeError(409, "epoch_unknown", f"epoch {pushed} does not exist (current {current})")


def my_wraps(engine: Engine, device_id: str, circle_id: str) -> dict[str, Any]:
    """The circle's current epoch and this device's wraps (never another device's)."""
    with read_tx(engine) as conn:
        caller_row(conn, circle_id, device_id)
        epoch = int(
            conn.execute(select(circles.c.epoch).where(circles.c.id == circle_id)).scalar_one()
        )
        rows = conn.execute(
            select(wraps.c.epoch, wraps.c.wrap)
            .where(wraps.c.circle_id == circle_id, wraps.c.device_id == device_id)
            .order_by(wraps.c.epoch)
        ).all()
    mine = [{"epoch": int(r.epoch), "wrap": base64.b64encode(r.wrap).decode()} for r in rows]
    current = next((w["wrap"] for w in mine if w["epoch"] == epoch), None)
    return {"circle_id": circle_id, "epoch": epoch, "wrap": current, "wraps": mine}


def rekey(
    engine: Engine,
    device_id: str,
    circle_id: str,
    expected: int,
    new_wraps: dict[str, bytes],
    now: int,
    new: int | None = None,
) -> int:
    """Move the circle from epoch `expected` to the next one with `new_wraps`
    (`{device_id: wrap}`); returns the new epoch. Pending joiners in the set are confirmed
    (only by their inviter's device or a convener's)."""
    with write_tx(engine) as conn:
        current = lock_circle(conn, circle_id)
        if current is None:
            raise not_found("circle not found")
        me = caller_row(conn, circle_id, device_id)
        if current != expected:
            raise ExchangeError(
                409, "epoch_conflict", f"the circle is at epoch {current}, not {expected}"
            )
        members = member_devices(conn, circle_id)
        pending = {
            r.device_id: r
            for r in conn.execute(
                select(joins.c.device_id, joins.c.member_id, joins.c.invited_by)
                .join(devices, devices.c.id == joins.c.device_id)
                .where(joins.c.circle_id == circle_id, devices.c.revoked_at.is_(None))
            )
        }
        given = set(new_wraps)
        missing = set(members) - given
        extra = given - set(members) - set(pending)
        if missing or extra:
            raise ExchangeError(
                422,
                "wrap_set_mismatch",
                f"the wraps must be for exactly the member devices: {len(missing)} missing, "
                f"{len(extra)} not members",
            )
        confirmed = [pending[d] for d in sorted(given & set(pending))]
        if me.role != CONVENER and any(j.invited_by != device_id for j in confirmed):
            raise forbidden()
        new = current + 1 if new is None else new
        if new <= current:
            raise ExchangeError(422, "invalid_request", "epoch: must be above the expected epoch")
        conn.execute(update(circles).where(circles.c.id == circle_id).values(epoch=new))
        conn.execute(
            wraps.insert(),
            [
                {"circle_id": circle_id, "epoch": new, "device_id": d, "wrap": w, "created": now}
                for d, w in sorted(new_wraps.items())
            ],
        )
        for j in confirmed:
            # A device removed from this circle before comes back on its old row.
            old = conn.execute(
                select(circle_members.c.joined).where(
                    circle_members.c.circle_id == circle_id,
                    circle_members.c.device_id == j.device_id,
                )
            ).first()
            admit(conn, circle_id, j.device_id, j.member_id, now, rejoin=old is not None)
            conn.execute(
                joins.delete().where(
                    joins.c.circle_id == circle_id, joins.c.device_id == j.device_id
                )
            )
    return new
