"""`xcircle circle …`: create, list, show, edit and archive circles (`share` is lazy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from xcircle import safetext
from xcircle.cli.common import (
    F,
    echo,
    emit_json,
    json_option,
    out,
    session,
    short,
    table,
    when,
)
from xcircle.cli.lazy import LAZY_CIRCLE_COMMANDS, LazyGroup
from xcircle.domain import FREQUENCIES, HELD_STATUSES, MODES


@click.group(cls=LazyGroup, lazy=LAZY_CIRCLE_COMMANDS)
def circle() -> None:
    """Create, list, show, edit and archive circles."""


def circle_options(f: F) -> F:
    """The settings `circle create` and `circle edit` share (None: not given)."""
    for option in reversed(
        [
            click.option("--purpose", help="Why the circle exists."),
            click.option(
                "--outcome",
                "outcomes",
                multiple=True,
                help="An intended outcome (repeat for several; replaces them on edit).",
            ),
            click.option("--cadence", type=click.Choice(FREQUENCIES), help="How often it meets."),
            click.option("--duration", type=int, help="Minutes per meeting (15–480)."),
            click.option("--mode", type=click.Choice(MODES), help="How it meets."),
        ]
    ):
        f = option(f)
    return f


@circle.command("create")
@click.argument("name")
@circle_options
@json_option
def circle_create(
    name: str,
    purpose: str | None,
    outcomes: tuple[str, ...],
    cadence: str | None,
    duration: int | None,
    mode: str | None,
    as_json: bool,
) -> None:
    """Create a circle with you as its first member."""
    with session() as svc:
        rec = svc.circles.create(
            name,
            purpose=purpose or "",
            outcomes=outcomes,
            frequency=cadence or "biweekly",
            duration=90 if duration is None else duration,
            mode=mode or "online",
        )
    out(
        as_json,
        rec,
        f"Created circle {rec['name']} ({short(rec['id'])}).\n"
        f"Next: xcircle member add {short(rec['id'])} NAME --org ORG",
    )


@circle.command("list")
@click.option("--all", "include_archived", is_flag=True, help="Include archived circles.")
@json_option
def circle_list(include_archived: bool, as_json: bool) -> None:
    """List your circles with their next meeting."""
    with session(read_only=True) as svc:
        circles = svc.overview(include_archived=include_archived)
    if as_json:
        emit_json(circles)
        return
    if not circles:
        echo("No circles yet: xcircle circle create NAME")
        return
    rows = [
        (
            short(c["id"]),
            c["name"] + (" (archived)" if c.get("archived") else ""),
            c["members"],
            len(c["organizations"]),
            c["open_goals"],
            when(c["next_meeting"]["at"]) if c.get("next_meeting") else "-",
        )
        for c in circles
    ]
    table(("ID", "NAME", "MEMBERS", "ORGS", "GOALS", "NEXT MEETING"), rows)


@circle.command("show")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def circle_show(circle_ref: str, as_json: bool) -> None:
    """Show a circle: settings, members, meetings, goals, commitments."""
    with session(read_only=True) as svc:
        detail = svc.detail(svc.circles.resolve(circle_ref))
        next_meeting = svc.meetings.next(detail["circle"]["id"])
    if as_json:
        emit_json(detail)
        return
    print_circle(detail, next_meeting)


def print_circle(detail: Mapping[str, Any], next_meeting: Mapping[str, Any] | None) -> None:
    """The human view of `circle show`."""
    c = detail["circle"]
    names = {m["id"]: m["name"] for m in detail["members"]}
    click.secho(safetext.line(c["name"]) + (" (archived)" if c.get("archived") else ""), bold=True)
    if c.get("purpose"):
        echo(c["purpose"])
    echo(f"{c['frequency']}, {c['duration']} minutes, {c['mode']}  ·  id {c['id']}")
    for outcome in c.get("outcomes", []):
        echo(f"  outcome: {safetext.line(outcome)}")
    echo()
    acked = set(detail["acknowledged"])
    table(
        ("MEMBER", "ORGANIZATION", "SENIORITY", "AGREEMENTS"),
        [
            (m["name"], m["org"], m.get("seniority") or "-", "ok" if m["id"] in acked else "-")
            for m in detail["members"]
        ],
    )
    echo()
    held = [m for m in detail["meetings"] if m["status"] in HELD_STATUSES]
    echo(f"Meetings held: {len(held)}")
    if next_meeting:
        echo(f"Next meeting: {when(next_meeting['at'])}")
    if detail.get("next_facilitator"):
        echo(f"Next facilitator: {names.get(detail['next_facilitator'], '?')}")
    if detail["goals"]:
        echo()
        table(
            ("GOAL", "OWNER", "PROGRESS", "STATUS"),
            [
                (
                    g["title"],
                    names.get(g["owner"], "?") if g.get("owner") else "group",
                    f"{g['progress']}%",
                    g["status"],
                )
                for g in detail["goals"]
            ],
        )
    open_items = [x for x in detail["commitments"] if x["status"] == "open"]
    if open_items:
        echo()
        table(
            ("OPEN COMMITMENT", "OWNER", "DUE"),
            [(x["text"], names.get(x["owner"], "?"), x.get("due") or "-") for x in open_items],
        )


@circle.command("edit")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--name", help="A new name.")
@circle_options
@json_option
def circle_edit(
    circle_ref: str,
    name: str | None,
    purpose: str | None,
    outcomes: tuple[str, ...],
    cadence: str | None,
    duration: int | None,
    mode: str | None,
    as_json: bool,
) -> None:
    """Change a circle's settings (only the options given)."""
    given = {
        "name": name,
        "purpose": purpose,
        "outcomes": list(outcomes) if outcomes else None,
        "frequency": cadence,
        "duration": duration,
        "mode": mode,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    with session() as svc:
        rec = svc.circles.update(svc.circles.resolve(circle_ref), **changes)
    out(as_json, rec, f"Updated circle {rec['name']} ({short(rec['id'])}).")


@circle.command("archive")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--undo", is_flag=True, help="Bring an archived circle back.")
@json_option
def circle_archive(circle_ref: str, undo: bool, as_json: bool) -> None:
    """Archive a circle (hidden from lists, history kept)."""
    with session() as svc:
        rec = svc.circles.archive(svc.circles.resolve(circle_ref), archived=not undo)
    out(as_json, rec, f"{'Restored' if undo else 'Archived'} circle {rec['name']}.")
