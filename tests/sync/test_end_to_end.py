"""End to end: a real `xcircle exchange serve` on 127.0.0.1 and two homes in two
organizations driven only through the `xcircle` command, as a shell would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

pytestmark = pytest.mark.slow


def _command() -> list[str]:
    script = Path(sys.executable).with_name("xcircle")
    return [str(script)] if script.exists() else [sys.executable, "-m", "xcircle"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XCIRCLE_EXCHANGE")}
    done = subprocess.run([*_command(), *args], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


def _js(*args: str) -> Any:
    return orjson.loads(_run(*args, "--json").stdout)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real exchange process; yields (url, db url)."""
    db = f"sqlite:///{tmp_path / 'exchange.db'}"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [*_command(), "exchange", "serve", "--db", db, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the exchange did not start in 30 s"
            time.sleep(0.1)
        yield url, db
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_two_orgs_share_a_circle_through_a_real_exchange(
    tmp_path: Path, server: tuple[str, str]
) -> None:
    url, db = server
    for org in ("Acme", "Beta"):
        _run("exchange", "org", "add", org, "--db", db, "--json")
    tokens = {
        org: _js("exchange", "enroll-token", org, "--db", db)["token"] for org in ("Acme", "Beta")
    }
    ada, bob = ("--home", str(tmp_path / "ada")), ("--home", str(tmp_path / "bob"))
    _run(*ada, "init", "--name", "Ada", "--org", "Acme")
    _run(*bob, "init", "--name", "Bob", "--org", "Beta")

    failed = _run(*bob, "sync", code=1)  # not joined yet: one line, exit 1
    assert failed.stderr.startswith("xcircle: error:") and failed.stderr.count("\n") == 1
    assert "xcircle join" in failed.stderr

    assert _js(*ada, "join", url, tokens["Acme"])["org"] == "Acme"
    assert _js(*bob, "join", url, tokens["Beta"])["org"] == "Beta"
    cid = _js(*ada, "circle", "create", "Leaders", "--purpose", "Grow together")["id"]
    assert _js(*ada, "circle", "share", cid)["circles"][cid]["pushed"] > 0
    code = _run(*ada, "invite", cid).stdout.strip()
    assert code.startswith("xcs_") and code.endswith(f"@{url}")
    accepted = _js(*bob, "accept", code)
    assert accepted["circle"] == cid and accepted["status"] == "pending"
    confirmed = _js(*ada, "sync")  # Ada's device confirms Bob's joining
    assert confirmed["notices"] == [f"Bob (Beta) joined · fingerprint {accepted['fingerprint']}"]
    joined = _js(*bob, "sync")
    assert joined["notices"][0].startswith("You joined Leaders")

    # Offline edits on both sides, then sync both, twice.
    _run(*ada, "goal", "add", cid, "Delegate more")
    _run(*ada, "circle", "edit", cid, "--duration", "60")
    _run(*bob, "goal", "add", cid, "Speak up")
    _run(*bob, "circle", "edit", cid, "--mode", "hybrid")
    assert _js(*ada, "status")["pending"] == 2
    for _ in range(2):
        for home in (ada, bob):
            report = _js(*home, "sync")
            assert report["warnings"] == []
    shown_a = _js(*ada, "circle", "show", cid)
    shown_b = _js(*bob, "circle", "show", cid)
    assert shown_a == shown_b
    assert {g["title"] for g in shown_a["goals"]} == {"Delegate more", "Speak up"}
    assert {m["name"] for m in shown_a["members"]} == {"Ada", "Bob"}
    assert shown_a["circle"]["duration"] == 60 and shown_a["circle"]["mode"] == "hybrid"
    status = _js(*bob, "status")
    assert status["pending"] == 0 and status["last_error"] is None
    assert status["circles"][0]["id"] == cid


def test_an_unreachable_exchange_is_one_line(tmp_path: Path) -> None:
    home = ("--home", str(tmp_path / "home"))
    _run(*home, "init", "--name", "Ada", "--org", "Acme")
    url = f"http://127.0.0.1:{_free_port()}"
    failed = _run(*home, "join", url, "xce_whatever", code=1)
    assert failed.stderr == f"xcircle: error: cannot reach {url}: connection refused\n"
