"""`xcircle sync --watch [--json]` as a shell runs it, against a real exchange process:
a line per applied batch as soon as another device pushes, a clear line and retries when
the exchange goes away, Ctrl-C ends it with exit 0 and no traceback."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
import pytest

from tests.exchange.serving import Serve, serving

from .test_end_to_end import _command, _free_port, _js, _run

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str, Serve]]:
    """A real exchange process: (url, db url, its handle)."""
    db = f"sqlite:///{tmp_path / 'exchange.db'}"
    with serving(db, _free_port(), tmp_path / "server.log") as serve:
        yield serve.base, db, serve


class Watch:
    """`xcircle --home HOME sync --watch ARGS` in the background; its lines as they come."""

    def __init__(self, home: tuple[str, str], *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XCIRCLE_EXCHANGE")}
        self.proc = subprocess.Popen(
            [*_command(), *home, "sync", "--watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        for stream, q in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, q), daemon=True).start()

    @staticmethod
    def _pump(stream: IO[str] | None, q: queue.Queue[str]) -> None:
        assert stream is not None
        for line in stream:
            q.put(line.rstrip("\n"))

    def next_out(self, timeout: float = 30) -> str:
        return self.out.get(timeout=timeout)

    def err_until(self, text: str, timeout: float = 30) -> str:
        while True:
            line = self.err.get(timeout=timeout)
            self.err_lines.append(line)
            if text in line:
                return line

    def json_until(self, **match: Any) -> dict[str, Any]:
        while True:
            line: dict[str, Any] = orjson.loads(self.next_out())
            if all(line.get(k) == v for k, v in match.items()):
                return line

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(30)
        rest = []
        while not self.err.empty():
            rest.append(self.err.get())
        return code, "\n".join(self.err_lines + rest)


def _shared(tmp_path: Path, url: str, db: str) -> tuple[tuple[str, str], tuple[str, str], str]:
    for org in ("Acme", "Beta"):
        _run("exchange", "org", "add", org, "--db", db, "--json")
    ada, bob = ("--home", str(tmp_path / "ada")), ("--home", str(tmp_path / "bob"))
    for home, name, org in ((ada, "Ada", "Acme"), (bob, "Bob", "Beta")):
        _run(*home, "init", "--name", name, "--org", org)
        token = _js("exchange", "enroll-token", org, "--db", db)["token"]
        _run(*home, "join", url, token)
    cid = _js(*ada, "circle", "create", "Leaders", "--purpose", "Grow")["id"]
    _js(*ada, "circle", "share", cid)
    _js(*bob, "accept", _run(*ada, "invite", cid).stdout.strip())
    _js(*ada, "sync")  # Ada's device confirms Bob's join (the circle is encrypted)
    _js(*bob, "sync")  # and Bob is in: a member, who may wait on the circle
    return ada, bob, cid


def test_watch_applies_what_others_push_at_once(
    tmp_path: Path, server: tuple[str, str, Serve]
) -> None:
    url, db, _ = server
    ada, bob, cid = _shared(tmp_path, url, db)
    watch = Watch(bob, "--json")
    try:
        assert watch.json_until(event="state")["mode"] == "live"
        for title in ("Delegate more", "Speak up"):
            _run(*ada, "goal", "add", cid, title)
            _js(*ada, "sync")  # pushes; Bob's wait wakes, well before any interval (60 s)
            batch = watch.json_until(event="batch")
            assert batch["circle"] == cid and batch["merged"] >= 1 and not batch["denied"]
    finally:
        code, err = watch.interrupt()
    assert code == 0 and "Traceback" not in err
    goals = {g["title"] for g in _js(*bob, "circle", "show", cid)["goals"]}
    assert goals == {"Delegate more", "Speak up"}


def test_watch_says_when_the_exchange_is_gone_and_keeps_trying(
    tmp_path: Path, server: tuple[str, str, Serve]
) -> None:
    url, db, serve = server
    _, bob, _ = _shared(tmp_path, url, db)
    watch = Watch(bob)
    try:
        assert "live: following" in watch.err_until("live")
        serve.stop()  # the wait fails, then every sync until the exchange is back
        line = watch.err_until(f"cannot reach {url}")
        assert "retrying in" in line and "Traceback" not in line
    finally:
        code, err = watch.interrupt()
    assert code == 0 and "Traceback" not in err, err


def test_text_lines_name_the_circle(tmp_path: Path, server: tuple[str, str, Serve]) -> None:
    url, db, _ = server
    ada, bob, cid = _shared(tmp_path, url, db)
    watch = Watch(bob)
    try:
        watch.err_until("live")
        _run(*ada, "goal", "add", cid, "Listen")
        _js(*ada, "sync")
        line = watch.next_out()
        assert f"circle {cid[:8]} (Leaders): pushed 0, merged" in line
    finally:
        code, err = watch.interrupt()
    assert code == 0 and "Traceback" not in err, err


def test_watch_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    home = ("--home", str(tmp_path / "home"))
    _run(*home, "init", "--name", "Ada", "--org", "Acme")
    failed = _run(*home, "sync", "--watch", code=1)  # not joined
    assert failed.stderr.startswith("xcircle: error:") and failed.stderr.count("\n") == 1
    bad = _run(*home, "sync", "--watch", "--interval", "0", code=2)
    assert "Invalid value for '--interval'" in bad.stderr and "Traceback" not in bad.stderr
