"""The app meets the store's failures as notices and keeps running (a full disk, damage
found while running)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from screens.app import make_app
from tests.conftest import NOW
from xcircle import osfs
from xcircle.services import Services
from xcircle.store import Store

SIZE = (100, 32)


def _home(home: Path) -> str:
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Ada", "Acme")
        cid = svc.circles.create("Archived circle")["id"]
        svc.circles.archive(cid, True)
        return cid


async def test_a_full_disk_during_an_action_is_a_notice_and_the_app_runs_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    cid = _home(home)
    app = make_app(home, clock=lambda: NOW)
    app.cursor_blink = False
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")  # show archived circles
        await pilot.pause()

        def full(fd: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(osfs, "flush", full)
        await pilot.press("a")  # restore the archived circle: its save fails
        await pilot.pause()
        errors = [n for n in app._notifications if n.severity == "error"]
        assert errors and "is full; nothing was lost; free space and try again" in (
            errors[0].message
        )
        assert app.is_running and app.return_code is None
        monkeypatch.undo()
        await pilot.press("a")  # space is back: the same key saves
        await pilot.pause()
        assert not app.store.get(cid, "circle", cid).get("archived")


async def test_damage_found_while_running_is_told_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Ada", "Acme")
        cid = svc.circles.create("One")["id"]
        goal = svc.goals.add(cid, "Ship")["id"]
        svc.goals.checkin(cid, goal, progress=10)
        store._db(cid).snapshot()
    snapshot = home / "circles" / f"{cid}.json"
    lines = snapshot.read_bytes().split(b"\n")
    lines = [b'"checkin"\t{"x": 5}' if x.startswith(b'"checkin"\t') else x for x in lines]
    snapshot.write_bytes(b"\n".join(lines))
    app = make_app(home, clock=lambda: NOW)
    app.cursor_blink = False
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app._notifications
        Services(app.store).goals.checkins(cid)  # a screen's first use of the table
        await pilot.pause()
        warnings = [n for n in app._notifications if n.severity == "warning"]
        assert warnings and "moved aside" in warnings[0].message
        assert app.is_running
