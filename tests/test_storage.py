"""The journaled TinyDB store: durable, crash-safe, private, single-writer."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import NOW
from xcircle import osfs
from xcircle.errors import StoreLocked
from xcircle.services import Services
from xcircle.storage import CorruptFile, Database
from xcircle.store import Store


def _home_with_circles(home: Path, names: list[str]) -> dict[str, str]:
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Ada", "Acme")
        return {name: svc.circles.create(name)["id"] for name in names}


@pytest.mark.skipif(
    osfs.PLATFORM == "win32", reason="Windows: the profile's ACL, not modes (see osfs)"
)
def test_files_are_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _home_with_circles(home, ["One"])
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in home.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def test_a_second_process_gets_a_clear_error(tmp_path: Path) -> None:
    with Store(tmp_path / "home"), pytest.raises(StoreLocked, match="in use by another xcircle"):
        Store(tmp_path / "home")
    Store(tmp_path / "home").close()  # released on close


def test_state_survives_reopening_through_journal_and_snapshot(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ids = _home_with_circles(home, ["One"])
    cid = ids["One"]
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        goal = svc.goals.add(cid, "Ship")
        for progress in range(0, 101, 10):
            svc.goals.checkin(cid, goal["id"], progress=progress)
        store._db(cid).snapshot()
        svc.goals.checkin(cid, goal["id"], progress=55, note="after the snapshot")
        expected = store.canonical(cid)
    with Store(home) as store:
        assert store.canonical(cid) == expected
        notes = [c["note"] for c in Services(store).goals.checkins(cid)]
        assert "after the snapshot" in notes


def test_a_torn_last_line_is_dropped_and_the_rest_loads(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cid = _home_with_circles(home, ["One"])["One"]
    journal = home / "circles" / f"{cid}.journal"
    good = journal.read_bytes()
    with journal.open("ab") as f:
        f.write(b'0badf00d {"n": 99, "c": [["goal", "x", {"title"')  # a write cut short
    with Store(home) as store:
        assert Services(store).circles.get(cid)["name"] == "One"
        assert not store.notices
        assert journal.read_bytes() == good
        Services(store, clock=lambda: NOW).goals.add(cid, "After the torn line")
    with Store(home) as store:  # the next write appended cleanly after the cut
        assert not store.notices
        assert [g["title"] for g in Services(store).goals.all(cid)] == ["After the torn line"]


def test_the_journal_is_compacted_into_a_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import xcircle.storage as storage

    monkeypatch.setattr(storage, "MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT", 4096)
    base = tmp_path / "db"
    db = Database(base)
    for i in range(400):
        db.commit([("t", f"k{i}", {"v": i, "pad": "x" * 40})])
    journal = tmp_path / "db.journal"
    assert (tmp_path / "db.json").exists()
    assert journal.stat().st_size <= max(4096, (tmp_path / "db.json").stat().st_size) + 200
    db.close()
    assert len(Database(base).records("t")) == 400


def test_a_damaged_circle_is_moved_aside_and_the_others_still_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ids = _home_with_circles(home, ["One", "Two"])
    journal = home / "circles" / f"{ids['One']}.journal"
    lines = journal.read_bytes().split(b"\n")
    lines[0] = b"garbage that is not a journal line"
    journal.write_bytes(b"\n".join(lines))
    with Store(home) as store:
        assert store.circle_ids() == [ids["Two"]]
        assert len(store.notices) == 1
        assert "is damaged" in store.notices[0].message
        assert "moved aside" in store.notices[0].message
    moved = list((home / "circles").glob(f"{ids['One']}.journal.corrupt-*"))
    assert len(moved) == 1
    assert moved[0].read_bytes() == b"\n".join(lines)  # never overwritten


def test_a_damaged_snapshot_is_never_overwritten(tmp_path: Path) -> None:
    base = tmp_path / "db"
    db = Database(base)
    db.commit([("t", "k", {"v": 1})])
    db.snapshot()
    db.close()
    (tmp_path / "db.json").write_bytes(b'{"v": 1, "tables": {')
    with pytest.raises(Exception, match="damaged"):
        Database(base)
    moved = sorted(p.name.split("-")[0] for p in tmp_path.iterdir())
    assert moved == ["db.journal.corrupt", "db.json.corrupt"]


def test_an_action_costs_one_append_not_a_rewrite(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cid = _home_with_circles(home, ["One"])["One"]
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        goal = svc.goals.add(cid, "Ship")
        journal = home / "circles" / f"{cid}.journal"
        before = journal.stat().st_size
        inode = journal.stat().st_ino
        svc.goals.checkin(cid, goal["id"], progress=10)
        grown = journal.stat().st_size - before
        assert 0 < grown < 2000
        assert journal.stat().st_ino == inode


def test_fsync_failure_is_a_clear_error_and_nothing_half_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    cid = _home_with_circles(home, ["One"])["One"]
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        before = store.canonical(cid)

        journal = home / "circles" / f"{cid}.journal"
        size = journal.stat().st_size

        def full_disk(fd: int) -> None:
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as m:
            m.setattr(osfs, "flush", full_disk)
            from xcircle.errors import StoreError

            with pytest.raises(StoreError, match=r"is full; nothing was lost; free space"):
                svc.goals.add(cid, "Ship")
        assert store.canonical(cid) == before
        assert journal.stat().st_size == size  # the unflushed line was cut back off
        svc.goals.add(cid, "Ship again")  # space is back: the next action saves
    with Store(home) as store:
        assert not store.notices
        assert [g["title"] for g in Services(store).goals.all(cid)] == ["Ship again"]


def test_the_outbox_gives_back_exactly_the_ops_of_local_actions(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cid = _home_with_circles(home, ["One"])["One"]
    with Store(home) as store:
        store.ack(cid, [op.id for op in store.outbox(cid)])
        goal = store.op(cid, "goal", "a" * 32, {"title": "Ship", "status": "active"})
        fields = {"goal": "a" * 32, "progress": 5, "note": "n", "at": NOW.isoformat()}
        checkin = store.op(cid, "checkin", None, fields)
        gone = store.op(cid, "checkin", checkin.key, {"_deleted": True})
        store.apply([goal, checkin])
        store.apply([gone])
        assert store.outbox(cid) == [goal, checkin, gone]
        # A check-in's outbox entry points at its record instead of copying it.
        assert store.raw(cid, "_outbox", checkin.id) == {
            "ref": "checkin",
            "key": checkin.key,
            "hlc": checkin.hlc,
        }
    with Store(home) as store:
        assert [op.to_bytes() for op in store.outbox(cid)] == [
            op.to_bytes() for op in (goal, checkin, gone)
        ]


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-1],  # ends mid-line
        lambda b: b.replace(b"\t", b" ", 1),  # a table line without its tab
        lambda b: b.replace(b'"cold"\t', b"7\t", 1),  # a table name that is not a string
        lambda b: b.replace(b"}\n", b"]\n", 1)[:-1] + b"\n",  # a body that is no object
        lambda b: b.replace(b'"v":2', b'"v":9', 1),  # a format this version does not know
        lambda b: b + b"\n",  # an empty line
    ],
    ids=["mid-line", "no-tab", "name", "body", "version", "empty-line"],
)
def test_any_damaged_snapshot_line_is_caught_at_open(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    base = tmp_path / "db"
    db = Database(base)
    db.commit([("hot", "a", {"v": 1}), ("cold", "x", {"v": 1})])
    db.snapshot()
    db.close()
    snapshot = tmp_path / "db.json"
    good = snapshot.read_bytes()
    assert Database(base, eager={"hot"}).records("cold") == {"x": {"v": 1}}
    snapshot.write_bytes(damage(good))
    with pytest.raises(CorruptFile, match="damaged"):
        Database(base, eager={"hot"})
    assert [p.read_bytes() for p in tmp_path.glob("db.json.corrupt-*")] == [damage(good)]


def test_tables_not_needed_at_open_stay_raw_until_used(tmp_path: Path) -> None:
    base = tmp_path / "db"
    db = Database(base)
    db.commit([("hot", "a", {"v": 1}), ("cold", "x", {"v": 1}), ("cold", "y", {"v": 2})])
    db.snapshot()
    db.commit([("cold", "x", {"v": 3}), ("cold", "y", None), ("hot", "b", {"v": 2})])
    db.close(compact=False)

    lazy = Database(base, eager={"hot"})
    assert lazy._cold.keys() == {"cold"}  # not parsed at open…
    lazy.snapshot()  # …a snapshot carries its journal changes without losing them…
    lazy.close()
    again = Database(base, eager={"hot"})
    assert again.get("hot", "b") == {"v": 2}
    assert again.records("cold") == {"x": {"v": 3}}  # …and first use parses it.
    assert again.data == {"hot": {"a": {"v": 1}, "b": {"v": 2}}, "cold": {"x": {"v": 3}}}


def test_a_worker_thread_may_read_while_the_ui_thread_writes(tmp_path: Path) -> None:
    import threading

    home = tmp_path / "home"
    cid = _home_with_circles(home, ["One"])["One"]
    errors: list[BaseException] = []
    done = threading.Event()
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        goal = svc.goals.add(cid, "Ship")["id"]

        def read() -> None:
            try:
                while not done.is_set():
                    svc.goals.with_checkins(cid)
                    store.canonical(cid)
            except BaseException as exc:  # pragma: no cover - the failure being tested
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            for i in range(300):
                svc.goals.checkin(cid, goal, progress=i % 101)
        finally:
            done.set()
            reader.join()
    assert not errors
