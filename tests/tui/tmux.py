"""A private tmux server for real-terminal tests: sessions by name, keys, and waits that
poll a pane (with a deadline, never a fixed sleep) for what a user would see."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path


class Tmux:
    """One private tmux server (`-L`); its sessions are named (one terminal each)."""

    def __init__(self, timeout: float) -> None:
        self.socket = f"xcircle-test-{uuid.uuid4().hex[:8]}"
        self.timeout = timeout

    def run(self, *args: str) -> str:
        cmd = ["tmux", "-L", self.socket, "-f", "/dev/null", *args]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", name)

    def keys(self, name: str, *keys: str) -> None:
        self.run("send-keys", "-t", name, *keys)

    def wait_for(self, name: str, *texts: str) -> str:
        """`name`'s pane once it shows every one of `texts` (a switch paints over frames)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            screen = self.screen(name)
            if all(text in screen for text in texts):
                return screen
            time.sleep(0.05)  # polling interval, not a wait for the app
        raise AssertionError(f"{texts!r} never appeared in {name}'s pane:\n{self.screen(name)}")

    def wait_for_file(self, path: Path) -> str:
        """What the shell wrote to `path` when the app exited (its exit status)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return path.read_text().strip()
            time.sleep(0.05)
        raise AssertionError(f"the app did not exit ({path} never written)")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
