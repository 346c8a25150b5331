"""`xcircle agreement …`: a circle's ground rules (e.g. "Feedback in minutes")."""

from __future__ import annotations

import click

from xcircle.cli.common import emit_json, json_option, out, session, short, table


@click.group()
def agreement() -> None:
    """List, add and remove a circle's agreements."""


@agreement.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def agreement_list(circle_ref: str, as_json: bool) -> None:
    """A circle's agreements, in order."""
    with session(read_only=True) as svc:
        items = svc.circles.agreements(svc.circles.resolve(circle_ref))
    if as_json:
        emit_json(items)
        return
    table(("ID", "TITLE", "TEXT"), [(short(a["id"]), a["title"], a["text"]) for a in items])


@agreement.command("add")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("title")
@click.argument("text", default="")
@json_option
def agreement_add(circle_ref: str, title: str, text: str, as_json: bool) -> None:
    """Add an agreement. Titled "Feedback in minutes", it lets minutes carry feedback."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        rec = svc.circles.set_agreement(cid, title, text)
    out(as_json, {**rec, "circle": cid}, f"Agreement {short(rec['id'])} added.")


@agreement.command("remove")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("agreement_ref", metavar="AGREEMENT")
@json_option
def agreement_remove(circle_ref: str, agreement_ref: str, as_json: bool) -> None:
    """Remove an agreement (AGREEMENT: id prefix or title prefix)."""
    from xcircle.services.context import pick

    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        low = agreement_ref.strip().lower()
        hits = [
            a
            for a in svc.circles.agreements(cid)
            if a["id"].startswith(low) or a["title"].lower().startswith(low)
        ]
        found = pick(hits, agreement_ref, "agreement", "title")
        svc.circles.remove_agreement(cid, found["id"])
    out(as_json, {**found, "circle": cid, "removed": True}, f"Removed {found['title']}.")
