"""Programmes on the coordinator's device: one JSON file each, `<home>/programmes/<id>.json`.

Written the way the store writes its snapshots (`xcircle.osfs`): a new 0600 file in the
0700 folder, flushed, atomically put in place, the folder flushed; never through a
symbolic link. Programmes hold participants' names and emails, so they are never synced:
only what publishing creates (circles, invites) leaves the device.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path

import orjson

from xcircle import osfs
from xcircle.errors import InvalidInput, StoreError
from xcircle.programmes.model import Programme, from_json, to_json

MAX_NAME = 120
_ID = re.compile(r"^[0-9a-f]{12}$")


class ProgrammeStore:
    """The programmes of one home."""

    def __init__(self, home: Path) -> None:
        self.dir = home / "programmes"

    def create(self, name: str) -> Programme:
        """A new, empty programme; its name must be new (names are how people refer to it)."""
        name = " ".join(name.split())
        if not name:
            raise InvalidInput("a programme needs a name", field="name")
        if len(name) > MAX_NAME:
            raise InvalidInput(f"a programme's name is at most {MAX_NAME} characters", field="name")
        if any(p.name.casefold() == name.casefold() for p in self.list()):
            raise InvalidInput(f"there is already a programme named {name!r}", field="name")
        programme = Programme(id=secrets.token_hex(6), name=name)
        self.save(programme)
        return programme

    def list(self) -> list[Programme]:
        """Every programme, by name."""
        if not self.dir.is_dir():
            return []
        found = [self._read(path) for path in sorted(self.dir.glob("*.json"))]
        return sorted(found, key=lambda p: (p.name.casefold(), p.id))

    def get(self, ref: str) -> Programme:
        """A programme by id, name (case-insensitive), or a prefix of either."""
        ref = ref.strip()
        everything = self.list()
        exact = [p for p in everything if p.id == ref or p.name.casefold() == ref.casefold()]
        if len(exact) == 1:
            return exact[0]
        folded = ref.casefold()
        prefixed = [
            p
            for p in everything
            if ref and (p.id.startswith(folded) or p.name.casefold().startswith(folded))
        ]
        if len(prefixed) == 1:
            return prefixed[0]
        if len(exact) + len(prefixed) > 1:
            raise InvalidInput(f"{ref!r} names more than one programme", field="programme")
        raise InvalidInput(
            f"no programme {ref!r} (see `xcircle programme list`)", field="programme"
        )

    def save(self, programme: Programme) -> None:
        """Write the programme durably (atomic replace; 0600)."""
        if not _ID.match(programme.id):
            raise ValueError(f"not a programme id: {programme.id!r}")
        osfs.private_dir(self.dir)
        path = self.dir / f"{programme.id}.json"
        data = orjson.dumps(to_json(programme))
        try:
            # mkstemp: a new file (O_EXCL, never through a link), 0600, binary on Windows.
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise osfs.save_error(path, exc) from None
        try:
            try:
                osfs.write_all(fd, data)
                osfs.flush(fd)
            finally:
                os.close(fd)
            osfs.replace(Path(tmp), path)
            osfs.flush_dir(self.dir)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise osfs.save_error(path, exc) from None

    def _read(self, path: Path) -> Programme:
        try:
            raw = osfs.read_private(path)
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        if raw is None:
            raise StoreError(f"{path} disappeared while reading the programmes")
        try:
            return from_json(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise StoreError(f"{path} is damaged (not a programme xcircle wrote)") from None
