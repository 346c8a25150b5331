"""TinyDB made durable and O(action): an in-memory TinyDB over a journal and a snapshot.

Stock TinyDB rewrites its whole JSON file in place on every write (O(data), and a crash
tears it) and rebuilds a table's dict twice per insert. Here TinyDB keeps its API for
reads and queries, but:

- `FastTable` updates its table dict in place (O(1) per record);
- `JournalStorage` keeps the data in memory; nothing is written when TinyDB "writes";
- a `Database` commits a transaction as ONE flushed append of the changed records to
  its journal (`<name>.journal`), and now and then writes an atomic snapshot
  (`<name>.json`: temp file written whole and flushed, replace, flush of the directory,
  only then the journal emptied) so the journal, and the time to open, stay bounded.

Every write is checked (`osfs.write_all`): a failed append is cut back off the journal,
so the file always holds exactly the acknowledged commits, and a full disk fails the
action with a clear message instead of tearing anything. All OS calls go through
`xcircle.osfs` (durable flush per platform, no symbolic links, private modes).

On open: snapshot + journal replay. A torn last line (no newline or a bad checksum: a
write that never returned) is dropped; any other damage raises `CorruptFile` and the
files are moved aside, never overwritten. A table left unparsed at open that turns out
damaged on first use is moved aside the same way (`Database.damaged`, `on_damage`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import zlib
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from xcircle import osfs
from xcircle.errors import StoreError

log = logging.getLogger(__name__)

Record = dict[str, Any]
Data = dict[str, dict[str, Record]]
Change = tuple[str, str, Record | None]

SNAPSHOT_VERSION = 2
# Compact once the journal outgrows the snapshot (and this floor): the O(data) snapshot
# is then paid at most once per O(data) bytes appended, so each action stays O(1).
MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT = 512 * 1024


class CorruptFile(Exception):
    """A store file failed to parse; it has been moved aside to `moved_to`."""

    def __init__(self, path: Path, moved_to: list[Path], reason: str) -> None:
        super().__init__(f"{path.name} is damaged ({reason})")
        self.path = path
        self.moved_to = moved_to
        self.reason = reason


class FastTable(Table):
    """A TinyDB table keyed by record key (str), updated in place."""

    document_id_class = str  # type: ignore[assignment]

    def _update_table(self, updater: Callable[[dict[Any, Mapping[Any, Any]]], None]) -> None:
        tables = self._storage.read()
        assert tables is not None
        updater(tables.setdefault(self.name, {}))
        self.clear_cache()

    def _get_next_id(self) -> str:  # pragma: no cover - records always carry their key
        raise TypeError("xcircle records are inserted with their key as doc_id")


class JournalStorage(Storage):
    """TinyDB storage holding the data in memory; `Database` does the durable I/O."""

    def __init__(self, data: Data) -> None:
        self.data = data

    def read(self) -> Data:
        return self.data

    def write(self, data: Data) -> None:
        self.data = data


class Database:
    """One TinyDB database persisted as snapshot + journal (see the module docstring)."""

    def __init__(
        self,
        base: Path,
        *,
        eager: Container[str] | None = None,
        on_damage: Callable[[CorruptFile], None] | None = None,
        read_only: bool = False,
    ) -> None:
        """Open (or start) the database at `base`. Tables not in `eager` (None: all) stay
        as raw JSON until first used, so opening reads only what the first screen needs;
        `on_damage` hears of such a table found damaged then (its files moved aside).
        `read_only`: another process may be writing; never change the files (a torn last
        line is skipped, not truncated; damage is reported, not moved aside) and refuse
        commits."""
        self.base = base
        self.read_only = read_only
        self.snapshot_path = Path(f"{base}.json")
        self.journal_path = Path(f"{base}.journal")
        self._seq = 0
        self._snapshot_bytes = 0
        self._journal_bytes = 0
        self._journal_fd: int | None = None
        self._tail_dirty = False  # a failed append could not be cut off: cut it first
        self._retry_snapshot_at = 0  # journal size from which a failed snapshot is retried
        self._eager = eager
        self.on_damage = on_damage
        self.damaged: CorruptFile | None = None  # set when found damaged after opening
        self._cold: dict[str, memoryview] = {}  # table -> its snapshot JSON, not parsed yet
        self._pending: dict[str, list[Sequence[Any]]] = {}  # changes to cold tables
        data, self._seq = self._load()
        self._storage = JournalStorage(data)
        self.tinydb = _TinyDB(storage=lambda: self._storage)

    # -- reading ---------------------------------------------------------------------

    def table(self, name: str) -> FastTable:
        if name in self._cold:
            self._thaw(name)
        table = self.tinydb.table(name, cache_size=64)
        assert isinstance(table, FastTable)
        return table

    def get(self, table: str, key: str) -> Record | None:
        if table in self._cold:
            self._thaw(table)
        records = self._storage.data.get(table)
        return None if records is None else records.get(key)

    def records(self, table: str) -> dict[str, Record]:
        """The raw records of one table, keyed by record key (do not modify)."""
        if table in self._cold:
            self._thaw(table)
        return self._storage.data.get(table, {})

    @property
    def data(self) -> Data:
        """Every table, parsed."""
        for name in list(self._cold):
            self._thaw(name)
        return self._storage.data

    def _thaw(self, name: str) -> None:
        raw = self._cold.pop(name)
        pending = self._pending.pop(name, [])
        try:
            table = _table(orjson.loads(raw))
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            # Damage found only now: moved aside and reported like damage found at open;
            # this session goes on without the table, and writes are refused.
            table = {}
            self._damage(f"table {name}: {exc}")
        else:
            self._apply({name: table}, pending)
        self._storage.data[name] = table

    def _damage(self, reason: str) -> None:
        if self.damaged is not None:
            return
        self._drop_fd()  # Windows cannot move a file that is open
        self.damaged = self._corrupt(self.snapshot_path, reason)
        if self.on_damage is not None:
            self.on_damage(self.damaged)

    def _refuse_if_damaged(self) -> None:
        if self.damaged is not None:
            moved = ", ".join(p.name for p in self.damaged.moved_to)
            raise StoreError(
                f"{self.damaged}: its files were moved aside ({moved}) and nothing more "
                "is saved to it; sync to rebuild a shared circle"
            )

    def _apply(self, data: Data, changes: Iterable[Sequence[Any]]) -> None:
        """Apply `changes` (`table, key, record or None`) to `data`; those to a cold table
        wait in `_pending` until it is first used (replay and commit alike)."""
        cold, pending = self._cold, self._pending
        for change in changes:
            table, key, record = change
            if table in cold:
                pending.setdefault(table, []).append(change)
            elif record is None:
                data.get(table, {}).pop(key, None)
            else:
                data.setdefault(table, {})[key] = record

    # -- writing ---------------------------------------------------------------------

    def commit(self, changes: Iterable[Change], *, compact: bool = True) -> None:
        """Make `changes` durable (one fsync'd journal append), then visible.

        `compact=False` defers the snapshot this commit might take (a bulk load whose
        next batch is on its way): the journal just grows until a later commit."""
        changes = list(changes)
        if not changes:
            return
        if self.read_only:
            raise StoreError(f"{self.base.name} is open read-only here: nothing was saved")
        self._refuse_if_damaged()
        seq = self._seq + 1
        line = _frame(orjson.dumps({"n": seq, "c": changes}))
        good = self._journal_bytes  # the journal's size: exactly the acknowledged commits
        try:
            fd = self._journal()
            if self._tail_dirty:
                osfs.truncate(fd, good)
                self._tail_dirty = False
            osfs.write_all(fd, line)
            osfs.flush(fd)
        except OSError as exc:
            self._cut_back(good)
            raise osfs.save_error(self.journal_path, exc) from None
        self._seq = seq
        self._journal_bytes += len(line)
        self._apply(self._storage.data, changes)
        for table_name in {c[0] for c in changes}:
            if table_name in self.tinydb._tables:
                self.tinydb._tables[table_name].clear_cache()
        if compact and self._journal_bytes > max(
            MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT, self._snapshot_bytes, self._retry_snapshot_at
        ):
            try:
                self.snapshot()
            except StoreError as exc:
                # The action itself is saved (in the journal): it must not look failed.
                # The journal just grows until a later snapshot succeeds.
                log.warning("%s not compacted: %s", self.base.name, exc)
                self._retry_snapshot_at = self._journal_bytes + MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT

    def _cut_back(self, size: int) -> None:
        """Remove a failed append (whole or partial) from the journal's tail: a later
        commit appended after a partial line would turn it into damage mid-file."""
        try:
            if self._journal_fd is not None:
                osfs.truncate(self._journal_fd, size)
                return
        except OSError:
            pass
        self._tail_dirty = True  # the next commit cuts it first (or fails, saying why)

    def snapshot(self) -> None:
        """Write the whole state atomically, then empty the journal.

        The old snapshot is replaced only by a temp file written whole and flushed, and
        the journal is emptied only once the replacement is durable: a failure at any
        step leaves the previous snapshot + journal, which hold every commit."""
        self._refuse_if_damaged()
        # One line per table, so that opening can leave the tables it does not need
        # unparsed; a table still cold is written back from its bytes, never parsed.
        for name in [n for n in self._cold if n in self._pending]:
            self._thaw(name)  # its journal changes must reach the snapshot
        self._refuse_if_damaged()  # a table found damaged just now: write nothing
        parts: list[bytes | memoryview] = [
            orjson.dumps({"v": SNAPSHOT_VERSION, "n": self._seq}),
            b"\n",
        ]
        for name, table in self._storage.data.items():
            parts += [orjson.dumps(name), b"\t", orjson.dumps(table), b"\n"]
        for name, raw in self._cold.items():
            parts += [orjson.dumps(name), b"\t", raw, b"\n"]
        body = b"".join(parts)
        tmp = self.snapshot_path.with_name(self.snapshot_path.name + ".tmp")
        try:
            fd = self._create_tmp(tmp)
            try:
                osfs.write_all(fd, body)
                osfs.flush(fd)
            finally:
                os.close(fd)
            osfs.replace(tmp, self.snapshot_path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise osfs.save_error(self.snapshot_path, exc, what="could not write") from None
        self._snapshot_bytes = len(body)
        self._retry_snapshot_at = 0
        try:
            osfs.flush_dir(self.snapshot_path.parent)
            # Lines up to `n` are in the snapshot: a crash before this truncation only
            # leaves lines that replay skips. Not before the rename is durable, though:
            # a power cut could otherwise bring back the old snapshot without them.
            osfs.truncate(self._journal(), 0)
        except OSError as exc:
            log.warning("%s: journal kept after a snapshot (%s)", self.base.name, exc)
            return
        self._journal_bytes = 0

    @staticmethod
    def _create_tmp(tmp: Path) -> int:
        """The snapshot's temp file, new (O_EXCL never follows a link); a stale one left
        by a crash is removed first, a planted link refused."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            return osfs.open_private(tmp, flags)
        except FileExistsError:
            osfs.refuse_link(tmp)
            tmp.unlink()
            return osfs.open_private(tmp, flags)

    def close(self, *, compact: bool = True) -> None:
        if (
            compact
            and not self.read_only
            and self.damaged is None
            and self._journal_bytes > 64 * 1024
        ):
            with contextlib.suppress(StoreError):
                self.snapshot()
        self._drop_fd()

    # -- internals -------------------------------------------------------------------

    def _journal(self) -> int:
        if self._journal_fd is None:
            self._journal_fd = osfs.open_private(
                self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND
            )
        return self._journal_fd

    def _drop_fd(self) -> None:
        if self._journal_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._journal_fd)
            self._journal_fd = None

    def _load(self) -> tuple[Data, int]:
        data: Data = {}
        seq = 0
        with gc_paused():
            raw = osfs.read_private(self.snapshot_path)
            if raw is not None:
                self._snapshot_bytes = len(raw)
                try:
                    data, seq = self._parse_snapshot(raw)
                except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
                    raise self._corrupt(self.snapshot_path, str(exc) or "unreadable") from None
            journal = osfs.read_private(self.journal_path)
            if journal:
                seq = self._replay(journal, data, seq)
        return data, seq

    def _parse_snapshot(self, raw: bytes) -> tuple[Data, int]:
        """`{"v": 2, "n": seq}` then one `"table"<TAB>{records}` line per table.

        A table left cold keeps a view into `raw` (no copy): opening a large circle
        costs only the tables it parses."""
        if not raw.endswith(b"\n"):
            raise ValueError("snapshot ends mid-line")
        view = memoryview(raw)
        end = raw.find(b"\n")
        header = orjson.loads(view[:end])
        if not isinstance(header, dict) or header.get("v") != SNAPSHOT_VERSION:
            raise ValueError("unknown snapshot format")
        data: Data = {}
        pos = end + 1
        while pos < len(raw):
            end = raw.find(b"\n", pos)
            tab = raw.find(b"\t", pos, end)
            if tab < 0 or raw[tab + 1] != ord("{") or raw[end - 1] != ord("}"):
                raise ValueError("malformed snapshot line")
            name = orjson.loads(view[pos:tab])
            if type(name) is not str:
                raise ValueError("malformed snapshot line")
            body = view[tab + 1 : end]
            if self._eager is None or name in self._eager:
                data[name] = _table(orjson.loads(body))
            else:
                self._cold[name] = body
            pos = end + 1
        return data, int(header["n"])

    def _replay(self, raw: bytes, data: Data, seq: int) -> int:
        self._journal_bytes = len(raw)
        pos = 0
        while pos < len(raw):
            end = raw.find(b"\n", pos)
            entry = _unframe(raw[pos:end]) if end != -1 else None
            if entry is not None and not _well_formed(entry):
                # The checksum matches what was written: not a torn write but a line
                # that never came from this code. Damage, like any other.
                raise self._corrupt(self.journal_path, f"malformed entry at byte {pos}")
            if entry is None:
                # Each commit is one write ending in its newline: only a last line
                # without one can be a commit cut short. Anything else is damage.
                if end == -1:
                    # The last line is torn: a commit that never returned. Drop it.
                    log.warning("dropping a torn last line of %s", self.journal_path.name)
                    if not self.read_only:  # a writer may be appending it right now
                        self._truncate_journal(pos)
                    break
                raise self._corrupt(self.journal_path, f"bad line at byte {pos}")
            if entry["n"] > seq:
                self._apply(data, entry["c"])
                seq = entry["n"]
            pos = end + 1
        return seq

    def _truncate_journal(self, size: int) -> None:
        fd = osfs.open_private(self.journal_path, os.O_RDWR)
        try:
            osfs.truncate(fd, size)
        finally:
            os.close(fd)
        self._journal_bytes = size

    def _corrupt(self, path: Path, reason: str) -> CorruptFile:
        if self.read_only:
            return CorruptFile(path, [], reason)  # left in place for the writer to handle
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        moved: list[Path] = []
        for p in (self.snapshot_path, self.journal_path):
            if p.exists():
                target = p.with_name(f"{p.name}.corrupt-{stamp}")
                osfs.replace(p, target)
                moved.append(target)
        log.error("%s is damaged (%s); moved aside", path.name, reason)
        return CorruptFile(path, moved, reason)


class _TinyDB(TinyDB):
    table_class = FastTable


def _table(parsed: Any) -> dict[str, Record]:
    """A parsed table, checked to be `{key: record}`: anything else is damage, caught
    here rather than as a crash in whatever reads the record later."""
    if type(parsed) is not dict:
        raise ValueError("a table that is not an object")
    for record in parsed.values():
        if type(record) is not dict:
            raise ValueError("a record that is not an object")
    return parsed


def _well_formed(entry: dict[str, Any]) -> bool:
    """`{"n": int, "c": [[table, key, record or null], …]}`, as `commit` writes it."""
    changes = entry["c"]
    if type(entry["n"]) is not int or type(changes) is not list:
        return False
    for change in changes:
        if not (
            type(change) is list
            and len(change) == 3
            and type(change[0]) is str
            and type(change[1]) is str
            and (change[2] is None or type(change[2]) is dict)
        ):
            return False
    return True


def _frame(payload: bytes) -> bytes:
    return b"%08x " % zlib.crc32(payload) + payload + b"\n"


def _unframe(line: bytes) -> dict[str, Any] | None:
    if len(line) < 10 or line[8:9] != b" ":
        return None
    payload = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        entry = orjson.loads(payload)
    except (ValueError, orjson.JSONDecodeError):
        return None
    return entry if isinstance(entry, dict) and "n" in entry and "c" in entry else None


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while loading or merging in bulk: parsing builds
    many small objects that are never garbage, and each full collection would rescan
    them all (measured ~1.8x on large stores and pulls). Reference counting still frees
    everything; the collector runs again right after, if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


__all__ = ["CorruptFile", "Database", "Document", "FastTable"]
