"""Where xcircle keeps its files: one place that tests (and users) redirect."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "xcircle"


def home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The home: `--home`, else `XCIRCLE_HOME`, else the platform's user data dir."""
    return _data_dir(explicit, "XCIRCLE_HOME", APP_NAME)


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) as 0700; tighten it if it already exists (per
    platform: `xcircle.osfs.private_dir`)."""
    from xcircle.osfs import private_dir

    return private_dir(path, allow_link=True)


def demo_home_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The demo's home: `--home`, else `XCIRCLE_DEMO_HOME`, else a data dir of its own,
    so trying the demo never mixes demo circles into the member's real home."""
    return _data_dir(explicit, "XCIRCLE_DEMO_HOME", f"{APP_NAME}-demo")


def _data_dir(explicit: str | os.PathLike[str] | None, env_var: str, app: str) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(env_var)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(app, appauthor=False))
