"""What every service shares: the store, the clock, and lookups by id or name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from xcircle.domain import complete
from xcircle.errors import Ambiguous, InvalidInput, NotFound
from xcircle.merge import Record
from xcircle.ops import Op
from xcircle.safetext import problem
from xcircle.store import Store


def local_now() -> datetime:
    """The current time in the machine's local zone (aware)."""
    return datetime.now().astimezone()


class CompleteRecords:
    """The store as services read it: every record complete (`domain.complete`), so no
    use case or screen indexes a field a peer's op never set. Writes and everything
    else go to the store itself."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def get(self, circle: str, entity: str, key: str) -> Record | None:
        record = self._store.get(circle, entity, key)
        return None if record is None else complete(entity, record)

    def records(self, circle: str, entity: str) -> list[Record]:
        out = []
        for record in self._store.records(circle, entity):
            full = complete(entity, record)
            if full is not None:
                out.append(full)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@dataclass
class Context:
    """The store plus an injectable clock (tests and snapshots fix it). `store` reads
    complete records (see `CompleteRecords`)."""

    store: Store
    clock: Callable[[], datetime] = field(default=local_now)

    def __post_init__(self) -> None:
        if not isinstance(self.store, CompleteRecords):
            # Duck-typed: it has every Store method, reads made total.
            self.store = cast(Store, CompleteRecords(self.store))

    def now(self) -> datetime:
        return self.clock()

    def now_iso(self) -> str:
        return self.clock().isoformat(timespec="seconds")

    def op(self, circle: str, entity: str, key: str, **fields: Any) -> Op:
        """An op setting `fields` of the record `entity/key`."""
        return self.store.op(circle, entity, key, fields)

    def add(self, circle: str, entity: str, **fields: Any) -> Op:
        """An op adding an append-only record, keyed by the op's own id."""
        return self.store.op(circle, entity, None, fields)

    def commit(self, ops: Iterable[Op], meta: Record | None = None) -> None:
        """One user action: one transaction, one durable write."""
        self.store.apply(list(ops), meta=meta)

    def me(self, circle: str) -> str | None:
        """My member id in `circle`, if I am one of its members."""
        me = self.store.meta(circle).get("me")
        return me if isinstance(me, str) else None

    def members(self, circle: str) -> list[Record]:
        """A circle's members in the order they joined (ties by id): every replica agrees,
        and rotations start from it."""
        return sorted(
            self.store.records(circle, "member"), key=lambda m: (m.get("joined", ""), m["id"])
        )

    def record(self, circle: str, entity: str, key: str, what: str) -> Record:
        record = self.store.get(circle, entity, key)
        if record is None:
            raise NotFound(f"no {what} {key[:8]} in this circle")
        return record

    def find_record(self, entity: str, ref: str, what: str, label: str = "title") -> Record:
        """A record of `entity` in any circle by id, id prefix or unique `label` prefix."""
        ref = ref.strip()
        hits: list[Record] = []
        for cid in self.store.circle_ids():
            for rec in self.store.records(cid, entity):
                if rec["id"] == ref:
                    return {**rec, "circle": cid}
                if rec["id"].startswith(ref.lower()) or str(rec.get(label, "")).lower().startswith(
                    ref.lower()
                ):
                    hits.append({**rec, "circle": cid})
        return pick(hits, ref, what, label)


def pick(hits: list[Record], ref: str, what: str, label: str = "name") -> Record:
    """The one match of `ref`, or a clear error naming the candidates."""
    if not ref:
        raise InvalidInput(f"name a {what}")
    if not hits:
        raise NotFound(f"no {what} matches {ref!r}")
    if len(hits) > 1:
        names = ", ".join(f"{h.get(label, '')} ({h['id'][:8]})" for h in hits[:5])
        raise Ambiguous(f"{ref!r} matches several {what}s: {names}; use more of the id")
    return hits[0]


def clean(
    text: str, what: str, max_len: int, *, required: bool = False, multiline: bool = False
) -> str:
    """Strip `text` and check it against what the schema allows: its length, and no
    character that could drive a terminal (control characters, newline and tab only
    where `multiline`, bidi overrides), refused here with the field's name, so the CLI
    and the app say the same."""
    text = text.strip()
    if multiline:
        text = text.replace("\r\n", "\n")  # pasted Windows line ends are line ends
    if required and not text:
        raise InvalidInput(f"{what} cannot be empty")
    if len(text) > max_len:
        raise InvalidInput(f"{what} is longer than {max_len} characters")
    unsafe = problem(text, multiline=multiline)
    if unsafe:
        raise InvalidInput(f"{what} contains {unsafe}, which is not allowed here")
    return text


def in_range(value: int | None, what: str, lo: int, hi: int) -> int | None:
    if value is None:
        return None
    if not lo <= value <= hi:
        raise InvalidInput(f"{what} must be between {lo} and {hi}, not {value}")
    return value
