"""Where xcircle keeps its files: one place that tests (and users) redirect."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "xcircle"


def home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The home: `--home`, else `XCIRCLE_HOME`, else the platform's user data dir."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("XCIRCLE_HOME")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700; tighten it if it already exists."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path
