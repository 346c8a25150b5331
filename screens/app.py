"""The xcircle TUI: the App, its one factory, and the entry point the CLI calls.

`make_app()` builds the App around its services (store + clock) for the CLI, the tests
and the bench alike. Top-level areas are modes ("circles", "goals"); everything else
is pushed on top of them. Only what the first screen needs is imported here.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from textual import events
from textual.actions import ActionParseResult
from textual.app import App
from textual.binding import Binding
from textual.command import Provider
from textual.dom import DOMNode
from textual.filter import LineFilter
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.signal import Signal

from screens.follow import ChangeHub, DataChanged, StoreChanged
from screens.home import HomeScreen
from screens.sync import SYNC_INTERVAL_S, SyncController
from screens.widgets import TerminalSafe
from xcircle import safetext
from xcircle.errors import RemovedFromCircle, StoreError, XCircleError
from xcircle.services import Services, local_now
from xcircle.store import Change, Store, open_store

READY_ENV = "XCIRCLE_EXIT_WHEN_READY"


def _goals_screen() -> Screen[None]:
    from screens.goals import GoalsScreen

    return GoalsScreen()


def _providers() -> set[type[Provider] | Callable[[], type[Provider]]]:
    """Command palette providers, one per domain, imported when the palette opens."""

    def lazy(name: str) -> Callable[[], type[Provider]]:
        def load() -> type[Provider]:
            from screens import commands

            provider: type[Provider] = getattr(commands, name)
            return provider

        return load

    names = (
        "CircleCommands",
        "MeetingCommands",
        "GoalCommands",
        "ProgrammeCommands",
        "ExportCommands",
        "SyncCommands",
    )
    return {*App.COMMANDS, *(lazy(n) for n in (*names, "ThemeCommands"))}


class XCircleApp(App[None]):
    """Peer mentoring circles in the terminal, over one member's local store."""

    TITLE = "xcircle"
    CSS_PATH = "app.tcss"
    MODES = {
        "circles": HomeScreen,
        "goals": _goals_screen,
    }
    DEFAULT_MODE = "circles"
    COMMANDS = _providers()
    BINDINGS = [
        Binding(
            "question_mark,f1",
            "help",
            "Help",
            tooltip="Keys of this screen and the phases of the round",
            id="app.help",
        ),
        Binding("q", "quit", "Quit", tooltip="Quit xcircle (everything is saved)", id="app.quit"),
        Binding(
            "S",
            "sync",
            "Sync",
            show=False,
            tooltip="Sync with the exchange now (it also runs every minute)",
            id="app.sync",
        ),
    ]

    cursor_blink = True
    """False stops every focused cursor blinking (deterministic snapshots, calm terminals)."""

    def __init__(
        self,
        services: Services,
        *,
        owns_store: bool = False,
        sync: SyncFactory | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.store: Store = services.store
        self.owns_store = owns_store
        self.ready_at: float | None = None
        self.opening: str | None = None  # a programme to edit once the home shows
        self._terminal_safe = TerminalSafe()
        # One sync controller for the app's lifetime: the home screen (the root of the
        # "circles" mode, alive as long as the app) mounts it; every TopBar shows its state.
        self.sync = (sync or default_sync)(services)
        # Every screen that shows data subscribes (`screens.follow.Follows`); the store
        # tells of each change, from whichever thread made it, and the hub publishes them
        # here, gathered, on the UI thread.
        self.data_changed: Signal[DataChanged] = Signal(self, "data_changed")
        self._changes = ChangeHub(self.data_changed, self.call_later)
        theme = self.store.setting("theme")
        if isinstance(theme, str) and theme in self.available_themes:
            self.theme = theme
        keymap = self.store.setting("keymap")
        if isinstance(keymap, dict):
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters plus `TerminalSafe`: no control character or bidi override
        in any rendered line, whichever widget drew it."""
        return [*super().get_line_filters(), self._terminal_safe]

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every notification is literal text (it often holds a name or an exchange's
        message): never markup, never a control character or bidi override."""
        super().notify(
            safetext.block(message),
            title=safetext.line(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def on_mount(self) -> None:
        if self.opening:  # `xcircle programme edit PROGRAMME`
            from screens.programme import ProgrammeScreen

            self.call_after_refresh(self.push_screen, ProgrammeScreen(self.opening))
        for notice in self.store.notices:
            self.notify(notice.message, severity="warning", timeout=15, markup=False)
        # Damage found while running (a table parsed on first use) is told at once;
        # `notify` posts a message, so a worker thread may call it too.
        self.store.on_notice = lambda notice: self.notify(
            notice.message, severity="warning", timeout=15, markup=False
        )
        # Posting is thread-safe and never blocks: the store calls this under its lock.
        self.store.on_change = self._store_changed

    def _store_changed(self, change: Change) -> None:
        if change.origin == "local" and threading.get_ident() != self._thread_id:
            # Written by the sync worker (a device record, an epoch): not the member's own
            # action, so it does not ask for another push.
            change = replace(change, origin="sync")
        self.post_message(StoreChanged(change))

    def on_store_changed(self, message: StoreChanged) -> None:
        self._changes.add(message.change)

    async def run_action(
        self,
        action: str | ActionParseResult,
        default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Every key's action; a store that cannot save (a full disk…) is a notice, and
        the app keeps running, whichever screen's action met it."""
        try:
            return await super().run_action(action, default_namespace, namespaces)
        except (StoreError, RemovedFromCircle) as exc:
            self.notify(str(exc), severity="error", timeout=15, markup=False)
            return True

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if not self.cursor_blink and hasattr(event.widget, "cursor_blink"):
            event.widget.cursor_blink = False

    def on_unmount(self) -> None:
        self.store.on_change = None
        if self.owns_store:
            self.store.close()

    def watch_theme(self, theme: str) -> None:
        """Persist the chosen theme (from the palette or a key) for the next start."""
        if theme != self.store.setting("theme"):
            try:
                self.store.save_setting("theme", theme)
            except StoreError as exc:
                self.notify(str(exc), severity="error", timeout=15, markup=False)

    def action_sync(self) -> None:
        from sync.state import credentials

        if credentials(self.store) is None:
            self.sync.prompt_join()
        else:
            self.sync.sync_now()

    def action_help(self) -> None:
        from screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def mark_ready(self) -> None:
        """The first screen shows its data: record when (the bench exits here)."""
        if self.ready_at is not None:
            return
        self.ready_at = time.time()
        marker = os.environ.get(READY_ENV)
        if marker:
            if marker != "1":
                Path(marker).write_text(repr(self.ready_at))
            self.exit()


SyncFactory = Callable[[Services], SyncController]


def default_sync(services: Services) -> SyncController:
    """The real controller: this device's exchange, every `sync_interval` seconds."""
    return SyncController(services, interval=sync_interval(services.store))


def sync_interval(store: Store) -> float:
    """Seconds between automatic syncs: the `sync_interval` setting, 0 for never."""
    value = store.setting("sync_interval", SYNC_INTERVAL_S)
    return float(value) if isinstance(value, int | float) and value >= 0 else SYNC_INTERVAL_S


def make_app(
    home: Path | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    demo: bool = False,
    store: Store | None = None,
    sync: SyncFactory | None = None,
) -> XCircleApp:
    """The App over `store` (or the store at `home`); `demo` seeds an empty home;
    `sync` builds the sync controller (tests pass one over an in-process exchange).

    Raises `StoreLocked`/`XCircleError` when the home cannot be opened.
    """
    owns = store is None
    if store is None:
        from xcircle.paths import home_dir

        store = open_store(home_dir(home))
    try:
        if demo and not store.circle_ids():
            from xcircle.demo import seed_demo

            seed_demo(store, now=clock() if clock else None)
        services = Services(store, clock or local_now)
    except BaseException:
        if owns:
            store.close()
        raise
    return XCircleApp(services, owns_store=owns, sync=sync)


def run_tui(
    home: Path | None, demo: bool, *, headless: bool = False, programme: str | None = None
) -> int:
    """Run the TUI; a home that cannot be opened is one line on stderr and exit code 1.

    The demo without an explicit home runs in a home of its own (`demo_home_dir`), so
    trying the demo never fills a member's real, still empty home with invented circles.
    """
    if demo and home is None:
        from xcircle.paths import demo_home_dir

        home = demo_home_dir()
    try:
        app = make_app(home, demo=demo)
    except XCircleError as exc:
        print(f"xcircle: error: {exc}", file=sys.stderr)
        return 1
    app.opening = programme
    # The ready marker (benchmarks, smoke tests) implies no terminal is needed.
    app.run(headless=headless or bool(os.environ.get(READY_ENV)))
    return app.return_code or 0


def main(argv: list[str] | None = None) -> int:
    """`python -m screens.app [--home DIR] [--demo]`: the TUI without the CLI."""
    import argparse  # only for this entry point: not on the start-up path of `xcircle`

    parser = argparse.ArgumentParser(prog="python -m screens.app", description=__doc__)
    parser.add_argument("--home", type=Path, default=None, help="the xcircle home directory")
    parser.add_argument("--demo", action="store_true", help="seed an empty home with the demo")
    parser.add_argument("--headless", action="store_true", help="run without a terminal")
    args = parser.parse_args(argv)
    return run_tui(args.home, args.demo, headless=args.headless)


if __name__ == "__main__":
    sys.exit(main())
