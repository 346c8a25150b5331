"""The circles area: create (with inline validation), edit, archive, show archived."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static

from screens.forms import CircleForm, ConfirmScreen, ProfileForm
from screens.home import HomeScreen
from screens.widgets import Table
from tests.tui.conftest import SIZE, make_test_app, screen_text, settle
from xcircle.domain import DEFAULT_AGREEMENTS
from xcircle.store import Store


def circle_names(app: object) -> list[str]:
    table = app.screen.query_one("#circles", Table)  # type: ignore[attr-defined]
    return [table.get_row_at(i)[0].plain for i in range(table.row_count)]


async def test_home_lists_circles_with_next_meeting_and_due(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert circle_names(app) == [
            "Data & Digital Peers",
            "Leading Through Change",
            "New Managers Circle",
        ]
        text = screen_text(app)
        assert "Thu 26 Nov 18:00" in text  # the next meeting, in the local zone (UTC here)
        # due soon (the demo's rotation weighs airtime, so this is the commitment I made)
        assert "Book a 1:1 with my director about priorities" in text
        assert app.ready_at is not None


async def test_create_circle_validates_inline_then_saves(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = len(app.store.circle_ids())
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, CircleForm)
        await pilot.press("ctrl+s")  # empty name
        await pilot.pause()
        error = form.query_one("#error-name", Static)
        assert "cannot be empty" in str(error.render())
        assert error.has_class("-shown")
        assert app.screen is form
        assert len(app.store.circle_ids()) == before  # nothing saved half-way

        form.query_one("#duration", Input).value = "5"
        await pilot.press(*"Night Shift Leads")
        await pilot.press("enter")
        await pilot.pause()
        assert "between 15 and 480" in str(form.query_one("#error-duration", Static).render())
        assert len(app.store.circle_ids()) == before

        form.query_one("#duration", Input).value = "60"
        form.query_one("#name", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert "Night Shift Leads" in circle_names(app)
        created = [c for c in app.services.circles.all() if c["name"] == "Night Shift Leads"]
        assert created and created[0]["duration"] == 60
        titles = [a["title"] for a in app.services.circles.agreements(created[0]["id"])]
        assert titles == [title for title, _ in DEFAULT_AGREEMENTS]


async def test_agreement_lines_are_validated(profile_home: Path) -> None:
    app = make_test_app(profile_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        form.query_one("#name", Input).value = "Peers"
        form.query_one("#agreements").text = ": no title here"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "needs a title" in str(form.query_one("#error-agreements", Static).render())
        assert app.services.circles.all() == []


async def test_edit_circle(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("down", "e")  # Leading Through Change
        await settle(pilot)
        form = app.screen
        assert isinstance(form, CircleForm)
        assert form.query_one("#name", Input).value == "Leading Through Change"
        form.query_one("#name", Input).value = "Leading Through Change 2027"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Leading Through Change 2027" in circle_names(app)
        assert not any("agreements" in w.id for w in form.query("TextArea") if w.id)


async def test_archive_hides_then_show_archived_and_restore(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert "Data & Digital Peers" not in circle_names(app)
        archived = [c for c in app.services.circles.all() if c.get("archived")]
        assert [c["name"] for c in archived] == ["Data & Digital Peers"]

        await pilot.press("v")
        await settle(pilot)
        names = circle_names(app)
        assert "Data & Digital Peers (archived)" in names
        # The cursor stayed on the circle it was on; go up to the archived one.
        row = app.screen.query_one("#circles", Table).cursor_row
        await pilot.press(*["up"] * (row - names.index("Data & Digital Peers (archived)")))
        await pilot.press("a")  # restoring needs no confirmation
        await settle(pilot)
        assert not any(c.get("archived") for c in app.services.circles.all())


async def test_archive_cancel_keeps_circle(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("a", "escape")
        await settle(pilot)
        assert "Data & Digital Peers" in circle_names(app)


async def test_new_home_asks_for_the_profile(tmp_path: Path) -> None:
    app = make_test_app(tmp_path / "new")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, ProfileForm)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "cannot be empty" in str(app.screen.query_one("#error-name", Static).render())
        await pilot.press(*"Ada", "tab", *"Acme", "enter")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert app.services.profile()["name"] == "Ada"  # type: ignore[index]
        assert "No circles yet" in screen_text(app)
        # SEC-27: the first run says where this device's secrets are kept
        told = [n.message for n in app._notifications]
        assert any("keys and tokens are kept in" in m and "home.key" in m for m in told)


async def test_markup_in_names_is_shown_literally(profile_home: Path) -> None:
    with Store(profile_home) as store:
        from xcircle.services import Services

        svc = Services(store)
        cid = svc.circles.create("[link=https://x]y[/link]")["id"]
        svc.members.add(cid, "[bold red]X[/]", org="[i]Org[/i]")
    app = make_test_app(profile_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert circle_names(app) == ["[link=https://x]y[/link]"]
        text = screen_text(app)
        assert "[link=https://x]y[/link]" in text
        assert "[i]Org[/i]" in text
        await pilot.press("enter", "2")
        await settle(pilot)
        text = screen_text(app)
        assert "[bold red]X[/]" in text
        assert "[link=https://x]y[/link]" in text  # the circle's title bar
