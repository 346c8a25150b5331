"""`xcircle meeting …`: plan and list a circle's meetings."""

from __future__ import annotations

import click

from xcircle.cli.common import (
    check_zone,
    emit_json,
    json_option,
    out,
    session,
    short,
    table,
    when,
)


@click.group()
def meeting() -> None:
    """Plan and list a circle's meetings."""


@meeting.command("plan")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--at", "at", required=True, help="Start, ISO 8601: 2026-12-01T18:00[+01:00].")
@click.option("--theme", "themes", multiple=True, help="A theme to discuss (repeatable).")
@click.option("--duration", type=int, help="Minutes (default: the circle's).")
@click.option("--tz", "zone", default=None, help="IANA zone of the meeting (default: yours).")
@json_option
def meeting_plan(
    circle_ref: str,
    at: str,
    themes: tuple[str, ...],
    duration: int | None,
    zone: str | None,
    as_json: bool,
) -> None:
    """Plan a meeting; a circle's first meeting is its kick-off."""
    from xcircle.services import parse_when

    with session() as svc:
        zone = check_zone(zone if zone is not None else svc.store.require_profile().get("tz"))
        start = parse_when(at, zone or None)
        if zone:
            from xcircle.services.meetings import zone_info

            start = start.astimezone(zone_info(zone))
        cid = svc.circles.resolve(circle_ref)
        rec = svc.meetings.plan(cid, start, themes=themes, duration=duration, zone=zone)
    kickoff = " (kick-off)" if rec.get("kickoff") else ""
    out(as_json, rec, f"Planned {when(rec['at'])}{kickoff}, {rec['duration']} minutes.")


@meeting.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def meeting_list(circle_ref: str, as_json: bool) -> None:
    """List a circle's meetings, oldest first."""
    with session() as svc:
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
