"""A device's copy of each shared circle's log, as the exchange held it.

The local store keeps a circle's *state* (records merged from ops), not its ops: a
field written three times keeps one value. Rebuilding a lost exchange needs the log
itself, each op with its author's signature, so every pulled envelope is also appended
here, byte for byte (`<home>/archive/<circle>.log`, one JSON line per pulled page, 0600).
Re-pushed in seq order onto an empty exchange, it gives the same log (same seqs, same
bytes), and every receiver checks the same signatures it checked the first time.

Appends are flushed once per pulled page and written before the page is merged, so a
crash leaves the archive ahead of the store's cursor, never behind it (a later line for
the same seq wins when read). The archive holds ciphertext for encrypted epochs, and
plaintext only for ops that were pulled in plaintext (which the store holds anyway).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from xcircle.osfs import flush, open_private, private_dir, read_private, write_all

log = logging.getLogger(__name__)

FIELDS = ("op_id", "epoch", "nonce", "payload")  # what a re-push sends of an envelope


def archive_dir(home: Path) -> Path:
    return home / "archive"


class Archive:
    """The envelopes of one circle, by seq."""

    def __init__(self, home: Path, circle: str) -> None:
        self.path = archive_dir(home) / f"{circle}.log"

    def keep(self, envelopes: Iterable[Mapping[str, Any]]) -> int:
        """Append a page of envelopes as pulled (seq, op id, epoch, nonce, payload, and
        what else the exchange sent), as one line; returns how many. One line per page,
        not per op: serialising the page whole costs a fraction of op by op (an initial
        pull keeps 100k ops), and a torn line loses only a page the cursor never passed."""
        page = [e for e in envelopes if type(e.get("seq")) is int]
        if not page:
            return 0
        lines = [orjson.dumps(page)]
        private_dir(self.path.parent)
        fd = open_private(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        try:
            size = os.fstat(fd).st_size
            # A write cut short (a full disk) left a torn line: end it, so it costs only
            # itself and the lines appended now stay whole.
            torn = size > 0 and os.lseek(fd, size - 1, os.SEEK_SET) >= 0 and os.read(fd, 1) != b"\n"
            write_all(fd, (b"\n" if torn else b"") + b"\n".join(lines) + b"\n")
            flush(fd)
        finally:
            os.close(fd)
        return len(page)

    def entries(self) -> dict[int, dict[str, Any]]:
        """Every kept envelope by seq (the last line for a seq wins; a torn last line,
        from a crash mid-append, is dropped)."""
        return Archive._parse(read_private(self.path), self.path.name)

    @staticmethod
    def _parse(raw: bytes | None, name: str) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        if not raw:
            return out
        for line in raw.split(b"\n"):
            if not line:
                continue
            try:
                page = orjson.loads(line)
            except orjson.JSONDecodeError:
                log.warning("%s: a torn line skipped", name)
                continue
            for entry in page if isinstance(page, list) else [page]:
                if isinstance(entry, dict) and type(entry.get("seq")) is int:
                    out[entry["seq"]] = entry
        return out

    @property
    def old_path(self) -> Path:
        return self.path.with_suffix(".old")

    def set_aside(self) -> None:
        """Start a new log (the exchange numbers the circle anew), keeping the old one
        beside it until what it holds is back on the exchange (merged into any earlier
        one set aside)."""
        if not self.path.exists():
            return
        previous = read_private(self.old_path) or b""
        current = read_private(self.path) or b""
        if previous and not previous.endswith(b"\n"):
            previous += b"\n"
        fd = open_private(self.old_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            write_all(fd, previous + current)
            flush(fd)
        finally:
            os.close(fd)
        self.path.unlink()

    def set_aside_entries(self) -> dict[int, dict[str, Any]]:
        """What the log set aside holds, by its old seq."""
        return Archive._parse(read_private(self.old_path), self.old_path.name)

    def missing(self, upto: int) -> list[int]:
        """The seqs from 1 to `upto` this archive lacks."""
        have = self.entries()
        return [s for s in range(1, upto + 1) if s not in have]


def keep_log(home: Path, circle: str, envelopes: list[Any]) -> None:
    """Keep a pulled page's envelopes; a failure to write is logged, never stops a sync
    (the store's own write of the same page would report a full disk)."""
    try:
        Archive(home, circle).keep(envelopes)
    except OSError as exc:
        log.warning("circle %s: could not keep its log: %s", circle[:8], exc)
