"""`xcircle goal …`: set goals and check in on them."""

from __future__ import annotations

from typing import Any

import click

from xcircle.cli.common import emit_json, json_option, out, session, short, table


@click.group()
def goal() -> None:
    """Set goals and check in on them."""


@goal.command("add")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("title")
@click.option("--owner", help="The member who owns it (default: you).")
@click.option("--group", "group", is_flag=True, help="A group goal, owned by the circle.")
@click.option("--due", help="Due date, YYYY-MM-DD.")
@click.option("--why", default="", help="Why it matters.")
@click.option("--measure", default="", help="How success is measured.")
@json_option
def goal_add(
    circle_ref: str,
    title: str,
    owner: str | None,
    group: bool,
    due: str | None,
    why: str,
    measure: str,
    as_json: bool,
) -> None:
    """Add an individual goal (yours unless --owner) or a group goal (--group)."""
    if owner and group:
        raise click.UsageError("--owner and --group exclude each other")
    from xcircle.services import parse_date

    with session() as svc:
        due = parse_date(due)
        cid = svc.circles.resolve(circle_ref)
        owner_id = None
        if owner:
            owner_id = svc.members.resolve(cid, owner)
        elif not group:
            owner_id = svc.ctx.me(cid)
        rec = svc.goals.add(cid, title, owner=owner_id, due=due, why=why, measure=measure)
    out(as_json, {**rec, "circle": cid}, f"Added goal {rec['title']} ({short(rec['id'])}).")


@goal.command("list")
@click.argument("circle_ref", metavar="[CIRCLE]", required=False)
@click.option("--all", "include_archived", is_flag=True, help="Include archived circles.")
@json_option
def goal_list(circle_ref: str | None, include_archived: bool, as_json: bool) -> None:
    """List goals with their latest progress: one circle's, or all circles'."""
    with session(read_only=True) as svc:
        if circle_ref:
            cids = [svc.circles.resolve(circle_ref)]
        else:
            cids = svc.circles.ids(include_archived=include_archived)
        goals: list[dict[str, Any]] = []
        labels: dict[str, str] = {}
        for cid in cids:
            names = svc.members.names(cid)
            labels[cid] = svc.circles.get(cid)["name"]
            for g in svc.goals.with_checkins(cid):
                owner = names.get(g["owner"], "?") if g.get("owner") else "group"
                goals.append({**g, "circle": cid, "owner_name": owner})
    if as_json:
        emit_json(goals)
        return
    if not goals:
        click.echo("No goals yet: xcircle goal add CIRCLE TITLE")
        return
    rows = [
        (
            short(g["id"]),
            g["title"],
            g["owner_name"],
            f"{g['progress']}%",
            g["status"],
            g.get("due") or "-",
            labels[g["circle"]],
        )
        for g in goals
    ]
    table(("ID", "GOAL", "OWNER", "PROGRESS", "STATUS", "DUE", "CIRCLE"), rows)


@goal.command("checkin")
@click.argument("goal_ref", metavar="GOAL")
@click.option("--progress", type=int, required=True, help="Progress so far, 0–100 (%).")
@click.option("--confidence", type=int, help="Confidence to reach it, 1–5.")
@click.option("--note", default="", help="What happened since the last check-in.")
@json_option
def goal_checkin(
    goal_ref: str, progress: int, confidence: int | None, note: str, as_json: bool
) -> None:
    """Record progress on a goal (GOAL: id, id prefix or unique title prefix)."""
    with session() as svc:
        found = svc.ctx.find_record("goal", goal_ref, "goal")
        rec = svc.goals.checkin(
            found["circle"], found["id"], progress=progress, confidence=confidence, note=note
        )
    text = f"Checked in on {found['title']}: {rec['progress']}%."
    out(as_json, {**rec, "circle": found["circle"]}, text)
