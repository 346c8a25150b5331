"""Meetings: plan, run (attendance, agreements, agenda steps), close and reopen them.

The facilitator is never stored ahead of time: the rotation derives who is next from
the meetings held so far; starting a meeting (an explicit step) records who actually
facilitates, and marking attendance afterwards never moves it. A closed meeting is
read-only until a facilitator reopens it: every service that writes to a meeting asks
`Meetings.writable` first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from xcircle.domain import AGENDA, CADENCE_DAYS, HELD_STATUSES, KICKOFF_AGENDA
from xcircle.errors import InvalidInput, MeetingClosed, NotYours
from xcircle.merge import Record
from xcircle.ops import new_id
from xcircle.rotation import Served, next_server
from xcircle.services.context import Context, clean, in_range, join_ranks
from xcircle.services.views import MeetingView


def parse_when(text: str, zone: str | None = None) -> datetime:
    """An aware date-time from ISO 8601; without an offset, in `zone` or the local zone."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date-time: use ISO 8601, e.g. 2026-12-01T18:00", field="at"
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
            f"unknown time zone {name!r}: use an IANA name like Europe/Paris", field="zone"
        ) from None


def add_cadence(at: datetime, frequency: str) -> datetime:
    """`at` moved one cadence later, at the same wall time in its zone (a monthly circle
    meets on the same day of the next month, or that month's last day)."""
    days = CADENCE_DAYS.get(frequency)
    if days is not None:
        return at + timedelta(days=days)
    month = at.month % 12 + 1
    year = at.year + (at.month == 12)
    for day in (at.day, 30, 29, 28):
        try:
            return at.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("every month has 28 days")  # pragma: no cover


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
        protocol: str | None = None,
    ) -> Record:
        """Plan a meeting; the first one of a circle is its kick-off. `protocol` names
        the round's protocol (None: the default)."""
        if at.tzinfo is None:
            raise InvalidInput("a meeting's time needs a time zone", field="at")
        self._not_past(at)
        circle_rec = self.ctx.record(circle, "circle", circle, "circle")
        key = new_id()
        kickoff = not any(m["status"] != "cancelled" for m in self.all(circle))
        fields: dict[str, Any] = {
            "at": at.isoformat(timespec="minutes"),
            "tz": zone,
            "duration": in_range(
                duration or circle_rec.get("duration", 90), "duration", 15, 480, field="duration"
            ),
            "themes": [t for t in (clean(t, "a theme", 200, field="themes") for t in themes) if t],
            "status": "planned",
            "notes": "",
            "kickoff": kickoff,
            "step": 0,
        }
        if protocol:
            fields["protocol"] = self._protocol(circle, protocol)
        self.ctx.commit([self.ctx.op(circle, "meeting", key, **fields)])
        return self.get(circle, key)

    def schedule(
        self,
        circle: str,
        at: str,
        *,
        zone: str | None = None,
        meeting: str | None = None,
        themes: Sequence[str] | None = None,
        duration: int | None = None,
        protocol: str | None = None,
    ) -> Record:
        """Plan a meeting (or reschedule `meeting`) at `at`, ISO 8601 text read in `zone`
        (an IANA name; empty: the profile's zone, else this machine's). The one place
        where a meeting's time zone is applied, for the form and the CLI alike."""
        profile = self.ctx.store.profile or {}
        zone = (zone or "").strip() or str(profile.get("tz") or "")
        when = parse_when(at, zone or None)
        if zone:
            when = when.astimezone(zone_info(zone))
        if meeting is None:
            return self.plan(
                circle, when, themes=themes or (), duration=duration, zone=zone, protocol=protocol
            )
        fields: dict[str, Any] = {"at": when, "zone": zone}
        if themes is not None:
            fields["themes"] = themes
        if duration is not None:
            fields["duration"] = duration
        if protocol is not None:
            fields["protocol"] = protocol
        return self.update(circle, meeting, **fields)

    def _protocol(self, circle: str, name: str) -> str:
        """The name of an existing protocol (built-in or the circle's own)."""
        from xcircle.services.protocols import Protocols

        return Protocols(self.ctx).get(circle, name).name

    def _round_protocol(self, circle: str, rec: Record, name: str | None) -> dict[str, Any]:
        """The change that makes the meeting's round run protocol `name` (None or "":
        the default); none when it runs it already. Refused once the round has started:
        a running round keeps the script it began with."""
        chosen = self._protocol(circle, name) if name else None
        if chosen == (rec.get("protocol") or None):
            return {}
        round_rec = self.ctx.store.get(circle, "round", rec["id"])
        if round_rec and round_rec.get("order"):
            raise InvalidInput(
                "the round has started: it keeps the protocol it began with", field="protocol"
            )
        return {"protocol": chosen}

    def _not_past(self, at: datetime) -> None:
        today = self.ctx.now().astimezone(at.tzinfo).date()
        if at.date() < today:
            raise InvalidInput(
                f"{at.date().isoformat()} is in the past: plan a meeting from today on",
                field="date",
            )

    def update(self, circle: str, meeting: str, **fields: Any) -> Record:
        """Reschedule (`at`, `zone`), change themes, duration or notes of a meeting, or
        its round's `protocol` (a name; None or "" for the default) until the round
        starts."""
        rec = self.writable(circle, meeting)
        changes: dict[str, Any] = {}
        if "protocol" in fields:
            changes.update(self._round_protocol(circle, rec, fields["protocol"]))
        if "at" in fields:
            at = fields["at"]
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise InvalidInput("a meeting's time needs a time zone", field="at")
            self._not_past(at)
            changes["at"] = at.isoformat(timespec="minutes")
        if "zone" in fields:
            changes["tz"] = clean(fields["zone"], "the time zone", 64, field="zone")
        if "themes" in fields:
            changes["themes"] = [
                t for t in (clean(t, "a theme", 200, field="themes") for t in fields["themes"]) if t
            ]
        if "notes" in fields:
            changes["notes"] = clean(
                fields["notes"], "the notes", 20000, multiline=True, field="notes"
            )
        if "duration" in fields:
            changes["duration"] = in_range(
                fields["duration"], "duration", 15, 480, field="duration"
            )
        if changes:
            self.ctx.commit([self.ctx.op(circle, "meeting", meeting, **changes)])
        return self.get(circle, meeting)

    def cancel(self, circle: str, meeting: str) -> Record:
        self.writable(circle, meeting)
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, status="cancelled")])
        return self.get(circle, meeting)

    def next_date(self, circle: str, after: str | None = None) -> datetime:
        """When the meeting after `after` (default: the circle's latest) falls by the
        circle's cadence: one cadence later, at the same wall time in its zone, moved on
        by whole cadences until it is not in the past."""
        rec = self.ctx.record(circle, "circle", circle, "circle")
        frequency = str(rec.get("frequency", "biweekly"))
        meetings = [m for m in self.all(circle) if m["status"] != "cancelled"]
        base = self.get(circle, after) if after else (meetings[-1] if meetings else None)
        now = self.ctx.now()
        if base is None:
            return add_cadence(now.replace(hour=18, minute=0, second=0, microsecond=0), frequency)
        at = datetime.fromisoformat(base["at"])
        if base.get("tz"):
            at = at.astimezone(zone_info(base["tz"]))
        at = add_cadence(at, frequency)
        while at.date() < now.astimezone(at.tzinfo).date():
            at = add_cadence(at, frequency)
        return at

    def plan_next(self, circle: str, after: str | None = None) -> Record:
        """Plan the next meeting from the circle's cadence (see `next_date`), with the
        same zone and duration as the meeting it follows."""
        at = self.next_date(circle, after)
        base = self.get(circle, after) if after else None
        zone = str(base.get("tz", "")) if base else ""
        duration = int(base["duration"]) if base else None
        return self.plan(circle, at, duration=duration, zone=zone)

    # -- reading -------------------------------------------------------------------------

    def get(self, circle: str, meeting: str) -> Record:
        return self.ctx.record(circle, "meeting", meeting, "meeting")

    def find(self, ref: str) -> tuple[str, str]:
        """(circle, meeting) of a meeting named by its id, an id prefix, or a unique
        start prefix such as `2026-12-01` (the CLI's MEETING), in any circle."""
        rec = self.ctx.find_record("meeting", ref, "meeting", label="at")
        return str(rec["circle"]), str(rec["id"])

    def view(self, circle: str, meeting: str) -> MeetingView:
        """One meeting as the meeting screen and `xcircle meeting show` read it."""
        rec = self.get(circle, meeting)
        marks = self.attendance(circle, meeting)
        order = [m["id"] for m in self.ctx.members(circle)]
        return MeetingView(
            circle=circle,
            id=meeting,
            at=rec["at"],
            zone=rec.get("tz", ""),
            duration=rec["duration"],
            status=rec["status"],
            kickoff=bool(rec.get("kickoff")),
            step=rec.get("step", 0),
            themes=tuple(rec.get("themes", [])),
            notes=rec.get("notes", ""),
            facilitator=self.facilitator_of(circle, meeting),
            facilitator_fixed=bool(rec.get("facilitator")),
            present=tuple(m for m in order if marks.get(m) is True),
            absent=tuple(m for m in order if marks.get(m) is False),
        )

    def writable(self, circle: str, meeting: str) -> Record:
        """The meeting, if it may change: a closed meeting is read-only until reopened."""
        rec = self.get(circle, meeting)
        if rec["status"] == "closed":
            raise MeetingClosed(
                f"the meeting of {rec['at'][:10]} is closed: a facilitator reopens it to change it",
                field="meeting",
            )
        return rec

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
        """Record several members' attendance in one durable write: all or nothing.
        Never moves the facilitator: that is fixed when the meeting starts."""
        self.writable(circle, meeting)
        ops = []
        for member in members:
            self.ctx.record(circle, "member", member, "member")
            self.speak_for(circle, meeting, member)
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
        return next_server([m["id"] for m in members], history, present, join_ranks(members))

    def facilitator_of(self, circle: str, meeting: str) -> str | None:
        """Who facilitates `meeting`: the one fixed when it started, else the rotation's
        pick among the members not marked absent (marking someone present never makes
        them the facilitator; once started, nothing but `set_facilitator` changes it)."""
        rec = self.get(circle, meeting)
        if rec.get("facilitator"):
            return str(rec["facilitator"])
        return self.next_facilitator(circle, self._available(circle, meeting))

    def _available(self, circle: str, meeting: str) -> list[str] | None:
        """Who can facilitate before the start: everyone not marked absent (marking
        someone present first must not make them the facilitator)."""
        marks = self.attendance(circle, meeting)
        available = [m["id"] for m in self.ctx.members(circle) if marks.get(m["id"]) is not False]
        return available or None

    # -- who drives a meeting run together ---------------------------------------------

    def drives(self, circle: str, meeting: str) -> bool:
        """Whether this device drives the meeting's running state (agenda step, round,
        timer): always in a circle that is not shared (one device runs it all); in a
        shared one, only a device of the facilitator (or any, while nobody is fixed).
        The other devices follow that state and give only their own member's input."""
        if not self.ctx.store.meta(circle).get("shared"):
            return True
        facilitator = self.get(circle, meeting).get("facilitator")
        me = self.ctx.me(circle)
        return not facilitator or me is None or facilitator == me

    def drive(self, circle: str, meeting: str) -> None:
        """Refuse to move a shared meeting along from a device that follows it."""
        if not self.drives(circle, meeting):
            raise NotYours(
                "the facilitator's device runs this meeting: follow it here "
                "(f takes the facilitation over)",
                field="meeting",
            )

    def speak_for(self, circle: str, meeting: str, member: str) -> None:
        """Refuse to record `member`'s input (feedback, reflection, pulse…) from a device
        that follows the meeting, unless `member` is this device's own: each member
        speaks for themselves, and the facilitator may type for someone without a device."""
        if member != self.ctx.me(circle) and not self.drives(circle, meeting):
            raise NotYours(
                "only your own: the others give theirs on their devices, "
                "or the facilitator types it for them",
                field="member",
            )

    # -- running -------------------------------------------------------------------------

    def start(
        self,
        circle: str,
        meeting: str,
        facilitator: str | None = None,
        *,
        step: int = 0,
        protocol: str | None = None,
    ) -> Record:
        """Start a planned meeting, one durable write: status, facilitator and agenda step
        together. The facilitator is `facilitator` if given, else `facilitator_of`; it
        is fixed from here on (attendance never moves it). `protocol` (a name) chooses
        the round's protocol."""
        rec = self.writable(circle, meeting)
        if rec["status"] != "planned":
            raise InvalidInput(f"this meeting is {rec['status']}, not planned", field="meeting")
        if facilitator is not None:
            self.ctx.record(circle, "member", facilitator, "member")
        chosen = facilitator or self.facilitator_of(circle, meeting)
        fields: dict[str, Any] = {"status": "running", "step": self._step(rec, step)}
        if protocol:
            fields["protocol"] = self._protocol(circle, protocol)
        if chosen:
            fields["facilitator"] = chosen
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, **fields)])
        return self.get(circle, meeting)

    def set_facilitator(self, circle: str, meeting: str, member: str) -> Record:
        """The facilitator changes hands explicitly (never as a side effect). On a device
        that follows a shared meeting, only to its own member (taking it over)."""
        self.writable(circle, meeting)
        self.ctx.record(circle, "member", member, "member")
        self.speak_for(circle, meeting, member)
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, facilitator=member)])
        return self.get(circle, meeting)

    def set_step(self, circle: str, meeting: str, step: int) -> Record:
        """Move through a running meeting's agenda (a planned one is started first)."""
        rec = self.writable(circle, meeting)
        if rec["status"] == "planned":
            raise InvalidInput("start the meeting first", field="meeting")
        self.drive(circle, meeting)
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, step=self._step(rec, step))])
        return self.get(circle, meeting)

    def _step(self, rec: Record, step: int) -> int:
        return max(0, min(step, len(self.agenda(rec)) - 1))

    def close(self, circle: str, meeting: str, notes: str | None = None) -> Record:
        """Close a running meeting: from here on it is read-only until reopened."""
        rec = self.writable(circle, meeting)
        if rec["status"] != "running":
            raise InvalidInput(
                f"only a running meeting can be closed; this one is {rec['status']}",
                field="meeting",
            )
        self.drive(circle, meeting)
        fields: dict[str, Any] = {"status": "closed"}
        if notes is not None:
            fields["notes"] = clean(notes, "the notes", 20000, multiline=True, field="notes")
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, **fields)])
        return self.get(circle, meeting)

    def reopen(self, circle: str, meeting: str) -> Record:
        """A facilitator reopens a closed meeting to correct it (it runs again)."""
        rec = self.get(circle, meeting)
        if rec["status"] != "closed":
            raise InvalidInput(f"this meeting is {rec['status']}, not closed", field="meeting")
        self.ctx.commit([self.ctx.op(circle, "meeting", meeting, status="running")])
        return self.get(circle, meeting)

    # -- agreements at the kick-off ------------------------------------------------------

    def acknowledge(self, circle: str, member: str, meeting: str | None = None) -> None:
        """Record that `member` acknowledges the circle's agreements."""
        if meeting is not None:
            self.writable(circle, meeting)
            self.speak_for(circle, meeting, member)
        self.ctx.record(circle, "member", member, "member")
        self.ctx.commit(
            [self.ctx.add(circle, "ack", member=member, meeting=meeting, at=self.ctx.now_iso())]
        )

    def acknowledged(self, circle: str) -> set[str]:
        """Who acknowledged the agreements as they stand: an agreed amendment asks
        everyone again (acknowledgements stamped before it no longer count)."""
        from xcircle.services.amendments import changed_since

        since = changed_since(self.ctx.store, circle)
        return {
            a["member"] for a in self.ctx.store.records(circle, "ack") if a.get("stamp", "") > since
        }
