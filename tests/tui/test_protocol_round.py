"""Pilot tests of the round under each protocol (the phase's prompt, who may speak,
the feedback keys it offers and refuses), the presenter's card, the check-in round from
the meeting, and the airtime view from the circle."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from screens.airtime import AirtimeScreen
from screens.checkround import CheckRoundScreen, CheckSayForm
from screens.circle import CircleScreen
from screens.meeting import MeetingScreen
from screens.meetingforms import FeedbackForm
from screens.round import KIND_KEYS, RoundScreen
from tests.tui.conftest import SIZE, make_test_app, next_meeting, settle
from xcircle import protocols
from xcircle.domain import FEEDBACK_KINDS


def shown(screen: object, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())  # type: ignore[attr-defined]


@pytest.mark.parametrize("proto", protocols.BUILT_INS, ids=lambda p: p.name)
async def test_each_phase_shows_its_prompt_speakers_and_only_its_feedback_keys(
    demo_home: Path, proto: protocols.Protocol
) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    svc.meetings.start(circle, mid, protocol=proto.name)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, mid))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RoundScreen)
        peers = len(screen.state["peers"])
        for n, phase in enumerate(proto.phases):
            assert screen.state["phase"] == phase.id
            assert phase.prompt[:40] in shown(screen, "#prompt").replace("\n", " ")
            assert f"Speaks: {phase.who()}"[:40] in shown(screen, "#speakers").replace("\n", " ")
            assert phase.title in shown(screen, "#phase")
            accepted = phase.kinds if proto.strict else proto.kinds
            for kind in FEEDBACK_KINDS:
                allowed = screen.check_action("feedback", (kind,))
                assert bool(allowed) == (kind in accepted), (phase.id, kind)
            refused = next((k for k in FEEDBACK_KINDS if k not in accepted), None)
            if refused:
                await pilot.press(KIND_KEYS[refused])
                await settle(pilot)
                assert isinstance(app.screen, RoundScreen)  # no form for a refused kind
                assert app.is_running  # `q` in a phase without questions never quits
            if accepted:
                await pilot.press(KIND_KEYS[accepted[0]])
                await settle(pilot)
                assert isinstance(app.screen, FeedbackForm)
                await pilot.press("escape")
                await settle(pilot)
            for _ in range(peers if phase.per_peer else 1):
                await pilot.press("n")
            await settle(pilot)
            assert n + 1 == len(proto.phases) or screen.state["turn"] == 0


async def test_the_presenters_card_is_on_screen(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    bringer = svc.members.all(circle)[3]["id"]
    svc.cards.add(circle, "Both leads want the role.", "How do I choose?", "A",
                  not_want="war stories", member=bringer)  # fmt: skip
    svc.meetings.start(circle, mid)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, mid))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RoundScreen)
        assert screen.state["presenter"] == bringer  # the A card goes first
        turn = shown(screen, "#turn")
        assert "Issue card (A, now)" in turn and "How do I choose?" in turn
        assert "Not wanted: war stories" in turn


async def test_the_check_in_round_runs_from_the_meeting(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    svc.meetings.start(circle, mid)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(MeetingScreen(circle, mid))
        await settle(pilot)
        assert not app.screen.check_action("checkround", ("in",))  # off for this circle
        svc.checkrounds.configure(circle, checkin=True)
        assert app.screen.check_action("checkround", ("in",))
        assert not app.screen.check_action("checkround", ("out",))
        await pilot.press("I")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CheckRoundScreen)
        first = screen.state.member if screen.state else None
        await pilot.press("enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, CheckSayForm)
        form.query_one("#first", Input).value = "11"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "between 1 and 10" in shown(form, "#error-first")  # under its field
        form.query_one("#first", Input).value = "7"
        form.query_one("#second", Input).value = "Curious today"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert "7/10 · Curious today" in shown(screen, "#said")
        await pilot.press("n")
        await settle(pilot)
        assert screen.state and screen.state.turn == 1 and screen.state.member != first
    said = svc.checkrounds.view(circle, mid, "in").said
    assert [(c["member"], c["score"]) for c in said] == [(first, 7)]


async def test_the_airtime_view_opens_from_the_circles_insights(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    circle = app.services.circles.resolve("Leading")
    expected = app.services.airtime.view(circle)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(CircleScreen(circle, tab="insights"))
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, AirtimeScreen)
        table = screen.query_one(DataTable)
        assert table.row_count == len(expected.rows)
        first = table.get_row_at(0)
        assert str(first[0]) == expected.rows[0].name and first[1] == str(expected.rows[0].turns)
        assert f"a fair share is {expected.fair_turns} turns" in shown(screen, "#fair")


async def test_the_method_key_chooses_the_kollegiale_beratung_method(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    svc.meetings.start(circle, mid, protocol="kollegiale-beratung")
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, mid))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RoundScreen)
        assert screen.check_action("method", ()) is True
        await pilot.press("n", "n", "n")  # case, key question, clarifying questions
        await settle(pilot)
        assert "Method · brainstorm" in shown(screen, "#phase")
        await pilot.press("M")
        await settle(pilot)
        assert "Method · headline" in shown(screen, "#phase")
    assert svc.rounds.view(circle, mid).method == "headline"


async def test_the_method_key_is_hidden_without_methods(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    svc.meetings.start(circle, mid, protocol="troika")
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, mid))
        await settle(pilot)
        assert not app.screen.check_action("method", ())
