"""SVG snapshots of choosing a round protocol (the plan form with the protocol choice,
the meeting's protocol form) and of issue cards (the card form, its in-form error, the
circle's open cards, withdrawing mine), at the usual size and at the smallest supported
terminal, 80×24.
Same determinism as the meeting snapshots. Update with
`pytest tests/tui/test_snapshots_facilitation.py --snapshot-update`, then look at each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select

from screens.cardforms import CardForm
from screens.cards import CardsScreen
from screens.meeting import MeetingScreen
from screens.meetingforms import PlanMeetingScreen
from tests.tui.conftest import SIZE, make_test_app, next_meeting, settle
from tests.tui.test_snapshots_meeting import Setup, SnapCompare, svc_of, then_settle
from xcircle.ops import deterministic_ids

SIZES = {"100x32": SIZE, "80x24": (80, 24)}


def plan_with_protocol(name: str) -> Setup:
    """The plan form over the meeting screen, protocol `name` chosen (its purpose shown)."""

    async def setup(pilot: Pilot[Any]) -> None:
        circle, meeting = next_meeting(svc_of(pilot), "Leading")
        await pilot.app.push_screen(MeetingScreen(circle, meeting))
        await settle(pilot)
        await pilot.app.push_screen(PlanMeetingScreen(circle))
        await settle(pilot)
        pilot.app.screen.query_one("#protocol", Select).value = name

    return setup


def protocol_form() -> Setup:
    """The meeting screen's `P`: the protocol its round runs, before the round starts."""

    async def setup(pilot: Pilot[Any]) -> None:
        svc = svc_of(pilot)
        circle, meeting = next_meeting(svc, "Leading")
        with deterministic_ids(31):
            svc.meetings.update(circle, meeting, protocol="action-learning")
        await pilot.app.push_screen(MeetingScreen(circle, meeting))
        await settle(pilot)
        await pilot.press("P")

    return setup


def card_form(*, empty_situation: bool = False) -> Setup:
    async def setup(pilot: Pilot[Any]) -> None:
        circle = svc_of(pilot).circles.resolve("Leading")
        await pilot.app.push_screen(CardsScreen(circle))
        await settle(pilot)
        await pilot.press("a")
        if empty_situation:
            await settle(pilot)
            form = pilot.app.screen
            assert isinstance(form, CardForm)
            form.query_one("#question", Input).value = "How do I choose?"
            await pilot.press("ctrl+s")

    return setup


def cards(*keys: str) -> Setup:
    """Two open cards (a peer's A card highlighted, my C card) and the proposal; then
    `keys` pressed."""

    async def setup(pilot: Pilot[Any]) -> None:
        svc = svc_of(pilot)
        circle = svc.circles.resolve("Leading")
        members = [m["id"] for m in svc.members.all(circle)]
        with deterministic_ids(32):
            svc.cards.add(circle, "Two teams merge next month and both leads want the role.",
                          "How do I choose without losing either?", "A",
                          want="questions that widen my view",
                          not_want="stories of your own reorganizations",
                          member=members[2])  # fmt: skip
            svc.cards.add(circle, "The board asks for more every quarter.",
                          "How do I say no without closing the door?", "C")  # fmt: skip
        await pilot.app.push_screen(CardsScreen(circle))
        for key in keys:
            await settle(pilot)
            await pilot.press(key)

    return setup


CASES: dict[str, Setup] = {
    "plan_meeting_protocol": plan_with_protocol("critical-incident"),
    "meeting_protocol_form": protocol_form(),
    "form_card": card_form(),
    "form_card_empty_situation": card_form(empty_situation=True),
    "cards": cards(),
    "cards_withdraw_mine": cards("down", "w"),
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("case", list(CASES))
def test_screen_at(case: str, size: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=then_settle(CASES[case]))
