"""A full disk and short writes at every write position lose no acknowledged action.

`xcircle.osfs._os_write` is the one call through which the store, the profile and
exports write bytes: the fault hook below replaces it to cut a write short, or to make
the disk full from a chosen write on, and then frees the space again.
"""

from __future__ import annotations

import errno
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import NOW
from tests.tmpfs import mounted_tmpfs, resize
from xcircle import osfs, storage
from xcircle.errors import StoreError
from xcircle.export import write_private
from xcircle.services import Services
from xcircle.store import Store

FULL = "is full; nothing was lost; free space and try again"


@dataclass
class Disk:
    """Counts writes; from write number `fail_at` on, behaves as told by `kind`."""

    fail_at: int = -1
    kind: str = "full"  # "full": half of that write lands, then ENOSPC until freed
    #                     "short": that write lands in part only; the rest is continued
    writes: int = 0
    refused: int = 0  # writes refused while the disk was full
    armed: bool = False  # counting starts once the home is set up
    freed: bool = False
    full: bool = field(default=False, init=False)

    def write(self, fd: int, data: bytes | memoryview) -> int:
        if not self.armed:
            return os.write(fd, data)
        n = self.writes
        self.writes += 1
        if self.full and not self.freed:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if n == self.fail_at and len(data) > 1:
            if self.kind == "full":
                self.full = True
            return os.write(fd, data[: len(data) // 2])
        return os.write(fd, data)


@pytest.fixture(autouse=True)
def _snapshot_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """Faults must also hit the snapshots that actions take."""
    monkeypatch.setattr(storage, "MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT", 1500)


def _on(monkeypatch: pytest.MonkeyPatch, disk: Disk) -> Disk:
    monkeypatch.setattr(osfs, "_os_write", disk.write)
    return disk


def _scenario(home: Path, disk: Disk, export: Path) -> tuple[str, set[str], bool]:
    """Actions a member takes while the disk fills and is freed again; returns the
    circle, the goals acknowledged (their add returned) and whether a failure was the
    clear disk-full line."""
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Ada", "Acme")
        cid = svc.circles.create("Faults")["id"]
    disk.armed = True
    acked: set[str] = set()
    said_full = False
    struck: int | None = None
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        for i in range(26):
            if disk.full and struck is None:
                struck = i
            if i == 24 or (struck is not None and i == struck + 3):
                disk.freed = True  # the member frees space and goes on
            title = f"goal {i}"
            try:
                if i % 8 == 5:
                    store._db(cid).snapshot()  # compaction on its own, as on close
                if i % 8 == 6:
                    store.save_profile(bio=f"bio {i}")
                if i % 8 == 7:
                    write_private(export, f"export {i}\n".encode())
                svc.goals.add(cid, title)
            except StoreError as exc:
                said_full = said_full or FULL in str(exc)
                continue
            acked.add(title)
    return cid, acked, said_full


def _titles(home: Path, cid: str) -> set[str]:
    with Store(home) as store:
        assert not store.notices, store.notices  # opens clean: nothing torn, nothing moved
        return {g["title"] for g in Services(store).goals.all(cid)}


def test_the_scenario_writes_through_the_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = _on(monkeypatch, Disk())
    cid, acked, _ = _scenario(tmp_path / "home", disk, tmp_path / "out.txt")
    assert len(acked) == 26 and _titles(tmp_path / "home", cid) == acked
    assert disk.writes > 30  # journal appends, snapshots, the profile, exports


@pytest.mark.parametrize("kind", ["full", "short"])
def test_a_fault_at_every_write_position_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    clean = _on(monkeypatch, Disk())
    _scenario(tmp_path / "count", clean, tmp_path / "count.txt")
    positions = clean.writes
    assert positions > 30
    for position in range(positions):
        home, export = tmp_path / f"h{position}", tmp_path / f"e{position}.txt"
        disk = _on(monkeypatch, Disk(fail_at=position, kind=kind))
        cid, acked, said_full = _scenario(home, disk, export)
        assert _titles(home, cid) == acked, f"{kind} at write {position}"
        if kind == "short":
            assert len(acked) == 26  # a short write is continued: nothing fails
        else:
            assert disk.full
            if disk.refused:
                assert said_full, f"no clear disk-full line at write {position}"
            assert {"goal 24", "goal 25"} <= acked  # saved again once space is freed
        assert not list(home.rglob("*.tmp")), "a temp file was left behind"
        if export.exists():
            assert export.read_bytes().startswith(b"export ")  # whole, never torn
        shutil.rmtree(home)


def test_a_failed_snapshot_keeps_the_previous_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEC-25: a failure between writing the new snapshot and replacing the old one."""
    home = tmp_path / "home"
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Ada", "Acme")
        cid = svc.circles.create("One")["id"]
        svc.goals.add(cid, "before")
        store._db(cid).snapshot()
        svc.goals.add(cid, "after the snapshot")
        expected = store.canonical(cid)

        def refuse(src: Path, dst: Path) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(osfs, "replace", refuse)
        with pytest.raises(StoreError, match="could not write"):
            store._db(cid).snapshot()
        # An action whose snapshot fails is still saved and says so by returning.
        monkeypatch.setattr(storage, "MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT", 0)
        svc.goals.add(cid, "while snapshots fail")
        expected_after = store.canonical(cid)
        assert expected_after != expected
    monkeypatch.undo()
    assert not list((home / "circles").glob("*.tmp"))
    with Store(home) as store:
        assert not store.notices
        assert store.canonical(cid) == expected_after
        titles = {g["title"] for g in Services(store).goals.all(cid)}
    assert titles == {"before", "after the snapshot", "while snapshots fail"}


@pytest.mark.slow
def test_a_real_full_filesystem_loses_no_acknowledged_goal(tmp_path: Path) -> None:
    with mounted_tmpfs(tmp_path / "fs", "256k") as fs:
        home = fs / "home"
        with Store(home) as store:
            svc = Services(store, clock=lambda: NOW)
            svc.init_profile("Ada", "Acme")
            cid = svc.circles.create("Small disk")["id"]
        acked: list[str] = []
        with Store(home) as store:
            svc = Services(store, clock=lambda: NOW)
            for i in range(5000):
                try:
                    svc.goals.add(cid, f"goal {i} " + "x" * 150)
                except StoreError as exc:
                    assert FULL in str(exc)
                    break
                acked.append(f"goal {i} " + "x" * 150)
            else:
                pytest.fail("the 256 KiB filesystem never filled")
            # The app keeps running: another try fails the same clear way.
            with pytest.raises(StoreError, match=FULL):
                svc.goals.add(cid, "one more")
        assert len(acked) > 100
        assert _titles(home, cid) == set(acked)
        resize(fs, "4m")
        with Store(home) as store:
            Services(store, clock=lambda: NOW).goals.add(cid, "after freeing space")
        assert _titles(home, cid) == {*acked, "after freeing space"}
