"""TinyDB made durable and O(action): an in-memory TinyDB over a journal and a snapshot.

Stock TinyDB rewrites its whole JSON file in place on every write (O(data), and a crash
tears it) and rebuilds a table's dict twice per insert. Here TinyDB keeps its API for
reads and queries, but:

- `FastTable` updates its table dict in place (O(1) per record);
- `JournalStorage` keeps the data in memory; nothing is written when TinyDB "writes";
- a `Database` commits a transaction as ONE fsync'd append of the changed records to
  its journal (`<name>.journal`), and now and then writes an atomic snapshot
  (`<name>.json`: temp file, fsync, `os.replace`, fsync of the directory) so the
  journal, and the time to open, stay bounded.

On open: snapshot + journal replay. A torn last line (no newline or a bad checksum: a
write that never returned) is dropped; any other damage raises `CorruptFile` and the
files are moved aside, never overwritten.
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

from xcircle.errors import StoreError

log = logging.getLogger(__name__)

Record = dict[str, Any]
Data = dict[str, dict[str, Record]]
Change = tuple[str, str, Record | None]

SNAPSHOT_VERSION = 2
# Compact once the journal outgrows the snapshot (and this floor): the O(data) snapshot
# is then paid at most once per O(data) bytes appended, so each action stays O(1).
MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT = 512 * 1024
FILE_MODE = 0o600


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
        self, base: Path, *, eager: Container[str] | None = None, read_only: bool = False
    ) -> None:
        """Open (or start) the database at `base`. Tables not in `eager` (None: all) stay
        as raw JSON until first used, so opening reads only what the first screen needs.
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
        self._eager = eager
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
        try:
            table = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise StoreError(
                f"{self.snapshot_path} is damaged (table {name}): move it aside and sync "
                "to rebuild a shared circle"
            ) from None
        self._apply({name: table}, self._pending.pop(name, []))
        self._storage.data[name] = table

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
        seq = self._seq + 1
        line = _frame(orjson.dumps({"n": seq, "c": changes}))
        try:
            fd = self._journal()
            written = os.write(fd, line)
            if written != len(line):
                raise OSError("short write")
            os.fdatasync(fd)
        except OSError as exc:
            # Leave the tail as it was so a half-written line is dropped as torn on open.
            self._drop_fd()
            raise StoreError(
                f"could not save to {self.journal_path}: {exc.strerror or exc}"
            ) from None
        self._seq = seq
        self._journal_bytes += len(line)
        self._apply(self._storage.data, changes)
        for table_name in {c[0] for c in changes}:
            if table_name in self.tinydb._tables:
                self.tinydb._tables[table_name].clear_cache()
        if compact and self._journal_bytes > max(
            MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT, self._snapshot_bytes
        ):
            self.snapshot()

    def snapshot(self) -> None:
        """Write the whole state atomically, then empty the journal."""
        # One line per table, so that opening can leave the tables it does not need
        # unparsed; a table still cold is written back from its bytes, never parsed.
        for name in [n for n in self._cold if n in self._pending]:
            self._thaw(name)  # its journal changes must reach the snapshot
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
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            try:
                os.write(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.snapshot_path)
            _fsync_dir(self.snapshot_path.parent)
            # Lines up to `n` are in the snapshot: a crash before this truncation only
            # leaves lines that replay skips.
            fd = self._journal()
            os.ftruncate(fd, 0)
            os.fsync(fd)
        except OSError as exc:
            raise StoreError(
                f"could not write {self.snapshot_path}: {exc.strerror or exc}"
            ) from None
        self._snapshot_bytes = len(body)
        self._journal_bytes = 0

    def close(self, *, compact: bool = True) -> None:
        if compact and not self.read_only and self._journal_bytes > 64 * 1024:
            with contextlib.suppress(StoreError):
                self.snapshot()
        self._drop_fd()

    # -- internals -------------------------------------------------------------------

    def _journal(self) -> int:
        if self._journal_fd is None:
            self._journal_fd = os.open(
                self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE
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
            raw = _read(self.snapshot_path)
            if raw is not None:
                self._snapshot_bytes = len(raw)
                try:
                    data, seq = self._parse_snapshot(raw)
                except (orjson.JSONDecodeError, ValueError, KeyError, TypeError) as exc:
                    raise self._corrupt(self.snapshot_path, str(exc) or "unreadable") from None
            journal = _read(self.journal_path)
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
                data[name] = orjson.loads(body)
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
        with open(self.journal_path, "r+b") as f:
            f.truncate(size)
            os.fsync(f.fileno())
        self._journal_bytes = size

    def _corrupt(self, path: Path, reason: str) -> CorruptFile:
        if self.read_only:
            return CorruptFile(path, [], reason)  # left in place for the writer to handle
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        moved: list[Path] = []
        for p in (self.snapshot_path, self.journal_path):
            if p.exists():
                target = p.with_name(f"{p.name}.corrupt-{stamp}")
                os.replace(p, target)
                moved.append(target)
        log.error("%s is damaged (%s); moved aside", path.name, reason)
        return CorruptFile(path, moved, reason)


class _TinyDB(TinyDB):
    table_class = FastTable


def _read(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["CorruptFile", "Database", "Document", "FastTable"]
