"""`xcircle plusdelta …`: how a meeting went as a process — what worked, what to change."""

from __future__ import annotations

import click

from xcircle.cli.common import echo, emit_json, json_option, out, session


@click.group()
def plusdelta() -> None:
    """Record and read a meeting's plus/delta on its process."""


@plusdelta.command("add")
@click.argument("meeting_ref", metavar="MEETING")
@click.option("--plus", "plus", multiple=True, help="What worked (repeatable).")
@click.option("--delta", "delta", multiple=True, help="What to change (repeatable).")
@click.option(
    "--member",
    "member_ref",
    default=None,
    metavar="MEMBER",
    help="Who said it (default: the circle's, as the facilitator notes it).",
)
@json_option
def plusdelta_add(
    meeting_ref: str,
    plus: tuple[str, ...],
    delta: tuple[str, ...],
    member_ref: str | None,
    as_json: bool,
) -> None:
    """Add pluses and deltas to a running or closed meeting."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        member = svc.members.resolve(cid, member_ref) if member_ref else None
        pd = svc.plusdelta.add(cid, mid, plus=plus, delta=delta, member=member)
    out(as_json, pd.as_dict(), f"Saved: {len(pd.plus)} plus, {len(pd.delta)} delta.")


@plusdelta.command("show")
@click.argument("meeting_ref", metavar="MEETING")
@json_option
def plusdelta_show(meeting_ref: str, as_json: bool) -> None:
    """A meeting's plus/delta."""
    with session(read_only=True) as svc:
        pd = svc.plusdelta.of(*svc.meetings.find(meeting_ref))
    if as_json:
        emit_json(pd.as_dict())
        return
    if not pd.plus and not pd.delta:
        echo("No plus/delta recorded.")
    for item in (*pd.plus, *pd.delta):
        who = f" ({item.name})" if item.name else ""
        echo(f"{'+' if item.kind == 'plus' else 'Δ'} {item.text}{who}")
