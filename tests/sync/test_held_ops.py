"""Ops from the future: held once, re-checked on every sync without being rewritten,
merged when due; stamped more than a day ahead, quarantined (issue 9: 2,000 ops stamped
in 2286 cost 4.7 MB of journal on every no-change sync, forever)."""

from __future__ import annotations

from pathlib import Path

from sync.engine import sync
from xcircle.ops import Op, new_id

from .hostile_exchange import AUTHOR, HostileExchange, feedback_op, shared_home

A = "a1" * 16
NOW = 1_800_000_000_000
MINUTE = 60_000


def stamped(n: int, wall: int) -> Op:
    op = feedback_op(A, n)
    return Op(op.id, A, op.entity, op.key, f"{wall:013d}-000000-{AUTHOR}", AUTHOR, op.fields)


def journal_size(home: Path) -> int:
    return sum(p.stat().st_size for p in (home / "circles").glob(f"{A}*"))


def test_held_ops_are_written_once_and_merged_when_due(tmp_path: Path) -> None:
    clock = [NOW]
    ex = HostileExchange()
    soon = [stamped(n, NOW + 30 * MINUTE) for n in range(200)]  # half an hour ahead: held
    far = stamped(999, 9_900_000_000_000)  # year 2283: quarantined
    for op in [*soon, far]:
        ex.append(A, op)
    home = tmp_path / "home"
    store = shared_home(home, [A])
    store.now_ms = lambda: clock[0]
    try:
        with ex.client() as client:
            report = sync(store, client, now_ms=lambda: clock[0])
        assert report.circles[A].held == 200 and report.circles[A].merged == 0
        assert report.circles[A].quarantined == [
            (far.id, "stamped more than a day ahead of this device's clock")
        ]
        size = journal_size(home)
        for _ in range(5):  # no-change syncs: re-checked, nothing written
            clock[0] += MINUTE
            with ex.client() as client:
                assert sync(store, client, now_ms=lambda: clock[0]).circles[A].held == 200
        assert journal_size(home) == size
        clock[0] += 30 * MINUTE  # due now
        with ex.client() as client:
            report = sync(store, client, now_ms=lambda: clock[0])
        assert report.circles[A].merged == 200 and report.circles[A].held == 0
        assert {f["id"] for f in store.records(A, "feedback")} == {op.id for op in soon}
        assert store.held(A) == 0
    finally:
        store.close()


def test_a_held_op_pulled_again_is_not_written_again(tmp_path: Path) -> None:
    store = shared_home(tmp_path / "home", [A])
    store.now_ms = lambda: NOW
    try:
        op = stamped(1, NOW + 30 * MINUTE)
        first = store.apply_pulled(A, [(op.id, op.to_bytes())], 1)
        size = journal_size(tmp_path / "home")
        again = store.apply_pulled(A, [(op.id, op.to_bytes())], 1)
        assert first.held == again.held == 1 and store.held(A) == 1
        assert journal_size(tmp_path / "home") == size  # nothing changed: nothing written
        other = Op(new_id(), A, "goal", new_id(), f"{NOW:013d}-000000-{AUTHOR}", AUTHOR,
                   {"title": "Now"})  # fmt: skip
        store.apply_pulled(A, [(other.id, other.to_bytes())], 2)
        grew = journal_size(tmp_path / "home") - size
        assert 0 < grew < 1000  # the new op and the cursor, not the held op again
    finally:
        store.close()
