"""Open screens follow the data: two apps on two homes, one real in-process exchange.

Ada changes something in her app; her sync worker pushes it, Bob's sync worker pulls it,
and the screen Bob has open shows it: no key is pressed on Bob's side (screens are opened
and the sync workers started the way the app's timer does, `controller.sync_now()`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from textual.pilot import Pilot
from textual.widgets import Button, Digits, Static

from screens.app import XCircleApp, make_app
from screens.circle import CircleScreen
from screens.forms import ConfirmScreen
from screens.goals import GoalDetailScreen
from screens.home import HomeScreen
from screens.meeting import MeetingScreen
from screens.round import RoundScreen
from screens.sync import SyncController, SyncStatus
from screens.widgets import Table, TopBar, WrappedList
from xcircle.errors import RemovedFromCircle

from .conftest import MakeDevice
from .helpers import NOW, Device, pair


def app_of(device: Device, *, interval: float = 0, live: bool = True) -> XCircleApp:
    """The app on a device's home (its open store), with a sync controller over the
    in-process exchange (no automatic sync unless `interval`; then the live loop, or
    with `live=False` a sync every interval)."""

    def controller(services: object) -> SyncController:
        return SyncController(
            device.services, connect=lambda _s: device.client(), interval=interval, live=live
        )

    app = make_app(store=device.store, clock=lambda: NOW, sync=controller)
    app.cursor_blink = False
    app.animation_level = "none"
    return app


@asynccontextmanager
async def running(app: XCircleApp) -> AsyncIterator[Pilot[None]]:
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, HomeScreen) and app.screen.loaded)
        yield pilot


async def until(pilot: Pilot[None], done: Callable[[], bool], seconds: float = 15) -> None:
    """Let the app run (workers, timers, messages) until `done()`; fail after `seconds`."""
    for _ in range(int(seconds / 0.05)):
        if done():
            return
        await pilot.pause(0.05)
    assert done(), "the screen never showed the change"


async def synced(pilot: Pilot[None], app: XCircleApp) -> None:
    """One sync by the app's own worker (what its timer or live loop starts), to its end."""
    app.sync.sync_now()
    await app.workers.wait_for_complete()
    await pilot.pause()


def text(app: XCircleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def rows(app: XCircleApp, selector: str) -> list[str]:
    table = app.screen.query_one(selector, Table)
    return [" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


def shows(app: XCircleApp, table: str, needle: str) -> Callable[[], bool]:
    return lambda: any(needle in row for row in rows(app, table))


def options(app: XCircleApp, selector: str) -> list[str]:
    items = app.screen.query_one(selector, WrappedList)
    return [str(items.get_option_at_index(i).prompt) for i in range(items.option_count)]


async def test_a_change_on_one_device_appears_on_the_others_open_screens(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = pair(make_device)
    bob.sync()
    ada_app, bob_app = app_of(ada), app_of(bob)
    async with running(ada_app) as ada_pilot, running(bob_app) as bob_pilot:
        act = ada_app.services  # Ada's actions, as her forms would call them

        async def travel() -> None:
            """Ada's worker pushes, Bob's pulls; nothing is pressed on Bob's side."""
            await synced(ada_pilot, ada_app)
            await synced(bob_pilot, bob_app)

        # Home: the circle's open goals.
        def open_goals() -> str:
            return str(bob_app.screen.query_one("#circles", Table).get_row_at(0)[4])

        assert open_goals() == "0"
        goal = act.goals.add(cid, "Delegate the weekly report")["id"]
        await travel()
        await until(bob_pilot, lambda: open_goals() == "1")

        # The circle, tab by tab (a tab is shown the way its key shows it).
        circle = CircleScreen(cid, tab="goals")
        await bob_app.push_screen(circle)
        await circle.loaded.wait()
        act.goals.add(cid, "Mentor a new lead")
        await travel()
        await until(
            bob_pilot, lambda: any("Mentor a new lead" in r for r in rows(bob_app, "#goal-table"))
        )

        async def tab(name: str) -> None:
            await circle.run_action(f"tab('{name}')")
            await until(bob_pilot, lambda: name in circle.filled)

        await tab("overview")
        act.circles.set_agreement(cid, "Confidential", "What is said here stays here")
        await travel()
        await until(
            bob_pilot, lambda: any("Confidential" in o for o in options(bob_app, "#agreements"))
        )

        await tab("members")
        act.members.add(cid, "Chen Wei", org="Acme")
        await travel()
        await until(bob_pilot, shows(bob_app, "#member-table", "Chen Wei"))

        await tab("meetings")
        meeting = act.meetings.plan(cid, NOW + timedelta(days=2), themes=["Delegation"])["id"]
        await travel()
        await until(
            bob_pilot, lambda: any("Delegation" in r for r in rows(bob_app, "#meeting-table"))
        )

        await tab("insights")
        ada_me = ada.store.meta(cid)["me"]
        act.commitments.add(cid, ada_me, "Write the handover note")
        await travel()
        await until(bob_pilot, lambda: "open 1" in text(bob_app, "#commitments"))

        # A goal, with its check-ins.
        detail = GoalDetailScreen(cid, goal)
        await bob_app.push_screen(detail)
        await until(bob_pilot, lambda: "Delegate" in detail.query_one(TopBar).text)
        act.goals.checkin(cid, goal, progress=40, note="Half handed over")
        await travel()
        await until(
            bob_pilot, lambda: any("Half handed over" in r for r in rows(bob_app, "#checkins"))
        )
        detail.dismiss()
        circle.dismiss()
        await bob_pilot.pause()

        # A meeting, then its round.
        bob_meeting = MeetingScreen(cid, meeting)
        await bob_app.push_screen(bob_meeting)
        await bob_pilot.pause()
        act.meetings.start(cid, meeting)
        await travel()
        await until(bob_pilot, lambda: "Running" in text(bob_app, "#info"))
        bob_meeting.dismiss()
        await bob_pilot.pause()

        act.rounds.start(cid, meeting)
        await travel()
        round_ = RoundScreen(cid, meeting)
        await bob_app.push_screen(round_)
        await until(bob_pilot, lambda: "none yet" in text(bob_app, "#turn"))
        state = act.rounds.state(cid, meeting)
        act.rounds.feedback(
            cid, meeting, state["presenter"], state["peers"][0], "support", "You made it look easy"
        )
        await travel()
        await until(bob_pilot, lambda: "You made it look easy" in text(bob_app, "#turn"))
        # The countdown ticks from the round's timer alone.
        assert round_.query_one("#clock", Digits).value


async def test_a_removed_member_is_told_at_once_and_the_circle_turns_read_only(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = pair(make_device)
    bob.sync()
    bob_me = bob.store.meta(cid)["me"]
    bob_app = app_of(bob)
    async with running(bob_app) as pilot:
        circle = CircleScreen(cid, tab="goals")
        await bob_app.push_screen(circle)
        await circle.loaded.wait()
        assert circle.check_action("new_goal", ()) is True
        # Ada removes Bob, and the exchange hears of it.
        ada.services.members.remove(cid, bob_me)
        from sync.commands import remove_member_remote

        with ada.client() as client:
            assert remove_member_remote(ada.store, cid, bob_me, client=client)
        await synced(pilot, bob_app)
        await until(pilot, lambda: isinstance(bob_app.screen, ConfirmScreen))
        assert any("You were removed from Leaders" in n.message for n in bob_app._notifications)
        # Asked: keep a copy to read, or forget it. Bob keeps it.
        question = bob_app.screen
        assert isinstance(question, ConfirmScreen)
        assert str(question.query_one("#no", Button).label) == "Keep a copy"
        await pilot.click("#no")
        await until(pilot, lambda: bob_app.screen is circle)
        # Read-only: no key offers an edit, and an edit that gets through is refused.
        assert circle.check_action("new_goal", ()) is False
        assert circle.check_action("app.pop_screen", ()) is True
        try:
            bob_app.services.goals.add(cid, "Nobody would ever see this")
        except RemovedFromCircle as exc:
            assert "read-only" in str(exc)
        else:
            raise AssertionError("an edit in a circle Bob was removed from was kept")
        assert bob.store.pending(cid) == 0
        # A later sync does not ask again; the copy stays readable.
        await synced(pilot, bob_app)
        assert bob_app.screen is circle
        assert rows(bob_app, "#goal-table") == []


async def test_forgetting_a_removed_circle_drops_it_from_this_device(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = pair(make_device)
    bob.sync()
    bob_me = bob.store.meta(cid)["me"]
    goal = ada.services.goals.add(cid, "Delegate")["id"]
    ada.sync()
    bob.sync()
    bob_app = app_of(bob)
    async with running(bob_app) as pilot:
        circle = CircleScreen(cid, tab="goals")
        await bob_app.push_screen(circle)
        await circle.loaded.wait()
        await bob_app.push_screen(GoalDetailScreen(cid, goal))  # the circle's screens are open
        await pilot.pause()
        ada.services.members.remove(cid, bob_me)
        from sync.commands import remove_member_remote

        with ada.client() as client:
            remove_member_remote(ada.store, cid, bob_me, client=client)
        await synced(pilot, bob_app)
        await until(pilot, lambda: isinstance(bob_app.screen, ConfirmScreen))
        await pilot.click("#yes")
        await until(pilot, lambda: isinstance(bob_app.screen, HomeScreen))
        await until(pilot, lambda: bob_app.screen.query_one("#circles", Table).row_count == 0)
        assert not bob.store.has_circle(cid)
        assert not list((bob.home / "circles").glob(f"{cid}.*"))


async def test_a_sync_that_overwrites_my_fresh_edit_says_whose_change_won(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = pair(make_device)
    goal = ada.services.goals.add(cid, "Delegate")["id"]
    ada.sync()
    bob.sync()
    bob_app = app_of(bob)
    async with running(bob_app) as pilot:
        detail = GoalDetailScreen(cid, goal)
        await bob_app.push_screen(detail)
        await until(pilot, lambda: "Delegate" in detail.query_one(TopBar).text)
        # Both change the title; Ada's change is the later one, so it wins everywhere.
        bob_app.services.goals.update(cid, goal, title="Delegate the report")
        time.sleep(0.01)  # a later millisecond: in the same one the node ids would decide
        ada.services.goals.update(cid, goal, title="Delegate the budget")
        await synced(pilot, bob_app)  # Bob's change goes up first
        ada.sync()  # Ada's, stamped later, follows
        await synced(pilot, bob_app)
        await until(pilot, lambda: "Delegate the budget" in detail.query_one(TopBar).text)
        told = [n.message for n in bob_app._notifications]
        assert any(
            "ada's change to goal “Delegate the budget” (title) won over yours" in m for m in told
        ), told
    # Ada, whose change won, is told nothing.
    assert bob.store.get(cid, "goal", goal)["title"] == "Delegate the budget"


async def test_live_the_other_devices_open_screen_follows_with_no_call_at_all(
    make_device: MakeDevice,
) -> None:
    """The live loop in both apps: Ada's local change is pushed at once, the exchange
    wakes Bob's waiting loop, and his open home shows it (the interval is far away)."""
    ada, bob, cid = pair(make_device)
    bob.sync()
    ada_app, bob_app = app_of(ada, interval=120), app_of(bob, interval=120)
    for app in (ada_app, bob_app):
        app.sync.first_sync_s = 0.05
    async with running(ada_app) as ada_pilot, running(bob_app) as bob_pilot:
        await until(ada_pilot, lambda: ada_app.sync.live_mode == "live")
        await until(bob_pilot, lambda: bob_app.sync.live_mode == "live")
        assert "live" in str(bob_app.screen.query_one(SyncStatus).render())
        ada_app.services.goals.add(cid, "Delegate")
        table = bob_app.screen.query_one("#circles", Table)
        await until(bob_pilot, lambda: str(table.get_row_at(0)[4]) == "1")


async def test_live_a_removal_reaches_the_removed_members_app_at_once(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = pair(make_device)
    bob.sync()
    bob_me = bob.store.meta(cid)["me"]
    bob_app = app_of(bob, interval=120)
    bob_app.sync.first_sync_s = 0.05
    async with running(bob_app) as pilot:
        await until(pilot, lambda: bob_app.sync.live_mode == "live")
        ada.services.members.remove(cid, bob_me)
        from sync.commands import remove_member_remote

        with ada.client() as client:
            remove_member_remote(ada.store, cid, bob_me, client=client)
        await until(pilot, lambda: isinstance(bob_app.screen, ConfirmScreen))
        assert "removed from 1" in str(bob_app.screen_stack[0].query_one(SyncStatus).render())


async def test_the_sync_worker_follows_on_its_own_timer(make_device: MakeDevice) -> None:
    """Without the live loop, a sync every interval: Bob's open home follows Ada's
    change with no call at all."""
    ada, bob, cid = pair(make_device)
    bob.sync()
    bob_app = app_of(bob, interval=0.2, live=False)
    async with running(bob_app) as pilot:
        ada.services.goals.add(cid, "Delegate")
        ada.sync()
        table = bob_app.screen.query_one("#circles", Table)
        await until(pilot, lambda: str(table.get_row_at(0)[4]) == "1")


async def test_home_marks_a_removed_circle_and_offers_no_edit_of_it(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = pair(make_device)
    bob.sync()
    bob_me = bob.store.meta(cid)["me"]
    bob_app = app_of(bob)
    async with running(bob_app) as pilot:
        home = bob_app.screen
        assert home.check_action("edit_circle", ()) is True
        ada.services.members.remove(cid, bob_me)
        from sync.commands import remove_member_remote

        with ada.client() as client:
            remove_member_remote(ada.store, cid, bob_me, client=client)
        await synced(pilot, bob_app)
        await until(pilot, lambda: isinstance(bob_app.screen, ConfirmScreen))
        await pilot.click("#no")  # keep a copy
        await until(pilot, lambda: "(removed: read-only)" in rows(bob_app, "#circles")[0])
        assert home.check_action("edit_circle", ()) is False
        assert home.check_action("archive", ()) is False
        assert home.check_action("new_circle", ()) is True
