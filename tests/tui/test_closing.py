"""A screen's read that finishes while the screen closes is dropped, never a crash.

A screen that closes stops its message loop first and then removes its widgets, deepest
first; the screen stays attached to the app meanwhile. A reload worker that finished in
that window used to fill a half-removed screen: `NoMatches` for the top bar's title (the
flaky `test_footers_fit_at_80x24`, whose app exited while a reload was under way).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.message import Message

import screens.circle as circle_module
from screens.circle import CircleScreen
from screens.widgets import TopBar
from tests.tui.conftest import SIZE, make_test_app, settle
from tests.tui.test_circle import open_leading

WAIT_S = 10.0  # bounds every hand-over, so a regression fails instead of hanging


async def test_a_read_landing_while_the_circle_closes_is_dropped(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate, returned = threading.Event(), threading.Event()
    read = circle_module.read_circle

    def slow_read(*args: Any) -> Any:
        view = read(*args)
        gate.wait(WAIT_S)  # until the screen is half removed
        returned.set()
        return view

    state: dict[str, Any] = {"released": False}

    def hook(message: Message) -> None:
        # The first unmount after the title line lost its text: the screen's loop has
        # ended and its widgets are going, the screen is still attached. Let the read
        # finish exactly now, and wait until it hands its result over.
        title, bar = state.get("title"), state.get("bar")
        if state["released"] or title is None or not isinstance(message, events.Unmount):
            return
        if title in bar.children:
            return
        state["released"] = True
        gate.set()
        assert returned.wait(WAIT_S)

    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        screen = await open_leading(pilot)
        shown = screen.view
        assert shown is not None
        bar = screen.query_one(TopBar)
        monkeypatch.setattr(circle_module, "read_circle", slow_read)
        screen.reload()  # under way in its thread, held at the gate
        state.update(bar=bar, title=bar.query_one(".title"))
        await app.pop_screen()
        await settle(pilot)
        assert state["released"], "the gate opened while the circle's widgets were removed"
        assert not isinstance(app.screen, CircleScreen)
        assert screen.view is shown  # the late read was not shown on the closing screen
        assert app.is_running
    # Leaving `run_test` re-raises anything that crashed the app meanwhile.
