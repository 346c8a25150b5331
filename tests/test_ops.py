"""Pulled ops are untrusted: each malformed shape is refused with its reason."""

from __future__ import annotations

import orjson
import pytest

from xcircle.errors import InvalidOp
from xcircle.ops import MAX_OP_BYTES, Op

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
