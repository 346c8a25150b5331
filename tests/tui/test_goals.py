"""Goals: mine across circles, a check-in in two keystrokes plus text, new goals."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Select

from screens.goalforms import CheckinForm, GoalForm
from screens.goals import GoalDetailScreen, GoalsScreen
from screens.widgets import Table
from tests.tui.conftest import SIZE, make_test_app, settle


async def test_mine_lists_my_and_group_goals_across_circles(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, GoalsScreen)
        mine = app.services.goals.mine()
        table = screen.query_one(Table)
        expected = {f"{g['circle']}/{g['id']}" for g in mine}
        assert {str(k.value) for k in table.rows} == expected
        assert len({g["circle"] for g in mine}) > 1  # really across circles
        await pilot.press("h")
        await settle(pilot)
        assert not isinstance(app.screen, GoalsScreen)


async def test_checkin_opens_in_progress_and_typing_replaces_it(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        table = app.screen.query_one(Table)
        keys = [str(k.value) for k in table.rows]
        with_history = [g for g in app.services.goals.mine() if g["checkins"]]
        circle, goal = with_history[0]["circle"], with_history[0]["id"]
        table.move_cursor(row=keys.index(f"{circle}/{goal}"))
        last = with_history[0]["checkins"][-1]
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CheckinForm)
        progress = app.screen.query_one("#progress", Input)
        assert progress.value == str(last["progress"]) and progress.has_focus
        await pilot.press("9", "7", "tab", "tab", *"Ran it", "enter")
        await settle(pilot)
        assert isinstance(app.screen, GoalsScreen)
        saved = app.services.goals.checkins(circle, goal)[-1]
        assert (saved["note"], saved["progress"], saved["confidence"]) == (
            "Ran it",
            97,
            last["confidence"],
        )


async def test_checkin_out_of_range_is_refused_inline(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        circle, goal = app.screen.current()  # type: ignore[attr-defined]
        before = len(app.services.goals.checkins(circle, goal))
        await pilot.press("c")
        await settle(pilot)
        form = app.screen
        form.query_one("#progress", Input).value = "140"
        await pilot.press("enter")
        await pilot.pause()
        assert "between 0 and 100" in str(form.query_one("#error-progress").render())
        assert form.query_one("#progress").has_focus
        assert len(app.services.goals.checkins(circle, goal)) == before


async def test_goal_detail_checkin_updates_history(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g", "enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, GoalDetailScreen)
        rows = detail.query_one(Table).row_count
        await pilot.press("c")
        await settle(pilot)
        app.screen.query_one("#progress", Input).value = "95"
        await pilot.press(*"Nearly", "enter")
        await settle(pilot)
        assert app.screen is detail
        assert detail.query_one(Table).row_count == rows + 1
        assert detail.query_one(Table).get_row_at(0)[1] == "95%"


async def test_new_goal_from_mine_picks_circle_and_owner(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g", "n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, GoalForm)
        circles = app.services.circles.all()
        form.query_one("#circle", Select).value = circles[1]["id"]
        await pilot.pause()
        form.query_one("#title", Input).value = "Mentor a new manager"
        form.query_one("#due", Input).value = "next week"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "not a date" in str(form.query_one("#error-due").render())
        form.query_one("#due", Input).value = "2027-01-31"
        await pilot.press("ctrl+s")
        await settle(pilot)
        goal = next(
            g
            for g in app.services.goals.all(circles[1]["id"])
            if g["title"] == "Mentor a new manager"
        )
        assert goal["owner"] == app.services.ctx.me(circles[1]["id"])
        assert goal["due"] == "2027-01-31"
