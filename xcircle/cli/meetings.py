"""`xcircle meeting …`: plan, list, start, attend, close, reopen meetings; minutes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from xcircle.cli.common import (
    emit_json,
    json_option,
    out,
    session,
    short,
    table,
    when,
)

if TYPE_CHECKING:
    from xcircle.merge import Record
    from xcircle.services import Services


@click.group()
def meeting() -> None:
    """Plan, run and close a circle's meetings."""


@meeting.command("plan")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--at", "at", required=True, help="Start, ISO 8601: 2026-12-01T18:00[+01:00].")
@click.option("--theme", "themes", multiple=True, help="A theme to discuss (repeatable).")
@click.option("--duration", type=int, help="Minutes (default: the circle's).")
@click.option("--tz", "zone", default=None, help="IANA zone of the meeting (default: yours).")
@click.option("--protocol", default=None, help="The round's protocol (xcircle protocol list).")
@json_option
def meeting_plan(
    circle_ref: str,
    at: str,
    themes: tuple[str, ...],
    duration: int | None,
    zone: str | None,
    protocol: str | None,
    as_json: bool,
) -> None:
    """Plan a meeting; a circle's first meeting is its kick-off."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        rec = svc.meetings.schedule(
            cid, at, zone=zone, themes=themes, duration=duration, protocol=protocol
        )
    kickoff = " (kick-off)" if rec.get("kickoff") else ""
    proto = f", protocol {rec['protocol']}" if rec.get("protocol") else ""
    out(as_json, rec, f"Planned {when(rec['at'])}{kickoff}, {rec['duration']} minutes{proto}.")


@meeting.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def meeting_list(circle_ref: str, as_json: bool) -> None:
    """List a circle's meetings, oldest first."""
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref)
        attendance = svc.meetings.attendance_by_meeting(cid)
        meetings = [{**m, "attendance": attendance.get(m["id"], {})} for m in svc.meetings.all(cid)]
        names = svc.members.names(cid)
    if as_json:
        emit_json(meetings)
        return
    if not meetings:
        click.echo("No meetings yet: xcircle meeting plan CIRCLE --at 2026-12-01T18:00")
        return
    rows = [
        (
            short(m["id"]),
            when(m["at"]),
            f"{m['duration']}m",
            m["status"] + (" kick-off" if m.get("kickoff") else ""),
            names.get(m.get("facilitator") or "", "-"),
            f"{sum(m['attendance'].values())}/{len(names)}" if m["attendance"] else "-",
            ", ".join(m.get("themes", [])) or "-",
        )
        for m in meetings
    ]
    table(("ID", "WHEN", "LENGTH", "STATUS", "FACILITATOR", "PRESENT", "THEMES"), rows)


# -- running a meeting -------------------------------------------------------------------


def meeting_line(svc: Services, cid: str, rec: Record) -> str:
    names = svc.members.names(cid)
    facilitator = names.get(rec.get("facilitator") or "", "nobody yet")
    return f"{when(rec['at'])}: {rec['status']}, facilitated by {facilitator}"


@meeting.command("start")
@click.argument("meeting_ref", metavar="MEETING")
@click.option("--facilitator", "facilitator_ref", metavar="MEMBER", help="Default: the rotation's.")
@click.option("--protocol", default=None, help="The round's protocol (xcircle protocol list).")
@json_option
def meeting_start(
    meeting_ref: str, facilitator_ref: str | None, protocol: str | None, as_json: bool
) -> None:
    """Start a planned meeting; its facilitator is fixed from here on.

    MEETING is an id, an id prefix or the start's date (2026-12-01)."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        chosen = svc.members.resolve(cid, facilitator_ref) if facilitator_ref else None
        rec = svc.meetings.start(cid, mid, facilitator=chosen, protocol=protocol)
        proto = svc.rounds.protocol(cid, mid)
        text = f"Started {meeting_line(svc, cid, rec)}; the round runs {proto.title}."
    out(as_json, {**rec, "circle": cid}, text)


@meeting.command("attend")
@click.argument("meeting_ref", metavar="MEETING")
@click.argument("member_refs", metavar="MEMBER…", nargs=-1, required=True)
@click.option("--absent", is_flag=True, help="Mark them absent instead of present.")
@json_option
def meeting_attend(
    meeting_ref: str, member_refs: tuple[str, ...], absent: bool, as_json: bool
) -> None:
    """Mark members present (or --absent) at a meeting, all in one write."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        members = [svc.members.resolve(cid, ref) for ref in member_refs]
        svc.meetings.mark_many(cid, mid, members, not absent)
        marks = svc.meetings.attendance(cid, mid)
        names = svc.members.names(cid)
    value = {"circle": cid, "meeting": mid, "attendance": marks}
    who = ", ".join(names[m] for m in members)
    out(as_json, value, f"{'Absent' if absent else 'Present'}: {who}.")


@meeting.command("close")
@click.argument("meeting_ref", metavar="MEETING")
@click.option("--notes", default=None, help="The facilitator's closing notes.")
@json_option
def meeting_close(meeting_ref: str, notes: str | None, as_json: bool) -> None:
    """Close a running meeting: read-only from here on, until reopened."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        rec = svc.meetings.close(cid, mid, notes=notes)
    out(as_json, {**rec, "circle": cid}, f"Closed the meeting of {when(rec['at'])}.")


@meeting.command("reopen")
@click.argument("meeting_ref", metavar="MEETING")
@json_option
def meeting_reopen(meeting_ref: str, as_json: bool) -> None:
    """Reopen a closed meeting to correct it (it runs again until closed)."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        rec = svc.meetings.reopen(cid, mid)
    out(as_json, {**rec, "circle": cid}, f"Reopened the meeting of {when(rec['at'])}.")


@meeting.command("minutes")
@click.argument("meeting_ref", metavar="MEETING")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (private, 0600) instead of stdout.",
)
@json_option
def meeting_minutes(meeting_ref: str, output: Path | None, as_json: bool) -> None:
    """The meeting's minutes in Markdown: who was there, who presented, the
    commitments and the pulse (feedback only if an agreement titled "Feedback in
    minutes" allows it). --json prints them as one JSON value."""
    from xcircle.export import write_private
    from xcircle.export_minutes import render_minutes

    with session(read_only=output is None) as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        minutes = svc.minutes(cid, mid)
        now = svc.now()
    data = render_minutes(minutes, "json" if as_json else "markdown", generated=now)
    if output is None:
        click.echo(data.decode(), nl=False)
        return
    write_private(output, render_minutes(minutes, "markdown", generated=now))
    out(as_json, {"circle": cid, "meeting": mid, "file": str(output)}, f"Wrote {output}")


@meeting.command("next")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def meeting_next(circle_ref: str, as_json: bool) -> None:
    """Plan the next meeting from the circle's cadence (after its latest meeting)."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        rec = svc.meetings.plan_next(cid)
    out(as_json, {**rec, "circle": cid}, f"Planned {when(rec['at'])}, {rec['duration']} minutes.")


@meeting.command("budget")
@click.argument("meeting_ref", metavar="MEETING")
@json_option
def meeting_budget(meeting_ref: str, as_json: bool) -> None:
    """Whether the round fits the meeting, and timeboxes or presenters that would."""
    with session(read_only=True) as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        b = svc.rounds.budget(cid, mid)
    if as_json:
        emit_json({"circle": cid, "meeting": mid, **b.as_dict()})
        return
    click.echo(
        f"{b.presenters} presenters need {b.needed // 60} of {b.duration // 60} minutes "
        f"({b.round // 60} for the round)."
    )
    if not b.fits:
        click.echo(f"Over by {b.over // 60} minutes. At these timeboxes {b.max_presenters} fit.")
        if b.proposed_timeboxes:
            boxes = ", ".join(f"{p} {s}s" for p, s in b.proposed_timeboxes.items())
            click.echo(f"Timeboxes that fit: {boxes}.")


@meeting.command("show")
@click.argument("meeting_ref", metavar="MEETING")
@json_option
def meeting_show(meeting_ref: str, as_json: bool) -> None:
    """One meeting: status, facilitator, who was there."""
    with session(read_only=True) as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        view = svc.meetings.view(cid, mid)
        names = svc.members.names(cid)
    if as_json:
        emit_json(view.as_dict())
        return
    fixed = "" if view.facilitator_fixed else " (the rotation's pick, fixed at the start)"
    kickoff = " (kick-off)" if view.kickoff else ""
    click.echo(f"{when(view.at)}{kickoff}: {view.status}, {view.duration} minutes")
    click.echo(f"Facilitator: {names.get(view.facilitator or '', 'nobody')}{fixed}")
    click.echo(f"Present: {', '.join(names[m] for m in view.present) or '-'}")
    click.echo(f"Absent: {', '.join(names[m] for m in view.absent) or '-'}")
    if view.read_only:
        click.echo("Closed: read-only until reopened (xcircle meeting reopen).")
