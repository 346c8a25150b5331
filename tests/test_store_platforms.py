"""Each platform branch of `xcircle.osfs`, forced on this machine (macOS, Windows, no
`os.fdatasync`), plus the store's whole test modules run under each of them."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NOW
from xcircle import osfs
from xcircle.errors import StoreLocked
from xcircle.export import render, write_private
from xcircle.services import Services
from xcircle.store import Store

ROOT = Path(__file__).resolve().parents[1]
STORE_TESTS = [
    "tests/test_storage.py",
    "tests/test_store_faults.py",
    "tests/test_store_security.py",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "taken"),
    [("no-fdatasync", "fsync"), ("macos", "full_fsync"), ("windows", "replace_retried")],
)
def test_the_store_tests_pass_on_each_platform_branch(
    tmp_path: Path, mode: str, taken: str
) -> None:
    report = tmp_path / "report.json"
    env = {**os.environ, "XCIRCLE_SIMULATE": mode, "XCIRCLE_SIMULATE_REPORT": str(report)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "tests.platform_sim", *STORE_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    counts = json.loads(report.read_text())
    assert counts.get(taken, 0) > 10, counts  # the forced branch really ran
    if mode == "windows":
        assert counts.get("chmod", 0) == 0  # modes are left to the profile's ACL


def test_nothing_a_member_runs_needs_fcntl_at_import() -> None:
    """Windows has no `fcntl`: the store, the CLI, the TUI and sync still import."""
    code = (
        "import sys; sys.modules['fcntl'] = None; sys.modules['msvcrt'] = None\n"
        "import xcircle.store, xcircle.storage, xcircle.osfs, xcircle.export\n"
        "import xcircle.entry, xcircle.cli, screens.app, sync.client, sync.engine\n"
        "print('imported')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "imported", done.stderr


def test_macos_flush_uses_full_fsync_and_falls_back_to_fsync(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fcntl = pytest.importorskip("fcntl")
    calls: list[str] = []
    monkeypatch.setattr(osfs, "PLATFORM", "darwin")
    monkeypatch.setattr(fcntl, "F_FULLFSYNC", 51, raising=False)
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync"))
    monkeypatch.delattr(os, "fdatasync", raising=False)

    def full_fsync(fd: int, cmd: int, arg: Any = 0) -> int:
        calls.append("F_FULLFSYNC")
        if refuse:
            raise OSError(errno.ENOTSUP, "Operation not supported")
        return 0

    monkeypatch.setattr(fcntl, "fcntl", full_fsync)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        refuse = False
        osfs.flush(fd)
        assert calls == ["F_FULLFSYNC"]  # the drive's cache is flushed: no plain fsync
        refuse, calls[:] = True, []
        osfs.flush(fd)
        assert calls == ["F_FULLFSYNC", "fsync"]  # a filesystem that refuses it
        monkeypatch.delattr(fcntl, "F_FULLFSYNC")
        calls[:] = []
        osfs.flush(fd)
        assert calls == ["fsync"]
    finally:
        os.close(fd)


def test_linux_flush_is_fdatasync_and_without_it_fsync(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(osfs, "PLATFORM", "linux")
    monkeypatch.setattr(os, "fdatasync", lambda fd: calls.append("fdatasync"), raising=False)
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync"))
    osfs.flush(0)
    monkeypatch.delattr(os, "fdatasync")
    osfs.flush(0)
    assert calls == ["fdatasync", "fsync"]


def test_windows_replace_retries_while_the_target_is_held(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(osfs, "PLATFORM", "win32")
    real = os.replace
    refusals = [3]

    def held(src: Any, dst: Any) -> None:
        if refusals[0]:
            refusals[0] -= 1
            raise PermissionError(errno.EACCES, "Access is denied")
        real(src, dst)

    monkeypatch.setattr(os, "replace", held)
    (tmp_path / "new").write_bytes(b"new")
    (tmp_path / "old").write_bytes(b"old")
    osfs.replace(tmp_path / "new", tmp_path / "old")
    assert (tmp_path / "old").read_bytes() == b"new" and refusals == [0]

    refusals[0] = 10**6  # held for good: gives up after REPLACE_RETRY_S, says why
    monkeypatch.setattr(osfs, "REPLACE_RETRY_S", 0.05)
    (tmp_path / "new").write_bytes(b"newer")
    with pytest.raises(PermissionError):
        osfs.replace(tmp_path / "new", tmp_path / "old")
    monkeypatch.setattr(osfs, "PLATFORM", "linux")  # POSIX: no retry, one error at once
    refusals[0] = 1
    with pytest.raises(PermissionError):
        osfs.replace(tmp_path / "new", tmp_path / "old")


def test_windows_leaves_modes_and_directory_flushes_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(osfs, "PLATFORM", "win32")

    def forbidden(*args: object) -> None:
        raise AssertionError("no chmod or directory open on Windows")

    monkeypatch.setattr(os, "chmod", forbidden)
    monkeypatch.setattr(os, "fchmod", forbidden, raising=False)
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    osfs.private_dir(loose)
    monkeypatch.setattr(os, "open", forbidden)
    osfs.flush_dir(loose)


def test_windows_lock_message_when_the_holders_pid_cannot_be_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Windows locks the lock file's first byte: another process cannot read the pid."""
    with Store(tmp_path / "home"):

        def locked_region(path: Path) -> bytes:
            raise PermissionError(errno.EACCES, "locked")

        monkeypatch.setattr(osfs, "read_private", locked_region)
        with pytest.raises(StoreLocked, match=r"in use by another xcircle \(pid unknown\)"):
            Store(tmp_path / "home")


def test_the_second_process_is_told_the_holders_pid(tmp_path: Path) -> None:
    with Store(tmp_path / "home"), pytest.raises(StoreLocked, match=rf"pid {os.getpid()}\)"):
        Store(tmp_path / "home")


def test_csv_exports_keep_exactly_one_crlf_per_row(tmp_path: Path) -> None:
    """CSV rows end in CRLF (RFC 4180), written as bytes: never CR CR LF on Windows."""
    with Store(tmp_path / "home") as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Ada", "Acme")
        cid = svc.circles.create("Csv")["id"]
        svc.goals.add(cid, "Two lines", why="Line one\nline two")
        data = render(svc.detail(cid), "csv", table="goals")
    write_private(tmp_path / "goals.csv", data)
    written = (tmp_path / "goals.csv").read_bytes()
    assert written == data
    assert b"\r\r" not in written and written.count(b"\r\n") >= 2


@pytest.mark.parametrize(("have_uvloop", "loop"), [(True, "uvloop"), (False, "auto")])
def test_serve_uses_uvloop_only_where_it_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, have_uvloop: bool, loop: str
) -> None:
    """uvloop has no Windows build: the exchange serves on asyncio's loop there."""
    import importlib.util

    import uvicorn
    from click.testing import CliRunner

    from sync.exchange.cli import exchange

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return real_find_spec(name, *args) if have_uvloop or name != "uvloop" else None

    seen: dict[str, Any] = {}
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    result = CliRunner().invoke(exchange, ["serve", "--data-dir", str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert seen["loop"] == loop
