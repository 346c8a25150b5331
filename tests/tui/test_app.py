"""The app shell: theme persistence, help, command palette, notices, start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import Input

from screens.app import make_app, run_tui
from screens.help import HelpScreen
from screens.home import HomeScreen
from tests.tui.conftest import SIZE, make_test_app, screen_text, settle
from xcircle.domain import PHASE_TITLES
from xcircle.store import Store


async def test_theme_persists_across_restarts(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.theme != "nord"
        app.theme = "nord"
        await pilot.pause()
    again = make_test_app(demo_home)
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert again.theme == "nord"


async def test_help_opens_with_question_mark_and_f1(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Create a circle" in text and "home.new" in text  # keys listed with their ids
        await pilot.press("escape")
        await pilot.press("f1")
        await settle(pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        help_screen.query_one("#help-body").scroll_end(animate=False)
        await pilot.pause()
        text = screen_text(app)
        assert all(title in text for title in PHASE_TITLES.values())
        assert "5:00" in text and "2:00 per peer" in text  # the default timeboxes
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def palette_prompts(pilot: Pilot[object], query: str = "") -> list[str]:
    await pilot.press("ctrl+p")
    await settle(pilot)
    palette = pilot.app.screen
    assert isinstance(palette, CommandPalette)
    if query:
        palette.query_one(Input).value = query
    commands = palette.query_one(CommandList)
    for _ in range(20):  # the palette gathers hits in a worker: wait for it, not a clock
        await settle(pilot)
        if commands.option_count:
            break
    return [str(option.prompt).split("\n")[0] for option in commands.options]


async def test_command_palette_lists_main_actions(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        prompts = await palette_prompts(pilot)
        for action in ("New circle", "Open circle: Leading Through Change", "New goal"):
            assert action in prompts
        assert any(p.startswith("Plan meeting: ") for p in prompts)
        assert any(p.startswith("Run meeting: ") for p in prompts)
        assert any(p.startswith("Check in: ") for p in prompts)
        assert any(p.startswith("Export Markdown report: ") for p in prompts)
        assert any(p.startswith("Theme: ") for p in prompts)


async def test_palette_opens_a_circle_by_name(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        prompts = await palette_prompts(pilot, "open new managers")
        assert prompts[0] == "Open circle: New Managers Circle"
        await pilot.press("enter")
        await settle(pilot)
        assert "New Managers Circle" in screen_text(app)


async def test_export_from_palette_writes_a_private_file(demo_home: Path) -> None:
    from screens.commands import export_circle, export_dir

    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        circle = app.services.circles.all()[0]
        export_circle(app, circle["id"], "markdown", "goals", "md")
        await settle(pilot)
        files = list(export_dir(app.services).iterdir())
        assert len(files) == 1 and files[0].suffix == ".md"
        assert files[0].stat().st_mode & 0o077 == 0
        assert "Digital Peers" in files[0].read_text()


async def test_an_export_that_cannot_be_written_says_why(demo_home: Path) -> None:
    from screens.commands import export_circle

    blocker = demo_home.parent / "not-a-folder"
    blocker.write_text("a file where the export folder should be")
    with Store(demo_home) as store:
        store.save_setting("export_dir", str(blocker / "exports"))
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        export_circle(app, app.services.circles.all()[0]["id"], "markdown", "goals", "md")
        await settle(pilot)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1 and errors[0].title == "Export failed"
        assert str(blocker / "exports") in errors[0].message


async def test_an_export_that_cannot_be_made_says_why(profile_home: Path) -> None:
    """A calendar of a circle without meetings is refused (RFC 5545): the member hears it."""
    from screens.commands import export_circle

    app = make_test_app(profile_home)
    async with app.run_test(size=SIZE) as pilot:
        circle = app.services.circles.create("Quiet")["id"]
        await settle(pilot)
        export_circle(app, circle, "ics", "goals", "ics")
        await settle(pilot)
        errors = [n for n in app._notifications if n.severity == "error"]
        assert len(errors) == 1 and errors[0].title == "Export failed"
        assert "Quiet has no meetings to put in a calendar" in errors[0].message


async def test_damaged_files_are_reported_at_start(demo_home: Path) -> None:
    damaged = sorted((demo_home / "circles").glob("*.json"))[0]
    damaged.write_text("{not json")
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        warnings = [n for n in app._notifications if n.severity == "warning"]
        assert warnings and "damaged" in warnings[0].message


async def test_keymap_setting_remaps_a_binding(demo_home: Path) -> None:
    with Store(demo_home) as store:
        store.save_setting("keymap", {"home.goals": "m"})
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        assert app.current_mode == "goals"


def test_locked_home_is_one_line_and_exit_1(
    demo_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store(demo_home):
        assert run_tui(demo_home, False) == 1
    err = capsys.readouterr().err
    assert err.startswith("xcircle: ") and "in use" in err and err.count("\n") == 1


def test_make_app_demo_seeds_only_an_empty_home(tmp_path: Path) -> None:
    app = make_app(tmp_path / "demo", demo=True)
    try:
        assert len(app.store.circle_ids()) == 3
    finally:
        app.store.close()
