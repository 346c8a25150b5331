"""`xcircle commitment …`: what members commit to, and its review at the next meeting."""

from __future__ import annotations

import click

from xcircle.cli.common import emit_json, json_option, out, session, short, table
from xcircle.errors import InvalidInput

REVIEW_STATUSES = ("kept", "renegotiated", "dropped", "open")


@click.group()
def commitment() -> None:
    """Make, correct, review and renegotiate commitments."""


@commitment.command("add")
@click.argument("meeting_ref", metavar="MEETING")
@click.argument("text")
@click.option("--owner", "owner_ref", required=True, metavar="MEMBER")
@click.option("--due", default=None, help="YYYY-MM-DD.")
@json_option
def commitment_add(
    meeting_ref: str, text: str, owner_ref: str, due: str | None, as_json: bool
) -> None:
    """A member commits to an action at a meeting (reviewed at the next one)."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        owner = svc.members.resolve(cid, owner_ref)
        rec = svc.commitments.add(cid, owner, text, due=due, meeting=mid)
    out(as_json, {**rec, "circle": cid}, f"Commitment {short(rec['id'])} saved.")


@commitment.command("review")
@click.argument("commitment_ref", metavar="COMMITMENT")
@click.argument("status", type=click.Choice(REVIEW_STATUSES))
@click.option("--text", default=None, help="Renegotiated: the new wording.")
@click.option("--due", default=None, help="Renegotiated: the new due date (YYYY-MM-DD).")
@click.option(
    "--meeting",
    "meeting_ref",
    default=None,
    metavar="MEETING",
    help="The meeting reviewing it (default: the circle's running meeting).",
)
@json_option
def commitment_review(
    commitment_ref: str,
    status: str,
    text: str | None,
    due: str | None,
    meeting_ref: str | None,
    as_json: bool,
) -> None:
    """Mark a commitment kept, renegotiated (with --text and --due) or dropped."""
    with session() as svc:
        found = svc.ctx.find_record("commitment", commitment_ref, "commitment", label="text")
        cid = found["circle"]
        meeting: str | None = None
        if meeting_ref:
            mcid, meeting = svc.meetings.find(meeting_ref)
            if mcid != cid:
                raise InvalidInput("that meeting belongs to another circle", field="meeting")
        else:
            running = [m for m in svc.meetings.all(cid) if m["status"] == "running"]
            meeting = running[-1]["id"] if running else None
        rec = svc.commitments.review(cid, found["id"], status, meeting=meeting, text=text, due=due)
    line = f"Commitment {short(rec['id'])} {status}"
    if rec.get("renegotiated_as"):
        line += f"; the new one is {short(rec['renegotiated_as'])}"
    out(as_json, {**rec, "circle": cid}, line + ".")


@commitment.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def commitment_list(circle_ref: str, as_json: bool) -> None:
    """A circle's commitments, open ones first."""
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref)
        items = svc.commitments.all(cid)
        names = svc.members.names(cid)
    if as_json:
        emit_json(items)
        return
    rows = [
        (short(c["id"]), names.get(c["owner"], "-"), c["status"], c.get("due") or "-", c["text"])
        for c in items
    ]
    table(("ID", "OWNER", "STATUS", "DUE", "COMMITMENT"), rows)


@commitment.command("edit")
@click.argument("commitment_ref", metavar="COMMITMENT")
@click.option("--text", default=None, help="The corrected wording.")
@click.option("--due", default=None, help='The corrected due date (YYYY-MM-DD; "" clears it).')
@json_option
def commitment_edit(commitment_ref: str, text: str | None, due: str | None, as_json: bool) -> None:
    """Correct your commitment's wording or due date."""
    if text is None and due is None:
        raise click.UsageError("give --text, --due, or both")
    with session() as svc:
        found = svc.ctx.find_record("commitment", commitment_ref, "commitment", label="text")
        cid = found["circle"]
        rec = svc.commitments.edit(cid, found["id"], text=text, due=due)
    out(as_json, {**rec, "circle": cid}, f"Commitment {short(rec['id'])} corrected.")


@commitment.command("remove")
@click.argument("commitment_ref", metavar="COMMITMENT")
@json_option
def commitment_remove(commitment_ref: str, as_json: bool) -> None:
    """Remove your commitment (made by mistake); the removal syncs."""
    with session() as svc:
        found = svc.ctx.find_record("commitment", commitment_ref, "commitment", label="text")
        cid = found["circle"]
        rec = svc.commitments.remove(cid, found["id"])
    out(as_json, {**rec, "circle": cid, "removed": True}, f"Removed {short(rec['id'])}.")


@commitment.command("due")
@click.option("--within", type=int, default=14, show_default=True, help="Days ahead.")
@json_option
def commitment_due(within: int, as_json: bool) -> None:
    """My open commitments across circles, soonest first; overdue ones say so."""
    with session(read_only=True) as svc:
        items = svc.commitments.due_soon(within)
    if as_json:
        emit_json([d.as_dict() for d in items])
        return
    if not items:
        click.echo(f"Nothing due in the next {within} days.")
        return

    def when_due(days: int | None) -> str:
        if days is None:
            return "no date"
        if days < 0:
            return f"OVERDUE by {-days} day{'s' if days < -1 else ''}"
        return "today" if days == 0 else f"in {days} day{'s' if days > 1 else ''}"

    rows = [(short(d.id), d.due or "-", when_due(d.days_left), d.text) for d in items]
    table(("ID", "DUE", "WHEN", "COMMITMENT"), rows)
