"""SVG snapshots of the screens a facilitator uses most, at a roomy 120×40 and at the
smallest supported terminal, 80×24 (footers fit, long text wraps, nothing cut off).

The cases are those of the area's own snapshot modules; update with
`pytest tests/tui/test_snapshots_sizes.py --snapshot-update`, and look at each changed
one rendered before accepting it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from screens.meeting import MeetingScreen
from tests.tui import test_snapshots_main as main
from tests.tui import test_snapshots_meeting as meeting_snaps
from tests.tui import test_snapshots_sync as sync
from tests.tui.conftest import make_test_app, next_meeting, settle
from xcircle.ops import deterministic_ids
from xcircle.services import Services

SnapCompare = Callable[..., bool]
Setup = Callable[[Pilot[Any]], Awaitable[None]]

SIZES = {"120x40": (120, 40), "80x24": (80, 24)}


def svc_of(pilot: Pilot[Any]) -> Services:
    services: Services = pilot.app.services  # type: ignore[attr-defined]
    return services


def meeting(
    prefix: str, *keys: str, status: str = "running", step: int = 0, commitment: bool = False
) -> Setup:
    """The next meeting of a circle (started, closed or left planned) at `step`, with
    everyone but the last member present, then `keys` pressed."""

    async def setup(pilot: Pilot[Any]) -> None:
        svc = svc_of(pilot)
        circle, meeting = next_meeting(svc, prefix)
        members = [m["id"] for m in svc.members.all(circle)]
        with deterministic_ids(21):
            if status != "planned":
                svc.meetings.mark_many(circle, meeting, members[:-1], True)
                svc.meetings.start(circle, meeting, step=step)
            if commitment:
                text, due = "Call Sam before Friday", "2026-12-04"
                svc.commitments.add(circle, members[0], text, due=due, meeting=meeting)
            if status == "closed":
                svc.meetings.close(circle, meeting, "A calm, useful round.")
        await pilot.app.push_screen(MeetingScreen(circle, meeting))
        for key in keys:
            await settle(pilot)
            await pilot.press(key)
        await settle(pilot)

    return setup


async def journal_then(pilot: Pilot[Any], *keys: str) -> None:
    await journal(pilot)
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


async def journal(pilot: Pilot[Any]) -> None:
    svc = svc_of(pilot)
    with deterministic_ids(22):
        svc.reflections.write("I rush to advise; ask one more question first.")
        svc.reflections.write("Mei's challenge was mine too.", svc.circles.resolve("Leading"))
    await settle(pilot)
    await pilot.press("j")
    await settle(pilot)


CASES: dict[str, Setup] = {
    **{
        name: main.keys_then_settle(main.CASES[name])
        for name in (
            "home",
            "circle_overview",
            "circle_insights",
            "goal_detail",
            "form_member",
            "form_checkin",
        )
    },
    **{
        name: meeting_snaps.then_settle(meeting_snaps.CASES[name])
        for name in (
            "meeting_checkin",
            "meeting_review",
            "meeting_kickoff_agreements",
            "meeting_pulse",
        )
    },
    "invite": sync.push_then_settle(sync.MODALS["invite"]),
    "meeting_confirm_start": meeting("Leading", "s", status="planned"),
    "meeting_closed": meeting("Leading", status="closed"),
    "meeting_round_budget": meeting("Leading", status="running", step=2),
    "meeting_after_close": meeting("Leading", "x", "ctrl+s", step=4),
    "meeting_unsaved_pulse": meeting("Leading", "4", "4", "x", step=4),
    "round_correct_feedback": meeting_snaps.then_settle(meeting_snaps.round_at(3, "k")),
    "journal": journal,
    "journal_form": lambda pilot: journal_then(pilot, "n"),
    "round_feedback": meeting_snaps.then_settle(meeting_snaps.CASES["round_feedback"]),
    "form_renegotiate": meeting("Leading", "down", "r", step=1),
    "form_correct_commitment": meeting("Leading", "e", step=3, commitment=True),
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("case", list(CASES))
def test_screen_at(case: str, size: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=CASES[case])
