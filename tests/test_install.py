"""A member's install stays lean: the exchange server is the `xcircle[exchange]` extra.

The dependency closure is read from the installed metadata (what pip resolved from
pyproject.toml); the member's commands are run in a fresh interpreter in which the
server's packages cannot be imported, as on a laptop that installed plain `xcircle`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
SERVER = {"fastapi", "uvicorn", "sqlalchemy", "psycopg", "psycopg-binary", "starlette"}
SERVER_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "psycopg", "starlette", "prometheus_client")


def _closure(requirements: list[str], extras: set[str]) -> set[str]:
    """Every distribution a plain install of these requirements pulls in (no extras of
    ours unless named), following the installed metadata."""
    seen: set[str] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        raw, wanted = todo.pop()
        req = Requirement(raw)
        if req.marker is not None and not any(
            req.marker.evaluate({"extra": e}) for e in (wanted or {""})
        ):
            continue
        name = canonicalize_name(req.name)
        if name == "xcircle":
            continue
        if name in seen:
            continue
        seen.add(name)
        try:
            todo.extend((r, set(req.extras)) for r in metadata.requires(name) or [])
        except metadata.PackageNotFoundError:
            pass  # a dependency for another platform or Python
    return seen


def test_a_member_install_pulls_in_no_server() -> None:
    requires = metadata.requires("xcircle") or []
    member = _closure(requires, set())
    assert "httpx" in member and "textual" in member
    assert not member & SERVER, sorted(member & SERVER)
    server = _closure(requires, {"exchange"})
    assert {"fastapi", "uvicorn", "sqlalchemy", "psycopg", "prometheus-client"} <= server


_BLOCK = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {SERVER_MODULES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
sys.meta_path.insert(0, Block())
sys.argv = ["xcircle", *sys.argv[1:]]
from xcircle.entry import main
main()
"""


def _member(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BLOCK, "--home", str(home), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_members_commands_work_without_the_server(tmp_path: Path) -> None:
    seeded = _member("demo", "--no-tui", "--json", home=tmp_path / "demo")
    assert seeded.returncode == 0, seeded.stderr
    assert json.loads(seeded.stdout)
    status = _member("status", home=tmp_path / "demo")
    assert status.returncode == 0, status.stderr
    served = _member("exchange", "serve", home=tmp_path / "demo")
    assert served.returncode == 1
    assert "pip install 'xcircle[exchange]'" in served.stderr
    assert "Traceback" not in served.stderr and served.stderr.count("\n") == 1
