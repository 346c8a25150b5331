"""SVG snapshots of the sync pieces: the questions (join, share, invite, accept) and the
top bar of a joined device with pending changes. Deterministic like the others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen

from screens.syncforms import AcceptModal, InviteModal, ShareModal
from sync.state import Credentials, save_credentials
from tests.tui.conftest import SIZE, make_test_app, settle
from xcircle.store import Store

SnapCompare = Callable[..., bool]

MODALS: dict[str, Callable[[], Screen[Any]]] = {
    "share": lambda: ShareModal("Leading Through Change"),
    "invite": lambda: InviteModal(
        "xci_3q2PZkWm9xV0c1bR7tY4uA8sE6dF5gH2jK0lN9oQ@https://exchange.example.org"
    ),
    "accept": AcceptModal,
}


def push_then_settle(make: Callable[[], Screen[Any]]) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.app.push_screen(make())
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("modal", list(MODALS))
def test_sync_modal(modal: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=SIZE, run_before=push_then_settle(MODALS[modal]))


def test_join_modal_from_the_sync_key(demo_home: Path, snap_compare: SnapCompare) -> None:
    async def press_sync(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        await pilot.press("S")
        await settle(pilot)

    assert snap_compare(make_test_app(demo_home), terminal_size=SIZE, run_before=press_sync)


def test_home_of_a_joined_device_shows_pending(demo_home: Path, snap_compare: SnapCompare) -> None:
    with Store(demo_home) as store:
        save_credentials(store, Credentials("https://exchange.example.org", "xcd_x", "d", "Acme"))
        store.set_meta(store.circle_ids()[0], shared=True)
        store.save_setting("sync_interval", 0)  # no automatic sync in a snapshot

    async def wait(pilot: Pilot[Any]) -> None:
        await settle(pilot)

    assert snap_compare(make_test_app(demo_home), terminal_size=SIZE, run_before=wait)


def _removed_from_first_circle(home: Path) -> str:
    """The demo home, shared and joined, with this device removed from its first circle."""
    with Store(home) as store:
        save_credentials(store, Credentials("https://exchange.example.org", "xcd_x", "d", "Acme"))
        store.save_setting("sync_interval", 0)  # no automatic sync in a snapshot
        cid = sorted(store.circle_ids(), key=lambda c: store.get(c, "circle", c)["name"])[0]
        store.set_meta(cid, shared=True, removed=True)
        return cid


def test_removed_from_a_circle_asks_keep_or_forget(
    demo_home: Path, snap_compare: SnapCompare
) -> None:
    cid = _removed_from_first_circle(demo_home)

    async def removed(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        pilot.app.sync.ask_keep_or_forget(cid)  # type: ignore[attr-defined]
        await settle(pilot)

    assert snap_compare(make_test_app(demo_home), terminal_size=SIZE, run_before=removed)


def test_a_removed_circle_offers_no_edits(demo_home: Path, snap_compare: SnapCompare) -> None:
    from screens.circle import CircleScreen

    cid = _removed_from_first_circle(demo_home)

    async def open_it(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        screen = CircleScreen(cid, tab="goals")
        await pilot.app.push_screen(screen)
        await screen.loaded.wait()
        await settle(pilot)

    assert snap_compare(make_test_app(demo_home), terminal_size=SIZE, run_before=open_it)
