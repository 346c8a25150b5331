"""Pilot tests of choosing a round protocol and of issue cards in the app: a meeting
planned with a protocol runs its round by it, the meeting screen shows and changes the
protocol until the round starts, and a card added in the app is listed, drives the
presenter proposal and can be withdrawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static, TextArea

from screens.cardforms import CardForm
from screens.cards import CardsScreen
from screens.circle import CircleScreen
from screens.forms import ConfirmScreen
from screens.meeting import MeetingScreen
from screens.meetingforms import PlanMeetingScreen, ProtocolForm
from screens.round import RoundScreen
from screens.widgets import CursorTable, TopBar
from tests.tui.conftest import SIZE, make_test_app, next_meeting, screen_text, settle
from xcircle import protocols
from xcircle.errors import InvalidInput


def shown(screen: object, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())  # type: ignore[attr-defined]


async def test_a_meeting_planned_with_a_protocol_runs_its_round_by_it(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle = svc.circles.resolve("Leading")
    before = {m["id"] for m in svc.meetings.all(circle)}
    troika = protocols.builtin("troika")
    assert troika is not None
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(CircleScreen(circle, tab="meetings"))
        await settle(pilot)
        await pilot.press("p")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, PlanMeetingScreen)
        choice = form.query_one("#protocol", Select)
        assert choice.value == "classic"  # the default
        names = [p.name for p in svc.protocols.all(circle)]
        assert names[0] == "classic" and "troika" in names
        form.query_one("#date", Input).value = "2026-12-10"
        choice.value = "troika"
        await settle(pilot)
        assert troika.purpose[:30] in shown(form, "#protocol-field .hint").replace("\n", " ")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, CircleScreen)
        (planned,) = [m for m in svc.meetings.all(circle) if m["id"] not in before]
        assert planned["protocol"] == "troika"

        await app.push_screen(MeetingScreen(circle, planned["id"]))
        await settle(pilot)
        assert "round: Troika consulting" in app.screen.query_one(TopBar).text
        await pilot.press("e")  # rescheduling shows the protocol it runs
        await settle(pilot)
        assert app.screen.query_one("#protocol", Select).value == "troika"
        await pilot.press("escape")
        await settle(pilot)

        svc.meetings.start(circle, planned["id"])
        await app.push_screen(RoundScreen(circle, planned["id"]))
        await settle(pilot)
        round_screen = app.screen
        assert isinstance(round_screen, RoundScreen)
        assert round_screen.state["protocol"] == "troika"
        assert troika.phases[0].title in shown(round_screen, "#phase")


async def test_the_meeting_screen_changes_the_protocol_until_the_round_starts(
    demo_home: Path,
) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(MeetingScreen(circle, mid))
        await settle(pilot)
        screen = app.screen
        assert "round: Classic round" in screen.query_one(TopBar).text
        await pilot.press("P")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ProtocolForm)
        form.query_one("#protocol", Select).value = "peer-forum"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert "round: Peer forum" in screen.query_one(TopBar).text
        assert svc.meetings.get(circle, mid)["protocol"] == "peer-forum"

        await pilot.press("s")  # the start question says which protocol the round runs
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "The round runs Peer forum" in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert svc.meetings.get(circle, mid)["status"] == "running"
        assert screen.check_action("protocol", ()) is True  # running, round not started

        svc.rounds.start(circle, mid)
        await settle(pilot)
        assert svc.rounds.state(circle, mid)["protocol"] == "peer-forum"
        assert not screen.check_action("protocol", ())  # the round keeps its script
    with pytest.raises(InvalidInput) as refused:  # the service refuses it too
        svc.meetings.update(circle, mid, protocol="troika")
    assert refused.value.field == "protocol"


async def test_a_card_added_in_the_app_is_listed_drives_the_proposal_and_withdraws(
    demo_home: Path,
) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    me = svc.ctx.me(circle)
    assert me is not None
    assert svc.rounds.derived_order(circle, mid)[0] != me  # the rotation's pick otherwise
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(CircleScreen(circle, tab="meetings"))
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CardsScreen)
        assert screen.query_one("#card-table", CursorTable).row_count == 0
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, CardForm)
        form.query_one("#situation", TextArea).text = "My two leads both want the new role."
        form.query_one("#question", Input).value = "How do I choose without losing either?"
        form.query_one("#not_want", Input).value = "war stories"
        form.query_one("#urgency", Select).value = "A"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        table = screen.query_one("#card-table", CursorTable)
        assert table.row_count == 1
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0] == "A, now" and row[1].endswith("(me)")
        assert row[2] == "How do I choose without losing either?"
        assert "Not wanted: war stories" in shown(screen, "#card-detail")
        assert "proposes first" in shown(screen, "#proposal")
        assert (
            shown(screen, "#proposal")
            .split("first", 1)[1]
            .strip()
            .startswith(svc.members.names(circle)[me] + " (A card)")
        )
        assert svc.rounds.derived_order(circle, mid)[0] == me  # the card goes first

        await app.push_screen(MeetingScreen(circle, mid))  # and the round proposes it
        await settle(pilot)
        svc.meetings.start(circle, mid)
        await app.push_screen(RoundScreen(circle, mid))
        await settle(pilot)
        round_screen = app.screen
        assert isinstance(round_screen, RoundScreen)
        assert round_screen.state["presenter"] == me
        assert "How do I choose without losing either?" in shown(round_screen, "#turn")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen

        assert screen.check_action("withdraw", ()) is True  # my card: the key is on
        assert "w Withdraw" in screen_text(app)
        await pilot.press("w")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        question = screen_text(app)
        assert "Withdraw your card?" in question
        assert "How do I choose without losing either?" in question
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is screen
        assert screen.query_one("#card-table", CursorTable).row_count == 0
        assert "No open cards" in shown(screen, "#card-detail")
    (card,) = svc.cards.all(circle, include_closed=True)
    assert card["status"] == "withdrawn"


async def test_a_card_without_a_situation_shows_the_error_under_it(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle = svc.circles.resolve("Leading")
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(CardsScreen(circle))
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, CardForm)
        form.query_one("#question", Input).value = "How do I choose?"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form  # refused: the form stays open
        assert "the situation cannot be empty" in shown(form, "#error-situation")
        assert shown(form, "#error-question") == ""
        assert app.focused is form.query_one("#situation")
    assert svc.cards.all(circle) == []


async def test_the_palette_opens_a_circles_issue_cards(demo_home: Path) -> None:
    from tests.tui.test_app import palette_prompts

    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        prompts = await palette_prompts(pilot, "issue cards leading")
        assert prompts[0] == "Issue cards: Leading Through Change"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, CardsScreen)
        assert "Leading Through Change" in app.screen.query_one(TopBar).text
