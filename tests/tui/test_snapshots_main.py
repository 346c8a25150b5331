"""SVG snapshots of every screen and modal of the circles and goals areas.

Deterministic: the seeded demo home, a fixed clock, UTC, no cursor blink, no
animations, and every loading worker awaited before the screenshot.
Update with `pytest tests/tui/test_snapshots_main.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import SIZE, make_test_app, settle

SnapCompare = Callable[..., bool]

OPEN_LEADING = ("down", "enter")  # the second circle: Leading Through Change

CASES: dict[str, tuple[str, ...]] = {
    "home": (),
    "circle_overview": OPEN_LEADING,
    "circle_members": (*OPEN_LEADING, "2"),
    "circle_meetings": (*OPEN_LEADING, "3"),
    "circle_goals": (*OPEN_LEADING, "4"),
    "circle_insights": (*OPEN_LEADING, "5"),
    "goal_detail": (*OPEN_LEADING, "4", "enter"),
    "my_goals": ("g",),
    "help": ("question_mark",),
    "form_new_circle": ("n",),
    "form_new_circle_error": ("n", "ctrl+s"),
    "form_edit_circle": ("down", "e"),
    "form_member": (*OPEN_LEADING, "2", "a"),
    "form_agreement": (*OPEN_LEADING, "enter"),
    "form_goal": ("g", "n"),
    "form_checkin": (*OPEN_LEADING, "4", "c"),
    "confirm_archive": ("a",),
    "confirm_remove_member": (*OPEN_LEADING, "2", "d"),
}


def keys_then_settle(keys: tuple[str, ...]) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("case", list(CASES))
def test_screen(case: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=SIZE, run_before=keys_then_settle(CASES[case]))


@pytest.mark.parametrize("case", ["home", "circle_overview", "form_new_circle"])
def test_small_terminal(case: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    """80×24 still shows the essentials."""
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=(80, 24), run_before=keys_then_settle(CASES[case]))


@pytest.mark.parametrize("case", ["home", "circle_goals", "form_checkin"])
def test_light_theme(case: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    app.theme = "textual-light"
    assert snap_compare(app, terminal_size=SIZE, run_before=keys_then_settle(CASES[case]))


def test_profile_form_on_a_new_home(tmp_path: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(tmp_path / "new")
    assert snap_compare(app, terminal_size=SIZE, run_before=keys_then_settle(()))
