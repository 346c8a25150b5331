"""SEC-10, the canary scan: a circle whose purpose, agreements, goals, check-ins,
feedback, commitments, meeting themes and member names carry unique canary strings,
synced by 3 devices in 2 organizations through a real `xcircle exchange serve`. Then
the exchange's database (the SQLite file and its WAL, or a `pg_dump` of PostgreSQL) and
its logs hold none of them, and do hold ciphertext.

Two paths: the normal one (shared encrypted, everyone invited, accepted and confirmed:
names and organizations travel only sealed, in join bundles and records), and the one
circles shared before encryption take (shared in plaintext, everyone in, then encrypted
by its convener, whose device re-seals the plain history on its next sync and has the
exchange empty the rest).
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text

from sync.commands import enroll
from sync.e2e import encrypt_circle
from sync.exchange import admin
from sync.exchange.db import open_db
from tests.sync.helpers import NOW, Device

from .pgcluster import free_port
from .serving import Serve

CANARY = {
    what: f"cnry{secrets.token_hex(6)}"
    for what in (
        "circle",
        "purpose",
        "agreement",
        "goal",
        "checkin",
        "commitment",
        "theme",
        "feedback",
        "challenge",
        "ada",
        "bob",
        "cat",
        "later",
    )
}


class Served:
    """The exchange as a real server: what `Device` needs of it (`bridge`, tokens)."""

    def __init__(self, db_url: str, log: Path) -> None:
        self.db_url = db_url
        self.server = Serve(db_url, free_port(), workers=1, log=log)
        self.server.wait_ready()
        self.url = self.server.base
        self.bridge = httpx.HTTPTransport()
        self.engine: Engine = open_db(db_url, 0)
        for org in ("Acme", "Beta"):
            admin.add_org(self.engine, org)

    def enrollment(self, org: str) -> str:
        return admin.issue_enrollment(self.engine, org)[0]

    def close(self) -> None:
        self.engine.dispose()
        self.server.stop()


class RealDevice(Device):
    """A device enrolled with the served exchange under a neutral device name (the
    member's name is the canary, and lives only in the circle's encrypted records)."""

    def join(self) -> None:
        assert isinstance(self.exchange, Served)
        token = self.exchange.enrollment(self.org)
        enroll(self.store, self.exchange.url, token, name="laptop", transport=self.faults)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'exchange.db'}"
    else:
        url = str(request.getfixturevalue("fresh_pg_url"))
    ex = Served(url, tmp_path / "serve.log")
    yield ex
    ex.close()


def _device(tmp_path: Path, served: Served, who: str, org: str) -> RealDevice:
    dev = RealDevice(tmp_path / f"home-{who}", f"{who.title()} {CANARY[who]}", org, served)  # type: ignore[arg-type]
    dev.join()
    return dev


def _exchange_bytes(served: Served, tmp_path: Path) -> bytes:
    """Everything the exchange's operator could copy: database files or a dump, logs."""
    url = served.db_url
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        files = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
        data = b"".join(p.read_bytes() for p in files)
    else:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        data = subprocess.run(
            ["pg_dump", "--data-only", "--inserts", dsn], capture_output=True, check=True
        ).stdout
        assert b"INSERT INTO public.ops" in data  # the dump holds the log
    return data + served.server.log.read_bytes()


@pytest.mark.parametrize("path", ["normal", "from before encryption"])
def test_the_exchange_holds_no_canary(served: Served, tmp_path: Path, path: str) -> None:
    ada = _device(tmp_path, served, "ada", "Acme")
    bob = _device(tmp_path, served, "bob", "Beta")
    cat = _device(tmp_path, served, "cat", "Beta")
    everyone = (ada, bob, cat)
    try:
        cid = ada.services.circles.create(
            f"Circle {CANARY['circle']}",
            purpose=f"Purpose {CANARY['purpose']}",
            agreements=[("Confidentiality", f"Agreement {CANARY['agreement']}")],
        )["id"]
        if path == "normal":  # encrypted from its sharing; invite, accept, confirm
            ada.share(cid)
        else:  # shared in plaintext, everyone in, then encrypted by its convener
            ada.share_plain(cid)
        for dev in (bob, cat):
            dev.accept(ada.invite(cid))
        for dev in (*everyone, *everyone):
            dev.sync()
        members = {m["name"].split()[0]: m["id"] for m in ada.store.records(cid, "member")}
        goal = ada.services.goals.add(cid, f"Goal {CANARY['goal']}", owner=members["Ada"])
        ada.services.goals.checkin(
            cid, goal["id"], progress=40, note=f"Check-in {CANARY['checkin']}", confidence=3
        )
        meeting = ada.services.meetings.plan(
            cid, NOW + timedelta(days=1), themes=[f"Theme {CANARY['theme']}"]
        )["id"]
        ada.services.meetings.start(cid, meeting)
        ada.services.rounds.set_challenge(
            cid, meeting, members["Bob"], f"Challenge {CANARY['challenge']}"
        )
        ada.services.rounds.feedback(
            cid, meeting, members["Bob"], members["Ada"], "advice", f"Do {CANARY['feedback']}"
        )
        for who in ("Ada", "Bob", "Cat"):
            ada.services.pulses.record(
                cid, meeting, members[who], support=5, confidence=4, learning=3
            )
        ada.sync()
        bob.sync()
        bob.services.commitments.add(cid, members["Bob"], f"Commit {CANARY['commitment']}")
        for dev in everyone:
            dev.sync()

        if path != "normal":
            with ada.client() as c:
                encrypt_circle(ada.store, c, cid, on_store=lambda f: f())
        cat.services.goals.add(cid, f"Said after encryption {CANARY['later']}")
        for dev in (*everyone, *everyone):  # Ada's device re-seals the plain history
            report = dev.sync()
            assert report.circles[cid].quarantined == [], dev.name
        assert ada.store.canonical(cid) == bob.store.canonical(cid) == cat.store.canonical(cid)
        assert bob.services.goals.get(cid, goal["id"])["title"] == f"Goal {CANARY['goal']}"
    finally:
        for dev in everyone:
            dev.close()

    with served.engine.connect() as conn:
        sealed = conn.execute(text("SELECT count(*) FROM ops WHERE epoch >= 1")).scalar_one()
        plain = conn.execute(
            text("SELECT count(*) FROM ops WHERE epoch = 0 AND length(payload) > 0")
        ).scalar_one()
    assert sealed > 0 and plain == 0
    served.server.stop()  # the logs complete, the WAL as the exchange left it
    found = _exchange_bytes(served, tmp_path)
    assert len(found) > 0
    leaked = [what for what, canary in CANARY.items() if canary.encode() in found]
    assert leaked == []
