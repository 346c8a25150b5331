"""Exports: a Markdown report, CSV tables, an RFC 5545 calendar and JSON, from `detail`."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import orjson
import pytest

from tests.conftest import NOW
from xcircle.demo import seed_demo
from xcircle.errors import InvalidInput
from xcircle.export import (
    ATTENDANCE_COLUMNS,
    GOAL_COLUMNS,
    md,
    render,
    to_csv,
    to_ics,
    to_json,
    to_markdown,
)
from xcircle.export_minutes import minutes_markdown
from xcircle.services import Services
from xcircle.store import Store

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def detail(svc: Services) -> dict[str, Any]:
    """A circle with awkward names, a held kick-off in Paris, a plan, a cancellation."""
    cid = svc.circles.create(
        "Leaders | Pipes", purpose="Grow *together*\n- not a list", outcomes=["Confidence"]
    )["id"]
    bob = svc.members.add(cid, "Bob | Stone", org="Beta", topics=["data"])["id"]
    eve = svc.members.add(cid, '=HYPERLINK("x")', org="Acme")["id"]
    me = svc.ctx.me(cid)
    assert me
    then = datetime(2026, 11, 10, 18, 0, tzinfo=PARIS)
    svc.ctx.clock = lambda: then  # the kick-off is planned and held on its day
    kickoff = svc.meetings.plan(cid, then, themes=["Trust"], zone="Europe/Paris")["id"]
    for member, present in ((me, True), (bob, True), (eve, False)):
        svc.meetings.mark(cid, kickoff, member, present)
    svc.meetings.start(cid, kickoff)
    svc.meetings.acknowledge(cid, bob, kickoff)
    svc.pulses.record(cid, kickoff, bob, support=4, confidence=3, learning=5)
    svc.commitments.add(cid, bob, "Say no once", due="2026-12-01", meeting=kickoff)
    svc.meetings.close(cid, kickoff, notes="Good start.\n# not a heading")
    svc.ctx.clock = lambda: NOW
    svc.meetings.plan(cid, NOW + timedelta(days=14), themes=["Energy", "Focus"])
    gone = svc.meetings.plan(cid, NOW + timedelta(days=28))["id"]
    svc.meetings.cancel(cid, gone)
    goal = svc.goals.add(cid, "Delegate | more", owner=bob, due="2026-12-31", why="Time")["id"]
    svc.goals.checkin(cid, goal, progress=30, confidence=3, note="first")
    svc.goals.checkin(cid, goal, progress=55, confidence=4, note="-1 setback | fixed")
    svc.goals.add(cid, "Group habit", why="Together")
    return svc.detail(cid)


# -- Markdown ----------------------------------------------------------------------------


def test_markdown_reads_as_a_report(detail: dict[str, Any]) -> None:
    text = to_markdown(detail, zone=UTC, generated=NOW)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[0] == r"# Leaders \| Pipes"
    for heading in ("## Outcomes", "## Cadence", "## Agreements", "## Meetings", "## Goals",
                    "## Commitments", "## Pulse", "### Beta", "### Acme"):  # fmt: skip
        assert heading in headings, heading
    assert r"Bob \| Stone" in text and "Ada Lovelace" in text
    assert "#### Tue 10 Nov 2026 17:00 UTC (kick-off)" in text  # shown in the reader's zone
    facilitator = detail["meetings"][0]["facilitator"]
    names = {m["id"]: m["name"] for m in detail["members"]}
    assert f"- Facilitator: {md(names[facilitator])}" in text
    assert r'- Attendance: 2 of 3 present; absent: \=HYPERLINK("x")' in text
    assert r"Acknowledged by 1 of 3 members: Bob \| Stone." in text
    assert r"### Delegate \| more — 55%" in text
    assert r"\-1 setback \| fixed" in text
    assert "### Open (1)" in text
    assert "| Support | 4.00 | 4.00 |" in text
    assert r"  > \# not a heading" in text
    assert r"\- not a list" in text


def test_markdown_tables_keep_their_columns(detail: dict[str, Any]) -> None:
    for line in to_markdown(detail, zone=UTC).splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line)[1:-1]
            header_width = {3, 5}  # members, planned, pulse: 3; check-ins: 5
            assert len(cells) in header_width, line


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a | b", r"a \| b"),
        ("*bold* _it_", r"\*bold\* \_it\_"),
        ("[link](http://x)", r"\[link\](http://x)"),
        ("<script>", r"\<script\>"),
        ("- item", r"\- item"),
        ("12. item", r"12\. item"),
        ("# title", r"\# title"),
        ("two\nlines", "two lines"),
        ("back\\slash `code`", r"back\\slash \`code\`"),
        ("AT&T", r"AT\&T"),
    ],
)
def test_md_escapes_user_text(raw: str, escaped: str) -> None:
    assert md(raw) == escaped


# -- CSV ---------------------------------------------------------------------------------


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_goals_csv(detail: dict[str, Any]) -> None:
    text = to_csv(detail, "goals")
    assert text.startswith(",".join(GOAL_COLUMNS) + "\r\n")
    assert "\n" not in text.replace("\r\n", "")  # RFC 4180 line endings
    goals = {r["title"]: r for r in rows(text)}
    delegate = goals["Delegate | more"]
    assert (delegate["kind"], delegate["owner"], delegate["owner_org"]) == (
        "individual",
        "Bob | Stone",
        "Beta",
    )
    assert (delegate["progress"], delegate["confidence"], delegate["checkins"]) == ("55", "4", "2")
    assert goals["Group habit"]["kind"] == "group" and goals["Group habit"]["progress"] == "0"


def test_attendance_csv(detail: dict[str, Any]) -> None:
    text = to_csv(detail, "attendance")
    assert text.startswith(",".join(ATTENDANCE_COLUMNS) + "\r\n")
    table = rows(text)
    assert len(table) == 3  # one held meeting × three members; planned ones have none yet
    present = {r["member"]: r["present"] for r in table}
    assert present == {"Ada Lovelace": "yes", "Bob | Stone": "yes", '\'=HYPERLINK("x")': "no"}
    assert {r["kickoff"] for r in table} == {"yes"}


def test_csv_always_has_a_header(svc: Services) -> None:
    cid = svc.circles.create("Empty")["id"]
    for name, columns in (("goals", GOAL_COLUMNS), ("attendance", ATTENDANCE_COLUMNS)):
        assert to_csv(svc.detail(cid), name) == ",".join(columns) + "\r\n"


# -- iCalendar ---------------------------------------------------------------------------


def test_ics_is_rfc_5545(detail: dict[str, Any]) -> None:
    data = to_ics(detail, stamp=NOW)
    assert data.endswith(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")  # CRLF only
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))  # folded lines
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["version"]) == "2.0" and "xcircle" in str(cal["prodid"])
    events = cal.walk("VEVENT")
    meetings = {m["id"]: m for m in detail["meetings"]}
    assert len(events) == 2  # the cancelled meeting is left out
    for event in events:
        uid = str(event["uid"])
        assert uid.endswith("@xcircle") and uid.removesuffix("@xcircle") in meetings
        assert event.decoded("dtstamp") == NOW
        assert event.decoded("duration") == timedelta(minutes=90)
        assert str(event["status"]) == "CONFIRMED"
    kickoff, planned = sorted(events, key=lambda e: e.decoded("dtstart"))
    assert kickoff["dtstart"].params["TZID"] == "Europe/Paris"
    assert kickoff.decoded("dtstart") == datetime(2026, 11, 10, 18, 0, tzinfo=PARIS)
    assert [tz.tz_name for tz in cal.timezones] == ["Europe/Paris"]
    assert str(kickoff["summary"]) == "Leaders | Pipes (kick-off)"
    assert "Trust" in str(kickoff["description"])
    start = planned.decoded("dtstart")  # no IANA zone on this one: UTC
    assert start.utcoffset() == timedelta(0) and start == NOW + timedelta(days=14)
    assert b"DTSTART:20261207T100000Z" in data
    assert "Energy, Focus" in str(planned["description"])


def test_ics_of_a_circle_without_meetings_is_refused(svc: Services) -> None:
    """RFC 5545 forbids a calendar without a component: a clear refusal, not a bad file."""
    with pytest.raises(InvalidInput, match="New has no meetings to put in a calendar"):
        to_ics(svc.detail(svc.circles.create("New")["id"]))


def test_ics_survives_a_hostile_circle_name(detail: dict[str, Any]) -> None:
    """A name from before the schema refused line breaks (or from an old peer): no crash,
    no injected line, `X-WR-CALNAME` escaped like any text value."""
    hostile = "Evil\r\nX-INJECTED:1;a,b\\c\x1b]0;t\x07\u202e"
    data = to_ics({**detail, "circle": {**detail["circle"], "name": hostile}}, stamp=NOW)
    unfolded = data.replace(b"\r\n ", b"")
    assert not any(line.startswith(b"X-INJECTED") for line in unfolded.split(b"\r\n"))
    assert b"X-WR-CALNAME:Evil X-INJECTED:1\\;a\\,b\\\\c]0\\;t\r\n" in unfolded
    assert b"\x1b" not in data and b"\x07" not in data and "\u202e".encode() not in data
    cal = icalendar.Calendar.from_ical(data)
    summaries = {str(e["summary"]) for e in cal.walk("VEVENT")}
    assert summaries == {"Evil X-INJECTED:1;a,b\\c]0;t", "Evil X-INJECTED:1;a,b\\c]0;t (kick-off)"}


def test_exports_strip_terminal_controls(detail: dict[str, Any]) -> None:
    """Markdown and CSV may be printed on a terminal: no control character gets through;
    JSON keeps the value but writes such characters as escapes."""
    members = [{**m, "name": "Bo\x1b[2Jb\u202e\x9b"} for m in detail["members"]]
    hostile = {**detail, "members": members}
    for data in (to_markdown(hostile).encode(), to_csv(hostile, "attendance").encode()):
        assert re.search(rb"Bo\\?\[2Jb", data)  # shown literally (escaped in Markdown)
        assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", data.replace(b"\r\n", b"\n"))
        assert "\u202e".encode() not in data and "\x9b".encode() not in data
    encoded = to_json(hostile)
    assert b"\x1b" not in encoded and "\u202e".encode() not in encoded
    assert b"\\u202e" in encoded and b"\\u009b" in encoded
    assert orjson.loads(encoded)["members"][0]["name"] == "Bo\x1b[2Jb\u202e\x9b"


def test_ics_events_carry_attendees_organizer_and_a_reminder(detail: dict[str, Any]) -> None:
    cal = icalendar.Calendar.from_ical(to_ics(detail, stamp=NOW))
    kickoff, planned = sorted(cal.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    names = {f"urn:uuid:{m['id'][:8]}": m["name"] for m in detail["members"]}
    held = detail["meetings"][0]

    def people(event: Any) -> dict[str, tuple[str, str, str]]:
        return {
            names[str(a)[:17]]: (str(a.params["CN"]), a.params["ROLE"], a.params["PARTSTAT"])
            for a in event.get("attendee")
        }

    facilitator = next(m["name"] for m in detail["members"] if m["id"] == held["facilitator"])
    assert str(kickoff["organizer"].params["CN"]) == facilitator
    assert people(kickoff) == {
        "Ada Lovelace": ("Ada Lovelace", "CHAIR", "ACCEPTED"),
        "Bob | Stone": ("Bob | Stone", "REQ-PARTICIPANT", "ACCEPTED"),
        '=HYPERLINK("x")': ('=HYPERLINK("x")', "REQ-PARTICIPANT", "DECLINED"),
    }
    nxt = next(m["name"] for m in detail["members"] if m["id"] == detail["next_facilitator"])
    assert str(planned["organizer"].params["CN"]) == nxt  # the rotation's pick
    assert {p[2] for p in people(planned).values()} == {"NEEDS-ACTION"}
    for event in (kickoff, planned):
        (alarm,) = event.walk("VALARM")
        assert str(alarm["action"]) == "DISPLAY"
        assert alarm.decoded("trigger") == -timedelta(minutes=30)


def test_minutes_leave_feedback_out_unless_an_agreement_allows_it(svc: Services) -> None:
    cid = svc.circles.create("Leaders | Pipes")["id"]
    bob = svc.members.add(cid, "Bob | Stone", org="Beta")["id"]
    eve = svc.members.add(cid, "Eve", org="Acme")["id"]
    me = svc.ctx.me(cid)
    assert me
    mid = svc.meetings.schedule(cid, "2026-12-01T18:00", zone="Europe/Paris")["id"]
    svc.meetings.start(cid, mid, facilitator=bob)
    svc.meetings.mark_many(cid, mid, [me, bob], True)
    svc.meetings.mark(cid, mid, eve, False)
    order = svc.rounds.start(cid, mid)["order"]
    svc.rounds.feedback(cid, mid, order[0], order[1], "challenge", "Secret *words*")
    svc.commitments.add(cid, bob, "Ask | twice", due="2026-12-10", meeting=mid)
    svc.pulses.record(cid, mid, bob, support=4, confidence=3, learning=5)
    svc.pulses.record(cid, mid, me, support=5, confidence=4, learning=4)
    svc.meetings.close(cid, mid, notes="# Good\n- energy")
    minutes = svc.minutes(cid, mid)
    assert (minutes.facilitator, minutes.present, minutes.absent) == (
        "Bob | Stone",
        ("Ada Lovelace", "Bob | Stone"),
        ("Eve",),
    )
    assert len(minutes.presenters) == 2 and minutes.feedback == ()
    text = minutes_markdown(minutes)
    assert text.startswith(r"# Leaders \| Pipes: minutes of Tue 01 Dec 2026 18:00 CET")
    assert r"- Facilitator: Bob \| Stone" in text
    assert r"| Bob \| Stone | Ask \| twice | 2026-12-10 | open |" in text
    rated = "2 members rated the meeting (1–5): support 4.50, confidence 3.50, learning 4.50."
    assert rated in text
    assert r"\# Good" in text and r"\- energy" in text
    assert "Secret" not in text and "Left out: what is said in the circle" in text
    svc.meetings.reopen(cid, mid)
    svc.circles.set_agreement(cid, "feedback in MINUTES", "We share feedback in minutes.")
    allowed = minutes_markdown(svc.minutes(cid, mid))
    assert r"Secret \*words\*" in allowed and "| Presenter | From | Kind | Feedback |" in allowed


# -- JSON and the whole demo -------------------------------------------------------------


def test_json_equals_the_detail(detail: dict[str, Any]) -> None:
    assert orjson.loads(to_json(detail)) == detail


def test_every_format_renders_the_demo(store: Store) -> None:
    seed_demo(store, now=NOW)
    svc = Services(store, clock=lambda: NOW)
    for cid in svc.circles.ids():
        detail = svc.detail(cid)
        report = render(detail, "markdown", now=NOW).decode()
        assert all(m["name"] in report for m in detail["members"])
        assert len(rows(render(detail, "csv", table="attendance").decode())) == sum(
            len(detail["members"]) for m in detail["meetings"] if m["status"] == "closed"
        )
        held = [m for m in detail["meetings"] if m["status"] != "cancelled"]
        cal = icalendar.Calendar.from_ical(render(detail, "ics", now=NOW))
        assert len(cal.walk("VEVENT")) == len(held)
        assert orjson.loads(render(detail, "json")) == detail


def test_unknown_formats_are_refused(detail: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="unknown export format"):
        render(detail, "pdf")
    with pytest.raises(ValueError, match="no CSV table"):
        to_csv(detail, "pulses")
