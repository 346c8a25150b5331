"""Meetings: plan, run (attendance, agreements, agenda steps) and close them.

The facilitator is never stored ahead of time: the rotation derives who is next from
the meetings held so far; starting a meeting records who actually facilitates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from xcircle.domain import AGENDA, HELD_STATUSES, KICKOFF_AGENDA
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.ops import new_id
from xcircle.rotation import Served, next_server
from xcircle.services.context import Context, clean, in_range


def parse_when(text: str, zone: str | None = None) -> datetime:
    """An aware date-time from ISO 8601; without an offset, in `zone` or the local zone."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date-time: use ISO 8601, e.g. 2026-12-01T18:00"
        ) from None
    if when.tzinfo is None:
        return when.replace(tzinfo=zone_info(zone)) if zone else when.astimezone()
    return when


def zone_info(name: str) -> ZoneInfo:
    """The IANA time zone `name`, or a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {name!r}: use an IANA name like Europe/Paris"
        ) from None


# A planned meeting stays "upcoming" this long after its start (it may be running late).
UPCOMING_GRACE = timedelta(hours=12)


def is_upcoming(meeting: Record, now: datetime) -> bool:
    """Running, or planned and not yet long past: what "next meeting" lists."""
    if meeting["status"] == "running":
        return True
    return meeting["status"] == "planned" and (
        datetime.fromisoformat(meeting["at"]) >= now - UPCOMING_GRACE
    )


def chrono(meeting: Record) -> tuple[datetime, str]:
    """Sort key of meetings: their time (zones compared correctly), then id."""
    return datetime.fromisoformat(meeting["at"]), meeting["id"]


def attendance_key(meeting: str, member: str) -> str:
    return f"{meeting}:{member}"


class Meetings:
    """Use cases of a circle's meetings."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def plan(
        self,
        circle: str,
        at: datetime,
        *,
        themes: Sequence[str] = (),
        duration: int | None = None,
        zone: str = "",
    ) -> Record:
        """Plan a meeting; the first one of a circle is its kick-off."""
        if at.tzinfo is None:
            raise InvalidInput("a meeting's time needs a time zone")
        circle_rec = self.ctx.record(circle, "circle", circle, "circle")
        key = new_id()
        kickoff = not any(m["status"] != "cancelled" for m in self.all(circle))
        fields: dict[str, Any] = {
            "at": at.isoformat(timespec="minutes"),
            "tz": zone,
            "duration": in_range(duration or circle_rec.get("duration", 90), "duration", 15, 480),
            "themes": [t for t in (clean(t, "a theme", 200) for t in themes) if t],
            "status": "planned",
            "notes": "",
            "kickoff": kickoff,
            "step": 0,
        }
        self.ctx.commit([self.ctx.op(circle, "meeting", key, **fields)])
        return self.get(circle, key)

    def update(self, circle: str, meeting: str, **fields: Any) -> Record:
        """Reschedule (`at`, `zone`), change themes, duration or notes of a meeting."""
        self.get(circle, meeting)
        changes: dict[str, Any] = {}
        if "at" in fields:
            at = fields["at"]
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise InvalidInput("a meeting's time needs a time zone")
            changes["at"] = at.isoformat(timespec="minutes")
        if "zone" in fields:
            changes["tz"] = clean(fields["zone"], "the time zone", 64)
        if "themes" in fields:
            changes["themes"] = [
                t for t in (clean(t, "a theme", 200) for t in fields["themes"]) if t
            ]
        if "notes" in fields:
            changes["notes"] = clean(fields["notes"], "the notes", 20000, multiline=True)
        if "duration" in fields:
            changes["duration"] = in_range(fields["duration"], "duration", 15, 480)
        if changes:
            self.ctx.commit([self.ctx.op(circle, "meeting", meeting, **changes)])
        return self.get(circle, meeting)

    def cancel(self, circle: str, meeting: str) -> Record:
        self.get(circle, meeting)
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, status="cancelled")])
        return self.get(circle, meeting)

    # -- reading -------------------------------------------------------------------------

    def get(self, circle: str, meeting: str) -> Record:
        return self.ctx.record(circle, "meeting", meeting, "meeting")

    def all(self, circle: str) -> list[Record]:
        """Every meeting of the circle, in chronological order."""
        return sorted(
            self.ctx.store.records(circle, "meeting"),
            key=chrono,
        )

    def held(self, circle: str) -> list[Record]:
        return [m for m in self.all(circle) if m["status"] in HELD_STATUSES]

    def upcoming(self, circle: str) -> list[Record]:
        now = self.ctx.now()
        return [m for m in self.all(circle) if is_upcoming(m, now)]

    def next(self, circle: str) -> Record | None:
        upcoming = self.upcoming(circle)
        return upcoming[0] if upcoming else None

    def previous(self, circle: str, meeting: str) -> Record | None:
        """The last meeting held before `meeting` (whose commitments it reviews)."""
        this = self.get(circle, meeting)
        earlier = [m for m in self.held(circle) if m["id"] != meeting and chrono(m) < chrono(this)]
        return earlier[-1] if earlier else None

    def agenda(self, meeting: Record) -> tuple[str, ...]:
        return KICKOFF_AGENDA if meeting.get("kickoff") else AGENDA

    # -- attendance and rotation -------------------------------------------------------

    def attendance(self, circle: str, meeting: str) -> dict[str, bool]:
        """Member id -> present, for members whose attendance was recorded."""
        return self.attendance_by_meeting(circle).get(meeting, {})

    def attendance_by_meeting(self, circle: str) -> dict[str, dict[str, bool]]:
        """`attendance` of every meeting at once (one pass over the records)."""
        out: dict[str, dict[str, bool]] = {}
        for rec in self.ctx.store.records(circle, "attendance"):
            out.setdefault(rec["meeting"], {})[rec["member"]] = rec["present"]
        return out

    def present(self, circle: str, meeting: str) -> list[str]:
        members = [m["id"] for m in self.ctx.members(circle)]
        marks = self.attendance(circle, meeting)
        return [m for m in members if marks.get(m, False)]

    def mark(self, circle: str, meeting: str, member: str, present: bool) -> None:
        self.mark_many(circle, meeting, [member], present)

    def mark_many(self, circle: str, meeting: str, members: Iterable[str], present: bool) -> None:
        """Record several members' attendance in one durable write: all or nothing."""
        self.get(circle, meeting)
        ops = []
        for member in members:
            self.ctx.record(circle, "member", member, "member")
            key = attendance_key(meeting, member)
            fields = {"meeting": meeting, "member": member, "present": present}
            ops.append(self.ctx.op(circle, "attendance", key, **fields))
        if ops:
            self.ctx.commit(ops)

    def next_facilitator(self, circle: str, present: Sequence[str] | None = None) -> str | None:
        """Who facilitates next, derived from the facilitators of meetings held so far."""
        members = self.ctx.members(circle)
        history = [
            Served(i, m["facilitator"])
            for i, m in enumerate(self.held(circle))
            if m.get("facilitator")
        ]
        joined = {m["id"]: m.get("joined", "") for m in members}
        return next_server([m["id"] for m in members], history, present, joined)

    # -- running -------------------------------------------------------------------------

    def start(self, circle: str, meeting: str, facilitator: str | None = None) -> Record:
        """Start running a meeting: the facilitator is the rotation's pick unless given."""
        rec = self.get(circle, meeting)
        if rec["status"] == "closed":
            raise InvalidInput("this meeting is already closed")
        chosen = (
            facilitator
            or rec.get("facilitator")
            or self.next_facilitator(circle, self.present(circle, meeting) or None)
        )
        fields: dict[str, Any] = {"status": "running"}
        if chosen:
            fields["facilitator"] = chosen
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, **fields)])
        return self.get(circle, meeting)

    def set_facilitator(self, circle: str, meeting: str, member: str) -> Record:
        self.ctx.record(circle, "member", member, "member")
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, facilitator=member)])
        return self.get(circle, meeting)

    def set_step(self, circle: str, meeting: str, step: int) -> Record:
        rec = self.get(circle, meeting)
        step = max(0, min(step, len(self.agenda(rec)) - 1))
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, step=step)])
        return self.get(circle, meeting)

    def close(self, circle: str, meeting: str, notes: str | None = None) -> Record:
        self.get(circle, meeting)
        fields: dict[str, Any] = {"status": "closed"}
        if notes is not None:
            fields["notes"] = clean(notes, "the notes", 20000, multiline=True)
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, **fields)])
        return self.get(circle, meeting)

    # -- agreements at the kick-off ------------------------------------------------------

    def acknowledge(self, circle: str, member: str, meeting: str | None = None) -> None:
        """Record that `member` acknowledges the circle's agreements."""
        self.ctx.record(circle, "member", member, "member")
        self.ctx.commit(
            [self.ctx.add(circle, "ack", member=member, meeting=meeting, at=self.ctx.now_iso())]
        )

    def acknowledged(self, circle: str) -> set[str]:
        return {a["member"] for a in self.ctx.store.records(circle, "ack")}
