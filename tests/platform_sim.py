"""A pytest plugin that runs the store's tests as on another platform (`-p tests.platform_sim`).

`XCIRCLE_SIMULATE` picks the branch of `xcircle.osfs` to force on this machine:

- `no-fdatasync`: Python without `os.fdatasync` (as on macOS and Windows);
- `macos`: the macOS branch (`F_FULLFSYNC`, no `fdatasync`); F_FULLFSYNC is emulated
  by an fsync, so what is flushed still reaches the disk here;
- `windows`: the Windows branch (no chmod, no directory flush, `os.replace` that fails
  with PermissionError on its first try for each file, as while an indexer holds it).

What the forced branch did is counted and written as JSON to `XCIRCLE_SIMULATE_REPORT`,
so the test that runs the plugin can check the branch was really taken.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections import Counter
from typing import Any

import pytest

MODE = os.environ.get("XCIRCLE_SIMULATE", "")
COUNTS: Counter[str] = Counter()
F_FULLFSYNC = 51  # its value on macOS


def pytest_configure(config: pytest.Config) -> None:
    if not MODE:
        return
    from xcircle import osfs

    if MODE in ("no-fdatasync", "macos") and hasattr(os, "fdatasync"):
        delattr(os, "fdatasync")
    if MODE == "no-fdatasync":
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            COUNTS["fsync"] += 1
            real_fsync(fd)

        os.fsync = fsync
    if MODE == "macos":
        import fcntl

        osfs.PLATFORM = "darwin"
        real_fcntl = fcntl.fcntl
        if not hasattr(fcntl, "F_FULLFSYNC"):
            fcntl.F_FULLFSYNC = F_FULLFSYNC  # type: ignore[attr-defined]

        def emulated(fd: int, cmd: int, arg: Any = 0) -> Any:
            if cmd == fcntl.F_FULLFSYNC:  # type: ignore[attr-defined]
                COUNTS["full_fsync"] += 1
                os.fsync(fd)
                return 0
            return real_fcntl(fd, cmd, arg)

        fcntl.fcntl = emulated  # type: ignore[assignment]
    if MODE == "windows":
        osfs.PLATFORM = "win32"
        real_replace = os.replace
        tried: set[str] = set()

        def replace(src: Any, dst: Any) -> None:
            if str(src) not in tried:
                tried.add(str(src))
                COUNTS["replace_refused"] += 1
                raise PermissionError(errno.EACCES, "Access is denied", str(dst))
            COUNTS["replace_retried"] += 1
            real_replace(src, dst)

        os.replace = replace
        real_chmod = os.chmod

        def ours() -> bool:  # filelock's own fchmod of a new lock file is its business
            return str(sys._getframe(2).f_globals.get("__name__", "")).startswith("xcircle")

        def chmod(*args: Any, **kwargs: Any) -> None:
            COUNTS["chmod"] += ours()
            real_chmod(*args, **kwargs)

        os.chmod = chmod
        if hasattr(os, "fchmod"):
            real_fchmod = os.fchmod

            def fchmod(fd: int, mode: int) -> None:
                COUNTS["chmod"] += ours()
                real_fchmod(fd, mode)

            os.fchmod = fchmod


def pytest_sessionfinish(session: pytest.Session) -> None:
    report = os.environ.get("XCIRCLE_SIMULATE_REPORT")
    if MODE and report:
        with open(report, "w") as f:
            json.dump(dict(COUNTS), f)
