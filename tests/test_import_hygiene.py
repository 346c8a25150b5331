"""Start-up stays lean: the TUI's first import loads no network or server stack.

Run in a fresh interpreter, since the test process itself may have imported anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("httpx", "starlette", "uvicorn", "fastapi")


def loaded_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(out.stdout))


def test_importing_the_tui_loads_no_network_stack() -> None:
    modules = loaded_after("import screens.app")
    leaked = sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
    assert leaked == []


def test_importing_the_tui_loads_no_cryptography() -> None:
    """Keys are needed for sync and the first run, not to paint the home screen."""
    modules = loaded_after("import screens.app")
    assert sorted(m for m in modules if m.split(".")[0] in ("cryptography", "keyring")) == []


def test_first_screen_defers_what_it_does_not_show() -> None:
    modules = loaded_after("import screens.app")
    for deferred in ("screens.circle", "screens.forms", "screens.help", "xcircle.demo"):
        assert deferred not in modules
