"""The TUI's sync pieces under Pilot: the status line, the worker, the questions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import Input, Static

from screens.sync import (
    SyncActionDone,
    SyncController,
    SyncFailed,
    SyncFinished,
    SyncStatus,
    describe,
)
from screens.syncforms import AcceptModal, InviteModal, JoinModal
from xcircle.services import Services

from .conftest import MakeDevice
from .helpers import Device, pair

ROOT = Path(__file__).resolve().parents[2]


class Harness(App[None]):
    """The smallest app that hosts the controller and a status line."""

    def __init__(self, device: Device) -> None:
        super().__init__()
        self.device = device
        self.services: Services = device.services
        self.controller = SyncController(
            device.services, connect=lambda _s: device.client(), interval=0
        )
        self.seen: list[Message] = []

    def compose(self) -> ComposeResult:
        yield self.controller
        yield SyncStatus(self.controller, id="status")


def _hook(app: Harness) -> Any:
    def hook(message: Message) -> None:
        if isinstance(message, SyncFinished | SyncFailed | SyncActionDone):
            app.seen.append(message)

    return hook


async def test_status_follows_sync_and_failures(make_device: MakeDevice) -> None:
    ada = make_device("ada")
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    ada.services.goals.add(cid, "Delegate")
    app = Harness(ada)
    async with app.run_test(size=(80, 20), message_hook=_hook(app)) as pilot:
        status = app.query_one(SyncStatus)
        assert status.kind == "pending" and "pending 1" in str(status.render())
        app.controller.sync_now()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.seen[-1], SyncFinished) and app.seen[-1].report.pushed == 1
        assert status.kind == "synced"
        ada.faults.plan = lambda _i, _r: "request"
        app.controller.sync_now()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.seen[-1], SyncFailed) and "cannot reach" in app.seen[-1].reason
        assert status.kind == "offline"


async def test_accept_and_invite_through_the_controller(make_device: MakeDevice) -> None:
    ada, bob = make_device("ada"), make_device("bob", "Beta")
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    app = Harness(bob)
    async with app.run_test(size=(80, 24), message_hook=_hook(app)) as pilot:
        app.controller.prompt_accept()
        await pilot.pause()
        assert isinstance(app.screen, AcceptModal)
        await pilot.click("#save")  # empty: inline error under the field, still open
        await pilot.pause()
        assert "xci_" in str(app.screen.query_one("#error-code", Static).render())
        code = app.screen.query_one("#code", Input)
        code.value = ada.invite(cid)
        code.focus()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        done = [m for m in app.seen if isinstance(m, SyncActionDone)]
        assert done and done[-1].action == "accept" and done[-1].value["circle"] == cid
        assert done[-1].value["status"] == "pending"
        said = [n.message for n in app._notifications]
        assert any("Waiting for a convener's device to confirm" in m for m in said), said
        for _ in range(2):  # the app's syncs while waiting say so once, not every minute
            app.controller.sync_now()
            await app.workers.wait_for_complete()
            await pilot.pause()
        said = [n.message for n in app._notifications]
        assert sum("waiting for a convener's device" in m for m in said) == 1, said
        ada.sync()  # Ada's device confirms Bob's joining
        app.controller.sync_now()
        await app.workers.wait_for_complete()
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert any(m.startswith("You joined Leaders") for m in said), said
        assert bob.store.has_circle(cid) and bob.services.circles.get(cid)["name"] == "Leaders"
        app.controller.invite(cid)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, InviteModal) and app.screen.code.startswith("xcs_")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, InviteModal)


async def test_removing_a_member_tells_the_exchange_or_queues_it(make_device: MakeDevice) -> None:
    ada, bob, cid = pair(make_device)
    bob_me = bob.store.meta(cid)["me"]
    app = Harness(ada)
    async with app.run_test(size=(80, 24), message_hook=_hook(app)) as pilot:
        # Out of reach: the removal stays queued and the member hears it is not told yet.
        ada.services.members.remove(cid, bob_me)
        ada.faults.plan = lambda _i, _r: "request"
        app.controller.remove_member(cid, bob_me)
        await app.workers.wait_for_complete()
        await pilot.pause()
        done = [m for m in app.seen if isinstance(m, SyncActionDone)]
        assert done[-1].action == "remove" and done[-1].value is False
        assert ada.store.meta(cid)["remove_pending"] == [bob_me]
        assert any("next sync" in n.message for n in app._notifications)
        # Reachable again: told at once, nothing left queued, and bob is shut out.
        ada.faults.plan = lambda _i, _r: None
        app.controller.remove_member(cid, bob_me)
        await app.workers.wait_for_complete()
        await pilot.pause()
        done = [m for m in app.seen if isinstance(m, SyncActionDone)]
        assert done[-1].value is True and ada.store.meta(cid)["remove_pending"] == []
    assert bob.sync().circles[cid].denied


async def test_join_question_validates_inline_and_escape_cancels(make_device: MakeDevice) -> None:
    ada = make_device("ada", joined=False)
    app = Harness(ada)
    answers: list[object] = []
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.query_one(SyncStatus).kind == "unjoined"
        app.push_screen(JoinModal(), answers.append)
        await pilot.pause()
        app.screen.query_one("#url", Input).value = "ftp://nope"
        await pilot.click("#save")
        await pilot.pause()
        assert "not an exchange URL" in str(app.screen.query_one("#error-url", Static).render())
        app.screen.query_one("#url", Input).value = "https://ex.example.org/"
        token = app.screen.query_one("#token", Input)
        token.value = "xce_abc"
        token.focus()
        await pilot.press("enter")
        await pilot.pause()
        app.push_screen(JoinModal(), answers.append)
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert answers == [("https://ex.example.org", "xce_abc"), None]


def test_describe_covers_every_state() -> None:
    base = {"joined": True, "pending": 0, "circles": [], "last_error": None}
    assert describe({"joined": False})[0] == "unjoined"
    assert describe(base, syncing=True)[0] == "syncing"
    assert describe(base) == ("synced", "synced")
    assert describe({**base, "pending": 3}) == ("pending", "pending 3")
    assert describe({**base, "last_error": "cannot reach x: refused"})[0] == "offline"
    assert describe({**base, "last_error": "bad token"}) == ("error", "sync error: bad token")
    removed = {"pending": 2, "denied": True}
    shut_out = {**base, "pending": 3, "circles": [removed, {"pending": 1, "denied": False}]}
    assert describe(shut_out) == ("pending", "pending 1 · removed from 1")


def test_the_sync_screen_and_engine_load_no_http_client() -> None:
    """The status line and the engine import without httpx: only the worker pulls it in."""
    code = (
        "import json, sys\nimport screens.sync, sync.engine, sync.commands\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    modules = set(json.loads(out.stdout))
    assert not {m for m in modules if m.split(".")[0] in ("httpx", "fastapi", "starlette")}
