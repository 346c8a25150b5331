"""Reading a home while the app writes it: the read-only store never changes a file,
and never misses what the writer saved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NOW
from xcircle import storage
from xcircle.services import Services
from xcircle.store import Store


def _home(tmp_path: Path) -> tuple[Path, str]:
    home = tmp_path / "home"
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Ada", "Acme")
        cid = svc.circles.create("Leaders")["id"]
        svc.members.add(cid, "Bob", org="Beta")
    return home, cid


def test_a_torn_last_line_is_skipped_not_cut(tmp_path: Path) -> None:
    home, cid = _home(tmp_path)
    journal = home / "circles" / f"{cid}.journal"
    with journal.open("ab") as f:
        f.write(b'12345 {"n": 99, "c": [')  # the writer is in the middle of a commit
    before = journal.read_bytes()
    with Store(home, read_only=True) as reader:
        assert [m["name"] for m in Services(reader).members.all(cid)] == ["Ada", "Bob"]
    assert journal.read_bytes() == before


def test_a_snapshot_taken_during_the_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, cid = _home(tmp_path)
    app = Store(home)  # the app holds the home
    Services(app, clock=lambda: NOW).members.add(cid, "Cy", org="Gamma")  # in its journal
    original = storage.Database.__init__
    calls: list[Path] = []

    def racing_init(self: storage.Database, base: Path, **kw: Any) -> None:
        original(self, base, **kw)
        if kw.get("read_only") and base.name == cid and not calls:
            calls.append(base)
            # Between our reads, the app writes a snapshot and empties its journal.
            Services(app, clock=lambda: NOW).members.add(cid, "Dee", org="Delta")
            app._db(cid).snapshot()

    monkeypatch.setattr(storage.Database, "__init__", racing_init)
    try:
        with Store(home, read_only=True) as reader:
            names = [m["name"] for m in Services(reader).members.all(cid)]
    finally:
        app.close()
    assert calls and names == ["Ada", "Bob", "Cy", "Dee"]
