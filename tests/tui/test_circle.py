"""One circle's tabs: overview, members (add/edit), meetings, goals, insights."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Select, TabbedContent

from screens.circle import CircleScreen
from screens.forms import AgreementForm, ConfirmScreen, MemberForm
from screens.goals import GoalDetailScreen
from screens.widgets import LabelledSparkline, Table, TopBar, WrappedList
from tests.tui.conftest import SIZE, make_test_app, screen_text, settle
from xcircle.domain import DEFAULT_AGREEMENTS

LEADING = "Leading Through Change"


async def open_leading(pilot: Pilot[object]) -> CircleScreen:
    await settle(pilot)
    await pilot.press("down", "enter")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, CircleScreen)
    return screen


def keys(table: Table) -> list[str]:
    return [str(k.value) for k in table.rows]


async def test_open_circle_shows_overview(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        assert screen.loaded.is_set()
        assert LEADING in screen.query_one(TopBar).text
        agreements = screen.query_one("#agreements", WrappedList)
        assert agreements.option_count == len(DEFAULT_AGREEMENTS)
        text = screen_text(app)
        assert "Acknowledged by 6 of 6" in text
        assert "Each of us has a plan for one hard conversation a month" in text
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, CircleScreen)


async def test_tabs_switch_with_digits_and_bindings_follow(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        tabs = screen.query_one(TabbedContent)
        assert screen.check_action("plan_meeting", ()) is False
        tabs_by_key = zip(
            "23451", ("members", "meetings", "goals", "insights", "overview"), strict=True
        )
        for key, tab in tabs_by_key:
            await pilot.press(key)
            await settle(pilot)
            assert tabs.active == tab
        await pilot.press("3")
        await settle(pilot)
        assert screen.check_action("plan_meeting", ()) is True
        assert screen.check_action("add_member", ()) is False
        assert "Plan meeting" in screen_text(app)  # the footer teaches the tab's keys


async def test_add_and_edit_member(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        await pilot.press("2", "a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, MemberForm)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert form.query_one("#error-name").has_class("-shown")
        form.query_one("#name", Input).value = "Zoë Park"
        form.query_one("#org", Input).value = "Harbour Trust"
        form.query_one("#seniority", Select).value = "senior"
        form.query_one("#topics", Input).value = "mentoring, budgets"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        members = {m["name"]: m for m in app.services.members.all(screen.circle)}
        zoe = members["Zoë Park"]
        assert (zoe["org"], zoe["seniority"], zoe["topics"]) == (
            "Harbour Trust",
            "senior",
            ["mentoring", "budgets"],
        )
        table = screen.query_one("#member-table", Table)
        assert zoe["id"] in keys(table)
        assert "Harbour Trust 1" in screen_text(app)  # the organization mix

        table.move_cursor(row=keys(table).index(zoe["id"]))
        await pilot.press("enter")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, MemberForm)
        assert form.query_one("#org", Input).value == "Harbour Trust"
        form.query_one("#org", Input).value = "Riverside Council"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.services.members.names(screen.circle)[zoe["id"]] == "Zoë Park"
        org = {m["id"]: m["org"] for m in app.services.members.all(screen.circle)}[zoe["id"]]
        assert org == "Riverside Council"


async def test_add_and_edit_agreement(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AgreementForm)
        app.screen.query_one("#title", Input).value = "Phones away"
        app.screen.query_one("#body", Input).value = "We keep phones out of sight."
        await pilot.press("ctrl+s")
        await settle(pilot)
        titles = [a["title"] for a in app.services.circles.agreements(screen.circle)]
        assert titles[-1] == "Phones away"
        await pilot.press("enter")  # the first agreement
        await settle(pilot)
        assert app.screen.query_one("#title", Input).value == "Confidentiality"
        app.screen.query_one("#title", Input).value = "Confidentiality, always"
        await pilot.press("enter")
        await settle(pilot)
        assert (
            app.services.circles.agreements(screen.circle)[0]["title"] == "Confidentiality, always"
        )


async def test_remove_agreement_asks_first(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        first = app.services.circles.agreements(screen.circle)[0]
        await pilot.press("d")  # the highlighted (first) agreement
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert first["title"] in screen_text(app)
        await pilot.press("n")  # declined: nothing changes
        await settle(pilot)
        assert app.screen is screen
        assert len(app.services.circles.agreements(screen.circle)) == len(DEFAULT_AGREEMENTS)
        await pilot.press("d", "y")
        await settle(pilot)
        left = app.services.circles.agreements(screen.circle)
        assert first["id"] not in {a["id"] for a in left}
        assert len(left) == len(DEFAULT_AGREEMENTS) - 1
        assert first["id"] not in screen.query_one("#agreements", WrappedList).keys


async def test_remove_member_leaves_the_rotation(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        circle = screen.circle
        nxt = app.services.meetings.next_facilitator(circle)
        assert nxt is not None
        await pilot.press("2")
        await settle(pilot)
        table = screen.query_one("#member-table", Table)
        table.move_cursor(row=keys(table).index(nxt))
        name = app.services.members.names(circle)[nxt]
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen) and name in screen_text(app)
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is screen
        assert nxt not in app.services.members.names(circle)
        assert nxt not in keys(table) and table.row_count == 5
        assert app.services.meetings.next_facilitator(circle) not in (None, nxt)
        assert "5 members" in screen_text(app)
        assert [n.message for n in app._notifications] == [f"{name} removed"]
        # On the overview tab `d` removes an agreement instead; no member is touched.
        assert screen.check_action("remove_member", ()) is True
        await pilot.press("1")
        await settle(pilot)
        assert screen.check_action("remove_member", ()) is False


async def test_meetings_tab_shows_rotation_and_history(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        await pilot.press("3")
        await settle(pilot)
        svc = app.services
        nxt = svc.meetings.next_facilitator(screen.circle)
        assert nxt is not None
        assert f"Next facilitator {svc.members.names(screen.circle)[nxt]}" in screen_text(app)
        table = screen.query_one("#meeting-table", Table)
        meetings = svc.meetings.all(screen.circle)
        assert table.row_count == len(meetings)
        assert keys(table)[0] == svc.meetings.next(screen.circle)["id"]  # type: ignore[index]
        assert table.has_focus


async def test_goals_tab_opens_goal_detail(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        await pilot.press("4")
        await settle(pilot)
        goals = app.services.goals.all(screen.circle)
        assert screen.query_one("#goal-table", Table).row_count == len(goals)
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, GoalDetailScreen)
        history = app.services.goals.checkins(screen.circle, detail.goal)
        assert detail.query_one("#checkins", Table).row_count == len(history)


async def test_insights_show_trends(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        await pilot.press("5")
        await settle(pilot)
        insights = app.services.insights
        attendance = screen.query_one("#attendance", LabelledSparkline)
        assert attendance._data == insights.attendance(screen.circle)
        support = screen.query_one("#support", LabelledSparkline)
        assert support._data == insights.pulse(screen.circle)["support"]
        counts = insights.commitments(screen.circle)
        assert f"kept {counts['kept']}" in screen_text(app)


async def test_members_tab_shows_roles_and_my_fingerprint(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await open_leading(pilot)
        await pilot.press("2")
        await settle(pilot)
        from xcircle.keystore import keystore_of

        mine = keystore_of(app.services.store).device_keys().public.fingerprint
        text = screen_text(app)
        assert mine in text and "convener" in text


async def test_a_name_with_an_escape_sequence_is_refused_under_its_field(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        await pilot.press("2", "a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, MemberForm)
        form.query_one("#name", Input).value = "Mallory\x1b]0;owned\x07"
        form.query_one("#org", Input).value = "Harbour Trust"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form  # refused: the form stays open
        error = str(form.query_one("#error-name").render())
        assert "the member's name contains U+001B (a control character)" in error
        names = [m["name"] for m in app.services.members.all(screen.circle)]
        assert not any(n.startswith("Mallory") for n in names)
