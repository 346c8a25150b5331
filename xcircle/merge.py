"""The merge rules, in one place: how an op changes a record.

Applied identically on every replica, so the state is a function of the *set* of ops:

- mutable records: last writer wins per field, by HLC stamp (equal stamps come from one
  op; a forged tie is broken by the value's bytes so replicas still agree);
- append-only records: an add-only set keyed by op id (a duplicate key keeps the op
  with the smallest `(hlc, id, content)`);
- deletes: a sticky tombstone `_d` (the largest delete stamp). Later sets still merge
  into the hidden fields, so no order of arrival can differ, but never resurrect it.

Records are stored with their fields at top level (TinyDB queries read them directly)
plus bookkeeping under `_`-prefixed names.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeGuard

import orjson

from xcircle.domain import Entity, validate_fields
from xcircle.ops import Op

Record = dict[str, Any]


class View(Protocol):
    """Where merge reads and writes records: a store transaction."""

    def get(self, table: str, key: str) -> Record | None: ...

    def put(self, table: str, key: str, record: Record) -> None: ...


def merge(view: View, op: Op, spec: Entity | None = None) -> bool:
    """Merge one (already validated) op into `view`; True when the state changed.
    `spec` is the op's entity when the caller has just validated it (saves a second pass)."""
    if spec is None:
        spec = validate_fields(op.entity, op.fields)
    current = view.get(op.entity, op.key)
    if op.is_delete:
        merged = _delete(current, op)
    elif spec.append_only:
        merged = _add(current, op)
    else:
        merged = _set(current, op)
    if merged is None:
        return False
    view.put(op.entity, op.key, merged)
    return True


def _delete(current: Record | None, op: Op) -> Record | None:
    if current is not None and current.get("_d", "") >= op.hlc:
        return None
    record = dict(current) if current else {}
    record["_d"] = op.hlc
    return record


def _add(current: Record | None, op: Op) -> Record | None:
    if current is not None and "_hlc" in current:
        if (op.hlc, op.id) > (current["_hlc"], current["_op"]):
            return None
        if (op.hlc, op.id) == (current["_hlc"], current["_op"]):
            # The same op again, or a forged twin: keep the smaller content everywhere.
            old = {k: v for k, v in current.items() if not k.startswith("_")}
            if not _tiebreak(old, op.fields):
                return None
    record: Record = dict(op.fields)
    record.update(_hlc=op.hlc, _op=op.id, _author=op.author)
    if current is not None and "_d" in current:
        record["_d"] = current["_d"]
    return record


def _set(current: Record | None, op: Op) -> Record | None:
    stamps: dict[str, str] = current.get("_h", {}) if current else {}
    changed: dict[str, Any] = {}
    for name, value in op.fields.items():
        seen = stamps.get(name)
        if seen is None or op.hlc > seen:
            changed[name] = value
        elif op.hlc == seen and current is not None and _tiebreak(value, current.get(name)):
            changed[name] = value
    if not changed:
        return None
    record = dict(current) if current else {}
    record.update(changed)
    record["_h"] = {**stamps, **dict.fromkeys(changed, op.hlc)}
    return record


def _tiebreak(new: Any, old: Any) -> bool:
    return orjson.dumps(new, option=orjson.OPT_SORT_KEYS) > orjson.dumps(
        old, option=orjson.OPT_SORT_KEYS
    )


def is_live(record: Record | None) -> TypeGuard[Record]:
    """A record that exists and is not tombstoned (an add-only tombstone may lack fields)."""
    return record is not None and "_d" not in record and ("_h" in record or "_hlc" in record)


def public(key: str, record: Record) -> Record:
    """The record as the rest of the app sees it: its fields plus `id` (and, for
    append-only records, `stamp`: the HLC that orders them the same on every replica)."""
    out = {k: v for k, v in record.items() if not k.startswith("_")}
    out["id"] = key
    if "_hlc" in record:
        out["stamp"] = record["_hlc"]
    return out
