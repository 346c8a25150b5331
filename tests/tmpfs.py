"""A real, small filesystem for full-disk tests: a tmpfs mounted for the test's length
(it needs root, as CI runs; elsewhere the test is skipped with that reason)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """`path` as a fresh tmpfs of `size` (e.g. "256k", "4m"), unmounted afterwards."""
    if getattr(os, "geteuid", lambda: -1)() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and `mount` (CI runs as root)")
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def resize(path: Path, size: str) -> None:
    """Give the tmpfs at `path` room (frees the disk for the rest of the test)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)
