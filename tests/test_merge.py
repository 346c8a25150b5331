"""The merge algebra: order-independent, idempotent, tombstones sticky."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from xcircle.hlc import Stamp
from xcircle.merge import is_live, merge
from xcircle.ops import Op
from xcircle.store import Store

CIRCLE = "c" * 32
GOALS = ["1" * 32, "2" * 32]
NODES = ["node-a", "node-b", "node-c"]


class DictView:
    """merge's View over a plain dict (a replica without files)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, dict[str, Any]]] = {}

    def get(self, table: str, key: str) -> dict[str, Any] | None:
        return self.data.get(table, {}).get(key)

    def put(self, table: str, key: str, record: dict[str, Any]) -> None:
        self.data.setdefault(table, {})[key] = record

    def canonical(self) -> bytes:
        return orjson.dumps(self.data, option=orjson.OPT_SORT_KEYS)


stamps = st.builds(
    lambda wall, counter, node: str(Stamp(wall, counter, node)),
    st.integers(1_700_000_000_000, 1_700_000_000_010),
    st.integers(0, 2),
    st.sampled_from(NODES),
)
goal_fields = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "title": st.sampled_from(["Ship", "Learn", "Rest"]),
            "status": st.sampled_from(["active", "done", "dropped"]),
            "due": st.sampled_from([None, "2026-12-01", "2027-01-15"]),
        },
    ).filter(bool),
    st.just({"_deleted": True}),
)
checkin_fields = st.one_of(
    st.builds(
        lambda goal, progress: {
            "goal": goal,
            "progress": progress,
            "note": "",
            "at": "2026-11-23T10:00:00+00:00",
        },
        st.sampled_from(GOALS),
        st.integers(0, 100),
    ),
    st.just({"_deleted": True}),
)


@st.composite
def ops(draw: st.DrawFn) -> Op:
    op_id = draw(st.sampled_from([f"{i:032x}" for i in range(40)]))
    hlc = draw(stamps)
    if draw(st.booleans()):
        return Op(op_id, CIRCLE, "goal", draw(st.sampled_from(GOALS)), hlc, "a", draw(goal_fields))
    key = draw(st.sampled_from([op_id, "9" * 32]))
    return Op(op_id, CIRCLE, "checkin", key, hlc, "a", draw(checkin_fields))


def replay(batch: list[Op]) -> bytes:
    view = DictView()
    for op in batch:
        merge(view, op)
    return view.canonical()


@settings(max_examples=300)
@given(st.lists(ops(), max_size=25), st.randoms(use_true_random=False))
def test_any_order_and_any_repetition_gives_the_same_state(batch: list[Op], rnd: Any) -> None:
    expected = replay(batch)
    shuffled = [*batch, *rnd.sample(batch, k=len(batch) // 2)]  # a multiset: repeats
    rnd.shuffle(shuffled)
    assert replay(shuffled) == expected


@settings(max_examples=150)
@given(st.lists(ops(), max_size=20))
def test_applying_everything_again_changes_nothing(batch: list[Op]) -> None:
    view = DictView()
    for op in batch:
        merge(view, op)
    before = view.canonical()
    assert not any(merge(view, op) for op in batch)
    assert view.canonical() == before


def test_last_writer_wins_per_field() -> None:
    view = DictView()
    goal = GOALS[0]
    merge(view, Op("1" * 32, CIRCLE, "goal", goal, str(Stamp(2, 0, "b")), "b", {"title": "New"}))
    merge(view, Op("2" * 32, CIRCLE, "goal", goal, str(Stamp(1, 0, "a")), "a", {"title": "Old"}))
    merge(view, Op("3" * 32, CIRCLE, "goal", goal, str(Stamp(1, 5, "a")), "a", {"status": "done"}))
    record = view.get("goal", goal)
    assert record is not None
    assert (record["title"], record["status"]) == ("New", "done")


def test_a_delete_is_sticky_whatever_arrives_later() -> None:
    view = DictView()
    goal = GOALS[0]
    merge(view, Op("1" * 32, CIRCLE, "goal", goal, str(Stamp(1, 0, "a")), "a", {"title": "A"}))
    merge(view, Op("2" * 32, CIRCLE, "goal", goal, str(Stamp(2, 0, "a")), "a", {"_deleted": True}))
    merge(view, Op("3" * 32, CIRCLE, "goal", goal, str(Stamp(9, 0, "b")), "b", {"title": "B"}))
    assert not is_live(view.get("goal", goal))


@settings(max_examples=25, deadline=None)
@given(st.lists(ops(), max_size=15), st.randoms(use_true_random=False))
def test_stores_agree_byte_for_byte(tmp_path_factory: Any, batch: list[Op], rnd: Any) -> None:
    """The same ops, pulled in different orders and batches into real stores, agree."""
    states = []
    for attempt in range(2):
        home: Path = tmp_path_factory.mktemp("replica")
        with Store(home) as store:
            store.create_circle(CIRCLE)
            order = list(batch)
            rnd.shuffle(order)
            cut = rnd.randint(0, len(order))
            for seq, part in enumerate((order[:cut], order[cut:], order)):
                payloads = [(op.id, op.to_bytes()) for op in part]
                store.apply_pulled(CIRCLE, payloads, cursor=seq + 10 * attempt)
            states.append(store.canonical(CIRCLE))
        with Store(home) as reopened:
            assert reopened.canonical(CIRCLE) == states[-1]
    assert states[0] == states[1]
