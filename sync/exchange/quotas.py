"""Quotas: how much one device or circle may hold, checked inside the write transaction
that would go over (under the circle's or the device's row lock, so concurrent requests
cannot both squeeze under the bound). Over a quota is 409 `quota_exceeded`; ops per
device per day is a rate (429, see `ratelimit.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from . import metrics
from .db import circle_members, circles, devices, invites
from .errors import ExchangeError
from .ratelimit import DAY_MS, MINUTE_MS, Limit


@dataclass(frozen=True)
class Quotas:
    """The bounds `store` enforces; built from `ExchangeSettings.quotas()`."""

    max_op_bytes: int
    max_pull_bytes: int
    pushes_per_minute: int
    ops_per_day: int
    circles_per_device: int
    members_per_circle: int
    open_invites_per_circle: int

    @property
    def push_limit(self) -> Limit:
        return Limit("push", self.pushes_per_minute, MINUTE_MS, "pushes from this device")

    @property
    def ops_limit(self) -> Limit:
        return Limit("ops", self.ops_per_day, DAY_MS, "ops from this device today")


def exceeded(what: str, bound: int) -> ExchangeError:
    """The 409 of a full quota, naming it and its bound."""
    metrics.refused(what.replace(" ", "_"))
    return ExchangeError(409, "quota_exceeded", f"quota reached: at most {bound} {what}")


def lock_circle(conn: Connection, circle_id: str) -> bool:
    """Lock the circle's row for this transaction (PostgreSQL; SQLite's write transaction
    already excludes other writers); False if the circle does not exist. FOR NO KEY
    UPDATE: the ops' foreign keys (KEY SHARE) do not wait for it."""
    row = conn.execute(
        select(circles.c.id).where(circles.c.id == circle_id).with_for_update(key_share=True)
    )
    return row.first() is not None


def check_circles_per_device(conn: Connection, device_id: str, q: Quotas) -> None:
    """Before the device joins or creates one more circle."""
    conn.execute(
        select(devices.c.id).where(devices.c.id == device_id).with_for_update(key_share=True)
    )
    n = conn.execute(
        select(func.count())
        .select_from(circle_members)
        .where(circle_members.c.device_id == device_id, circle_members.c.removed_at.is_(None))
    ).scalar_one()
    if n >= q.circles_per_device:
        raise exceeded("circles per device", q.circles_per_device)


def check_members(conn: Connection, circle_id: str, q: Quotas) -> None:
    """Before one more device joins the circle (the caller holds `lock_circle`)."""
    n = conn.execute(
        select(func.count())
        .select_from(circle_members)
        .where(circle_members.c.circle_id == circle_id, circle_members.c.removed_at.is_(None))
    ).scalar_one()
    if n >= q.members_per_circle:
        raise exceeded("member devices per circle", q.members_per_circle)


def check_open_invites(conn: Connection, circle_id: str, now: int, q: Quotas) -> None:
    """Before one more invite is made for the circle (the caller holds `lock_circle`)."""
    n = conn.execute(
        select(func.count())
        .select_from(invites)
        .where(
            invites.c.circle_id == circle_id,
            invites.c.used_at.is_(None),
            invites.c.expires_at > now,
        )
    ).scalar_one()
    if n >= q.open_invites_per_circle:
        raise exceeded("open invites per circle", q.open_invites_per_circle)
