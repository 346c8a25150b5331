"""A damaged or tampered home: damage is moved aside and reported, never a crash; planted
symbolic links are refused, never followed; every file private (SEC-24, SEC-25)."""

from __future__ import annotations

import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import NOW
from xcircle import osfs
from xcircle.errors import StoreError
from xcircle.services import Services
from xcircle.storage import CorruptFile, Database
from xcircle.store import Notice, Store

POSIX_MODES = pytest.mark.skipif(
    osfs.PLATFORM == "win32", reason="Windows: the profile's ACL, not modes (see osfs)"
)
LINKS = pytest.mark.skipif(
    osfs.PLATFORM == "win32", reason="Windows: symbolic links need a privilege"
)


def _home(home: Path, names: list[str]) -> dict[str, str]:
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Ada", "Acme")
        return {name: svc.circles.create(name)["id"] for name in names}


def _line(entry: object) -> bytes:
    payload = orjson.dumps(entry)
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


# -- damage that used to crash ------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        {"n": 99, "c": [["goal"]]},
        {"n": 99, "c": [["goal", "k", 5]]},
        {"n": 99, "c": 7},
        {"n": "99", "c": []},
        {"n": 99, "c": [[1, "k", None]]},
        [1, 2],
    ],
    ids=["short-change", "record-not-object", "changes-not-list", "seq-not-int", "table", "list"],
)
def test_a_journal_line_with_a_valid_checksum_but_the_wrong_shape(
    tmp_path: Path, entry: object
) -> None:
    home = tmp_path / "home"
    ids = _home(home, ["One", "Two"])
    journal = home / "circles" / f"{ids['One']}.journal"
    with journal.open("ab") as f:
        f.write(_line(entry))
    with Store(home) as store:  # the home opens; the damaged circle is moved aside
        assert store.circle_ids() == [ids["Two"]]
        assert store.damaged_circles() == [ids["One"]]
        assert len(store.notices) == 1 and "moved aside" in store.notices[0].message
    assert len(list((home / "circles").glob(f"{ids['One']}.journal.corrupt-*"))) == 1


def _cold_damage(home: Path, cid: str, damage: bytes) -> None:
    """Replace the `checkin` table's line of the circle's snapshot (a table the home
    screen does not parse at open) by `damage`."""
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        goal = svc.goals.add(cid, "Ship")["id"]
        svc.goals.checkin(cid, goal, progress=10)
        store._db(cid).snapshot()
    snapshot = home / "circles" / f"{cid}.json"
    lines = snapshot.read_bytes().split(b"\n")
    [i] = [n for n, line in enumerate(lines) if line.startswith(b'"checkin"\t')]
    lines[i] = b'"checkin"\t' + damage
    snapshot.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(
    "damage", [b'{"x": {"progress": 1,,}}', b'{"x": 5}'], ids=["not-json", "record-not-object"]
)
def test_a_table_damaged_and_parsed_only_on_first_use(tmp_path: Path, damage: bytes) -> None:
    home = tmp_path / "home"
    ids = _home(home, ["One", "Two"])
    cid = ids["One"]
    _cold_damage(home, cid, damage)
    told: list[Notice] = []
    with Store(home) as store:
        assert not store.notices  # nothing parsed the table yet
        store.on_notice = told.append
        svc = Services(store, clock=lambda: NOW)
        assert svc.goals.checkins(cid) == []  # first use: no crash
        assert len(told) == 1 and "moved aside" in told[0].message
        assert "checkin" in told[0].message
        with pytest.raises(StoreError, match="moved aside"):
            svc.goals.add(cid, "Not saved over the damage")
        assert Services(store).circles.get(ids["Two"])["name"] == "Two"
    moved = list((home / "circles").glob(f"{cid}.json.corrupt-*"))
    assert len(moved) == 1 and damage in moved[0].read_bytes()  # never overwritten
    with Store(home) as store:
        assert store.circle_ids() == [ids["Two"]]
        assert store.damaged_circles() == [cid]  # a sync rebuilds it from the exchange


def test_a_snapshot_never_writes_a_table_found_damaged(tmp_path: Path) -> None:
    base = tmp_path / "db"
    db = Database(base)
    db.commit([("hot", "a", {"v": 1}), ("cold", "x", {"v": 1})])
    db.snapshot()
    db.close()
    snapshot = tmp_path / "db.json"
    snapshot.write_bytes(
        snapshot.read_bytes().replace(b'"cold"\t{"x":{"v":1}}', b'"cold"\t{"x":1}')
    )
    heard: list[CorruptFile] = []
    lazy = Database(base, eager={"hot"}, on_damage=heard.append)
    lazy.commit([("cold", "y", {"v": 2})], compact=False)  # waits for the cold table
    with pytest.raises(StoreError, match="moved aside"):
        lazy.snapshot()  # parses the cold table to carry its change: damage, no write
    assert len(heard) == 1 and not snapshot.exists()
    lazy.close()
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == [
        "db.journal.corrupt",
        "db.json.corrupt",
    ]


# -- planted symbolic links -----------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "outside.txt"
    target.write_bytes(b"not xcircle's")
    target.chmod(0o644)
    yield target
    assert target.read_bytes() == b"not xcircle's"  # never written through the link
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


@LINKS
@pytest.mark.parametrize("name", ["lock", "profile.journal", "profile.json", "circles"])
def test_a_planted_link_in_the_home_is_refused(tmp_path: Path, outside: Path, name: str) -> None:
    home = tmp_path / "home"
    _home(home, ["One"])
    planted = home / name
    if planted.is_dir():
        planted.rename(tmp_path / "moved-circles")
    else:
        planted.unlink(missing_ok=True)
    planted.symlink_to(outside)
    with pytest.raises(StoreError, match="is a symbolic link; xcircle does not follow"):
        Store(home)
    assert planted.is_symlink()


@LINKS
def test_a_planted_link_as_a_circles_journal_is_refused(tmp_path: Path, outside: Path) -> None:
    home = tmp_path / "home"
    cid = _home(home, ["One"])["One"]
    journal = home / "circles" / f"{cid}.journal"
    journal.unlink()
    journal.symlink_to(outside)
    with pytest.raises(StoreError, match="symbolic link"):
        Store(home)


@LINKS
def test_a_planted_link_as_the_snapshots_temp_file_is_refused(
    tmp_path: Path, outside: Path
) -> None:
    home = tmp_path / "home"
    cid = _home(home, ["One"])["One"]
    tmp = home / "circles" / f"{cid}.json.tmp"
    tmp.symlink_to(outside)
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        with pytest.raises(StoreError, match="symbolic link"):
            store._db(cid).snapshot()
        svc.goals.add(cid, "Still saved")  # the journal still takes every action
    assert tmp.is_symlink()
    tmp.unlink()
    with Store(home) as store:
        assert [g["title"] for g in Services(store).goals.all(cid)] == ["Still saved"]


# -- private modes (SEC-24) -----------------------------------------------------------------


def _modes(home: Path) -> dict[str, int]:
    modes = {".": stat.S_IMODE(home.stat().st_mode)}
    for path in home.rglob("*"):
        modes[str(path.relative_to(home))] = stat.S_IMODE(path.lstat().st_mode)
    return modes


def _private(modes: dict[str, int], home: Path) -> bool:
    return all(mode == (0o700 if (home / name).is_dir() else 0o600) for name, mode in modes.items())


@POSIX_MODES
def test_home_0700_every_file_0600_after_first_run_and_100_writes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        home = tmp_path / "home"
        cid = _home(home, ["One"])["One"]
        assert _private(_modes(home), home), _modes(home)
        with Store(home) as store:
            svc = Services(store, clock=lambda: NOW)
            goal = svc.goals.add(cid, "Ship")["id"]
            for i in range(100):
                svc.goals.checkin(cid, goal, progress=i)
            store._db(cid).snapshot()
        modes = _modes(home)
        assert _private(modes, home), modes
        assert {"lock", "profile.journal", f"circles/{cid}.json"} <= modes.keys()
    finally:
        os.umask(old)


@POSIX_MODES
def test_looser_files_and_folders_are_tightened_on_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cid = _home(home, ["One"])["One"]
    with Store(home) as store:
        store._db(cid).snapshot()
    for path in [home, *home.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    Store(home).close()
    modes = _modes(home)
    assert _private(modes, home), modes
