"""Live sync: wait on the exchange for what others push, sync the woken circles, repeat.

`LiveSync(store, client, …).run()` blocks in the caller's thread (the app's sync worker,
or `xcircle sync --watch`): a full sync first, then

- a waiter thread holds `POST /v1/wait` (`ExchangeClient.wait`, on a client of its own)
  with every shared circle's cursor; when it answers, the loop syncs just the circles it
  named (and a circle this device was removed from comes back `denied` in that sync);
- `nudge()` (a local change) makes the loop sync everything now, which pushes it;
- when the exchange has no live sync (an older exchange: 404), the loop syncs every
  `interval_s` instead and tries the wait again after each of those syncs; when the
  exchange fails or cannot be reached, it retries with exponential backoff and jitter
  (1 s … `max_backoff_s`), and goes live again once a sync succeeds.

Every store call goes through `on_store`, as for `sync.engine.sync`. `on_report` gets the
report of every sync that ran, `on_state` every change of mode ("live", "interval",
"offline") with the error that caused it. No httpx here: the clients are passed in.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from sync.engine import sync as run_sync
from sync.protocol import ExchangeUnreachable, LiveUnavailable, SyncError
from sync.state import Gate, SyncReport, cursor_of, direct, shared_circles, sync_state
from xcircle.store import Store

if TYPE_CHECKING:
    from sync.client import ExchangeClient

log = logging.getLogger(__name__)

LIVE = "live"  # waiting on the exchange: others' changes arrive within moments
INTERVAL = "interval"  # the exchange has no live sync: a sync every interval
OFFLINE = "offline"  # the exchange failed or is unreachable: retrying with backoff

WAIT_S = 50.0  # as `sync.client.WAIT_S` (this module never imports httpx)
INTERVAL_S = 60.0
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class LiveState:
    """The loop's mode, and why it is not live (one line) when it is not."""

    mode: str
    error: str | None = None
    retry_in_s: float | None = None  # when the next sync is due, when not live


def live_cursors(store: Store) -> dict[str, int]:
    """The circles worth waiting on, with their pull cursors: shared and not denied."""
    denied = set(sync_state(store).get("denied", []))
    return {
        cid: cursor_of(meta) for cid, meta in shared_circles(store).items() if cid not in denied
    }


class LiveSync:
    """See the module docstring. One instance runs once; `nudge` and `stop` are
    thread-safe."""

    def __init__(
        self,
        store: Store,
        client: ExchangeClient,
        *,
        on_store: Gate = direct,
        on_report: Callable[[SyncReport], None] | None = None,
        on_state: Callable[[LiveState], None] | None = None,
        waiter: ExchangeClient | None = None,
        interval_s: float = INTERVAL_S,
        wait_s: float = WAIT_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        sync: Callable[..., SyncReport] = run_sync,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.client, self.gate = store, client, on_store
        self.on_report = on_report or (lambda _r: None)
        self.on_state = on_state or (lambda _s: None)
        self.waiter = waiter if waiter is not None else client.twin()
        self.interval_s, self.wait_s, self.max_backoff_s = interval_s, wait_s, max_backoff_s
        self._sync, self._clock = sync, clock
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._published = threading.Condition()
        self._cursors: dict[str, int] | None = None  # what the waiter waits on next
        self._version = 0
        self.state = LiveState(OFFLINE)
        self._failures = 0

    # -- any thread ---------------------------------------------------------------------

    def nudge(self) -> None:
        """A local change: push it now rather than at the next wake or interval."""
        self._events.put(("nudge", None))

    def stop(self) -> None:
        """`run` returns after the sync under way, if any (the wait is not waited for)."""
        self._stop.set()
        self._events.put(("stop", None))
        with self._published:
            self._published.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- the loop (the caller's thread) ---------------------------------------------------

    def run(self) -> None:
        """Sync now, then follow the exchange until `stop`."""
        thread = threading.Thread(target=self._wait_loop, name="xcircle-live-wait", daemon=True)
        thread.start()
        try:
            due: float | None = 0.0  # when a full sync is due (None: only when woken)
            woken: set[str] | None = None  # circles to sync (None: all)
            while not self._stop.is_set():
                if due is not None and self._clock() >= due:
                    due = self._sync_and_publish(None)
                elif woken is not None:
                    due = self._sync_and_publish(woken)
                woken = None
                timeout = None if due is None else max(0.0, due - self._clock())
                try:
                    kind, value = self._events.get(timeout=timeout)
                except queue.Empty:
                    continue
                if kind == "woken":
                    woken = set(value)
                elif kind == "nudge":
                    due = 0.0
                elif kind == "unavailable":
                    due = self._fell_back(value)
                elif kind == "live" and self.state.mode != LIVE:
                    self._failures = 0
                    self._set_state(LiveState(LIVE))
                    due = None
        finally:
            self._stop.set()
            with self._published:
                self._published.notify_all()
            self.waiter.close()  # ends a wait under way (its thread then exits)

    def _sync_and_publish(self, circles: set[str] | None) -> float | None:
        """Run one sync; on success hand the new cursors to the waiter and return None
        (live: nothing due) or, when live is not possible, when the next sync is due."""
        try:
            report = self._sync(self.store, self.client, circles=circles, on_store=self.gate)
        except SyncError as exc:
            self._failures += 1
            delay = self._backoff()
            self._set_state(LiveState(OFFLINE, _line(exc), delay))
            return self._clock() + delay
        self._failures = 0
        self.on_report(report)
        cursors = self.gate(partial(live_cursors, self.store))
        if not cursors:  # nothing shared (yet): look again on the interval
            self._set_state(LiveState(INTERVAL, None, self.interval_s))
            return self._clock() + self.interval_s
        self.waiter.token = self.client.token  # a rotated token
        with self._published:
            self._cursors = cursors
            self._version += 1
            self._published.notify_all()
        if self.state.mode == OFFLINE:
            self._set_state(LiveState(LIVE))
        return None if self.state.mode == LIVE else self._clock() + self.interval_s

    def _fell_back(self, exc: SyncError) -> float:
        """The waiter failed: sync on the interval (no live sync there) or back off."""
        if isinstance(exc, LiveUnavailable):
            self._set_state(LiveState(INTERVAL, _line(exc), self.interval_s))
            return self._clock() + self.interval_s
        self._failures += 1
        delay = self._backoff()
        if isinstance(exc, ExchangeUnreachable):
            self._set_state(LiveState(OFFLINE, _line(exc), delay))
        else:
            self._set_state(LiveState(INTERVAL, _line(exc), delay))
        return self._clock() + delay

    def _backoff(self) -> float:
        cap = min(self.max_backoff_s, 2.0 ** min(self._failures - 1, 16))
        return random.uniform(cap / 2, cap)  # half jitter: never a busy loop

    def _set_state(self, state: LiveState) -> None:
        changed = (state.mode, state.error) != (self.state.mode, self.state.error)
        self.state = state
        if changed:
            self.on_state(state)

    # -- the waiter thread -------------------------------------------------------------

    def _wait_loop(self) -> None:
        seen = 0
        floor: dict[str, int] = {}  # announced seqs a sync could not reach: not again
        while not self._stop.is_set():
            with self._published:
                while self._version == seen and not self._stop.is_set():
                    self._published.wait()
                if self._stop.is_set() or self._cursors is None:
                    return
                seen, cursors = self._version, dict(self._cursors)
            cursors = {c: max(s, floor.get(c, 0)) for c, s in cursors.items()}
            while not self._stop.is_set():
                try:
                    answer = self.waiter.wait(cursors, self.wait_s)
                except SyncError as exc:
                    if not self._stop.is_set():
                        self._events.put(("unavailable", exc))
                    break
                except Exception as exc:  # the client closed under it by `stop`
                    if self._stop.is_set():
                        return
                    log.warning("live wait failed: %s", type(exc).__name__)
                    self._events.put(("unavailable", ExchangeUnreachable(str(exc))))
                    break
                if self.state.mode != LIVE:
                    self._events.put(("live", None))
                log.debug("wait answered %s", answer)
                changed: dict[str, int] = answer["changed"]
                denied: list[str] = answer["denied"]
                if changed or denied:
                    floor.update({c: int(s) for c, s in changed.items() if isinstance(s, int)})
                    self._events.put(("woken", {*changed, *denied}))
                    break
                if seen != self._version:  # newer cursors (a sync ran): wait on those
                    break


def _line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
