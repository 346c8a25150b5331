"""Ops: every change to a circle, local or pulled, is one of these.

An op is `{id, circle, entity, key, fields, hlc, author}`. `id` is random (128 bits) and
globally unique; `hlc` orders ops totally. A delete is an op whose fields are exactly
`{"_deleted": true}`: a sticky tombstone.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from xcircle.errors import InvalidOp
from xcircle.hlc import COUNTER_DIGITS, WALL_DIGITS

DELETED = "_deleted"
MAX_OP_BYTES = 64 * 1024


_seeded: random.Random | None = None


def new_id() -> str:
    """A random 128-bit id as 32 hex characters (ops, circles, members, goals…)."""
    if _seeded is not None:
        return f"{_seeded.getrandbits(128):032x}"
    return uuid.uuid4().hex


@contextmanager
def deterministic_ids(seed: int) -> Iterator[None]:
    """Make `new_id` reproducible inside the block (demo snapshots and tests only)."""
    global _seeded
    previous, _seeded = _seeded, random.Random(seed)
    try:
        yield
    finally:
        _seeded = previous


@dataclass(frozen=True, slots=True)
class Op:
    """One change: set some `fields` of the record `entity/key` in `circle`."""

    id: str
    circle: str
    entity: str
    key: str
    hlc: str
    author: str
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def is_delete(self) -> bool:
        return len(self.fields) == 1 and self.fields.get(DELETED) is True

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "circle": self.circle,
            "entity": self.entity,
            "key": self.key,
            "fields": self.fields,
            "hlc": self.hlc,
            "author": self.author,
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS)

    @classmethod
    def from_dict(cls, data: Any, *, json_keys: bool = False) -> Op:
        """Build an op from untrusted data; raises InvalidOp with the reason.

        This is the hot path of an initial pull (100k ops): one pass, no helpers.
        `json_keys`: `data` came from a JSON parser, whose object keys are strings.
        """
        if type(data) is not dict:
            raise InvalidOp("op is not an object")
        get = data.get
        values = (get("id"), get("circle"), get("entity"), get("key"), get("hlc"), get("author"))
        for name, value in zip(_TEXT_FIELDS, values, strict=True):
            if type(value) is not str or not 0 < len(value) <= 200:
                raise InvalidOp(f"op field {name!r} is not a short string")
        fields = get("fields", {})
        if type(fields) is not dict or not (json_keys or all(type(k) is str for k in fields)):
            raise InvalidOp("op fields are not an object")
        if _HLC.fullmatch(values[4]) is None:  # type: ignore[arg-type]
            raise InvalidOp("op has a malformed hlc")
        return cls(*values, fields)  # type: ignore[arg-type]

    @classmethod
    def from_bytes(cls, raw: bytes) -> Op:
        if len(raw) > MAX_OP_BYTES:
            raise InvalidOp(f"op is larger than {MAX_OP_BYTES} bytes")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidOp("op is not JSON") from None
        return cls.from_dict(data, json_keys=True)


# In the order of Op's positional fields.
_TEXT_FIELDS = ("id", "circle", "entity", "key", "hlc", "author")
_HLC = re.compile(rf"[0-9]{{{WALL_DIGITS}}}-[0-9]{{{COUNTER_DIGITS}}}-[^-].*", re.ASCII)
