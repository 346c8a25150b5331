"""The journaled TinyDB store: durable, crash-safe, private, single-writer."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from tests.conftest import NOW
from xcircle import osfs, storage
from xcircle.errors import StoreError, StoreLocked
from xcircle.services import Services
from xcircle.storage import CorruptFile, Database, _frame
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


# -- fixed examples of each storage branch ----------------------------------------------


def test_a_snapshot_taken_with_a_table_still_unparsed_keeps_every_table(tmp_path: Path) -> None:
    base = tmp_path / "db"
    db = Database(base)
    db.commit([("hot", "a", {"v": 1}), ("cold", "x", {"v": 1}), ("idle", "z", {"v": 9})])
    db.snapshot()
    db.close()
    lazy = Database(base, eager={"hot"})
    lazy.commit([("hot", "b", {"v": 2})], compact=False)
    lazy.snapshot()  # "cold" and "idle" are written back from their bytes, unparsed
    assert lazy._cold.keys() == {"cold", "idle"}
    lazy.close()
    assert (tmp_path / "db.journal").read_bytes() == b""
    lines = (tmp_path / "db.json").read_bytes().split(b"\n")
    assert lines[0] == b'{"v":2,"n":2}' and lines[-1] == b""
    assert Database(base).data == {
        "hot": {"a": {"v": 1}, "b": {"v": 2}},
        "cold": {"x": {"v": 1}},
        "idle": {"z": {"v": 9}},
    }


def test_replay_skips_journal_lines_already_in_the_snapshot(tmp_path: Path) -> None:
    """A crash between the snapshot's rename and the journal's truncation leaves lines
    the snapshot already holds: replaying them would bring back older values."""
    base = tmp_path / "db"
    (tmp_path / "db.json").write_bytes(b'{"v":2,"n":2}\n"t"\t{"k":{"v":"new"}}\n')
    old = [_frame(orjson.dumps({"n": n, "c": [["t", "k", {"v": f"old{n}"}]]})) for n in (1, 2)]
    new = _frame(orjson.dumps({"n": 3, "c": [["t", "j", {"v": "three"}]]}))
    (tmp_path / "db.journal").write_bytes(b"".join(old) + new)
    db = Database(base)
    assert db.data == {"t": {"k": {"v": "new"}, "j": {"v": "three"}}}
    db.commit([("t", "k", None)])  # numbered after the journal's last line
    db.close()
    assert Database(base).data == {"t": {"j": {"v": "three"}}}


def test_a_torn_last_line_is_cut_and_the_next_commit_follows_it(tmp_path: Path) -> None:
    base = tmp_path / "db"
    db = Database(base)
    db.commit([("t", "a", {"v": 1})])
    db.commit([("t", "b", {"v": 2})])
    db.close()
    journal = tmp_path / "db.journal"
    good = journal.read_bytes()
    journal.write_bytes(good + b'0badf00d {"n": 3, "c": [["t", "c"')
    reopened = Database(base)
    assert journal.read_bytes() == good  # the torn line is cut off the file
    assert reopened.records("t") == {"a": {"v": 1}, "b": {"v": 2}}
    reopened.commit([("t", "d", {"v": 4})])  # numbered 3, appended right after line 2
    reopened.close()
    assert journal.read_bytes().startswith(good)
    assert journal.read_bytes().count(b"\n") == 3
    assert Database(base).records("t") == {"a": {"v": 1}, "b": {"v": 2}, "d": {"v": 4}}


def test_compaction_starts_once_the_journal_outgrows_its_floor_and_the_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT", 1000)
    base = tmp_path / "db"
    snapshot, journal = tmp_path / "db.json", tmp_path / "db.journal"
    db = Database(base)
    keys: list[str] = []

    def commit_until_compacted(**kwargs: bool) -> int:
        """Commit until the journal is emptied; its size before the compacting commit."""
        before = 0
        while True:
            keys.append(f"k{len(keys)}")
            db.commit([("t", keys[-1], {"pad": "x" * 50})], **kwargs)
            if journal.stat().st_size == 0:
                return before
            before = journal.stat().st_size

    before = commit_until_compacted()
    assert before <= 1000 < before + 90  # the first commit over the floor compacted
    for _ in range(60):  # a bulk load: the journal grows past the floor, uncompacted
        keys.append(f"k{len(keys)}")
        db.commit([("t", keys[-1], {"pad": "x" * 50})], compact=False)
    assert journal.stat().st_size > 3000 and snapshot.stat().st_size < 1000
    db.commit([("t", "bulk done", {})])
    keys.append("bulk done")
    assert journal.stat().st_size == 0
    grown = snapshot.stat().st_size
    before = commit_until_compacted()  # over the floor, but the snapshot is bigger: wait
    assert 1000 < before <= grown < before + 90
    db.close()
    assert sorted(Database(base).records("t")) == sorted(keys)


def test_a_failed_compaction_does_not_fail_the_action_and_is_retried_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT", 1000)
    base = tmp_path / "db"
    journal = tmp_path / "db.journal"
    db = Database(base)

    def no_space(src: Path, dst: Path) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(osfs, "replace", no_space)
        db.commit([("t", "k0", {"pad": "x" * 50})])
        i = 1
        while journal.stat().st_size <= 1000:
            db.commit([("t", f"k{i}", {"pad": "x" * 50})])  # saved, never raises
            i += 1
        failed_at = journal.stat().st_size
        assert not (tmp_path / "db.json").exists()
        assert not list(tmp_path.glob("*.tmp"))  # the temp file is removed
    while journal.stat().st_size > 0:
        assert journal.stat().st_size <= failed_at + 1000  # not retried at every commit…
        before = journal.stat().st_size
        db.commit([("t", f"k{i}", {"pad": "x" * 50})])
        i += 1
    assert before > failed_at + 1000 - 100  # …but once the journal grew by the floor again
    db.close()
    assert len(Database(base).records("t")) == i


def test_close_compacts_a_journal_over_64_kib_only(tmp_path: Path) -> None:
    for records, compact, snapshotted in [
        (20, True, False),
        (1200, True, True),
        (1200, False, False),
    ]:
        base = tmp_path / f"db{records}{compact}"
        db = Database(base)
        db.commit([("t", f"k{i}", {"pad": "x" * 50}) for i in range(records)], compact=False)
        db.close(compact=compact)
        assert Path(f"{base}.json").exists() is snapshotted
        assert (Path(f"{base}.journal").stat().st_size == 0) is snapshotted
        assert len(Database(base).records("t")) == records


def test_a_stale_temp_file_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    base = tmp_path / "db"
    stale = tmp_path / "db.json.tmp"
    stale.write_bytes(b"half a snapshot from a crash")
    db = Database(base)
    db.commit([("t", "k", {"v": 1})])
    db.snapshot()
    db.close()
    assert not stale.exists()
    assert Database(base).records("t") == {"k": {"v": 1}}
    if osfs.PLATFORM != "win32":
        assert stat.S_IMODE((tmp_path / "db.json").stat().st_mode) == 0o600


def test_read_only_leaves_a_torn_line_and_damage_where_they_are(tmp_path: Path) -> None:
    """Reading beside the app (which may be appending right now): a torn last line is
    skipped, not cut; damage is reported with its file and reason, nothing moved; and a
    write is refused, saying why."""
    base = tmp_path / "c"
    db = Database(base)
    db.commit([["goal", "g1", {"title": "kept"}]])
    db.close()
    journal = Path(f"{base}.journal")
    torn = journal.read_bytes() + b'0badf00d {"n": 9, "c": [["goal"'
    journal.write_bytes(torn)
    reader = Database(base, read_only=True)
    assert reader.get("goal", "g1") == {"title": "kept"}
    assert journal.read_bytes() == torn  # the writer may still finish that line
    with pytest.raises(StoreError, match=r"^c is open read-only here: nothing was saved$"):
        reader.commit([["goal", "g2", {"title": "no"}]])
    assert journal.read_bytes() == torn

    snapshot = Path(f"{base}.json")
    snapshot.write_bytes(b"not a snapshot\n")
    with pytest.raises(CorruptFile) as caught:
        Database(base, read_only=True)
    assert (caught.value.path, caught.value.moved_to) == (snapshot, [])
    assert caught.value.reason and "moved" not in str(caught.value)
    assert snapshot.read_bytes() == b"not a snapshot\n" and journal.read_bytes() == torn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.journal", "c.json"]
