"""A circle's meetings as an RFC 5545 calendar (`xcircle export --format ics`).

Each meeting is an event in its own IANA zone (with a VTIMEZONE), with the members as
attendees, the facilitator as organizer and chair, and a display reminder before it.
Member text is folded and escaped by the icalendar library (RFC 6868 for parameters).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from xcircle import safetext
from xcircle.errors import InvalidInput

Detail = Mapping[str, Any]


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone `name`, or None when it is empty or unknown here."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def to_ics(detail: Detail, *, stamp: datetime | None = None) -> bytes:
    """RFC 5545 calendar of the circle's meetings (cancelled ones left out).

    A meeting planned in an IANA zone keeps it (TZID plus a VTIMEZONE), so calendars
    follow daylight saving; one with only an offset is given in UTC.
    """
    import icalendar  # ~40 ms: only when exporting a calendar

    circle = detail["circle"]
    meetings = [m for m in detail["meetings"] if m["status"] != "cancelled"]
    name = safetext.line(circle["name"])
    if not meetings:
        # RFC 5545: a calendar holds at least one component; an empty one is refused.
        raise InvalidInput(f"{name} has no meetings to put in a calendar: plan one first")
    stamp = (stamp or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    cal = icalendar.Calendar()
    cal.add("prodid", "-//xcircle//xcircle circle calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # An X- property is not text to icalendar unless told: vText escapes `;`, `,`, `\`.
    cal.add("x-wr-calname", icalendar.vText(name))
    days: list[date] = []
    for m in meetings:
        start = datetime.fromisoformat(m["at"])
        zone = zone_named(m.get("tz", ""))
        start = start.astimezone(zone) if zone else start.astimezone(UTC)
        days.append(start.date())
        event = icalendar.Event()
        event.add("uid", f"{m['id']}@xcircle")
        event.add("dtstamp", stamp)
        event.add("dtstart", start)
        event.add("duration", timedelta(minutes=int(m["duration"])))
        kickoff = " (kick-off)" if m.get("kickoff") else ""
        event.add("summary", f"{name}{kickoff}")
        themes = [safetext.line(t) for t in m.get("themes", [])]
        lines = [f"Themes: {', '.join(themes)}" if themes else "Themes: open round"]
        if circle.get("mode"):
            lines.append(f"Mode: {circle['mode']}")
        event.add("description", "\n".join(lines))
        event.add("status", "CONFIRMED")
        _people(event, detail, m)
        event.add_component(_reminder(name))
        cal.add_component(event)
    if days:
        # A VTIMEZONE spanning just the meetings, not 1970–2038 (kilobytes per zone).
        cal.add_missing_timezones(
            first_date=min(days) - timedelta(days=366), last_date=max(days) + timedelta(days=366)
        )
    return bytes(cal.to_ical())


REMINDER = timedelta(minutes=30)


def _address(member: str) -> Any:
    """A member as a calendar address: `urn:uuid:` of their id (members have no e-mail
    in xcircle, and an address must be a URI)."""
    import icalendar

    return icalendar.vCalAddress(f"urn:uuid:{UUID(hex=member)}")


def _people(event: Any, detail: Detail, meeting: Mapping[str, Any]) -> None:
    """ORGANIZER: the facilitator (fixed at the start; the rotation's pick for the next
    planned meeting). ATTENDEE: every member, accepted/declined once attendance is
    recorded; the facilitator is the CHAIR."""
    import icalendar

    facilitator = meeting.get("facilitator")
    if not facilitator and meeting["status"] == "planned":
        upcoming = [m for m in detail["meetings"] if m["status"] == "planned"]
        if upcoming and upcoming[0]["id"] == meeting["id"]:
            facilitator = detail.get("next_facilitator")
    marks = meeting.get("attendance", {})
    for member in detail["members"]:
        address = _address(member["id"])
        shown = safetext.line(member["name"])
        address.params["cn"] = icalendar.vText(shown)
        if member["id"] == facilitator:
            organizer = _address(member["id"])
            organizer.params["cn"] = icalendar.vText(shown)
            event.add("organizer", organizer, encode=0)
        address.params["role"] = icalendar.vText(
            "CHAIR" if member["id"] == facilitator else "REQ-PARTICIPANT"
        )
        present = marks.get(member["id"])
        status = "NEEDS-ACTION" if present is None else "ACCEPTED" if present else "DECLINED"
        address.params["partstat"] = icalendar.vText(status)
        event.add("attendee", address, encode=0)


def _reminder(name: str) -> Any:
    """A display alarm `REMINDER` before the meeting."""
    import icalendar

    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -REMINDER)
    alarm.add("description", f"{name} meets in {REMINDER.seconds // 60} minutes")
    return alarm
