"""`xcircle journal …`: private reflections; they stay on this device, never synced."""

from __future__ import annotations

import click

from xcircle.cli.common import emit_json, json_option, out, session, short, when


@click.group()
def journal() -> None:
    """Your private journal: on this device only, never synced."""


@journal.command("add")
@click.argument("text")
@click.option("--circle", "circle_ref", default=None, metavar="CIRCLE", help="About a circle.")
@json_option
def journal_add(text: str, circle_ref: str | None, as_json: bool) -> None:
    """Write a private reflection (about a circle, or about none)."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref) if circle_ref else None
        entry = svc.reflections.write(text, circle=cid)
    out(as_json, entry.as_dict(), f"Saved {short(entry.id)} (private: never synced).")


@journal.command("list")
@click.option("--circle", "circle_ref", default=None, metavar="CIRCLE", help="Only this circle.")
@json_option
def journal_list(circle_ref: str | None, as_json: bool) -> None:
    """Your journal, oldest first."""
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref) if circle_ref else None
        entries = svc.reflections.journal(cid)
        names = {c: svc.circles.get(c)["name"] for c in {e.circle for e in entries} if c}
    if as_json:
        emit_json([e.as_dict() for e in entries])
        return
    if not entries:
        click.echo('Nothing yet: xcircle journal add "what I noticed"')
        return
    for e in entries:
        about = f" · {names[e.circle]}" if e.circle else ""
        click.echo(f"{when(e.at)}{about}\n  {e.text}\n")
