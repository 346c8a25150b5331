"""Shared fixtures of the TUI tests: a fixed clock, a seeded demo home, the test app.

The demo is seeded once per session and copied per test (seeding costs ~0.25 s);
times are shown in UTC so snapshots do not depend on the machine's zone.
"""

from __future__ import annotations

import html
import re
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from textual.pilot import Pilot

from screens.app import XCircleApp, make_app
from xcircle import crypto
from xcircle.demo import seed_demo
from xcircle.services import Services
from xcircle.store import Store

FIXED_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SIZE = (100, 32)


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local times in UTC for every TUI test (restored afterwards). Windows has no
    `tzset`: there the tests rely on the runner being in UTC, as GitHub's runners are."""
    tzset = getattr(time, "tzset", lambda: None)
    monkeypatch.setenv("TZ", "UTC")
    tzset()
    yield
    monkeypatch.undo()
    tzset()


@pytest.fixture(scope="session")
def _demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("demo-template") / "home"
    store = Store(home)
    # Fixed device keys (their fingerprints are on the members tab), never a real keyring.
    with pytest.MonkeyPatch.context() as mp, crypto.fixed_randomness(b"demo-template"):
        mp.setenv("XCIRCLE_KEYRING", "0")
        try:
            seed_demo(store, now=FIXED_NOW, seed=7)
        finally:
            store.close()
    return home


@pytest.fixture
def demo_home(tmp_path: Path, _demo_template: Path) -> Path:
    """A home seeded with `seed_demo(store, now=FIXED_NOW, seed=7)`, store closed."""
    home = tmp_path / "home"
    shutil.copytree(_demo_template, home)
    return home


@pytest.fixture
def profile_home(tmp_path: Path) -> Path:
    """A home with a profile and no circles yet."""
    home = tmp_path / "fresh"
    with Store(home) as store:
        store.save_profile(name="Ada Lovelace", org="Acme", seniority=None, tz="")
    return home


def make_test_app(home: Path, clock: Callable[[], datetime] | None = None) -> XCircleApp:
    """The app on `home` with the fixed clock (or `clock`), no cursor blink and no
    animations."""
    app = make_app(home, clock=clock or (lambda: FIXED_NOW))
    app.cursor_blink = False
    app.animation_level = "none"
    return app


def next_meeting(svc: Services, prefix: str) -> tuple[str, str]:
    """The circle whose name starts with `prefix` and the id of its next meeting."""
    circle = svc.circles.resolve(prefix)
    meeting = svc.meetings.next(circle)
    assert meeting is not None
    return circle, meeting["id"]


async def settle(pilot: Pilot[object]) -> None:
    """Let screens switch and their loading workers finish, then let the UI catch up."""
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def screen_text(app: XCircleApp) -> str:
    """The text the terminal shows now (from an SVG screenshot), one string."""
    svg = app.export_screenshot(simplify=True)
    parts = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    return html.unescape("".join(parts)).replace("\xa0", " ")
