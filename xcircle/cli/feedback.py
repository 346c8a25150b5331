"""`xcircle feedback …`: what peers say in the round, captured, corrected, removed."""

from __future__ import annotations

import click

from xcircle.cli.common import json_option, out, session, short
from xcircle.domain import FEEDBACK_KINDS


@click.group()
def feedback() -> None:
    """Capture, correct and remove feedback given in a meeting's round."""


@feedback.command("add")
@click.argument("meeting_ref", metavar="MEETING")
@click.argument("text")
@click.option("--presenter", "presenter_ref", required=True, metavar="MEMBER")
@click.option("--giver", "giver_ref", required=True, metavar="MEMBER")
@click.option("--kind", type=click.Choice(FEEDBACK_KINDS), required=True)
@json_option
def feedback_add(
    meeting_ref: str, text: str, presenter_ref: str, giver_ref: str, kind: str, as_json: bool
) -> None:
    """Record one peer's question, challenge, support or advice for the presenter."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        presenter = svc.members.resolve(cid, presenter_ref)
        giver = svc.members.resolve(cid, giver_ref)
        rec = svc.rounds.feedback(cid, mid, presenter, giver, kind, text)
        names = svc.members.names(cid)
    line = f"{rec['kind'].capitalize()} from {names[giver]} to {names[presenter]}"
    out(as_json, {**rec, "circle": cid}, f"{line} saved as {short(rec['id'])}.")


@feedback.command("edit")
@click.argument("feedback_ref", metavar="FEEDBACK")
@click.argument("text", required=False)
@click.option("--kind", type=click.Choice(FEEDBACK_KINDS), help="Correct its kind too.")
@json_option
def feedback_edit(feedback_ref: str, text: str | None, kind: str | None, as_json: bool) -> None:
    """Correct your feedback's words (and/or --kind); it gets a new id."""
    if text is None and kind is None:
        raise click.UsageError("give the corrected TEXT, --kind, or both")
    with session() as svc:
        found = svc.ctx.find_record("feedback", feedback_ref, "feedback", label="text")
        cid = found["circle"]
        rec = svc.rounds.edit_feedback(cid, found["id"], text=text, kind=kind)
    value = {**rec, "circle": cid, "replaces": found["id"]}
    out(as_json, value, f"Corrected; the feedback is now {short(rec['id'])}.")


@feedback.command("remove")
@click.argument("feedback_ref", metavar="FEEDBACK")
@json_option
def feedback_remove(feedback_ref: str, as_json: bool) -> None:
    """Remove your feedback (for every device: the removal syncs)."""
    with session() as svc:
        found = svc.ctx.find_record("feedback", feedback_ref, "feedback", label="text")
        cid = found["circle"]
        rec = svc.rounds.remove_feedback(cid, found["id"])
    out(as_json, {**rec, "circle": cid, "removed": True}, f"Removed {short(rec['id'])}.")
