"""The live loop (`sync.live.LiveSync`) against the real exchange in-process: others'
changes arrive without waiting for the interval; an exchange without live sync, or one
that cannot be reached, falls back to interval sync (with backoff) and comes back live;
a local change is pushed at once; a removed member learns it at once; `stop` ends it."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from sync.commands import remove_member_remote
from sync.engine import connect
from sync.live import INTERVAL, LIVE, OFFLINE, LiveState, LiveSync
from sync.state import SyncReport

from .conftest import MakeDevice
from .helpers import Device, pair

GET_S = 20.0  # how long a test waits for an event before it fails (never reached when right)


class Switchable(httpx.BaseTransport):
    """Wraps the device's transport: `down` refuses every connection; `no_wait` answers
    `/v1/wait` as an exchange from before live sync does (404)."""

    def __init__(self, inner: httpx.BaseTransport, *, no_wait: bool = False) -> None:
        self.inner, self.no_wait, self.down = inner, no_wait, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused (injected)", request=request)
        if self.no_wait and request.url.path.endswith("/wait"):
            return httpx.Response(404, json={"error": "not_found", "message": "Not Found"})
        return self.inner.handle_request(request)


@dataclass
class Running:
    live: LiveSync
    thread: threading.Thread
    reports: queue.Queue[SyncReport] = field(default_factory=queue.Queue)
    states: queue.Queue[LiveState] = field(default_factory=queue.Queue)

    def state(self, mode: str) -> LiveState:
        while True:
            state = self.states.get(timeout=GET_S)
            if state.mode == mode:
                return state

    def report(self, cid: str, what: str) -> SyncReport:
        """The next report where circle `cid` has `what` (merged, pushed, denied)."""
        while True:
            report = self.reports.get(timeout=GET_S)
            rep = report.circles.get(cid)
            if rep is not None and getattr(rep, what):
                return report


Start = Callable[..., Running]


@pytest.fixture
def start() -> Iterator[Start]:
    started: list[Running] = []

    def run(dev: Device, transport: httpx.BaseTransport | None = None, **kw: object) -> Running:
        client = connect(dev.store, transport=transport or dev.faults, retries=0)
        reports: queue.Queue[SyncReport] = queue.Queue()
        states: queue.Queue[LiveState] = queue.Queue()
        live = LiveSync(
            dev.store,
            client,
            on_report=reports.put,
            on_state=states.put,
            **kw,  # type: ignore[arg-type]
        )
        thread = threading.Thread(target=live.run, daemon=True)
        running = Running(live, thread, reports, states)
        started.append(running)
        thread.start()
        return running

    yield run
    for running in started:
        running.live.stop()
        running.thread.join(10)
        running.live.client.close()


def test_a_peer_change_arrives_without_waiting_for_the_interval(
    make_device: MakeDevice, start: Start
) -> None:
    ada, bob, cid = pair(make_device)
    running = start(bob, interval_s=3600)
    running.state(LIVE)
    goal = ada.services.goals.add(cid, "Delegate more")["id"]
    ada.sync()
    running.report(cid, "merged")  # an hour-long interval: only the wait can bring it
    assert bob.store.get(cid, "goal", goal) is not None


def test_a_local_change_is_pushed_when_nudged(make_device: MakeDevice, start: Start) -> None:
    _, bob, cid = pair(make_device)
    running = start(bob, interval_s=3600)
    running.state(LIVE)
    bob.services.goals.add(cid, "Speak up")
    running.live.nudge()
    assert running.report(cid, "pushed").circles[cid].pending == 0


def test_an_exchange_without_live_sync_is_synced_on_the_interval(
    make_device: MakeDevice, start: Start
) -> None:
    ada, bob, cid = pair(make_device)
    running = start(bob, Switchable(bob.faults, no_wait=True), interval_s=0.2)
    fallback = running.state(INTERVAL)
    assert fallback.error is not None and "no live sync" in fallback.error
    goal = ada.services.goals.add(cid, "Delegate more")["id"]
    ada.sync()
    running.report(cid, "merged")
    assert bob.store.get(cid, "goal", goal) is not None
    assert running.live.state.mode == INTERVAL


def test_an_unreachable_exchange_is_retried_until_it_is_back(
    make_device: MakeDevice, start: Start
) -> None:
    ada, bob, cid = pair(make_device)
    link = Switchable(bob.faults)
    link.down = True
    running = start(bob, link, interval_s=3600, max_backoff_s=0.2)
    offline = running.state(OFFLINE)
    assert offline.error is not None and "cannot reach" in offline.error
    assert offline.retry_in_s is not None and offline.retry_in_s <= 0.2
    link.down = False
    running.state(LIVE)
    goal = ada.services.goals.add(cid, "Delegate more")["id"]
    ada.sync()
    running.report(cid, "merged")
    assert bob.store.get(cid, "goal", goal) is not None


def test_a_removed_member_learns_it_at_once(make_device: MakeDevice, start: Start) -> None:
    ada, bob, cid = pair(make_device)
    bob.sync()
    running = start(bob, interval_s=3600)
    running.state(LIVE)
    bob_member = bob.store.meta(cid)["me"]
    ada.services.members.remove(cid, bob_member)
    with ada.client() as c:
        assert remove_member_remote(ada.store, cid, bob_member, client=c)
    assert running.report(cid, "denied").circles[cid].denied


def test_stop_ends_the_loop_during_a_wait(make_device: MakeDevice, start: Start) -> None:
    _, bob, _ = pair(make_device)
    running = start(bob, interval_s=3600)
    running.state(LIVE)
    running.live.stop()
    running.thread.join(GET_S)
    assert not running.thread.is_alive()
