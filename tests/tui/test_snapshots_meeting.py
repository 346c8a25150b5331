"""SVG snapshots of the meeting, its agenda steps, the feedback round and their modals.

Deterministic: the seeded demo home, a fixed clock, UTC, ids drawn from a seeded
generator while a case sets up its data, no cursor blink, no animations.
Update with `pytest tests/tui/test_snapshots_meeting.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from screens.meeting import MeetingScreen, PlanMeetingScreen
from screens.round import RoundScreen
from tests.tui.conftest import SIZE, make_test_app, next_meeting, settle
from xcircle.ops import deterministic_ids
from xcircle.services import Services

SnapCompare = Callable[..., bool]
Setup = Callable[[Pilot[Any]], Awaitable[None]]


def svc_of(pilot: Pilot[Any]) -> Services:
    services: Services = pilot.app.services  # type: ignore[attr-defined]
    return services


def meeting_at(prefix: str, step: int, *, acks: int = 0, pulses: int = 0) -> Setup:
    """The next meeting of a circle, started with everyone present, at agenda `step`."""

    async def setup(pilot: Pilot[Any]) -> None:
        svc = svc_of(pilot)
        circle, meeting = next_meeting(svc, prefix)
        members = [m["id"] for m in svc.members.all(circle)]
        with deterministic_ids(11):
            if step:
                for member in members:
                    svc.meetings.mark(circle, meeting, member, member != members[-1])
                svc.meetings.start(circle, meeting)
                svc.meetings.set_step(circle, meeting, step)
            for member in members[:acks]:
                svc.meetings.acknowledge(circle, member, meeting)
            for i, member in enumerate(members[:pulses]):
                svc.pulses.record(
                    circle, meeting, member, support=5 - i, confidence=3 + i, learning=4
                )
        await pilot.app.push_screen(MeetingScreen(circle, meeting))

    return setup


def plan(bad_date: bool = False, *, reschedule: bool = False) -> Setup:
    """The plan (or reschedule) form, over the meeting screen so that only this area's
    screens are in the picture."""

    async def setup(pilot: Pilot[Any]) -> None:
        circle, meeting = next_meeting(svc_of(pilot), "Leading")
        await pilot.app.push_screen(MeetingScreen(circle, meeting))
        await settle(pilot)
        if reschedule:
            await pilot.press("e")
            return
        await pilot.app.push_screen(PlanMeetingScreen(circle))
        if bad_date:
            await settle(pilot)
            pilot.app.screen.query_one("#date", Input).value = "2026-02-30"
            await pilot.press("ctrl+s")

    return setup


def round_at(advances: int, *keys: str) -> Setup:
    """The Leading circle's round, advanced `advances` times, with a turn's content."""

    async def setup(pilot: Pilot[Any]) -> None:
        svc = svc_of(pilot)
        circle, meeting = next_meeting(svc, "Leading")
        with deterministic_ids(12):
            svc.meetings.start(circle, meeting)
            order = svc.rounds.start(circle, meeting)["order"]
            presenter = order[0]
            svc.rounds.set_challenge(
                circle, meeting, presenter, "My team reads every change as a threat."
            )
            for _ in range(advances):
                svc.rounds.advance(circle, meeting)
            if advances >= 2:
                say = svc.rounds.feedback
                say(circle, meeting, presenter, order[1], "question", "Who told them first?")
                say(circle, meeting, presenter, order[1], "support", "You care; it shows.")
                say(circle, meeting, presenter, order[2], "challenge", "What are you avoiding?")
        await pilot.app.push_screen(RoundScreen(circle, meeting))
        for key in keys:
            await settle(pilot)
            await pilot.press(key)

    return setup


CASES: dict[str, Setup] = {
    "plan_meeting": plan(),
    "plan_meeting_bad_date": plan(bad_date=True),
    "reschedule_meeting": plan(reschedule=True),
    "meeting_checkin": meeting_at("Leading", 0),
    "meeting_review": meeting_at("Leading", 1),
    "meeting_round_step": meeting_at("Leading", 2),
    "meeting_pulse": meeting_at("Leading", 4, pulses=2),
    "meeting_kickoff_agreements": meeting_at("Data", 1, acks=2),
    "round_present": round_at(0),
    "round_feedback": round_at(3),
    "round_feedback_form": round_at(3, "c"),
    "round_reorder_form": round_at(3, "o"),
}


def then_settle(setup: Setup) -> Setup:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await setup(pilot)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("case", list(CASES))
def test_screen(case: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=SIZE, run_before=then_settle(CASES[case]))


@pytest.mark.parametrize("case", ["meeting_review", "round_feedback"])
def test_small_terminal(case: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    """80×24 still shows the essentials."""
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=(80, 24), run_before=then_settle(CASES[case]))


@pytest.mark.parametrize("case", ["meeting_pulse", "round_feedback"])
def test_light_theme(case: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    app.theme = "textual-light"
    assert snap_compare(app, terminal_size=SIZE, run_before=then_settle(CASES[case]))
