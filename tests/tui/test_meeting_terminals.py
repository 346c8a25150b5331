"""An online meeting in two real terminals: Ada facilitates in one, Bob follows in the
other, each on their own home, through a real exchange process.

Two tmux sessions on a private server run `python -m screens.app --home DIR`; the
homes were set up with the `xcircle` command (join, share, invite, accept, plan) and
sync every second. Every step waits (with a generous deadline, polling the panes) for
what a user would see; nothing sleeps a fixed time.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.exchange.pgcluster import free_port
from tests.exchange.serving import serving

from .tmux import Tmux

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90.0  # generous: the machine may be busy; each wait ends as soon as it sees

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]


def xcircle(*args: str) -> Any:
    """`xcircle ARGS --json` as a shell runs it; its JSON answer."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XCIRCLE_EXCHANGE")}
    cmd = [sys.executable, "-m", "xcircle", *args, "--json"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return orjson.loads(done.stdout)


@pytest.fixture
def exchange(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real exchange process on 127.0.0.1; yields (url, db url)."""
    db = f"sqlite:///{tmp_path / 'exchange.db'}"
    with serving(db, free_port(), tmp_path / "exchange.log", limit_s=TIMEOUT) as server:
        yield server.base, db


class Terminals(Tmux):
    """A private tmux server; one session (one terminal) per member."""

    def open(self, name: str, home: Path, status: Path) -> None:
        app = shlex.join([sys.executable, "-m", "screens.app", "--home", str(home)])
        shell = f"cd {shlex.quote(str(ROOT))} && TZ=UTC {app}; echo $? > {shlex.quote(str(status))}"
        self.run("new-session", "-d", "-s", name, "-x", "110", "-y", "34", shell)

    def type(self, name: str, text: str) -> None:
        self.run("send-keys", "-t", name, "-l", text)


@pytest.fixture
def terminals() -> Iterator[Terminals]:
    server = Terminals(TIMEOUT)
    try:
        yield server
    finally:
        server.kill()


def homes(tmp_path: Path, url: str, db: str) -> tuple[Path, Path]:
    """Ada (Acme) shares a circle with Bob (Beta) and plans its first meeting, for
    tomorrow; both homes sync every second in the app."""
    ada, bob = tmp_path / "ada", tmp_path / "bob"
    for org in ("Acme", "Beta"):
        xcircle("exchange", "org", "add", org, "--db", db)
    for home, name, org in ((ada, "Ada", "Acme"), (bob, "Bob", "Beta")):
        xcircle("--home", str(home), "init", "--name", name, "--org", org)
        token = xcircle("exchange", "enroll-token", org, "--db", db)["token"]
        xcircle("--home", str(home), "join", url, token)
        xcircle("--home", str(home), "setting", "sync_interval", "1")
    cid = xcircle("--home", str(ada), "circle", "create", "Leaders")["id"]
    xcircle("--home", str(ada), "circle", "share", cid)
    code = xcircle("--home", str(ada), "invite", cid)["code"]
    xcircle("--home", str(bob), "accept", code)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT18:00")
    xcircle("--home", str(ada), "meeting", "plan", cid, "--at", tomorrow, "--tz", "UTC")
    for home in (ada, bob):
        xcircle("--home", str(home), "sync")
    return ada, bob


def run_meeting(t: Terminals, who: str) -> None:
    """Open the circle's next meeting from the command palette."""
    t.wait_for(who, "Leaders")
    t.keys(who, "C-p")
    t.wait_for(who, "Search for commands")
    t.type(who, "Run meeting")
    t.wait_for(who, "Run meeting: Leaders")
    t.keys(who, "Enter")
    t.wait_for(who, "Check-in and attendance")


def test_a_meeting_run_in_one_terminal_is_followed_and_fed_from_another(
    tmp_path: Path, exchange: tuple[str, str], terminals: Terminals
) -> None:
    ada_home, bob_home = homes(tmp_path, *exchange)
    ada_exit, bob_exit = tmp_path / "ada-exit", tmp_path / "bob-exit"
    t = terminals
    t.open("ada", ada_home, ada_exit)
    t.open("bob", bob_home, bob_exit)

    # Ada opens the meeting, marks everyone present and starts it as its facilitator.
    run_meeting(t, "ada")
    t.keys("ada", "a")
    t.wait_for("ada", "✓ present")
    t.keys("ada", "s")
    t.wait_for("ada", "Start the meeting now?", "Ada")
    t.keys("ada", "y")
    t.wait_for("ada", "Running")

    # Bob opens it on his device: it follows Ada's.
    run_meeting(t, "bob")
    t.wait_for("bob", "Following Ada, who runs the meeting")

    # Ada moves to the agreements, then into the round: Bob's terminal goes along.
    t.keys("ada", "]")
    t.wait_for("ada", "▶ 2 Agreements")
    t.wait_for("bob", "▶ 2 Agreements")
    t.keys("ada", "]")
    t.wait_for("ada", "▶ 3 Feedback round")
    t.keys("ada", "Enter")
    t.wait_for("ada", "in the hot seat", "Presenter shares a challenge")
    t.wait_for("bob", "in the hot seat", "Following Ada", "Presenter shares a challenge")

    # Ada moves the round to its questions; Bob asks his own from his terminal.
    t.keys("ada", "n")
    t.wait_for("bob", "Clarifying questions")
    t.keys("bob", "q")
    t.wait_for("bob", "What they said")
    t.type("bob", "What would you delegate first?")
    t.keys("bob", "Enter")
    t.wait_for("bob", "What would you delegate first?")
    t.wait_for("ada", "What would you delegate first?")

    # On to the pulse: Ada leaves the round and moves on; Bob's terminal follows.
    t.keys("ada", "Escape")
    t.wait_for("ada", "▶ 3 Feedback round")
    t.keys("ada", "]")
    t.wait_for("ada", "▶ 4 Commitments")
    t.keys("ada", "]")
    t.wait_for("ada", "▶ 5 Pulse")
    t.wait_for("bob", "▶ 5 Pulse", "Confidence")
    # Bob rates on his own row; Ada's terminal shows it given, without its numbers.
    t.keys("bob", "Down", "4", "3", "5")
    t.wait_for("bob", "✓ saved")
    screen = t.wait_for("ada", "✓ given", "The circle: 1 rated")
    bob_row = next(line for line in screen.splitlines() if "Bob" in line and "given" in line)
    assert not any(digit in bob_row for digit in "345")

    for who, status in (("ada", ada_exit), ("bob", bob_exit)):
        t.keys(who, "q")
        assert terminals.wait_for_file(status) == "0"
