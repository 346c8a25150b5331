"""Fixed examples of each branch of the journaled storage: exact reasons for damage,
the log a maintainer reads, write failures at each step, and the size thresholds."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from tinydb import where

from xcircle import osfs, storage
from xcircle.errors import StoreError
from xcircle.storage import CorruptFile, Database, _frame


def _line(n: int, changes: list[list[object]]) -> bytes:
    return _frame(orjson.dumps({"n": n, "c": changes}))


def _line_of_size(n: int, size: int) -> bytes:
    """A journal line of exactly `size` bytes (one record padded to fit)."""
    bare = len(_line(n, [["t", f"k{n}", {"p": ""}]]))
    line = _line(n, [["t", f"k{n}", {"p": "x" * (size - bare)}]])
    assert len(line) == size
    return line


def _disk_full(*_: object) -> None:
    raise OSError(28, "No space left on device")


def _io_error(*_: object) -> None:
    raise OSError(5, "Input/output error")


def _snapshot_of(tmp_path: Path) -> Path:
    base = tmp_path / "db"
    db = Database(base)
    db.commit([("hot", "a", {"v": 1}), ("cold", "x", {"v": 1})])
    db.snapshot()
    db.close()
    return tmp_path / "db.json"


GOOD = b'{"v":2,"n":1}\n"hot"\t{"a":{"v":1}}\n"cold"\t{"x":{"v":1}}\n'


@pytest.mark.parametrize(
    ("snapshot", "reason"),
    [
        (GOOD[:-1], "snapshot ends mid-line"),
        (GOOD.replace(b'"v":2', b'"v":3'), "unknown snapshot format"),
        (GOOD.replace(b'"hot"\t', b'"hot" '), "malformed snapshot line"),  # no tab
        (GOOD.replace(b'"hot"\t{', b'"hot"\t['), "malformed snapshot line"),
        (GOOD.replace(b'"v":1}}\n"cold"', b'"v":1}}x\n"cold"'), "malformed snapshot line"),
        (GOOD.replace(b'"hot"\t', b"7\t"), "malformed snapshot line"),  # a name not text
        (GOOD.replace(b'"hot"\t{"a":{"v":1}}', b'{"a":{"v":1}}'), "malformed snapshot line"),
        (GOOD.replace(b'{"a":{"v":1}}', b'{"a":1}'), "a record that is not an object"),
    ],
)
def test_a_damaged_snapshot_is_reported_with_its_exact_reason(
    tmp_path: Path, snapshot: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "db.json").write_bytes(snapshot)
    with pytest.raises(CorruptFile) as caught:
        Database(tmp_path / "db")
    assert caught.value.reason == reason
    assert str(caught.value) == f"db.json is damaged ({reason})"
    assert f"db.json is damaged ({reason}); moved aside" in caplog.messages


def test_a_line_without_a_tab_is_malformed_even_if_a_later_line_has_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "db.json").write_bytes(b'{"v":2,"n":1}\n"a"{}\n"b"\t{}\n')
    with pytest.raises(CorruptFile) as caught:
        Database(tmp_path / "db")
    assert caught.value.reason == "malformed snapshot line"


def test_damage_is_moved_aside_under_a_utc_time_stamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: local time is another day
    time.tzset()
    try:
        (tmp_path / "db.json").write_bytes(b"not a snapshot")
        (tmp_path / "db.journal").write_bytes(b"")
        with pytest.raises(CorruptFile) as caught:
            Database(tmp_path / "db")
    finally:
        monkeypatch.undo()
        time.tzset()
    names = sorted(p.name for p in caught.value.moved_to)
    assert [re.sub(r"\d{8}T\d{6}Z$", "STAMP", n) for n in names] == [
        "db.journal.corrupt-STAMP",
        "db.json.corrupt-STAMP",
    ]
    stamp = datetime.strptime(names[0][-16:], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 120


@pytest.mark.parametrize(
    ("journal", "reason"),
    [
        (_line(1, []) + b"garbage\n", "bad line at byte 24"),
        (_line(1, []).replace(b" ", b"\t", 1), "bad line at byte 0"),  # no space after crc
        (_frame(b'{"c":[]}'), "bad line at byte 0"),  # a checksum, but no "n"
        (_frame(b'["n","c"]'), "bad line at byte 0"),  # not an object
        (_line(1, []) + _frame(b'{"n":"2","c":[]}'), "malformed entry at byte 24"),
        (_frame(b'{"n":1,"c":[["t","k"]]}'), "malformed entry at byte 0"),
    ],
)
def test_a_damaged_journal_is_reported_with_its_exact_reason(
    tmp_path: Path, journal: bytes, reason: str
) -> None:
    (tmp_path / "db.journal").write_bytes(journal)
    with pytest.raises(CorruptFile) as caught:
        Database(tmp_path / "db")
    assert caught.value.reason == reason
    assert [p.read_bytes() for p in caught.value.moved_to] == [journal]


def test_a_clean_journal_opens_without_a_warning_and_a_torn_line_with_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    journal = tmp_path / "db.journal"
    journal.write_bytes(_line(1, [["t", "a", {"v": 1}]]))
    with caplog.at_level(logging.WARNING):
        assert Database(tmp_path / "db").records("t") == {"a": {"v": 1}}
    assert caplog.messages == []
    # A whole commit but its newline, then one byte: still a torn last line.
    journal.write_bytes(journal.read_bytes() + _line(2, [["t", "b", {"v": 2}]])[:-1] + b"x")
    with caplog.at_level(logging.WARNING):
        db = Database(tmp_path / "db")
    assert db.records("t") == {"a": {"v": 1}}
    assert caplog.messages == ["dropping a torn last line of db.journal"]
    db.close()


def test_a_failed_commit_on_a_fresh_or_just_compacted_journal_leaves_it_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(tmp_path / "db")
    for round_ in range(2):
        with monkeypatch.context() as m, pytest.raises(StoreError, match="is full"):
            m.setattr(osfs, "flush", _disk_full)
            db.commit([("t", f"lost{round_}", {"v": 0})])
        assert (tmp_path / "db.journal").read_bytes() == b""
        db.commit([("t", f"kept{round_}", {"v": 1})])
        db.snapshot()
    db.commit([("t", "last", {"v": 2})])
    db.close(compact=False)
    assert sorted(Database(tmp_path / "db").records("t")) == ["kept0", "kept1", "last"]


def test_a_failed_append_that_cannot_be_cut_is_cut_by_the_next_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(tmp_path / "db")
    db.commit([("t", "a", {"v": 1})])
    good = (tmp_path / "db.journal").read_bytes()
    with monkeypatch.context() as m, pytest.raises(StoreError, match="Input/output error"):
        m.setattr(osfs, "flush", _io_error)
        m.setattr(osfs, "truncate", _io_error)
        db.commit([("t", "failed", {"v": 2})])
    db.commit([("t", "b", {"v": 3})])
    assert (tmp_path / "db.journal").read_bytes() == good + _line(2, [["t", "b", {"v": 3}]])
    db.close(compact=False)
    assert Database(tmp_path / "db").records("t") == {"a": {"v": 1}, "b": {"v": 3}}


def test_deleting_what_does_not_exist_is_a_no_op(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    db.commit([("never", "k", None)])
    db.commit([("t", "a", {"v": 1})])
    db.commit([("t", "missing", None), ("t", "a", None)])
    assert db.records("t") == {}
    db.close()
    assert Database(tmp_path / "db").records("t") == {}


def test_a_cold_table_read_by_key_first_is_parsed(tmp_path: Path) -> None:
    _snapshot_of(tmp_path)
    lazy = Database(tmp_path / "db", eager={"hot"})
    assert lazy.get("cold", "x") == {"v": 1}
    assert lazy.get("cold", "nothing") is None and lazy.get("nothing", "x") is None


def test_queries_through_tinydb_see_each_commit(tmp_path: Path) -> None:
    db = Database(tmp_path / "db")
    table = db.table("t")
    assert table.search(where("v") == 1) == []
    db.commit([("t", "k", {"v": 1})])
    assert table.search(where("v") == 1) == [{"v": 1}]
    assert db.table("t").get(doc_id="k") == {"v": 1}


def test_compaction_waits_for_a_journal_strictly_over_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT", 1000)
    db = Database(tmp_path / "db")
    db.commit([("t", "k1", {"p": "x" * (1000 - len(_line(1, [["t", "k1", {"p": ""}]])))})])
    assert (tmp_path / "db.journal").stat().st_size == 1000
    assert not (tmp_path / "db.json").exists()
    db.commit([("t", "k2", {})])
    assert (tmp_path / "db.json").exists()


@pytest.mark.parametrize(("size", "compacted"), [(64 * 1024, False), (64 * 1024 + 1, True)])
def test_close_compacts_a_journal_strictly_over_64_kib_by_default(
    tmp_path: Path, size: int, compacted: bool
) -> None:
    line = _line_of_size(1, size)
    (tmp_path / "db.journal").write_bytes(line)
    Database(tmp_path / "db").close()
    assert (tmp_path / "db.json").exists() is compacted
    assert len((tmp_path / "db.journal").read_bytes()) == (0 if compacted else size)


def test_close_with_a_failed_compaction_keeps_the_journal_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "db.journal").write_bytes(_line_of_size(1, 70_000))
    db = Database(tmp_path / "db")
    monkeypatch.setattr(osfs, "replace", _disk_full)
    db.close()  # the action was saved long ago: closing does not fail
    monkeypatch.undo()
    assert not (tmp_path / "db.json").exists()
    assert len(Database(tmp_path / "db").records("t")) == 1


def test_a_failed_compaction_is_logged_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(storage, "MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT", 100)
    monkeypatch.setattr(osfs, "replace", _io_error)
    db = Database(tmp_path / "db")
    with caplog.at_level(logging.WARNING):
        db.commit([("t", "k", {"p": "x" * 200})])
    assert caplog.messages == [
        f"db not compacted: could not write {tmp_path / 'db.json'}: Input/output error"
    ]


@pytest.mark.parametrize("step", ["open", "write"])
def test_a_snapshot_that_cannot_write_its_temp_file_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    db = Database(tmp_path / "db")
    db.commit([("t", "k", {"v": 1})])
    fail: Callable[..., None] = _io_error
    monkeypatch.setattr(osfs, "open_private" if step == "open" else "write_all", fail)
    with pytest.raises(StoreError) as caught:
        db.snapshot()
    assert str(caught.value) == f"could not write {tmp_path / 'db.json'}: Input/output error"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.journal"]


def test_a_journal_that_cannot_be_emptied_after_a_snapshot_is_kept_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(tmp_path / "db")
    db.commit([("t", "k", {"v": 1})])
    journal = (tmp_path / "db.journal").read_bytes()
    with monkeypatch.context() as m, caplog.at_level(logging.WARNING):
        m.setattr(osfs, "flush_dir", _io_error)
        db.snapshot()
    assert caplog.messages == ["db: journal kept after a snapshot ([Errno 5] Input/output error)"]
    assert (tmp_path / "db.journal").read_bytes() == journal
    db.commit([("t", "j", {"v": 2})])
    db.close(compact=False)
    assert Database(tmp_path / "db").records("t") == {"k": {"v": 1}, "j": {"v": 2}}


def test_a_damaged_database_refuses_writes_naming_the_moved_files(tmp_path: Path) -> None:
    snapshot = _snapshot_of(tmp_path)
    snapshot.write_bytes(snapshot.read_bytes().replace(b'{"x":{"v":1}}', b'{"x":1}'))
    lazy = Database(tmp_path / "db", eager={"hot"})
    assert lazy.records("cold") == {}
    assert lazy.damaged is not None
    moved = ", ".join(p.name for p in lazy.damaged.moved_to)
    assert moved.count("corrupt-") == 2
    with pytest.raises(StoreError) as caught:
        lazy.commit([("hot", "b", {"v": 2})])
    assert str(caught.value) == (
        f"db.json is damaged (table cold: a record that is not an object): its files were "
        f"moved aside ({moved}) and nothing more is saved to it; sync to rebuild a shared circle"
    )


def test_a_cold_table_queried_first_is_parsed(tmp_path: Path) -> None:
    _snapshot_of(tmp_path)
    lazy = Database(tmp_path / "db", eager={"hot"})
    assert lazy.table("cold").all() == [{"v": 1}]


def test_the_journal_line_format_is_stable() -> None:
    """Lines written by every version read the same: `<crc32 as 8 lowercase hex> <json>`."""
    assert _frame(b'{"n":1,"c":[]}') == b'e382e981 {"n":1,"c":[]}\n'


def test_closing_survives_an_error_from_closing_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    db = Database(tmp_path / "db")
    db.commit([("t", "k", {"v": 1})])
    journal_fd = db._journal_fd
    real_close = os.close

    def close_reporting_eio(fd: int) -> None:
        real_close(fd)
        if fd == journal_fd:
            raise OSError(5, "Input/output error")  # as NFS may report a late write error

    monkeypatch.setattr(os, "close", close_reporting_eio)
    db.close()
    monkeypatch.undo()
    assert db._journal_fd is None
    assert Database(tmp_path / "db").records("t") == {"k": {"v": 1}}
