"""Sync in the TUI: a status line, the join/share/invite/accept questions, and a controller
that runs the sync engine in worker threads.

The controller never blocks the event loop: network I/O runs in thread workers, on one
`ExchangeClient` built in a worker and kept for the app's lifetime (its connection and
its reading of the exchange's clock carry over from one sync to the next). The workers
write to the store through the store's own lock (`sync.state.through_lock`): the UI
thread keeps running while a page of pulled ops is merged, and what the merge changed
reaches the open screens as `app.data_changed` (`screens.follow`). httpx is imported
inside the workers only. Outcomes arrive as small messages (`SyncFinished`, `SyncFailed`,
`SyncActionDone`) that bubble to the screen and the app; the status line follows the
controller's state. After a sync the controller tells the member what happened to them:
a circle they were removed from (read-only from now; keep or forget the copy), and
fields they had just changed that someone else's later change overwrote.

Wiring (for the app): `make_app(sync=…)` builds one controller (the home screen mounts
it) and any `SyncStatus(controller)`; call `controller.sync_now()` from a key,
`controller.prompt_join()` / `prompt_share(cid)` / `prompt_invite(cid)` /
`prompt_accept()` from commands, and `remove_member(cid, mid)` after a member is removed
from a shared circle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static

from screens.widgets import literal
from xcircle.errors import XCircleError

if TYPE_CHECKING:
    from screens.follow import DataChanged
    from sync.client import ExchangeClient
    from sync.engine import SyncReport
    from sync.live import LiveState, LiveSync
    from xcircle.services import Services
    from xcircle.store import Store

SYNC_INTERVAL_S = 60.0  # the default of the `sync_interval` setting; 0 turns it off
FIRST_SYNC_S = 3.0
STOP_WAIT_S = 5.0  # at exit, how long the live loop's sync under way may take to end


# -- messages ------------------------------------------------------------------------------


@dataclass
class SyncFinished(Message):
    """A sync ran to its end (per-circle problems, if any, are in the report)."""

    report: SyncReport


@dataclass
class SyncFailed(Message):
    """A sync or a sync action failed; `reason` is one line for the user."""

    reason: str
    action: str = "sync"


@dataclass
class LiveChanged(Message):
    """The live loop's mode changed: "live", "interval" or "offline" (`sync.live`)."""

    mode: str
    error: str | None = None


@dataclass
class SyncActionDone(Message):
    """`join`, `share`, `invite`, `accept` or `remove` succeeded; `value` is what it
    returned (for `remove`: whether the exchange was told now rather than queued)."""

    action: str
    value: Any


def overwritten_text(services: Services, circle: str, items: list[dict[str, str]]) -> str:
    """One notice for the fields a sync overwrote: whose change won, on what."""
    store = services.store
    circle_name = str((store.get(circle, "circle", circle) or {}).get("name") or circle[:8])
    nodes = {str(d.get("node")): str(d.get("member")) for d in store.records(circle, "device")}
    names = {m["id"]: str(m.get("name") or "") for m in store.records(circle, "member")}
    lines = []
    for item in items[:5]:
        who = names.get(nodes.get(item["author"], ""), "") or "another member"
        record = store.get(circle, item["entity"], item["key"]) or {}
        label = record.get("title") or record.get("name") or record.get("text") or ""
        what = f"{item['entity']} “{label}”" if label else item["entity"]
        lines.append(f"{who}'s change to {what} ({item['field']}) won over yours")
    if len(items) > 5:
        lines.append(f"and {len(items) - 5} more")
    return f"In {circle_name}: " + "; ".join(lines) + "."


# -- the status line -------------------------------------------------------------------------


def describe(status: dict[str, Any], *, syncing: bool = False) -> tuple[str, str]:
    """`(kind, text)` for the status line from `sync.engine.status(store)`:
    kind is one of unjoined, syncing, offline, error, pending, synced."""
    if not status.get("joined"):
        return "unjoined", "not synced (no exchange)"
    if syncing:
        return "syncing", "syncing…"
    error = status.get("last_error")
    # A circle this device was removed from uploads nothing: its ops are not pending.
    removed = [c for c in status.get("circles", []) if c.get("denied")]
    pending = int(status.get("pending") or 0) - sum(int(c.get("pending") or 0) for c in removed)
    from sync.protocol import CERT_UNTRUSTED  # not on the start-up path

    if error and str(error).startswith(CERT_UNTRUSTED):
        return "error", CERT_UNTRUSTED
    if error and str(error).startswith("cannot reach"):
        return "offline", f"offline · {pending} pending" if pending else "offline"
    if error:
        return "error", f"sync error: {error}"
    gone = f" · removed from {len(removed)}" if removed else ""
    if pending:
        return "pending", f"pending {pending}{gone}"
    held = sum(int(c.get("held") or 0) for c in status.get("circles", []))
    return "synced", (f"synced · {held} held" if held else "synced") + gone


class SyncStatus(Static):
    """One line that follows a `SyncController`: synced / pending N / offline / error."""

    DEFAULT_CSS = """
    SyncStatus { width: auto; height: 1; padding: 0 1; color: $text-muted; }
    SyncStatus.-synced { color: $success; }
    SyncStatus.-pending, SyncStatus.-syncing { color: $warning; }
    SyncStatus.-offline, SyncStatus.-error { color: $error; }
    """
    KINDS = ("unjoined", "syncing", "offline", "error", "pending", "synced")

    def __init__(self, controller: SyncController, **kwargs: Any) -> None:
        super().__init__("", markup=False, **kwargs)
        self.controller = controller
        self.kind = ""

    def on_mount(self) -> None:
        self.watch(self.controller, "state", self._show, init=True)

    def _show(self, state: tuple[str, str]) -> None:
        kind, text = state
        self.kind = kind
        self.display = kind != "unjoined"  # nothing to say until this device joins
        for k in self.KINDS:
            self.set_class(k == kind, f"-{k}")
        self.update(literal(text))  # error text comes from outside: never markup


# -- the controller ---------------------------------------------------------------------------


Connect = Callable[["Store"], "ExchangeClient"]


class SyncController(Widget):
    """Runs sync (on demand and every minute once joined) and the sync actions, in workers."""

    DEFAULT_CSS = "SyncController { display: none; }"
    state: reactive[tuple[str, str]] = reactive(("unjoined", ""), always_update=True)

    def __init__(
        self,
        services: Services,
        *,
        connect: Connect | None = None,
        interval: float = SYNC_INTERVAL_S,
        live: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.services = services
        self._connect = connect  # tests inject an in-process exchange
        self.interval = interval
        self.syncing = False
        self._told: set[str] = set()  # notices already shown (a sync runs every minute)
        # The one client, built and used in worker threads only (never on the UI thread).
        self._client: ExchangeClient | None = None
        self._client_lock = threading.Lock()
        self.removed: set[str] = set()  # circles the exchange says this device left
        # The live loop (`sync.live.LiveSync`) in a thread of its own, once joined.
        self.live = live
        self.live_mode = ""  # "live", "interval", "offline" while the loop runs
        self._live: LiveSync | None = None
        self._live_thread: threading.Thread | None = None
        self._stopping = False
        self.first_sync_s = FIRST_SYNC_S  # the first sync, this long after the start

    @property
    def store(self) -> Store:
        return self.services.store

    def on_mount(self) -> None:
        from screens.follow import data_changed

        self.removed = self._removed_now()
        self.refresh_state()
        if (signal := data_changed(self.app)) is not None:
            signal.subscribe(self, self._data_changed)
        if self.interval > 0:
            # A first sync soon after start (off the start-up path), then every interval.
            self.set_timer(min(self.interval, self.first_sync_s), self._tick)
            self.set_interval(self.interval, self._tick)

    def refresh_state(self) -> None:
        from sync.state import status  # local reads only: the engine loads with the worker

        kind, text = describe(status(self.store), syncing=self.syncing)
        if kind == "synced" and self.live_mode == "live":
            text += " · live"
        self.state = (kind, text)

    def _tick(self) -> None:
        from sync.state import credentials

        if self.live_running or self.syncing or credentials(self.store) is None:
            return
        if self.live:
            self.start_live()
        else:
            self.sync_now()

    def _data_changed(self, change: DataChanged) -> None:
        """A change made on this device, in a shared circle: push it now when the live
        loop runs (others see it within moments), else at the next sync."""
        if "local" not in change.origins or not self.live_running:
            return
        from sync.state import shared_circles

        if set(change.circles) & set(shared_circles(self.store)):
            self.sync_now()

    @property
    def live_running(self) -> bool:
        return self._live_thread is not None and self._live_thread.is_alive()

    def start_live(self) -> None:
        """Start the live loop in a thread of its own (not a Textual worker: it runs as
        long as the app, and the app does not wait for it to end)."""
        if self.live_running or self._stopping:
            return
        self._live_thread = threading.Thread(
            target=self._run_live, name="xcircle-sync", daemon=True
        )
        self._live_thread.start()

    def _run_live(self) -> None:
        """The live loop's thread: sync, wait on the exchange, sync what woke, … until
        the app ends. Reports and mode changes come back as messages."""
        from sync.live import LiveSync
        from sync.state import through_lock

        try:
            live = LiveSync(
                self.store,
                self.client(),
                on_store=through_lock(self.store),
                on_report=self._reported,
                on_state=self._mode_changed,
                interval_s=self.interval,
            )
            with self._client_lock:
                self._live = live
            if self._stopping:
                return
            live.run()
        except Exception as exc:  # the loop ended: the interval starts it again
            if not self._stopping:
                reason = str(exc) if isinstance(exc, XCircleError) else type(exc).__name__
                self.post_message(SyncFailed(reason))
        finally:
            with self._client_lock:
                self._live = None

    def _reported(self, report: SyncReport) -> None:
        self.post_message(SyncFinished(report))

    def _mode_changed(self, state: LiveState) -> None:
        self.post_message(LiveChanged(state.mode, state.error))

    def sync_now(self) -> None:
        """Start a sync now, unless one is running (thread workers cannot be cancelled, and
        two syncs at once would only do the same work twice). With the live loop
        running, it is asked to sync at once."""
        with self._client_lock:
            live = self._live
        if live is not None:
            live.nudge()
            return
        if self.syncing:
            return
        self.syncing = True
        self.refresh_state()
        self._sync()

    def client(self) -> ExchangeClient:
        """The controller's one client, built on first use. Worker threads only: it
        imports httpx and may read the keystore."""
        with self._client_lock:
            if self._client is None:
                if self._connect is not None:
                    self._client = self._connect(self.store)
                else:
                    from sync.engine import connect

                    self._client = self.store.atomically(partial(connect, self.store))
            return self._client

    def _drop_client(self) -> None:
        """Forget the client (new credentials): the next use builds one; the old one is
        closed in a thread of its own."""
        with self._client_lock:
            old, self._client = self._client, None
        if old is not None:
            threading.Thread(target=old.close, name="xcircle-close", daemon=True).start()

    def on_unmount(self) -> None:
        self._stopping = True
        with self._client_lock:
            live = self._live
        if live is not None:
            live.stop()
        if self._live_thread is not None:
            # The sync under way ends before the app closes the store (bounded: a
            # request stuck on the network is left to its timeout in a daemon thread).
            self._live_thread.join(timeout=STOP_WAIT_S)
        self._drop_client()

    def on_live_changed(self, message: LiveChanged) -> None:
        self.live_mode = message.mode
        self.refresh_state()

    @work(thread=True, exclusive=True, group="sync", exit_on_error=False)
    def _sync(self) -> None:
        from sync.engine import sync  # deferred: pulls in httpx, only in the worker
        from sync.state import through_lock

        try:
            report = sync(self.store, self.client(), on_store=through_lock(self.store))
        except XCircleError as exc:
            self.post_message(SyncFailed(str(exc)))
            return
        self.post_message(SyncFinished(report))

    @work(thread=True, group="sync-action", exit_on_error=False)
    def _action(self, action: str, arg: str, extra: str = "") -> None:
        from sync import commands, engine
        from sync.state import through_lock

        store = self.store
        gate = through_lock(store)
        try:
            value: Any
            if action == "join":
                value = commands.enroll(store, arg, extra, on_store=gate)
                self._drop_client()  # a new exchange, or a new token
            else:
                client = self.client()
                if action == "share":
                    value = commands.share_circle(store, client, arg, on_store=gate)
                elif action == "remove":
                    value = commands.remove_member_remote(
                        store, arg, extra, client=client, on_store=gate
                    )
                elif action == "invite":
                    ttl = commands.parse_ttl(commands.DEFAULT_INVITE_TTL)
                    value = commands.invite_code(store, client, arg, ttl, on_store=gate)
                else:
                    creds = gate(partial(engine.require_credentials, store))
                    value = commands.accept_invite(
                        self.services, client, arg, creds.device_id, on_store=gate
                    )
        except XCircleError as exc:
            self.post_message(SyncFailed(str(exc), action))
            return
        self.post_message(SyncActionDone(action, value))

    def join(self, url: str, token: str) -> None:
        self._action("join", url, token)

    def share(self, circle: str) -> None:
        self._action("share", circle)

    def invite(self, circle: str) -> None:
        self._action("invite", circle)

    def accept(self, code: str) -> None:
        self._action("accept", code)

    def remove_member(self, circle: str, member: str) -> None:
        """Tell the exchange a member left (queued for the next sync if it is out of reach)."""
        self._action("remove", circle, member)

    # Ask first, then act: one-liners for the app's commands and keys.

    def prompt_join(self) -> None:
        from screens.syncforms import JoinModal

        self.app.push_screen(JoinModal(), lambda v: self.join(*v) if v else None)

    def prompt_share(self, circle: str, name: str) -> None:
        from screens.syncforms import ShareModal

        self.app.push_screen(ShareModal(name), lambda ok: self.share(circle) if ok else None)

    def prompt_invite(self, circle: str) -> None:
        self.invite(circle)  # the code is shown in an InviteModal when it arrives

    def prompt_accept(self) -> None:
        from screens.syncforms import AcceptModal

        self.app.push_screen(AcceptModal(), lambda code: self.accept(code) if code else None)

    # Our own messages update the state on their way up (they still bubble on).

    def on_sync_finished(self, message: SyncFinished) -> None:
        self.syncing = False
        self.refresh_state()
        self.tell(message.report)

    # Telling the member what a sync did to them.

    def _removed_now(self) -> set[str]:
        from xcircle.store import REMOVED

        store = self.store
        return {cid for cid in store.circle_ids() if store.meta(cid).get(REMOVED)}

    def tell(self, report: SyncReport) -> None:
        """Say at once which circles this device was just removed from (and ask whether
        to keep their copy), and whose change overwrote a field this device had just set."""
        for notice in report.notices:  # "Bea (Borealis) joined · fingerprint …"
            if notice not in self._told:
                self._told.add(notice)
                self.app.notify(notice, title="Circle", timeout=8, markup=False)
        removed = self._removed_now()
        for cid in sorted(removed - self.removed):
            self.ask_keep_or_forget(cid)
        self.removed = removed
        for cid, rep in report.circles.items():
            if rep.overwritten and self.store.has_circle(cid):
                self.app.notify(
                    overwritten_text(self.services, cid, rep.overwritten),
                    title="Changed by someone else",
                    timeout=12,
                )

    def ask_keep_or_forget(self, circle: str) -> None:
        from screens.forms import ConfirmScreen
        from screens.widgets import styled

        name = str((self.store.get(circle, "circle", circle) or {}).get("name") or circle[:8])
        self.app.notify(
            f"You were removed from {name}: it is read-only on this device now.",
            title="Removed from a circle",
            severity="warning",
            timeout=20,
        )
        question = styled(
            "You were removed from [b]$name[/b].\n\nNothing you change there can reach its "
            "members any more, so it is read-only on this device. Keep this device's copy "
            "to read, or forget it?",
            name=name,
        )

        def answer(forget: bool | None) -> None:
            if forget:
                self.app.run_worker(self.forget(circle, name), group="forget")

        self.app.push_screen(ConfirmScreen(question, yes="Forget it", no="Keep a copy"), answer)

    async def forget(self, circle: str, name: str) -> None:
        """Close the circle's screens, then delete this device's copy of it."""
        from sync.state import forget_circle

        app = self.app
        while len(app.screen_stack) > 1 and any(
            getattr(screen, "circle", None) == circle for screen in app.screen_stack[1:]
        ):
            await app.pop_screen()
        try:
            forget_circle(self.store, circle)
        except XCircleError as exc:
            app.notify(str(exc), severity="error")
            return
        self.removed.discard(circle)
        app.notify(f"{name} is forgotten on this device.", timeout=6)
        self.refresh_state()

    def on_sync_failed(self, message: SyncFailed) -> None:
        if message.action == "sync":
            self.syncing = False
        self.refresh_state()
        if message.action != "sync":
            self.app.notify(message.reason, title=f"{message.action} failed", severity="error")

    def on_sync_action_done(self, message: SyncActionDone) -> None:
        self.refresh_state()
        if message.action == "join" and self.interval > 0:
            self._tick()  # joined: start following the exchange now
        if message.action == "invite":
            from screens.syncforms import InviteModal

            self.app.push_screen(InviteModal(str(message.value["code"])))
        elif message.action == "accept" and message.value.get("status") == "pending":
            self.app.notify(
                "Waiting for a convener's device to confirm your joining; it comes in with "
                f"a later sync. This device's fingerprint: {message.value['fingerprint']} "
                "(compare it with the convener's)",
                title="Invite accepted",
                timeout=12,
                markup=False,
            )
        elif message.action == "remove" and not message.value:
            self.app.notify("The exchange is told at the next sync", title="Offline", timeout=4)
