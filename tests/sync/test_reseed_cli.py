"""`xcircle circle reseed`, driven as a shell would, against a real `xcircle exchange
serve`: the upgrade of a circle shared in plaintext, a member's refusal, and the rebuild
of a circle on an exchange that lost its database (the same address, an empty file)."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from .test_end_to_end import _command, _free_port, _js, _run

pytestmark = pytest.mark.slow


@contextmanager
def serving(db: Path, port: int, log: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    with log.open("a") as out:
        proc = subprocess.Popen(
            [*_command(), "exchange", "serve", "--db", f"sqlite:///{db}", "--port", str(port)],
            stdout=out,
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
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the exchange did not start in 30 s"
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _tokens(db: Path) -> dict[str, str]:
    for org in ("Acme", "Beta"):
        _run("exchange", "org", "add", org, "--db", f"sqlite:///{db}", "--json")
    return {
        org: _js("exchange", "enroll-token", org, "--db", f"sqlite:///{db}")["token"]
        for org in ("Acme", "Beta")
    }


def _rows(db: Path, cid: str) -> list[tuple[int, int, bool]]:
    with sqlite3.connect(db) as conn:
        q = "SELECT seq, epoch, length(payload) > 0 FROM ops WHERE circle_id = ? ORDER BY seq"
        return [(s, e, bool(p)) for s, e, p in conn.execute(q, (cid,))]


def test_reseed_upgrades_then_rebuilds_a_circle(tmp_path: Path) -> None:
    db, port, log = tmp_path / "exchange.db", _free_port(), tmp_path / "server.log"
    ada, bob = ("--home", str(tmp_path / "ada")), ("--home", str(tmp_path / "bob"))
    _run(*ada, "init", "--name", "Ada", "--org", "Acme")
    _run(*bob, "init", "--name", "Bob", "--org", "Beta")
    with serving(db, port, log) as url:
        tokens = _tokens(db)
        _js(*ada, "join", url, tokens["Acme"])
        _js(*bob, "join", url, tokens["Beta"])
        cid = _js(*ada, "circle", "create", "Leaders")["id"]
        _js(*ada, "circle", "share", cid)
        _js(*bob, "accept", _js(*ada, "invite", cid)["code"])
        _js(*bob, "sync")
        _js(*ada, "sync")
        assert all(epoch == 0 for _, epoch, _ in _rows(db, cid))

        refused = _run(*bob, "circle", "reseed", cid, code=1)
        assert refused.stderr == "xcircle: error: only a convener can reseed a circle\n"
        upgraded = _js(*ada, "circle", "reseed", cid)
        assert upgraded["mode"] == "upgrade" and upgraded["epoch"] == 1
        rows = _rows(db, cid)
        assert rows and all(epoch == 1 and payload for _, epoch, payload in rows)
        _js(*bob, "sync")
        _js(*ada, "sync")
        before = _rows(db, cid)

    for suffix in ("", "-wal", "-shm"):  # the exchange's database is lost
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with serving(db, port, log) as url:
        tokens = _tokens(db)
        assert _run(*ada, "sync", code=1).stderr.startswith("xcircle: error: the exchange refused")
        again = _run(*ada, "join", url, tokens["Acme"], code=0)
        assert "Joined" in again.stdout
        rebuilt = _js(*ada, "circle", "reseed", cid)
        assert rebuilt["mode"] == "rebuild" and rebuilt["unrecoverable"] == []
        assert rebuilt["epoch"] == 1 and rebuilt["pushed"] == len(before)
        assert _rows(db, cid) == before
        status = _js(*ada, "status")
        assert status["circles"][0]["cursor"] == len(before) and status["last_error"] is None
