"""`xcircle pulse …`: a member's 1–5 rating of a meeting; corrected or removed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from xcircle.cli.common import json_option, out, session
from xcircle.errors import NotFound

if TYPE_CHECKING:
    from xcircle.services import Services


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


def _pulse_of(svc: Services, meeting_ref: str, member_ref: str) -> tuple[str, str]:
    cid, mid = svc.meetings.find(meeting_ref)
    member = svc.members.resolve(cid, member_ref)
    rec = svc.pulses.for_meeting(cid, mid).get(member)
    if rec is None:
        raise NotFound(f"{svc.members.names(cid)[member]} has no pulse for this meeting")
    return cid, str(rec["id"])


@pulse.command("edit")
@click.argument("meeting_ref", metavar="MEETING")
@click.option("--member", "member_ref", required=True, metavar="MEMBER")
@click.option("--support", type=int, default=None, help="1–5.")
@click.option("--confidence", type=int, default=None, help="1–5.")
@click.option("--learning", type=int, default=None, help="1–5.")
@json_option
def pulse_edit(
    meeting_ref: str,
    member_ref: str,
    support: int | None,
    confidence: int | None,
    learning: int | None,
    as_json: bool,
) -> None:
    """Correct a member's pulse (the aspects not given stay)."""
    with session() as svc:
        cid, pid = _pulse_of(svc, meeting_ref, member_ref)
        rec = svc.pulses.edit(cid, pid, support=support, confidence=confidence, learning=learning)
    out(as_json, {**rec, "circle": cid}, "Pulse corrected.")


@pulse.command("remove")
@click.argument("meeting_ref", metavar="MEETING")
@click.option("--member", "member_ref", required=True, metavar="MEMBER")
@json_option
def pulse_remove(meeting_ref: str, member_ref: str, as_json: bool) -> None:
    """Remove a member's pulse for a meeting; the removal syncs."""
    with session() as svc:
        cid, pid = _pulse_of(svc, meeting_ref, member_ref)
        rec = svc.pulses.remove(cid, pid)
    out(as_json, {**rec, "circle": cid, "removed": True}, "Pulse removed.")
