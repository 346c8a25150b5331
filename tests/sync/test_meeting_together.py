"""An online meeting run together: two apps on two homes, a real in-process exchange.

Ada facilitates on her device; Bob opens the same meeting on his. Ada's device drives
the agenda step, the round's presenter, phase and timer; Bob's follows without a key
press once a sync brings her changes, and Bob gives his own feedback and pulse, which
reach Ada's screen. Syncs are driven explicitly (the app's controller, as the `S` key
does), so nothing here waits on a timer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from textual._context import active_app
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Digits, Input, Select

from screens.agenda import CheckinStep
from screens.agenda_pulse import PulseStep
from screens.app import XCircleApp, make_app
from screens.meeting import MeetingScreen
from screens.round import RoundScreen
from screens.sync import SyncController
from tests.tui.conftest import screen_text
from xcircle.domain import DEFAULT_TIMEBOXES
from xcircle.errors import NotYours
from xcircle.services import Services

from .conftest import MakeDevice
from .helpers import Device, FakeClock

SIZE = (110, 34)
AHEAD_MS = 90_000  # Bob's machine clock runs a minute and a half ahead of everyone's


@dataclass
class Seat:
    """One member at their own terminal: the device, its app, its pilot, its clock."""

    device: Device
    app: XCircleApp
    pilot: Pilot[None]
    clock: FakeClock

    def use(self) -> XCircleApp:
        """Make this seat's app the active one for what the test does next. Two apps run
        in one event loop here, and a widget finds its app through a context variable
        that a task copies when it starts: without this, a screen pushed on Ada's app
        after Bob's started would answer to Bob's."""
        active_app.set(self.app)
        return self.app

    async def push(self, screen: Screen[None]) -> None:
        await self.use().push_screen(screen)
        await self.pilot.pause()
        await self.app.workers.wait_for_complete()  # the screen's own loading
        await self.pilot.pause()

    async def sync(self) -> None:
        """What `S` does: one sync through the app's own controller, then the UI settles."""
        self.use().sync.sync_now()
        await self.app.workers.wait_for_complete()
        await self.pilot.pause()
        await self.pilot.pause()

    async def press(self, *keys: str) -> None:
        self.use()
        await self.pilot.press(*keys)
        await self.pilot.pause()

    def text(self) -> str:
        return screen_text(self.app)


def app_for(device: Device, clock: FakeClock, *, live: bool = False) -> XCircleApp:
    """The app on a device's open store, syncing over the in-process exchange only when
    the test says (or, `live`, through the live loop the test starts)."""

    def controller(services: Services) -> SyncController:
        connect = lambda _store: device.client()  # noqa: E731
        return SyncController(services, connect=connect, interval=3600 if live else 0)

    app = make_app(
        store=device.store,
        clock=lambda: datetime.fromtimestamp(clock() / 1000, UTC),
        sync=controller,
    )
    app.cursor_blink = False
    app.animation_level = "none"
    return app


@asynccontextmanager
async def two_seats(
    make_device: MakeDevice, exchange_clock: FakeClock, *, live: bool = False
) -> AsyncIterator[tuple[Seat, Seat, str, str]]:
    """Ada and Bob in a shared circle, a meeting Ada planned, both apps open."""
    ada_clock = FakeClock(exchange_clock.now)
    bob_clock = FakeClock(exchange_clock.now + AHEAD_MS)
    ada = make_device("ada", "Acme", now_ms=ada_clock)
    bob = make_device("bob", "Beta", now_ms=bob_clock)
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    bob.accept(ada.invite(cid))
    meeting = ada.services.meetings.schedule(cid, "2026-12-01T18:00", zone="UTC")["id"]
    ada.sync()
    bob.sync()
    ada_app, bob_app = app_for(ada, ada_clock, live=live), app_for(bob, bob_clock, live=live)
    async with (
        ada_app.run_test(size=SIZE) as ada_pilot,
        bob_app.run_test(size=SIZE) as bob_pilot,
    ):
        yield (
            Seat(ada, ada_app, ada_pilot, ada_clock),
            Seat(bob, bob_app, bob_pilot, bob_clock),
            cid,
            meeting,
        )


def me(seat: Seat, cid: str) -> str:
    return str(seat.device.store.meta(cid)["me"])


async def test_a_follower_follows_the_facilitators_step_round_and_countdown(
    make_device: MakeDevice, exchange_clock: FakeClock
) -> None:
    async with two_seats(make_device, exchange_clock) as (ada, bob, cid, meeting):
        ada_me, bob_me = me(ada, cid), me(bob, cid)
        # Ada opens the meeting, marks both present, and starts it as its facilitator.
        await ada.push(MeetingScreen(cid, meeting))
        await ada.press("a", "s")
        await ada.press("y")
        rec = ada.app.services.meetings.get(cid, meeting)
        assert rec["status"] == "running" and rec["facilitator"] == ada_me
        await ada.sync()
        # Bob opens it on his device: he follows; the agenda keys are not his.
        await bob.sync()
        await bob.push(MeetingScreen(cid, meeting))
        await bob.pilot.pause()
        screen = bob.app.screen
        assert isinstance(screen, MeetingScreen) and screen.following
        assert "Following ada, who runs the meeting" in bob.text()
        assert screen.check_action("step", (1,)) is False
        # Ada moves on; Bob's screen moves with her after a sync, without a key press.
        await ada.press("right_square_bracket")
        await ada.sync()
        await bob.sync()
        assert screen.viewing == 1 == ada.app.services.meetings.get(cid, meeting)["step"]
        # Ada opens the round: it starts on her device, and Bob's opens it too.
        await ada.press("right_square_bracket", "enter")
        assert isinstance(ada.app.screen, RoundScreen)
        ada_round = ada.app.screen
        await ada.sync()
        await bob.sync()
        assert isinstance(bob.app.screen, RoundScreen)
        bob_round = bob.app.screen
        assert bob_round.following and not ada_round.following
        same = ("presenter", "phase", "turn", "remaining")
        assert {k: bob_round.state[k] for k in same} == {k: ada_round.state[k] for k in same}
        # The countdown is read from the synced start against the exchange's clock:
        # Bob's machine runs 90 s ahead, yet 40 s later both show the same time left.
        ada.clock.advance(40)
        bob.clock.advance(40)
        ada_round.tick()
        bob_round.tick()
        left = DEFAULT_TIMEBOXES[ada_round.state["phase"]] - 40
        for seat in (ada, bob):
            digits = seat.app.screen.query_one("#clock", Digits)
            assert digits.value == f"{left // 60:02d}:{left % 60:02d}"
        # Phases and presenters: Ada drives, Bob follows; his `n` does nothing.
        await bob.press("n")
        assert bob.app.services.rounds.state(cid, meeting)["phase"] == "present"
        await ada.press("n")
        await ada.sync()
        await bob.sync()
        assert bob_round.state["phase"] == "questions" == ada_round.state["phase"]
        assert "Clarifying questions" in bob.text()
        for _ in range(4):  # questions → feedback → reflect → commit → the next presenter
            await ada.press("n")
        await ada.sync()
        await bob.sync()
        assert bob_round.state["turn"] == 1 == ada_round.state["turn"]
        assert bob_round.state["presenter"] == ada_round.state["presenter"]
        # Ada leaves the round for the next step: Bob's round closes, his meeting follows.
        await ada.press("escape", "right_square_bracket")
        await ada.sync()
        await bob.sync()
        ada_meeting = ada.app.screen
        assert isinstance(ada_meeting, MeetingScreen) and ada_meeting.viewing == 3
        assert bob.app.screen is screen and screen.viewing == 3
        assert bob_me in ada.app.services.meetings.present(cid, meeting)


async def give_feedback(seat: Seat, key: str, text: str) -> None:
    await seat.press(key)
    seat.app.screen.query_one("#text", Input).value = text
    await seat.press("enter")


async def test_a_follower_feeds_the_round_and_it_merges_after_being_offline(
    make_device: MakeDevice, exchange_clock: FakeClock
) -> None:
    async with two_seats(make_device, exchange_clock) as (ada, bob, cid, meeting):
        ada_me, bob_me = me(ada, cid), me(bob, cid)
        svc = ada.app.services
        svc.meetings.mark_many(cid, meeting, [ada_me, bob_me], True)
        svc.meetings.start(cid, meeting, ada_me, step=2)  # straight to the round
        svc.rounds.start(cid, meeting, [ada_me, bob_me], "Ada goes first today")
        svc.rounds.advance(cid, meeting)  # → clarifying questions
        await ada.push(RoundScreen(cid, meeting))
        await ada.sync()
        await bob.sync()
        await bob.push(MeetingScreen(cid, meeting))
        await bob.pilot.pause()
        await bob.pilot.pause()
        assert isinstance(bob.app.screen, RoundScreen)  # the round runs: Bob is in it
        bob_round = bob.app.screen
        # Bob asks his own question from his own device; it reaches Ada's screen. His
        # form offers him alone as the giver.
        await bob.press("q")
        giver = bob.app.screen.query_one("#giver", Select)
        assert giver.value == bob_me
        assert [v for _, v in giver._options if v is not Select.NULL] == [bob_me]
        await bob.press("escape")
        await give_feedback(bob, "q", "What would you delegate first?")
        await bob.sync()
        await ada.sync()
        given = svc.rounds.feedback_for(cid, meeting, ada_me)
        assert [(f["giver"], f["text"]) for f in given] == [
            (bob_me, "What would you delegate first?")
        ]
        assert "What would you delegate first?" in ada.text()
        # Bob speaks only for himself, and does not move the round.
        with pytest.raises(NotYours, match="only your own"):
            bob.app.services.rounds.feedback(cid, meeting, bob_me, ada_me, "advice", "x")
        with pytest.raises(NotYours, match="facilitator's device runs"):
            bob.app.services.rounds.advance(cid, meeting)
        # Offline: Bob's link drops; he keeps giving feedback; Ada keeps running.
        bob.device.faults.plan = lambda _i, _r: "request"
        await ada.press("n")  # → feedback, Bob is the peer
        await give_feedback(bob, "s", "You already delegate more than you think")
        await bob.sync()
        await ada.sync()
        assert len(svc.rounds.feedback_for(cid, meeting, ada_me)) == 1  # not here yet
        assert bob_round.state["phase"] == "questions"  # nor Ada's move there
        # Back online: both sides merge; nothing is lost, nothing doubled.
        bob.device.faults.plan = lambda _i, _r: None
        await bob.sync()
        await ada.sync()
        texts = sorted(f["text"] for f in svc.rounds.feedback_for(cid, meeting, ada_me))
        assert texts == [
            "What would you delegate first?",
            "You already delegate more than you think",
        ]
        assert "You already delegate more than you think" in ada.text()
        assert bob_round.state["phase"] == "feedback"
        assert sorted(f["text"] for f in bob_round.state["feedback"]) == texts


async def test_each_member_pulses_on_their_own_device_and_sees_only_the_aggregate(
    make_device: MakeDevice, exchange_clock: FakeClock
) -> None:
    async with two_seats(make_device, exchange_clock) as (ada, bob, cid, meeting):
        ada_me, bob_me = me(ada, cid), me(bob, cid)
        svc = ada.app.services
        # Cy has no device with her today: Ada, facilitating, types her pulse for her.
        cy = svc.members.add(cid, "cy", org="Gamma")["id"]
        svc.meetings.mark_many(cid, meeting, [ada_me, bob_me, cy], True)
        pulse_step = 4  # check-in, agreements (a kick-off), round, commitments, pulse
        svc.meetings.start(cid, meeting, ada_me, step=pulse_step)
        await ada.push(MeetingScreen(cid, meeting))
        await ada.sync()
        await bob.sync()
        await bob.push(MeetingScreen(cid, meeting))
        await bob.pilot.pause()
        bob_meeting = bob.app.screen
        assert isinstance(bob_meeting, MeetingScreen) and bob_meeting.viewing == pulse_step
        # Bob rates on his own row (rows in join order: Cy's record came before his).
        bob_rows = bob_meeting.query_one("#step-pulse", PulseStep).table
        bob_rows.move_cursor(row=bob_rows.get_row_index(bob_me), column=1)
        await bob.press("4", "3", "5")
        mine = bob.app.services.pulses.for_meeting(cid, meeting)[bob_me]
        assert (mine["support"], mine["confidence"], mine["learning"]) == (4, 3, 5)
        # Ada rates hers and types Cy's.
        await ada.press("2", "2", "1")
        ada_rows = ada.app.screen.query_one("#step-pulse", PulseStep).table
        ada_rows.move_cursor(row=ada_rows.get_row_index(cy), column=1)
        await ada.press("3", "4", "3")
        await bob.sync()
        await ada.sync()
        await bob.sync()
        ada_table = ada.app.screen.query_one("#step-pulse", PulseStep).table
        assert [str(c) for c in ada_table.get_row(bob_me)[1:]] == ["•", "•", "•", "✓ given"]
        assert [str(c) for c in ada_table.get_row(cy)[1:]] == ["3", "4", "3", "✓ saved"]
        assert "The circle: 3 rated · support 3.0 · confidence 3.0 · learning 3.0" in ada.text()
        bob_table = bob_meeting.query_one("#step-pulse", PulseStep).table
        for other in (ada_me, cy):
            assert [str(c) for c in bob_table.get_row(other)[1:]] == ["•", "•", "•", "✓ given"]
        assert [str(c) for c in bob_table.get_row(bob_me)[1:]] == ["4", "3", "5", "✓ saved"]
        assert "The circle: 3 rated · support 3.0" in bob.text()
        # A pulse given on another device is not Ada's to change, even as facilitator.
        ada_table.move_cursor(row=ada_table.get_row_index(bob_me), column=1)
        await ada.press("5")
        assert svc.pulses.for_meeting(cid, meeting)[bob_me]["support"] == 4
        assert any("their own device" in n.message for n in ada.app._notifications)
        # Nor can Bob enter anyone's but his own.
        bob_table.move_cursor(row=bob_table.get_row_index(cy), column=1)
        await bob.press("1")
        assert bob.app.services.pulses.for_meeting(cid, meeting)[cy]["support"] == 3


async def test_with_two_pulses_the_circle_shows_no_average(
    make_device: MakeDevice, exchange_clock: FakeClock
) -> None:
    """Two pulses and one's own: the average would give the other's away."""
    async with two_seats(make_device, exchange_clock) as (ada, bob, cid, meeting):
        ada_me, bob_me = me(ada, cid), me(bob, cid)
        svc = ada.app.services
        svc.meetings.start(cid, meeting, ada_me, step=4)
        svc.pulses.record(cid, meeting, ada_me, support=1, confidence=1, learning=1)
        await ada.sync()
        await bob.sync()
        bob.app.services.pulses.record(cid, meeting, bob_me, support=5, confidence=5, learning=5)
        await bob.push(MeetingScreen(cid, meeting))
        await bob.pilot.pause()
        text = bob.text()
        assert "The circle: 2 rated" in text and "support 3.0" not in text


def test_a_follower_takes_the_facilitation_over_only_for_themselves(
    make_device: MakeDevice,
) -> None:
    """When the facilitator's device drops out for good, a member takes over (`f`):
    their device drives from then on; handing it to someone else is the driver's call."""
    ada = make_device("ada", "Acme")
    bob = make_device("bob", "Beta")
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    bob.accept(ada.invite(cid))
    cy = ada.services.members.add(cid, "cy", org="Gamma")["id"]
    meeting = ada.services.meetings.schedule(cid, "2026-12-01T18:00", zone="UTC")["id"]
    ada_me, bob_me = ada.store.meta(cid)["me"], bob.store.meta(cid)["me"]
    ada.services.meetings.start(cid, meeting, ada_me)
    ada.sync()
    bob.sync()
    meetings = bob.services.meetings
    assert not meetings.drives(cid, meeting)
    with pytest.raises(NotYours):
        meetings.set_step(cid, meeting, 1)
    with pytest.raises(NotYours):
        meetings.set_facilitator(cid, meeting, cy)
    meetings.set_facilitator(cid, meeting, bob_me)
    assert meetings.drives(cid, meeting)
    assert meetings.set_step(cid, meeting, 1)["step"] == 1
    bob.sync()
    ada.sync()
    assert not ada.services.meetings.drives(cid, meeting)
    with pytest.raises(NotYours, match="facilitator's device runs"):
        ada.services.rounds.start(cid, meeting)


async def until(seat: Seat, done: Callable[[], bool], seconds: float = 60) -> None:
    """Let `seat`'s app run until `done()` (generous: the machine may be busy)."""
    seat.use()
    for _ in range(int(seconds / 0.05)):
        if done():
            return
        await seat.pilot.pause(0.05)
    assert done(), "the follower's screen never showed the facilitator's move"


async def test_with_live_sync_the_follower_moves_with_no_sync_asked(
    make_device: MakeDevice, exchange_clock: FakeClock
) -> None:
    """The live loop (`sync.live`) on both devices: Ada's moves reach Bob's open round
    screen by themselves, and his feedback reaches hers."""
    async with two_seats(make_device, exchange_clock, live=True) as (ada, bob, cid, meeting):
        ada_me = me(ada, cid)
        svc = ada.app.services
        svc.meetings.start(cid, meeting, ada_me, step=2)
        svc.rounds.start(cid, meeting, [ada_me, me(bob, cid)], "Ada goes first today")
        await ada.push(RoundScreen(cid, meeting))
        ada_round = ada.app.screen
        assert isinstance(ada_round, RoundScreen)
        for seat in (ada, bob):
            seat.use().sync.start_live()  # what the app's first timer tick does
        await bob.push(MeetingScreen(cid, meeting))
        await until(bob, lambda: isinstance(bob.app.screen, RoundScreen))
        bob_round = bob.app.screen
        assert isinstance(bob_round, RoundScreen)
        await ada.press("n")
        await until(bob, lambda: bob_round.state["phase"] == "questions")
        await give_feedback(bob, "q", "Who decides today?")
        await until(ada, lambda: "Who decides today?" in ada.text())


async def test_a_follower_marks_and_commits_only_for_themselves(
    make_device: MakeDevice, exchange_clock: FakeClock
) -> None:
    async with two_seats(make_device, exchange_clock) as (ada, bob, cid, meeting):
        ada_me, bob_me = me(ada, cid), me(bob, cid)
        svc = ada.app.services
        svc.meetings.start(cid, meeting, ada_me)
        await ada.push(MeetingScreen(cid, meeting))
        await ada.sync()
        await bob.sync()
        await bob.push(MeetingScreen(cid, meeting))
        checkin = bob.app.screen.query_one("#step-checkin", CheckinStep)
        # The check-in: no "everyone present" on Bob's device; his own row only.
        assert checkin.check_action("all_present", ()) is False
        await bob.press("space")  # Ada's row: hers to mark
        assert bob.app.services.meetings.attendance(cid, meeting) == {}
        await bob.press("down", "space")
        assert bob.app.services.meetings.attendance(cid, meeting) == {bob_me: True}
        # Ada moves to the commitments; Bob's own commitment has him as its owner.
        await ada.press(*["right_square_bracket"] * 3)
        await ada.sync()
        await bob.sync()
        assert bob.app.screen.viewing == 3  # type: ignore[attr-defined]
        await bob.press("a")
        assert "By bob" in bob.text()
        bob.app.screen.query_one("#text", Input).value = "I will delegate the weekly report"
        await bob.press("enter")
        await bob.sync()
        await ada.sync()
        made = [c for c in svc.commitments.all(cid) if c.get("meeting") == meeting]
        assert [(c["owner"], c["text"]) for c in made] == [
            (bob_me, "I will delegate the weekly report")
        ]
        assert "I will delegate the weekly report" in ada.text()
        assert svc.meetings.attendance(cid, meeting) == {bob_me: True}
