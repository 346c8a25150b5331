"""Sync in the TUI: a status line, the join/share/invite/accept questions, and a controller
that runs the sync engine in a worker thread.

The controller never blocks the event loop: network I/O runs in a thread worker, and
every store call the engine makes is sent back to the UI thread (`call_from_thread`),
so the store is only ever touched from one thread. httpx is imported inside the worker
only. Outcomes arrive as small messages (`SyncFinished`, `SyncFailed`, `SyncActionDone`)
that bubble to the screen and the app; the status line follows the controller's state.

Wiring (for the app): mount one `SyncController(services)` and any `SyncStatus(controller)`;
call `controller.sync_now()` from a key, `controller.prompt_join()` / `prompt_share(cid)`
/ `prompt_invite(cid)` / `prompt_accept()` from commands, and `remove_member(cid, mid)`
after a member is removed from a shared circle.
"""

from __future__ import annotations

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
    from sync.client import ExchangeClient
    from sync.engine import SyncReport
    from xcircle.services import Services
    from xcircle.store import Store

SYNC_INTERVAL_S = 60.0  # the default of the `sync_interval` setting; 0 turns it off
FIRST_SYNC_S = 3.0


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
class SyncActionDone(Message):
    """`join`, `share`, `invite`, `accept` or `remove` succeeded; `value` is what it
    returned (for `remove`: whether the exchange was told now rather than queued)."""

    action: str
    value: Any


# -- the status line -------------------------------------------------------------------------


def describe(status: dict[str, Any], *, syncing: bool = False) -> tuple[str, str]:
    """`(kind, text)` for the status line from `sync.engine.status(store)`:
    kind is one of unjoined, syncing, offline, error, pending, synced."""
    if not status.get("joined"):
        return "unjoined", "not synced (no exchange)"
    if syncing:
        return "syncing", "syncing…"
    error = status.get("last_error")
    pending = int(status.get("pending") or 0)
    from sync.protocol import CERT_UNTRUSTED  # not on the start-up path

    if error and str(error).startswith(CERT_UNTRUSTED):
        return "error", CERT_UNTRUSTED
    if error and str(error).startswith("cannot reach"):
        return "offline", f"offline · {pending} pending" if pending else "offline"
    if error:
        return "error", f"sync error: {error}"
    if pending:
        return "pending", f"pending {pending}"
    held = sum(int(c.get("held") or 0) for c in status.get("circles", []))
    return "synced", f"synced · {held} held" if held else "synced"


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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.services = services
        self._connect = connect  # tests inject an in-process exchange
        self.interval = interval
        self.syncing = False
        self._told: set[str] = set()  # notices already shown (a sync runs every minute)

    @property
    def store(self) -> Store:
        return self.services.store

    def on_mount(self) -> None:
        self.refresh_state()
        if self.interval > 0:
            # A first sync soon after start (off the start-up path), then every interval.
            self.set_timer(min(self.interval, FIRST_SYNC_S), self._tick)
            self.set_interval(self.interval, self._tick)

    def refresh_state(self) -> None:
        from sync.state import status  # local reads only: the engine loads with the worker

        self.state = describe(status(self.store), syncing=self.syncing)

    def _tick(self) -> None:
        from sync.state import credentials

        if not self.syncing and credentials(self.store) is not None:
            self.sync_now()

    def sync_now(self) -> None:
        """Start a sync now, unless one is running (thread workers cannot be cancelled, and
        two syncs at once would only do the same work twice)."""
        if self.syncing:
            return
        self.syncing = True
        self.refresh_state()
        self._sync()

    def _client(self) -> ExchangeClient:
        if self._connect is not None:
            return self._connect(self.store)
        from sync.engine import connect

        return connect(self.store)

    @work(thread=True, exclusive=True, group="sync", exit_on_error=False)
    def _sync(self) -> None:
        from sync.engine import sync  # deferred: pulls in httpx, only in the worker

        gate = self.app.call_from_thread
        try:
            with gate(self._client) as client:
                report = sync(self.store, client, on_store=gate)
        except XCircleError as exc:
            self.post_message(SyncFailed(str(exc)))
            return
        self.post_message(SyncFinished(report))

    @work(thread=True, group="sync-action", exit_on_error=False)
    def _action(self, action: str, arg: str, extra: str = "") -> None:
        from sync import commands, engine

        gate = self.app.call_from_thread
        store = self.store
        try:
            value: Any
            if action == "join":
                value = commands.enroll(store, arg, extra, on_store=gate)
            else:
                with gate(self._client) as client:
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
        for notice in message.report.notices:  # "Bea (Borealis) joined · fingerprint …"
            if notice not in self._told:
                self._told.add(notice)
                self.app.notify(notice, title="Circle", timeout=8, markup=False)

    def on_sync_failed(self, message: SyncFailed) -> None:
        if message.action == "sync":
            self.syncing = False
        self.refresh_state()
        if message.action != "sync":
            self.app.notify(message.reason, title=f"{message.action} failed", severity="error")

    def on_sync_action_done(self, message: SyncActionDone) -> None:
        self.refresh_state()
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
