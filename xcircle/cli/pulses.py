"""`xcircle pulse add`: a member's 1–5 rating of a meeting."""

from __future__ import annotations

import click

from xcircle.cli.common import json_option, out, session


@click.group()
def pulse() -> None:
    """Rate a meeting: support, confidence, learning (1–5)."""


@pulse.command("add")
@click.argument("meeting_ref", metavar="MEETING")
@click.option("--member", "member_ref", required=True, metavar="MEMBER")
@click.option("--support", type=int, required=True, help="1–5.")
@click.option("--confidence", type=int, required=True, help="1–5.")
@click.option("--learning", type=int, required=True, help="1–5.")
@json_option
def pulse_add(
    meeting_ref: str,
    member_ref: str,
    support: int,
    confidence: int,
    learning: int,
    as_json: bool,
) -> None:
    """Record a member's pulse for a meeting (given again, the latest counts)."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        member = svc.members.resolve(cid, member_ref)
        rec = svc.pulses.record(
            cid, mid, member, support=support, confidence=confidence, learning=learning
        )
        name = svc.members.names(cid)[member]
    out(as_json, {**rec, "circle": cid}, f"Pulse of {name} saved.")
