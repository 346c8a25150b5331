"""Pulled ops are untrusted: each malformed shape is refused with its reason."""

from __future__ import annotations

import random
import re

import orjson
import pytest

from xcircle.errors import InvalidOp
from xcircle.ops import MAX_OP_BYTES, Op, deterministic_ids, new_id

GOOD = {
    "id": "a" * 32,
    "circle": "c" * 32,
    "entity": "goal",
    "key": "b" * 32,
    "hlc": "1700000000000-000001-node",
    "author": "node",
    "fields": {"title": "Ship"},
}


def test_a_good_op_round_trips() -> None:
    op = Op.from_bytes(orjson.dumps(GOOD))
    assert Op.from_bytes(op.to_bytes()) == op


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": ""}, "'id' is not a short string"),
        ({"circle": 7}, "'circle' is not a short string"),
        ({"author": "x" * 201}, "'author' is not a short string"),
        ({"hlc": "yesterday"}, "malformed hlc"),
        ({"hlc": "1700000000000-1-node"}, "malformed hlc"),
        ({"fields": ["title"]}, "fields are not an object"),
    ],
)
def test_malformed_ops_are_refused_with_their_reason(
    change: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidOp, match=reason):
        Op.from_bytes(orjson.dumps({**GOOD, **change}))


def test_missing_fields_non_objects_non_json_and_oversize_are_refused() -> None:
    with pytest.raises(InvalidOp, match="'key' is not"):
        Op.from_bytes(orjson.dumps({k: v for k, v in GOOD.items() if k != "key"}))
    with pytest.raises(InvalidOp, match="not an object"):
        Op.from_bytes(b"[1, 2]")
    with pytest.raises(InvalidOp, match="not JSON"):
        Op.from_bytes(b"{nope")
    with pytest.raises(InvalidOp, match="larger than"):
        Op.from_bytes(b" " * (MAX_OP_BYTES + 1))
    with pytest.raises(InvalidOp, match="fields are not an object"):
        Op.from_dict({**GOOD, "fields": {1: "x"}})


def test_ids_are_32_hex_and_reproducible_only_inside_the_block() -> None:
    free = {new_id() for _ in range(50)}
    assert len(free) == 50 and all(re.fullmatch("[0-9a-f]{32}", i) for i in free)
    with deterministic_ids(7):
        first = [new_id() for _ in range(3)]
        with deterministic_ids(8):
            other = new_id()
        after_inner = new_id()  # the outer sequence resumes
    with deterministic_ids(7):
        again = [new_id() for _ in range(4)]
    assert first == again[:3] and after_inner == again[3]
    assert other not in again
    assert first[0] == f"{random.Random(7).getrandbits(128):032x}"
    assert all(len(i) == 32 for i in first)
    assert new_id() not in again  # random again once the block is left


def test_only_a_lone_true_deleted_field_is_a_delete() -> None:
    def op(fields: dict[str, object]) -> Op:
        return Op.from_dict({**GOOD, "fields": fields})

    assert op({"_deleted": True}).is_delete
    assert not op({"_deleted": 1}).is_delete
    assert not op({"_deleted": False}).is_delete
    assert not op({"_deleted": True, "title": "x"}).is_delete
    assert not op({}).is_delete


def test_an_op_serialises_every_field_with_sorted_keys() -> None:
    op = Op.from_dict({**GOOD, "fields": {"title": "Ship", "due": None}})
    assert op.to_dict() == {**GOOD, "fields": {"title": "Ship", "due": None}}
    raw = op.to_bytes()
    assert raw == orjson.dumps(op.to_dict(), option=orjson.OPT_SORT_KEYS)
    assert raw.index(b'"author"') < raw.index(b'"circle"') < raw.index(b'"fields"')
    assert raw.index(b'"due"') < raw.index(b'"title"')


def test_text_fields_of_1_to_200_characters_are_accepted() -> None:
    for name in ("id", "circle", "entity", "key", "author"):
        assert getattr(Op.from_dict({**GOOD, name: "x" * 200}), name) == "x" * 200
        assert getattr(Op.from_dict({**GOOD, name: "x"}), name) == "x"
        with pytest.raises(InvalidOp, match=f"^op field '{name}' is not a short string$"):
            Op.from_dict({**GOOD, name: "x" * 201})


def test_fields_default_to_empty_and_keys_must_be_text_unless_from_json() -> None:
    assert Op.from_dict({k: v for k, v in GOOD.items() if k != "fields"}).fields == {}
    with pytest.raises(InvalidOp, match=r"^op fields are not an object$"):
        Op.from_dict({**GOOD, "fields": {"a": 1, 2: "b"}})
    assert Op.from_dict({**GOOD, "fields": {"a": 1}}).fields == {"a": 1}
    assert Op.from_dict({**GOOD, "fields": {1: "x"}}, json_keys=True).fields == {1: "x"}
    with pytest.raises(InvalidOp, match=r"^op is not an object$"):
        Op.from_dict([GOOD])


@pytest.mark.parametrize(
    ("hlc", "ok"),
    [
        ("1700000000000-000001-n", True),
        ("1700000000000-000001-n-with-dashes", True),
        ("1700000000000-000001--n", False),
        ("1700000000000-000001-", False),
        ("170000000000-000001-n", False),
        ("1700000000000-0000001-n", False),
        ("1700000000000_000001-n", False),
        ("x1700000000000-000001-n", False),
    ],
)
def test_the_hlc_must_be_a_whole_stamp(hlc: str, ok: bool) -> None:
    if ok:
        assert Op.from_dict({**GOOD, "hlc": hlc}).hlc == hlc
    else:
        with pytest.raises(InvalidOp, match=r"^op has a malformed hlc$"):
            Op.from_dict({**GOOD, "hlc": hlc})


def test_an_op_of_exactly_the_limit_is_read() -> None:
    raw = orjson.dumps(GOOD)
    padded = raw[:-1] + b" " * (MAX_OP_BYTES - len(raw)) + b"}"
    assert len(padded) == MAX_OP_BYTES
    assert Op.from_bytes(padded) == Op.from_dict(GOOD)
    with pytest.raises(InvalidOp, match=f"^op is larger than {MAX_OP_BYTES} bytes$"):
        Op.from_bytes(raw[:-1] + b" " * (MAX_OP_BYTES + 1 - len(raw)) + b"}")
    with pytest.raises(InvalidOp, match=r"^op is not JSON$"):
        Op.from_bytes(b"{nope")
