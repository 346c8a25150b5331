"""SEC-23 on a real terminal: the app runs in a pseudo-terminal over a home full of
hostile text (escape sequences, C0/C1 controls, bidi overrides, markup), and every byte
it writes is checked: none of that text reaches the terminal raw.

Textual's own output is full of escape sequences, so the test looks for the hostile
ones by their payloads (`RAW_MARKERS`), and checks the text is still shown, stripped.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.hostile import HOSTILE, RAW_MARKERS, unchecked
from xcircle.services import Services
from xcircle.store import Store

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0

pytestmark = pytest.mark.slow


def hostile_home(home: Path) -> None:
    """A circle whose every text is hostile, with a hostile member, goal and meeting."""
    with Store(home) as store:
        svc = Services(store)
        with unchecked():
            svc.init_profile(HOSTILE, "Acme")
            cid = svc.circles.create(HOSTILE, purpose=HOSTILE, outcomes=[HOSTILE])["id"]
            bob = svc.members.add(cid, HOSTILE, org=HOSTILE, topics=[HOSTILE])["id"]
            svc.goals.add(cid, HOSTILE, owner=bob, why=HOSTILE)
            svc.commitments.add(cid, bob, HOSTILE)
            svc.meetings.plan(cid, datetime(2099, 12, 1, 18, tzinfo=UTC), themes=[HOSTILE])
            svc.circles.set_agreement(cid, HOSTILE, HOSTILE)


class Terminal:
    """The app on the slave side of a pty of 120x40; everything it writes is kept."""

    def __init__(self, home: Path) -> None:
        pid, fd = pty.fork()
        if pid == 0:  # the child: becomes the app
            os.chdir(ROOT)
            env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
            os.execve(sys.executable, [sys.executable, "-m", "screens.app", "--home",
                                       str(home)], env)  # fmt: skip
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.output = b""

    def read_until(self, text: str) -> None:
        """Read until the stripped output holds `text` (typed keys need a painted app)."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if text.encode() in self.output:
                return
            self._read(0.1)
        raise AssertionError(f"{text!r} never appeared")

    def _read(self, wait: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], wait)
        if ready:
            try:
                self.output += os.read(self.fd, 65536)
            except OSError:  # the app exited: EIO on Linux
                pass

    def keys(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def settle(self, seconds: float = 1.0) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._read(0.05)

    def close(self) -> int:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            self._read(0.05)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError("the app did not exit")


def test_hostile_text_never_reaches_the_terminal(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hostile_home(home)
    term = Terminal(home)
    try:
        term.read_until("PWNED")  # the home screen lists the circle, stripped
        term.keys("\r")  # open the circle: overview (purpose, outcomes, agreements)
        term.read_until("Intended")
        for tab in "2345":  # members, meetings, goals, insights
            term.keys(tab)
            term.settle(0.8)
        term.keys("e")  # the edit form: Inputs hold the hostile name
        term.settle(1.0)
        term.keys("\x1b")
        term.settle(0.5)
        term.keys("3")  # meetings, then run the planned one: the meeting screen
        term.settle(0.8)
        term.keys("r")
        term.read_until("Check-in and attendance")
        term.settle(0.5)
        term.keys("\x1b")
        term.settle(0.5)
        term.keys("\x1b")  # back home
        term.settle(0.5)
        term.keys("q")
        assert term.close() == 0
    finally:
        if term.fd >= 0:
            try:
                os.kill(term.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    text = term.output.decode("utf-8", errors="replace")
    assert "Traceback" not in text
    for marker in RAW_MARKERS:
        assert marker not in text, f"{marker!r} reached the terminal raw"
    assert "[b]bold[/b]" in text  # markup is shown as typed, never applied
