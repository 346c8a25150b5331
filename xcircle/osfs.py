"""Every operating-system difference the local store meets, in one place.

Linux, macOS and Windows differ in how a write reaches the disk, how a directory entry
is made durable, how a file is locked, what a permission mode means and whether a file
another process holds open can be replaced. The store, the profile and exports call the
functions below and nothing else (a ruff rule bans `fcntl`, `msvcrt`, `os.fdatasync`,
`os.fsync` and `os.chmod` elsewhere). Each branch reads `PLATFORM` when it runs, so the
tests force the macOS and Windows branches on any machine.

- durable flush: `fdatasync` on Linux; `fcntl(F_FULLFSYNC)` on macOS (its `fsync` leaves
  data in the drive's cache), falling back to `fsync` where the filesystem refuses it;
  `fsync` (FlushFileBuffers) on Windows;
- directory flush after a rename: `fsync` of the directory on POSIX; nothing on Windows,
  where a directory cannot be opened and NTFS journals the rename itself;
- the single-writer lock: `filelock` (flock on POSIX, LockFileEx on Windows);
- private files: created 0600 in 0700 directories and tightened when found looser, on
  POSIX. On Windows modes mean nothing: the home lives under the user's profile
  (`%LOCALAPPDATA%`), whose ACL already admits only the user, SYSTEM and
  Administrators, and xcircle relies on it;
- atomic replace: `os.replace`, retried briefly on Windows while an indexer or an
  antivirus holds the target open (PermissionError);
- symbolic links planted in the home are refused, never followed (`O_NOFOLLOW`, or a
  check where the platform has no such flag).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import time
from pathlib import Path

from xcircle.errors import StoreError, StoreLocked

PLATFORM = sys.platform
FILE_MODE = 0o600
DIR_MODE = 0o700
# Windows: how long `replace` keeps retrying a target another process holds open.
REPLACE_RETRY_S = 1.0

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)  # Windows opens in text mode (LF -> CRLF) without it
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

# Every byte the store writes goes through this one call: tests replace it to inject
# short writes and a full disk at each write position.
_os_write = os.write


class RefusedLink(StoreError):
    """A symbolic link where the home expects a file or a folder of its own."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} is a symbolic link; xcircle does not follow links in its home "
            "(one may have been planted there): remove it and try again"
        )
        self.path = path


def _posix() -> bool:
    return PLATFORM != "win32"


# -- errors ------------------------------------------------------------------------------


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in _DISK_FULL


def save_error(path: Path, exc: OSError, *, what: str = "could not save to") -> StoreError:
    """One clear line for a failed write; a full disk says what to do about it."""
    if is_disk_full(exc):
        return StoreError(
            f"the disk holding {path.parent} is full; nothing was lost; free space and try again"
        )
    return StoreError(f"{what} {path}: {exc.strerror or exc}")


# -- writing and flushing ------------------------------------------------------------------


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of `data` at the file's position, or raise: a short write (which a
    full disk gives before it gives ENOSPC) is continued, never silently accepted."""
    view = memoryview(data)
    while view:
        written = _os_write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def flush(fd: int) -> None:
    """Make the bytes written to `fd` durable (see the module docstring per platform)."""
    if PLATFORM == "darwin":
        _full_fsync(fd)
    elif hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:
        os.fsync(fd)


def _full_fsync(fd: int) -> None:
    import fcntl  # POSIX only: imported where it is used, never at module level

    full = getattr(fcntl, "F_FULLFSYNC", None)
    if full is not None:
        try:
            fcntl.fcntl(fd, full)
            return
        except OSError:
            pass  # e.g. a network or FAT filesystem refuses it: fsync is all there is
    os.fsync(fd)


def flush_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable."""
    if not _posix():
        return
    fd = os.open(path, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def truncate(fd: int, size: int) -> None:
    """Cut the file at `size` and make that durable."""
    os.ftruncate(fd, size)
    os.fsync(fd)


def replace(src: Path, dst: Path) -> None:
    """Atomically put `src` in place of `dst` (the caller flushes the directory)."""
    if _posix():
        os.replace(src, dst)
        return
    deadline = time.monotonic() + REPLACE_RETRY_S
    delay = 0.01
    while True:
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            # Another process (an indexer, an antivirus) has the target open for a moment.
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


# -- private files and folders, no links ---------------------------------------------------


def refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise RefusedLink(path)


def open_private(path: Path, flags: int) -> int:
    """`os.open` for a file of the home: binary, never through a symbolic link, created
    0600 and tightened to 0600 if it was looser."""
    if not _NOFOLLOW:
        refuse_link(path)  # no O_NOFOLLOW on this platform: check (a race, but a narrow one)
    try:
        fd = os.open(path, flags | _NOFOLLOW | _BINARY | _CLOEXEC, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (flags & os.O_CREAT and path.is_symlink()):
            raise RefusedLink(path) from None
        raise
    try:
        tighten_fd(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_private(path: Path) -> bytes | None:
    """The whole file, or None if there is none (never through a link; tightened)."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        chunks = []
        while True:
            chunk = os.read(fd, max(size, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def tighten_file(path: Path) -> None:
    """Tighten an existing file of the home to 0600 (never through a link); none: fine."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    os.close(fd)


def tighten_fd(fd: int) -> None:
    """A file of the home readable by its owner only (POSIX; see the module docstring)."""
    if _posix() and stat.S_IMODE(os.fstat(fd).st_mode) & ~FILE_MODE:
        os.fchmod(fd, FILE_MODE)


def private_dir(path: Path, *, allow_link: bool = False) -> Path:
    """Create `path` (and parents) as 0700, or tighten it to 0700. A folder inside the
    home must be a real folder (`allow_link` for the home itself, which the user names)."""
    if not allow_link:
        refuse_link(path)
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    if _posix() and stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


# -- the single-writer lock --------------------------------------------------------------


class HomeLock:
    """One process per home: a second gets `StoreLocked` at once, not a wait."""

    def __init__(self, path: Path) -> None:
        from filelock import FileLock, Timeout  # not needed before a home opens

        refuse_link(path)
        self.path = path
        self._lock = FileLock(
            path,
            mode=FILE_MODE,
            timeout=0,
            thread_local=False,
            fallback_to_soft=False,
            on_acquired=self._claim,
        )
        try:
            self._lock.acquire()
        except Timeout:
            raise StoreLocked(
                f"{path.parent} is in use by another xcircle (pid {self._holder()}); close it "
                "to make changes (commands that only read work alongside it)"
            ) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise RefusedLink(path) from None
            raise

    def _claim(self, fd: int) -> None:
        # The holder's pid, for the second process's message; fixed width, so no
        # truncate (a metadata write) is needed on every open.
        tighten_fd(fd)
        with contextlib.suppress(OSError):  # e.g. a full disk: the lock holds without it
            os.lseek(fd, 0, os.SEEK_SET)
            write_all(fd, f"{os.getpid():<16}".encode())

    def _holder(self) -> str:
        try:
            raw = read_private(self.path) or b""
        except OSError:  # Windows: the holder's locked byte cannot be read
            return "unknown"
        return raw[:16].decode(errors="replace").strip() or "unknown"

    def release(self) -> None:
        self._lock.release()
