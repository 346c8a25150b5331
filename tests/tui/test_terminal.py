"""A real-terminal smoke test: the TUI in tmux, driven by keys, quits cleanly.

A private tmux server (`-L`) runs `python -m screens.app --home DIR` through a shell
that writes the exit status to a file; the test polls the pane (with a deadline, no
fixed sleeps) for what a user would see.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .tmux import Tmux

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(TIMEOUT)
    try:
        yield server
    finally:
        server.kill()


ENTRIES = ["screens.app"]  # the TUI's own entry point
if (ROOT / "xcircle" / "__main__.py").exists():
    ENTRIES.append("xcircle")  # the CLI (`xcircle --home DIR` opens the TUI)


@pytest.mark.parametrize("entry", ENTRIES)
def test_tui_in_a_real_terminal(entry: str, demo_home: Path, tmp_path: Path, tmux: Tmux) -> None:
    status = tmp_path / "exit-status"
    app = shlex.join([sys.executable, "-m", entry, "--home", str(demo_home)])
    shell = f"cd {shlex.quote(str(ROOT))} && TZ=UTC {app}; echo $? > {shlex.quote(str(status))}"
    tmux.run("new-session", "-d", "-s", "app", "-x", "100", "-y", "32", shell)

    tmux.wait_for("app", "Leading Through Change")
    tmux.wait_for("app", "My commitments due soon")
    tmux.keys("app", "Down", "Enter")
    tmux.wait_for("app", "Acknowledged by")
    tmux.keys("app", "2")
    screen = tmux.wait_for("app", "Organizations", "Seniority", "Riverside Council", "Priya Shah")
    assert "Priya Shah" in screen
    tmux.keys("app", "Escape")
    tmux.wait_for("app", "My commitments due soon")
    tmux.keys("app", "q")
    assert tmux.wait_for_file(status) == "0"
