"""The merge algebra: order-independent, idempotent, tombstones sticky."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from xcircle.hlc import Stamp
from xcircle.merge import is_live, merge, public
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


# Fixed examples of every branch: hypothesis reaches forged twins and equal stamps
# only by chance, and a merge that reports no change never reaches the disk.
def goal_op(op_id: str, stamp: str, fields: dict[str, Any], key: str = GOALS[0]) -> Op:
    return Op(op_id * 32, CIRCLE, "goal", key, stamp, "a", fields)


def checkin_op(op_id: str, stamp: str, progress: int, key: str = "9" * 32) -> Op:
    fields = {"goal": GOALS[0], "progress": progress, "note": "", "at": "2026-11-23T10:00:00+00:00"}
    return Op(op_id * 32, CIRCLE, "checkin", key, stamp, "author-" + op_id, fields)


S1, S2, S3 = (str(Stamp(1_700_000_000_000 + i, 0, "node-a")) for i in (1, 2, 3))


def test_merge_says_whether_a_set_changed_the_record() -> None:
    view = DictView()
    assert merge(view, goal_op("1", S2, {"title": "New", "status": "active"})) is True
    assert merge(view, goal_op("2", S1, {"title": "Old"})) is False  # older: nothing changes
    assert merge(view, goal_op("1", S2, {"title": "New"})) is False  # the same op again
    assert merge(view, goal_op("3", S3, {"status": "done"})) is True
    assert view.get("goal", GOALS[0]) == {
        "title": "New",
        "status": "done",
        "_h": {"title": S2, "status": S3},
    }


def test_merge_says_whether_a_delete_changed_the_record() -> None:
    view = DictView()
    merge(view, goal_op("1", S1, {"title": "A"}))
    assert merge(view, goal_op("2", S2, {"_deleted": True})) is True
    assert merge(view, goal_op("2", S2, {"_deleted": True})) is False  # the same delete
    assert merge(view, goal_op("3", S1, {"_deleted": True})) is False  # an older one
    assert view.get("goal", GOALS[0]) == {"title": "A", "_h": {"title": S1}, "_d": S2}
    assert merge(view, goal_op("4", S3, {"_deleted": True})) is True  # the latest delete wins
    assert view.get("goal", GOALS[0])["_d"] == S3  # type: ignore[index]


def test_a_delete_of_an_unknown_record_is_a_bare_tombstone() -> None:
    view = DictView()
    assert merge(view, goal_op("1", S1, {"_deleted": True})) is True
    assert view.get("goal", GOALS[0]) == {"_d": S1}
    assert not is_live(view.get("goal", GOALS[0]))


def test_merge_says_whether_an_append_changed_the_record() -> None:
    view = DictView()
    key = "9" * 32
    assert merge(view, checkin_op("5", S2, 50)) is True
    assert merge(view, checkin_op("5", S2, 50)) is False  # the same op again
    assert merge(view, checkin_op("6", S2, 60)) is False  # larger (hlc, id): the first stays
    assert merge(view, checkin_op("7", S3, 70)) is False
    assert view.get("checkin", key)["progress"] == 50  # type: ignore[index]
    assert merge(view, checkin_op("4", S2, 40)) is True  # smaller id at the same stamp wins
    assert merge(view, checkin_op("8", S1, 80)) is True  # an earlier stamp wins
    assert view.get("checkin", key) == {
        **checkin_op("8", S1, 80).fields,
        "_hlc": S1,
        "_op": "8" * 32,
        "_author": "author-8",
    }


def test_a_forged_twin_keeps_the_smaller_content_in_either_order() -> None:
    small, large = checkin_op("5", S2, 10), checkin_op("5", S2, 90)
    for first, second in ((small, large), (large, small)):
        view = DictView()
        assert merge(view, first) is True
        assert merge(view, second) is (first is large)
        assert view.get("checkin", "9" * 32)["progress"] == 10  # type: ignore[index]


def test_equal_stamps_on_one_field_keep_the_larger_value_in_either_order() -> None:
    low, high = goal_op("1", S2, {"title": "Alpha"}), goal_op("2", S2, {"title": "Zulu"})
    for first, second in ((low, high), (high, low)):
        view = DictView()
        assert merge(view, first) is True
        assert merge(view, second) is (first is low)
        assert view.get("goal", GOALS[0]) == {"title": "Zulu", "_h": {"title": S2}}


def test_an_append_after_a_delete_keeps_the_tombstone() -> None:
    view = DictView()
    key = "9" * 32
    delete = replace(checkin_op("7", S3, 0, key), fields={"_deleted": True})
    assert merge(view, delete) is True
    assert merge(view, checkin_op("5", S2, 50, key)) is True
    record = view.get("checkin", key)
    assert record is not None and record["_d"] == S3 and record["progress"] == 50
    assert not is_live(record)


def test_is_live_needs_a_record_with_fields_and_no_tombstone() -> None:
    assert not is_live(None)
    assert not is_live({})
    assert not is_live({"_d": S1})
    assert not is_live({"title": "A", "_h": {"title": S1}, "_d": S2})
    assert is_live({"title": "A", "_h": {"title": S1}})
    assert is_live({"progress": 1, "_hlc": S1, "_op": "1" * 32})


def test_public_hides_every_internal_field() -> None:
    assert public("k", {"title": "A", "_h": {"title": S1}, "_d": S2, "_x": 1}) == {
        "title": "A",
        "id": "k",
    }
    assert public("k", {"progress": 1, "_hlc": S1, "_op": "o", "_author": "a"}) == {
        "progress": 1,
        "id": "k",
        "stamp": S1,
    }
