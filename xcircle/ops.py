"""Ops: every change to a circle, local or pulled, is one of these.

An op is `{id, circle, entity, key, fields, hlc, author}`. `id` is random (128 bits) and
globally unique; `hlc` orders ops totally. A delete is an op whose fields are exactly
`{"_deleted": true}`: a sticky tombstone.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from xcircle.errors import InvalidOp
from xcircle.hlc import Stamp

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
        return self.fields == {DELETED: True}

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
    def from_dict(cls, data: Any) -> Op:
        """Build an op from untrusted data; raises InvalidOp with the reason."""
        if not isinstance(data, dict):
            raise InvalidOp("op is not an object")
        try:
            op = cls(
                id=_text(data, "id"),
                circle=_text(data, "circle"),
                entity=_text(data, "entity"),
                key=_text(data, "key"),
                hlc=_text(data, "hlc"),
                author=_text(data, "author"),
                fields=data.get("fields", {}),
            )
        except KeyError as exc:
            raise InvalidOp(f"op lacks {exc.args[0]}") from None
        if not isinstance(op.fields, dict) or not all(isinstance(k, str) for k in op.fields):
            raise InvalidOp("op fields are not an object")
        try:
            Stamp.parse(op.hlc)
        except ValueError:
            raise InvalidOp("op has a malformed hlc") from None
        return op

    @classmethod
    def from_bytes(cls, raw: bytes) -> Op:
        if len(raw) > MAX_OP_BYTES:
            raise InvalidOp(f"op is larger than {MAX_OP_BYTES} bytes")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidOp("op is not JSON") from None
        return cls.from_dict(data)


def _text(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidOp(f"op field {name!r} is not a short string")
    return value
