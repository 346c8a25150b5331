"""What the store tells whoever shows its data: each change (circle, entities, origin),
and fields this device had just set that a pulled op overwrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import NOW
from xcircle.errors import RemovedFromCircle
from xcircle.hlc import Stamp, wall_ms
from xcircle.ops import Op
from xcircle.services import Services
from xcircle.store import REMOVED, Change, Store


def _circle(home: Path) -> tuple[Store, Services, str]:
    store = Store(home)
    svc = Services(store, clock=lambda: NOW)
    svc.init_profile("Ada", "Acme")
    return store, svc, svc.circles.create("Leaders")["id"]


def _theirs(op: Op, **fields: object) -> tuple[str, bytes]:
    """A pulled op from another device on the same record, stamped later."""
    stamp = str(Stamp(wall_ms() + 1000, 0, "b" * 16))
    theirs = Op(op.id[::-1], op.circle, op.entity, op.key, stamp, "b" * 16, fields)
    return theirs.id, theirs.to_bytes()


def test_every_change_is_told_with_its_circle_entities_and_origin(tmp_path: Path) -> None:
    store, svc, cid = _circle(tmp_path / "home")
    seen: list[Change] = []
    store.on_change = seen.append
    goal = svc.goals.add(cid, "Delegate")["id"]
    assert seen == [Change(cid, frozenset({"goal"}), "local")]
    op = store.op(cid, "goal", goal, {"title": "Delegate more"})
    pulled = _theirs(op, title="Delegate more")
    store.apply_pulled(cid, [pulled], 1)
    assert seen[-1] == Change(cid, frozenset({"goal"}), "sync")
    count = len(seen)
    store.apply_pulled(cid, [pulled], 1)  # the same op again: nothing new
    assert len(seen) == count
    later = Op(
        op.id[1:] + "c",
        cid,
        "goal",
        goal,
        str(Stamp(wall_ms() + 5000, 0, "c" * 16)),
        "c" * 16,
        {"title": "Delegate most"},
    )
    store.apply([later, later], local=False)
    assert len(seen) == count + 1  # the same op twice changed the title once, told once
    store.close()


def test_a_pulled_op_over_my_fresh_field_is_reported_with_its_author(tmp_path: Path) -> None:
    store, svc, cid = _circle(tmp_path / "home")
    goal = svc.goals.add(cid, "Delegate")["id"]
    svc.goals.update(cid, goal, title="Delegate the report", why="Time")
    op = store.op(cid, "goal", goal, {"title": "x"})
    pulled = [_theirs(op, title="Delegate the budget", why="Time")]
    result = store.apply_pulled(cid, pulled, 1, mine_since=0)
    # The title changed under me; `why` arrived with the same value: nothing lost.
    assert [(o.entity, o.key, o.field, o.author) for o in result.overwritten] == [
        ("goal", goal, "title", "b" * 16)
    ]
    assert store.get(cid, "goal", goal)["title"] == "Delegate the budget"


def test_an_old_field_of_mine_or_no_watch_reports_nothing(tmp_path: Path) -> None:
    store, svc, cid = _circle(tmp_path / "home")
    goal = svc.goals.add(cid, "Delegate")["id"]
    op = store.op(cid, "goal", goal, {"title": "x"})
    later = store.apply_pulled(cid, [_theirs(op, title="A")], 1, mine_since=wall_ms() + 10_000)
    assert later.overwritten == []  # my title was set before the watch began
    unwatched = store.apply_pulled(cid, [_theirs(op, title="B")], 2)
    assert unwatched.overwritten == []


def test_a_removed_circle_is_read_only_and_can_be_forgotten(tmp_path: Path) -> None:
    store, svc, cid = _circle(tmp_path / "home")
    store.set_meta(cid, **{REMOVED: True})
    pending = store.pending(cid)
    with pytest.raises(RemovedFromCircle, match="read-only"):
        svc.goals.add(cid, "Nobody would see this")
    assert store.pending(cid) == pending and store.records(cid, "goal") == []
    store.forget_circle(cid)
    assert not store.has_circle(cid)
    assert not list((tmp_path / "home" / "circles").glob(f"{cid}.*"))
    store.close()
    with Store(tmp_path / "home") as again:
        assert cid not in again.circle_ids()
