"""Pilot tests of the feedback round: resume after a restart, reordering with a reason,
the countdown, and member text shown literally."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from textual.widgets import Digits, Input, Static

from screens.meetingforms import OrderList, ReorderForm
from screens.round import RoundScreen
from tests.tui.conftest import FIXED_NOW, SIZE, make_test_app, next_meeting


class Clock:
    """A clock the test moves by hand (the round's countdown is derived from it)."""

    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> datetime:
        return self.now


def shown(screen: RoundScreen, selector: str) -> str:
    """The plain text a Static of the round screen shows."""
    return str(screen.query_one(selector, Static).render())


async def test_round_resumes_after_a_restart(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    svc.meetings.start(circle, mid)  # a round runs in a running meeting
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, mid))
        await pilot.pause()
        await pilot.press("n", "n", "n")  # present → questions → feedback, peer 1 → peer 2
        before = svc.rounds.state(circle, mid)
    assert before["phase"] == "feedback" and before["peer_index"] == 1

    app = make_test_app(demo_home)  # a new app on the same home: the round resumes
    svc = app.services
    names = svc.members.names(circle)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, mid))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RoundScreen)
        state = screen.state
        assert (state["presenter"], state["phase"], state["peer"]) == (
            before["presenter"],
            "feedback",
            before["peer"],
        )
        assert names[before["presenter"]] in shown(screen, "#presenter")
        assert names[before["peer"]] in shown(screen, "#phase")
        assert "(2 of" in shown(screen, "#phase")


async def test_reorder_needs_a_reason(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    svc.meetings.start(circle, mid)  # a round runs in a running meeting
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, mid))
        await pilot.pause()
        derived = svc.rounds.state(circle, mid)["order"]
        await pilot.press("o")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ReorderForm)
        form.query_one(OrderList).focus()
        await pilot.press("shift+down")
        assert form.query_one(OrderList).order == [derived[1], derived[0], *derived[2:]]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form
        assert "needs a reason" in str(form.query_one("#error-reason").render())
        assert svc.rounds.state(circle, mid)["order"] == derived

        form.query_one("#reason", Input).value = "Mei has to leave early"
        form.query_one("#reason", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RoundScreen)
        state = svc.rounds.state(circle, mid)
        assert state["order"] == [derived[1], derived[0], *derived[2:]]
        assert state["order_reason"] == "Mei has to leave early"
        assert state["presenter"] == derived[1]


async def test_countdown_runs_over_and_pauses(demo_home: Path) -> None:
    clock = Clock()
    app = make_test_app(demo_home, clock)
    circle, mid = next_meeting(app.services, "Leading")
    app.services.meetings.start(circle, mid)  # a round runs in a running meeting
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, mid))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RoundScreen)
        digits = screen.query_one("#clock", Digits)
        assert digits.value == "05:00"
        clock.now += timedelta(seconds=61)
        screen.tick()
        assert digits.value == "03:59" and not digits.has_class("-overtime")
        clock.now += timedelta(seconds=250)
        screen.tick()
        assert digits.value == "-00:11" and digits.has_class("-overtime")
        await pilot.press("p")
        assert digits.has_class("-paused") and "paused" in shown(screen, "#phase")
        clock.now += timedelta(minutes=10)
        screen.tick()
        assert digits.value == "-00:11"
        await pilot.press("p", "n")  # resume, then the next phase starts a fresh timebox
        assert digits.value == "05:00" and not digits.has_class("-overtime")


async def test_member_text_is_shown_literally(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, mid = next_meeting(svc, "Leading")
    svc.meetings.start(circle, mid)  # a round runs in a running meeting
    order = svc.rounds.start(circle, mid)["order"]
    svc.members.update(circle, order[0], name="[bold]x[/]")
    svc.members.update(circle, order[1], name="[link=https://e.x]y[/link]")
    svc.rounds.set_challenge(circle, mid, order[0], "My [red]challenge[/red]")
    svc.rounds.feedback(circle, mid, order[0], order[1], "advice", "Try [b]this[/b]")
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, mid))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RoundScreen)
        assert "[bold]x[/]" in shown(screen, "#presenter")
        assert "[bold]x[/]" in shown(screen, "#order")
        turn = shown(screen, "#turn")
        assert "My [red]challenge[/red]" in turn
        assert "[link=https://e.x]y[/link]: Try [b]this[/b]" in turn
        await pilot.press("s")  # the feedback form names the presenter literally too
        await pilot.pause()
        assert "[bold]x[/]" in str(app.screen.query_one("#for", Static).render())
