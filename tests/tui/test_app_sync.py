"""Sync inside the app: the top bar shows the state, `S` syncs (or asks to join first),
and the palette offers join / share / invite / accept."""

from __future__ import annotations

from pathlib import Path

from screens.sync import SyncStatus
from screens.syncforms import JoinModal
from sync.state import Credentials, save_credentials
from tests.tui.conftest import SIZE, make_test_app, settle
from tests.tui.test_app import palette_prompts
from xcircle.store import Store


async def test_an_unjoined_device_shows_no_sync_state_and_S_asks_to_join(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = app.screen.query_one(SyncStatus)
        assert status.kind == "unjoined" and not status.display
        assert "Join an exchange" in await palette_prompts(pilot)
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("S")
        await settle(pilot)
        assert isinstance(app.screen, JoinModal)


async def test_a_joined_device_shows_pending_ops_of_shared_circles(demo_home: Path) -> None:
    with Store(demo_home) as store:
        save_credentials(store, Credentials("http://127.0.0.1:9", "xcd_test", "dev", "Acme"))
        store.save_setting("sync_interval", 0)  # no automatic sync during this test
        shared = store.circle_ids()[0]
        store.set_meta(shared, shared=True)
        pending = len(store.outbox(shared))
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = app.screen.query_one(SyncStatus)
        assert status.display
        assert status.kind == "pending"
        assert f"pending {pending}" in str(status.render())
        prompts = await palette_prompts(pilot)
        assert "Sync now" in prompts and "Accept an invite" in prompts
        assert any(p.startswith("Invite to ") for p in prompts)
        assert any(p.startswith("Share ") for p in prompts)


async def test_a_joined_device_syncs_soon_after_start(demo_home: Path) -> None:
    with Store(demo_home) as store:
        # Port 9 (discard) refuses connections here: the sync fails fast, as offline.
        save_credentials(store, Credentials("http://127.0.0.1:9", "xcd_test", "dev", "Acme"))
        store.set_meta(store.circle_ids()[0], shared=True)
        store.save_setting("sync_interval", 0.2)
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        status = app.screen.query_one(SyncStatus)
        for _ in range(100):  # bounded: the timer fires after 0.2 s, the attempt is quick
            if status.kind == "offline":
                break
            await pilot.pause(0.05)
        assert status.kind == "offline"
        assert "offline" in str(status.render())
