"""What every service shares: the store, the clock, and lookups by id or name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from xcircle.domain import complete
from xcircle.errors import Ambiguous, InvalidInput, NotFound, NotYours, RemovedFromCircle
from xcircle.merge import Record
from xcircle.ops import Op
from xcircle.safetext import problem
from xcircle.store import REMOVED, Store


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
        """One user action: one transaction, one durable write. A circle this device was
        removed from (the exchange said so at a sync) is read-only: its changes could
        reach nobody."""
        batch = list(ops)
        for circle in {op.circle for op in batch}:
            if self.store.meta(circle).get(REMOVED):
                raise RemovedFromCircle(
                    "you were removed from this circle: it is read-only on this device"
                )
        self.store.apply(batch, meta=meta)

    def me(self, circle: str) -> str | None:
        """My member id in `circle`, if I am one of its members."""
        me = self.store.meta(circle).get("me")
        return me if isinstance(me, str) else None

    def members(self, circle: str) -> list[Record]:
        """A circle's members in the order they joined (ties by id): every replica agrees,
        and rotations start from it."""
        return sorted(self.store.records(circle, "member"), key=lambda m: self._join_key(circle, m))

    def _join_key(self, circle: str, member: Record) -> tuple[str, str, str]:
        # `joined` has a one-second grain: members added in the same second are ordered
        # by the stamp of their `joined` field (this device's clock is monotonic, and
        # stamps order totally across devices), never by their random ids alone.
        raw = self.store.raw(circle, "member", member["id"]) or {}
        stamp = raw.get("_h", {}).get("joined", "")
        return member.get("joined", ""), stamp, member["id"]

    def node(self) -> str:
        """This device's node id (the author of the ops it makes)."""
        return str(self.store.require_profile()["node"])

    def check_mine(self, circle: str, entity: str, key: str, owner: str | None, what: str) -> None:
        """Refuse to change someone else's `what`: it is mine when `owner` (the giver,
        the owner) is my member id in the circle, or when this device recorded it (the
        facilitator who typed it in)."""
        if owner is not None and owner == self.me(circle):
            return
        raw = self.store.raw(circle, entity, key) or {}
        author = raw.get("_author")
        if author is None:  # a mutable record: who stamped its creation
            stamp = str(raw.get("_h", {}).get("created", ""))
            author = stamp.split("-", 2)[2] if stamp.count("-") >= 2 else None
        if author != self.node():
            raise NotYours(f"only whoever gave or recorded this {what} can change it", field=what)

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


def join_ranks(members: list[Record]) -> dict[str, str]:
    """Member id -> a sortable rank in join order (`Context.members` order), for the
    rotation's tie-break: members who joined in the same second keep a fixed order."""
    return {m["id"]: f"{i:06d}" for i, m in enumerate(members)}


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
    text: str,
    what: str,
    max_len: int,
    *,
    required: bool = False,
    multiline: bool = False,
    field: str = "",
) -> str:
    """Strip `text` and check it against what the schema allows: its length, and no
    character that could drive a terminal (control characters, newline and tab only
    where `multiline`, bidi overrides), refused here naming what it is (`what`, for the
    message; `field`, for the form), so the CLI and the app say the same."""
    text = text.strip()
    if multiline:
        text = text.replace("\r\n", "\n")  # pasted Windows line ends are line ends
    if required and not text:
        raise InvalidInput(f"{what} cannot be empty", field=field)
    if len(text) > max_len:
        raise InvalidInput(f"{what} is longer than {max_len} characters", field=field)
    unsafe = problem(text, multiline=multiline)
    if unsafe:
        raise InvalidInput(f"{what} contains {unsafe}, which is not allowed here", field=field)
    return text


def in_range(value: int | None, what: str, lo: int, hi: int, *, field: str = "") -> int | None:
    if value is None:
        return None
    if not lo <= value <= hi:
        raise InvalidInput(f"{what} must be between {lo} and {hi}, not {value}", field=field)
    return value
