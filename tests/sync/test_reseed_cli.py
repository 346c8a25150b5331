"""`xcircle circle reseed`, driven as a shell would, against a real `xcircle exchange
serve`: a member's refusal, and the rebuild of a circle on an exchange that lost its
database (the same address, an empty file), the other member coming back by the invite
the rebuild printed for him."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.exchange.serving import serving

from .test_end_to_end import _free_port, _js, _run

pytestmark = pytest.mark.slow


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


def test_a_lost_exchange_is_rebuilt_from_a_conveners_device(tmp_path: Path) -> None:
    db, port, log = tmp_path / "exchange.db", _free_port(), tmp_path / "server.log"
    ada, bob = ("--home", str(tmp_path / "ada")), ("--home", str(tmp_path / "bob"))
    _run(*ada, "init", "--name", "Ada", "--org", "Acme")
    _run(*bob, "init", "--name", "Bob", "--org", "Beta")
    with serving(f"sqlite:///{db}", port, log) as server:
        url = server.base
        tokens = _tokens(db)
        _js(*ada, "join", url, tokens["Acme"])
        _js(*bob, "join", url, tokens["Beta"])
        cid = _js(*ada, "circle", "create", "Leaders")["id"]
        _js(*ada, "circle", "share", cid)
        _js(*bob, "accept", _js(*ada, "invite", cid)["code"])
        _js(*ada, "sync")  # confirms Bob's joining
        _js(*bob, "sync")
        _js(*bob, "goal", "add", cid, "Bob's goal")
        _js(*bob, "sync")
        _js(*ada, "sync")
        refused = _run(*bob, "circle", "reseed", cid, code=1)
        assert refused.stderr == "xcircle: error: only a convener can reseed a circle\n"
        before = _rows(db, cid)
        assert before and all(epoch >= 1 and payload for _, epoch, payload in before)

    for suffix in ("", "-wal", "-shm"):  # the exchange's database is lost
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with serving(f"sqlite:///{db}", port, log) as server:
        url = server.base
        tokens = _tokens(db)
        assert _run(*ada, "sync", code=1).stderr.startswith("xcircle: error: the exchange refused")
        assert "Joined" in _run(*ada, "join", url, tokens["Acme"]).stdout  # again, same keys
        rebuilt = _js(*ada, "circle", "reseed", cid)
        assert rebuilt["mode"] == "rebuild" and rebuilt["unrecoverable"] == []
        assert rebuilt["pushed"] == len(before)
        assert _rows(db, cid) == before  # the same log
        [invite] = rebuilt["invites"]
        assert invite["name"] == "Bob" and invite["org"] == "Beta"

        _js(*bob, "join", url, tokens["Beta"])
        assert _js(*bob, "accept", invite["code"])["status"] == "pending"
        _js(*ada, "sync")  # confirms Bob again
        _js(*bob, "sync")
        _js(*ada, "goal", "add", cid, "after the rebuild")
        _js(*ada, "sync")
        _js(*bob, "sync")
        goals = sorted(g["title"] for g in _js(*bob, "goal", "list", cid))
        assert goals == ["Bob's goal", "after the rebuild"]
        members = _js(*ada, "member", "list", cid)
        assert sorted(m["name"] for m in members) == ["Ada", "Bob"]
