"""A real-terminal smoke test: the TUI in tmux, driven by keys, quits cleanly.

A private tmux server (`-L`) runs `python -m screens.app --home DIR` through a shell
that writes the exit status to a file; the test polls the pane (with a deadline, no
fixed sleeps) for what a user would see.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]


class Tmux:
    """One private tmux server with one session."""

    def __init__(self) -> None:
        self.socket = f"xcircle-test-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        cmd = ["tmux", "-L", self.socket, "-f", "/dev/null", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "app")

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "app", *keys)

    def wait_for(self, *texts: str) -> str:
        """The pane once it shows every one of `texts` (a switch paints over frames)."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            screen = self.screen()
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.05)  # polling interval, not a wait for the app
        raise AssertionError(f"{texts!r} never appeared; the pane shows:\n{self.screen()}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux()
    try:
        yield server
    finally:
        server.kill()


def wait_for_file(path: Path) -> str:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"the app did not exit ({path} never written)")


ENTRIES = ["screens.app"]  # the TUI's own entry point
if (ROOT / "xcircle" / "__main__.py").exists():
    ENTRIES.append("xcircle")  # the CLI (`xcircle --home DIR` opens the TUI)


@pytest.mark.parametrize("entry", ENTRIES)
def test_tui_in_a_real_terminal(entry: str, demo_home: Path, tmp_path: Path, tmux: Tmux) -> None:
    status = tmp_path / "exit-status"
    app = shlex.join([sys.executable, "-m", entry, "--home", str(demo_home)])
    shell = f"cd {shlex.quote(str(ROOT))} && TZ=UTC {app}; echo $? > {shlex.quote(str(status))}"
    tmux.run("new-session", "-d", "-s", "app", "-x", "100", "-y", "32", shell)

    tmux.wait_for("Leading Through Change")
    tmux.wait_for("My commitments due soon")
    tmux.keys("Down", "Enter")
    tmux.wait_for("Acknowledged by")
    tmux.keys("2")
    screen = tmux.wait_for("Organizations", "Seniority", "Riverside Council", "Priya Shah")
    assert "Priya Shah" in screen
    tmux.keys("Escape")
    tmux.wait_for("My commitments due soon")
    tmux.keys("q")
    assert wait_for_file(status) == "0"
