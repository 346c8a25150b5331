"""The local store: one database per circle plus one for the profile, under one home.

`Store.apply(ops)` is the only way a circle's state changes, for local actions and
pulled ops alike: the ops are validated, merged by `xcircle.merge` and committed as one
transaction (one fsync'd append). Each circle's database also holds, in local-only
tables, its outbox (local ops not yet pushed), its pull cursor and its quarantine, so a
pulled batch and the cursor that covers it are saved in the same write.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson

from xcircle.domain import SYNCED_ENTITIES, Entity, validate_fields
from xcircle.errors import InvalidOp, NotFound, NotInitialized, StoreError, XCircleError
from xcircle.hlc import HLC, WALL_DIGITS, wall_ms
from xcircle.merge import Record, is_live, merge, public
from xcircle.ops import Op, new_id
from xcircle.osfs import HomeLock, private_dir, tighten_file
from xcircle.storage import CorruptFile, Database, gc_paused

# The keystore's files (`xcircle.keystore`), tightened with the rest of the home on open.
SECRET_FILES = ("keystore.json", "secrets.bin", "home.key")

log = logging.getLogger(__name__)

OUTBOX = "_outbox"
LOCAL = "_local"
QUARANTINE = "_quarantine"
HELD = "_held"
META = "meta"
# In a circle's meta: the exchange said this device is no longer a member (read-only).
REMOVED = "removed"
# What the home screen reads of every circle, parsed on open; a circle's other tables
# (check-ins, feedback, attendance… the bulk) are parsed when first used.
EAGER_TABLES = frozenset({"circle", "member", "meeting", "goal", "commitment", LOCAL})
# Ops stamped further ahead of this device's clock are held, not merged (DESIGN).
MAX_AHEAD_MS = 5 * 60 * 1000
# ...and beyond a day they are quarantined: no clock worth syncing with is a day off, and
# an op from year 2286 would otherwise be held (and carried) forever.
MAX_HELD_MS = 24 * 60 * 60 * 1000


@dataclass
class Notice:
    """Something the user must hear about when the home opens (a damaged file…)."""

    message: str


@dataclass(frozen=True)
class Change:
    """What one commit changed, for whoever shows the data (the app's screens)."""

    circle: str
    entities: frozenset[str]  # entity names of `xcircle.domain` whose records changed
    origin: str  # "local" (`apply`) or "sync" (`apply_pulled`)


@dataclass(frozen=True)
class Overwrite:
    """A field this device had just set, overwritten by a pulled op (last writer wins)."""

    entity: str
    key: str
    field: str
    author: str  # the node whose op won


@dataclass
class PullResult:
    """What applying one pulled batch did."""

    merged: int = 0
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    held: int = 0
    overwritten: list[Overwrite] = field(default_factory=list)


P = ParamSpec("P")
R = TypeVar("R")


def _locked(method: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """Run a Store method under the store's lock (see `Store`)."""

    @functools.wraps(method)
    def locked(self: Store, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self._mutex:
            return method(self, *args, **kwargs)

    return locked


class Transaction:
    """Changes buffered over one database; visible to merge, durable only on commit."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.overlay: dict[tuple[str, str], Record | None] = {}

    def get(self, table: str, key: str) -> Record | None:
        if (table, key) in self.overlay:
            return self.overlay[(table, key)]
        return self.db.get(table, key)

    def put(self, table: str, key: str, record: Record) -> None:
        self.overlay[(table, key)] = record

    def remove(self, table: str, key: str) -> None:
        self.overlay[(table, key)] = None

    def commit(self, *, compact: bool = True) -> None:
        self.db.commit(((t, k, r) for (t, k), r in self.overlay.items()), compact=compact)


class Store:
    """A member's home: profile + circles, locked against a second process.

    Thread-safe: every public method holds one re-entrant lock, so a screen's worker
    thread may read while the UI thread applies a sync batch (reads return lists,
    never live iterators).
    """

    def __init__(
        self, home: Path, *, now_ms: Callable[[], int] = wall_ms, read_only: bool = False
    ) -> None:
        """`read_only`: for reading alongside the process that holds the home (the app):
        no lock is taken, nothing on disk changes, and every write is refused."""
        self.home = private_dir(home, allow_link=True)
        self.now_ms = now_ms
        self.read_only = read_only
        self._mutex = threading.RLock()
        self.notices: list[Notice] = []
        # Told of notices that arise while the home is open (the app shows them).
        self.on_notice: Callable[[Notice], None] | None = None
        # Told of every commit that changed the state, on the writing thread, under the
        # lock: it must not block (the app posts a message and returns).
        self.on_change: Callable[[Change], None] | None = None
        self._lock = None if read_only else HomeLock(self.home / "lock")
        if not read_only:
            for name in SECRET_FILES:  # the keystore's (xcircle.keystore): kept private too
                tighten_file(self.home / name)
        # Loading builds millions of small objects that live as long as the store: no
        # cyclic GC during the load, then move what was loaded out of its sight.
        try:
            with gc_paused():
                self._profile_db = self._open(self.home / "profile")
                self.circles_dir = private_dir(self.home / "circles")
                self._circles: dict[str, Database] = {}
                names = {
                    p.name.split(".")[0]
                    for p in self.circles_dir.iterdir()
                    if p.name.count(".") == 1 and p.suffix in (".json", ".journal")
                }
                damaged = []
                for cid in sorted(names):
                    try:
                        self._circles[cid] = self._open(self.circles_dir / cid, EAGER_TABLES)
                    except _Skip:
                        damaged.append(cid)
                if damaged and not read_only:
                    # Remembered until a sync rebuilds them from the exchange (where shared).
                    self.save_setting("damaged", sorted({*self.damaged_circles(), *damaged}))
        except BaseException:
            self._unlock()
            raise
        gc.freeze()
        profile = self.profile
        self.hlc = HLC(profile["node"] if profile else new_id()[:16], now_ms)
        for cid in self._circles:
            self.hlc.seed(self.meta(cid).get("hlc"))

    # -- opening, locking ------------------------------------------------------------

    def atomically(self, fn: Callable[[], R], /) -> R:
        """Run `fn` (any number of store calls) as one: no other thread's store call
        runs in between (a sync worker's read-modify-write of a circle's meta…)."""
        with self._mutex:
            return fn()

    def _unlock(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.release()

    def _open(self, base: Path, eager: frozenset[str] | None = None) -> Database:
        try:
            if self.read_only:
                return _read_beside_writer(base, eager, self._damaged_later)
            return Database(base, eager=eager, on_damage=self._damaged_later)
        except CorruptFile as exc:
            if not exc.moved_to:  # read-only: nothing moved, the circle is left out
                what = "your profile" if base.name == "profile" else f"circle {base.name[:8]}"
                if base.name == "profile":
                    raise StoreError(f"{exc.path.name} (your profile) is damaged") from None
                self.notices.append(
                    Notice(f"{exc.path.name} ({what}) is damaged: {exc.reason}; left out")
                )
                raise _Skip from None
            self.notices.append(_damage_notice(base, exc))
            if base.name == "profile":
                return Database(base)  # files moved aside: start an empty profile
            raise _Skip from None

    def _damaged_later(self, exc: CorruptFile) -> None:
        """A table parsed on first use was damaged (its files are already moved aside):
        the circle is remembered as damaged, and the user told now."""
        base = exc.path.parent / exc.path.name.split(".")[0]
        notice = _damage_notice(base, exc)
        self.notices.append(notice)
        if base.parent == self.circles_dir and not self.read_only:
            with contextlib.suppress(XCircleError):  # e.g. a full disk: the notice stands
                self.save_setting("damaged", sorted({*self.damaged_circles(), base.name}))
        if self.on_notice is not None:
            self.on_notice(notice)

    @_locked
    def close(self) -> None:
        for db in [self._profile_db, *self._circles.values()]:
            db.close()
        self._unlock()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the profile -----------------------------------------------------------------

    @property
    @_locked
    def profile(self) -> Record | None:
        return self._profile_db.get("profile", "me")

    @_locked
    def require_profile(self) -> Record:
        profile = self.profile
        if profile is None:
            raise NotInitialized("no profile yet: run `xcircle init --name NAME --org ORG`")
        return profile

    @_locked
    def save_profile(self, /, **fields: Any) -> Record:
        """Create or update this member's profile (one durable write)."""
        record = dict(self.profile or {"node": self.hlc.node})
        record.update(fields)
        self._profile_db.commit([("profile", "me", record)])
        return record

    @_locked
    def setting(self, name: str, default: Any = None) -> Any:
        record = self._profile_db.get("settings", name)
        return default if record is None else record.get("value")

    @_locked
    def save_setting(self, name: str, value: Any) -> None:
        self._profile_db.commit([("settings", name, {"value": value})])

    @_locked
    def save_private(self, table: str, key: str, record: Record) -> None:
        """Keep a record in the profile's database: this device only, never synced."""
        self._profile_db.commit([(table, key, record)])

    @_locked
    def private_records(self, table: str) -> list[Record]:
        """The records `save_private` kept in `table`, each with its `id`."""
        return [{**r, "id": k} for k, r in self._profile_db.records(table).items()]

    @_locked
    def damaged_circles(self) -> list[str]:
        """Circles whose files were moved aside and not yet rebuilt from the exchange."""
        damaged = self.setting("damaged", [])
        return [c for c in damaged if isinstance(c, str)] if isinstance(damaged, list) else []

    @_locked
    def forget_damaged(self, circle: str) -> None:
        self.save_setting("damaged", [c for c in self.damaged_circles() if c != circle])

    # -- circles -----------------------------------------------------------------------

    @_locked
    def circle_ids(self) -> list[str]:
        return list(self._circles)

    @_locked
    def has_circle(self, circle: str) -> bool:
        return circle in self._circles

    def _db(self, circle: str) -> Database:
        try:
            return self._circles[circle]
        except KeyError:
            raise NotFound(f"no circle {circle!r} in this home") from None

    @_locked
    def get(self, circle: str, entity: str, key: str) -> Record | None:
        """The live record as the app sees it (fields + `id`), or None."""
        record = self._db(circle).get(entity, key)
        return public(key, record) if is_live(record) else None

    @_locked
    def records(self, circle: str, entity: str) -> list[Record]:
        """Every live record of an entity in a circle, as the app sees them."""
        return [
            public(key, record)
            for key, record in self._db(circle).records(entity).items()
            if is_live(record)
        ]

    @_locked
    def raw(self, circle: str, entity: str, key: str) -> Record | None:
        return self._db(circle).get(entity, key)

    @_locked
    def raw_records(self, circle: str, entity: str) -> dict[str, Record]:
        """Every record of an entity in a circle as stored, tombstones included."""
        return dict(self._db(circle).records(entity))

    @_locked
    def count(self, circle: str, entity: str) -> int:
        return len(self._db(circle).records(entity))

    @_locked
    def meta(self, circle: str) -> Record:
        """Local-only facts of a circle: `me` (my member id), `cursor`, `shared`, `hlc`."""
        return dict(self._db(circle).get(LOCAL, META) or {})

    @_locked
    def create_circle(self, circle: str) -> None:
        """Register an empty database for `circle`; its files appear with the first write."""
        if circle not in self._circles:
            self._circles[circle] = Database(
                self.circles_dir / circle,
                eager=EAGER_TABLES,
                on_damage=self._damaged_later,
                read_only=self.read_only,
            )

    # -- ops -----------------------------------------------------------------------------

    @_locked
    def op(self, circle: str, entity: str, key: str | None, fields: dict[str, Any]) -> Op:
        """A new local op, stamped now by this device's clock and validated.

        `key` None makes the op's own id the record's key (append-only records).
        """
        validate_fields(entity, fields)
        author = self.require_profile()["node"]
        op_id = new_id()
        return Op(op_id, circle, entity, key or op_id, self.hlc.now(), author, fields)

    @_locked
    def apply(self, ops: Iterable[Op], *, local: bool = True, meta: Record | None = None) -> int:
        """Merge `ops` into their circles: one transaction (one durable write) per circle.

        Local ops (not private ones) are also kept in the circle's outbox for sync. An
        append-only record holds its op whole (fields, stamp, id, author), so its outbox
        entry only points at it: the bulk of a heavy home (check-ins, feedback) is not
        stored twice. Returns how many ops changed the state.
        """
        by_circle: dict[str, list[tuple[Op, Entity]]] = {}
        for op in ops:
            spec = validate_fields(op.entity, op.fields)
            by_circle.setdefault(op.circle, []).append((op, spec))
        changed = 0
        for circle, batch in by_circle.items():
            tx = Transaction(self._db(circle))
            entities: set[str] = set()
            for op, spec in batch:
                if merge(tx, op, spec):
                    changed += 1
                    entities.add(op.entity)
                if not local or spec.private:
                    continue
                record = tx.get(op.entity, op.key) if spec.append_only else None
                if record is not None and record.get("_op") == op.id and not op.is_delete:
                    tx.put(OUTBOX, op.id, {"ref": op.entity, "key": op.key, "hlc": op.hlc})
                else:
                    tx.put(OUTBOX, op.id, op.to_dict())
            self._touch_meta(tx, [op for op, _ in batch], meta)
            tx.commit()
            self._changed(circle, entities, "local" if local else "sync")
        return changed

    def _changed(self, circle: str, entities: Iterable[str], origin: str) -> None:
        names = frozenset(entities)
        if names and self.on_change is not None:
            self.on_change(Change(circle, names, origin))

    @_locked
    def apply_pulled(
        self,
        circle: str,
        payloads: Iterable[tuple[str, bytes | Op]],
        cursor: int,
        *,
        rejected: Iterable[tuple[str, str]] = (),
        more: bool = False,
        mine_since: int | None = None,
        released: Iterable[str] = (),
    ) -> PullResult:
        """Validate and merge a pulled batch and save `cursor` with it, in one write.

        `payloads` are `(op_id, bytes)` (or an `Op` a sync stage already parsed from
        them, validated here all the same); a bad op is quarantined with its reason, never
        raised, so one bad op never blocks a sync. Ops stamped more than five minutes
        ahead of this device's clock are held, visibly, and retried on later pulls.
        `rejected` are `(op_id, reason)` of envelopes the sync client already refused
        (size, epoch, encoding): quarantined in the same write, so the cursor can pass them.
        `more`: another batch follows at once, so the snapshot waits for the last one.
        `mine_since`: report (`PullResult.overwritten`) every field this device set at or
        after that wall time (ms) that a pulled op overwrites.
        `released`: op ids of the quarantine that `payloads` brings back (opened again
        now that they pass), taken out of it in the same write.
        """
        tx = Transaction(self._db(circle))
        result = PullResult()
        for op_id in released:
            tx.remove(QUARANTINE, op_id)
        for op_id, reason in rejected:
            tx.put(QUARANTINE, op_id, {"reason": reason, "bytes": 0})
            result.quarantined.append((op_id, reason))
        ok: list[tuple[Op, Entity]] = []
        for op_id, raw in payloads:
            try:
                op = raw if isinstance(raw, Op) else Op.from_bytes(raw)
                if op.id != op_id:
                    raise InvalidOp("op id differs from its envelope")
                if op.circle != circle:
                    raise InvalidOp("op belongs to another circle")
                spec = validate_fields(op.entity, op.fields)
                if spec.private:
                    raise InvalidOp("private records never travel")
            except InvalidOp as exc:
                size = len(raw.to_bytes() if isinstance(raw, Op) else raw)
                tx.put(QUARANTINE, op_id, {"reason": str(exc), "bytes": size})
                result.quarantined.append((op_id, str(exc)))
                continue
            ok.append((op, spec))
        # Hot path (an initial pull merges 100k ops): each op is validated once, above;
        # its stamp was parsed by `from_bytes`, so the fixed-width wall prefix is an int.
        now = self.now_ms()
        horizon, limit = now + MAX_AHEAD_MS, now + MAX_HELD_MS
        # Held ops are written once; each pull re-checks them and touches only the due.
        db = self._db(circle)
        held_before = db.records(HELD)
        for key, held in held_before.items():
            op = Op.from_dict(held)
            if int(op.hlc[:WALL_DIGITS]) > horizon:
                result.held += 1
                continue
            ok.append((op, validate_fields(op.entity, op.fields)))
            tx.remove(HELD, key)
        merged: list[Op] = []
        entities: set[str] = set()
        mine = self.hlc.node if mine_since is not None else None
        for op, spec in ok:
            wall = int(op.hlc[:WALL_DIGITS])
            if wall > limit:
                reason = "stamped more than a day ahead of this device's clock"
                tx.put(QUARANTINE, op.id, {"reason": reason, "bytes": 0})
                result.quarantined.append((op.id, reason))
                continue
            if wall > horizon:
                if op.id not in held_before:
                    tx.put(HELD, op.id, op.to_dict())
                    result.held += 1
                continue
            if mine is not None and not spec.append_only and not op.is_delete:
                result.overwritten.extend(_overwrites(tx, op, mine, mine_since or 0))
            if merge(tx, op, spec):
                result.merged += 1
                entities.add(op.entity)
            merged.append(op)
        if merged:
            self.hlc.observe(max(op.hlc for op in merged))  # stamps order as strings
        if not tx.overlay and cursor == (db.get(LOCAL, META) or {}).get("cursor"):
            return result  # a re-check that changed nothing writes nothing
        self._touch_meta(tx, merged, {"cursor": cursor})
        tx.commit(compact=not more)
        self._changed(circle, entities, "sync")
        return result

    def _touch_meta(self, tx: Transaction, ops: list[Op], extra: Record | None) -> None:
        meta = dict(tx.get(LOCAL, META) or {})
        top = max((op.hlc for op in ops), default=None)
        if top and top > meta.get("hlc", ""):
            meta["hlc"] = top
        if extra:
            meta.update(extra)
        tx.put(LOCAL, META, meta)

    @_locked
    def forget_circle(self, circle: str) -> None:
        """Delete this device's copy of `circle` (its files, outbox and all): for a
        circle the member was removed from and chose not to keep."""
        if self.read_only:
            raise StoreError("this home is open read-only")
        db = self._circles.pop(circle, None)
        if db is None:
            return
        db.close(compact=False)
        for path in (db.snapshot_path, db.journal_path):
            path.unlink(missing_ok=True)
        self._changed(circle, ("circle",), "local")

    @_locked
    def set_meta(self, circle: str, /, **fields: Any) -> None:
        tx = Transaction(self._db(circle))
        self._touch_meta(tx, [], fields)
        tx.commit()

    @_locked
    def outbox(self, circle: str) -> list[Op]:
        """Local ops not yet acknowledged by the exchange, oldest first."""
        db = self._db(circle)
        ops = []
        for op_id, entry in db.records(OUTBOX).items():
            if "ref" not in entry:
                ops.append(Op.from_dict(entry))
                continue
            record = db.get(entry["ref"], entry["key"])
            if record is None or record.get("_op") != op_id:
                # Only a forged twin (same key, smaller stamp) can displace our own op.
                log.warning("outbox op %s no longer in its record; not pushed", op_id[:8])
                continue
            fields = {k: v for k, v in record.items() if not k.startswith("_")}
            ops.append(
                Op(
                    op_id,
                    circle,
                    entry["ref"],
                    entry["key"],
                    record["_hlc"],
                    record["_author"],
                    fields,
                )
            )
        return sorted(ops, key=lambda op: op.hlc)

    @_locked
    def pending(self, circle: str) -> int:
        """How many local ops wait in the outbox (counted, not decoded)."""
        return self.count(circle, OUTBOX)

    @_locked
    def ack(self, circle: str, op_ids: Iterable[str]) -> None:
        """Drop pushed ops from the outbox (they live on in the state and on the exchange)."""
        tx = Transaction(self._db(circle))
        for op_id in op_ids:
            tx.remove(OUTBOX, op_id)
        tx.commit()

    @_locked
    def quarantine(self, circle: str) -> list[Record]:
        return [public(k, r) for k, r in self._db(circle).records(QUARANTINE).items()]

    @_locked
    def held(self, circle: str) -> int:
        return self.count(circle, HELD)

    @_locked
    def canonical(self, circle: str) -> bytes:
        """The circle's synced state as canonical bytes: equal on converged replicas."""
        db = self._db(circle)
        tables = {name: db.records(name) for name in SYNCED_ENTITIES}
        state = {name: records for name, records in tables.items() if records}
        return orjson.dumps(state, option=orjson.OPT_SORT_KEYS)


def _overwrites(tx: Transaction, op: Op, node: str, since: int) -> list[Overwrite]:
    """The fields of `op` that overwrite a value `node` stamped at or after `since`."""
    current = tx.get(op.entity, op.key)
    if current is None or "_d" in current:
        return []
    stamps: dict[str, str] = current.get("_h", {})
    out = []
    for name, value in op.fields.items():
        seen = stamps.get(name)
        if (
            seen is not None
            and op.hlc > seen
            and seen.endswith(f"-{node}")
            and int(seen[:WALL_DIGITS]) >= since
            and value != current.get(name)
            and op.author != node
        ):
            out.append(Overwrite(op.entity, op.key, name, op.author))
    return out


def _damage_notice(base: Path, exc: CorruptFile) -> Notice:
    moved = ", ".join(p.name for p in exc.moved_to)
    what = "your profile" if base.name == "profile" else f"circle {base.name[:8]}"
    return Notice(
        f"{exc.path.name} ({what}) is damaged: {exc.reason}. It was moved aside "
        f"as {moved}; sync to rebuild a shared circle from the exchange."
    )


def _read_beside_writer(
    base: Path, eager: frozenset[str] | None, on_damage: Callable[[CorruptFile], None]
) -> Database:
    """Open `base` read-only while a writer may snapshot it: a snapshot replaced between
    reading it and reading the journal (which the writer then empties) would lose the
    journal's changes, so such a read is retried."""

    def stamp() -> tuple[int, int, int] | None:
        try:
            st = Path(f"{base}.json").stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    for _ in range(5):
        before = stamp()
        db = Database(base, eager=eager, on_damage=on_damage, read_only=True)
        if stamp() == before:
            return db
    raise StoreError(f"{base.name} kept changing while being read; try again")


class _Skip(Exception):
    """A damaged circle that was moved aside: skip it, the others still open."""


def open_store(
    home: Path, *, now_ms: Callable[[], int] = wall_ms, read_only: bool = False
) -> Store:
    """Open the home's store, turning OS errors into one clear line."""
    try:
        return Store(home, now_ms=now_ms, read_only=read_only)
    except PermissionError as exc:
        raise StoreError(f"cannot open {home}: {exc.strerror}") from None
