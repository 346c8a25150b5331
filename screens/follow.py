"""Screens follow the data: one App-level signal says what changed, each screen decides.

Every commit that changes the store (a local action on any screen, a batch a sync
applies in its worker thread) reaches `Store.on_change`. The app gathers those changes
and publishes one `DataChanged` per turn of the event loop on `app.data_changed` (a
Textual `Signal`), so a 5,000-op pull in ten pages is one refresh, not ten. A screen
that mixes in `Follows` names the entities it shows (`FOLLOWS`) and its circle
(`circle_id`); it refreshes only when a change concerns it: at once when it is the
current screen, otherwise when it is shown again (a screen under a form catches up when
the form closes). `refresh_data` re-reads in the screen's own way and keeps the cursor
and the scroll where they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual import events, on
from textual.message import Message
from textual.screen import Screen
from textual.signal import Signal

from xcircle.errors import XCircleError

if TYPE_CHECKING:
    from textual.app import App

    from xcircle.store import Change, Store

EVERYTHING: frozenset[str] = frozenset()
"""`FOLLOWS` of a screen that shows something of every entity (refreshes on any change)."""


@dataclass(frozen=True)
class DataChanged:
    """What changed since the last publish: the circles, the entities, and whether it
    came from this device ("local") or a sync ("sync")."""

    circles: frozenset[str]
    entities: frozenset[str]
    origins: frozenset[str] = frozenset({"local"})

    def concerns(self, circle: str | None, entities: Iterable[str] = EVERYTHING) -> bool:
        """True when the change touches `circle` (None: any circle) and one of
        `entities` (empty: any entity)."""
        if circle is not None and circle not in self.circles:
            return False
        wanted = frozenset(entities)
        return not wanted or not wanted.isdisjoint(self.entities)


class StoreChanged(Message):
    """Posted to the app (from any thread) for each store commit that changed data."""

    def __init__(self, change: Change) -> None:
        super().__init__()
        self.change = change


@dataclass
class ChangeHub:
    """Gathers store changes on the UI thread and publishes them once per loop turn."""

    signal: Signal[DataChanged]
    schedule: Callable[[Callable[[], None]], object]
    circles: set[str] = field(default_factory=set)
    entities: set[str] = field(default_factory=set)
    origins: set[str] = field(default_factory=set)
    published: int = 0

    def add(self, change: Change) -> None:
        first = not self.circles
        self.circles.add(change.circle)
        self.entities.update(change.entities)
        self.origins.add(change.origin)
        if first:
            self.schedule(self.flush)

    def flush(self) -> None:
        if not self.circles:
            return
        data = DataChanged(
            frozenset(self.circles), frozenset(self.entities), frozenset(self.origins)
        )
        self.circles, self.entities, self.origins = set(), set(), set()
        self.published += 1
        self.signal.publish(data)


def data_changed(app: App[object]) -> Signal[DataChanged] | None:
    """The app's signal (None in an app without one, like a test harness)."""
    signal = getattr(app, "data_changed", None)
    return signal if isinstance(signal, Signal) else None


def removed_from(store: Store, circle: str | None) -> bool:
    """Whether this device was removed from `circle` (its copy is read-only)."""
    from xcircle.store import REMOVED

    return circle is not None and store.has_circle(circle) and bool(store.meta(circle).get(REMOVED))


class Follows(Screen[None]):
    """A screen that refreshes when the data it shows changes (see the module).

    In a circle this device was removed from, only the actions in `LOOKS` are offered
    (the others would write changes that reach nobody; the services refuse them too).
    """

    FOLLOWS: ClassVar[frozenset[str]] = EVERYTHING
    LOOKS: ClassVar[frozenset[str]] = frozenset(
        {"app.pop_screen", "pop_screen", "leave", "tab", "step", "help", "quit"}
    )
    stale = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("check_action")
        if own is not None:  # the screen's own rule, after the read-only one

            def check_action(
                self: Follows, action: str, parameters: tuple[object, ...]
            ) -> bool | None:
                if not self.may(action):
                    return False
                return cast("bool | None", own(self, action, parameters))

            cls.check_action = check_action  # type: ignore[method-assign]

    @property
    def circle_id(self) -> str | None:
        """The circle this screen shows (None: it shows every circle)."""
        circle = getattr(self, "circle", None)
        return circle if isinstance(circle, str) else None

    @property
    def removed(self) -> bool:
        """This device was removed from the screen's circle: it is only shown."""
        services = getattr(self.app, "services", None)
        return services is not None and removed_from(services.store, self.circle_id)

    @property
    def showing(self) -> bool:
        """The screen still runs, so all its widgets are there: check before showing what
        a worker read. A screen that closes (popped, or the app exits) stops its message
        loop first and only then removes its widgets, deepest first; `is_attached` stays
        true meanwhile, so a result landing then found a widget half gone (NoMatches)."""
        return self.is_running and self.is_attached

    def may(self, action: str) -> bool:
        return action in self.LOOKS or not self.removed

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.may(action)

    def refresh_data(self) -> None:
        """Read again and show; keep the cursor and the scroll where they were."""
        raise NotImplementedError

    @on(events.Mount)
    def _follow(self) -> None:
        signal = data_changed(self.app)
        if signal is not None:
            signal.subscribe(self, self._data_changed)

    def concerned(self, change: DataChanged) -> bool:
        return change.concerns(self.circle_id, self.FOLLOWS)

    def _data_changed(self, change: DataChanged) -> None:
        if not self.concerned(change):
            return
        if self.is_current:
            self.stale = False
            self._refresh()
        else:
            self.stale = True

    @on(events.ScreenResume)
    def _catch_up(self) -> None:
        if self.stale:
            self.stale = False
            self._refresh()

    def _refresh(self) -> None:
        """`refresh_data`; what it shows may be gone (a circle forgotten on this device):
        then say so and go back, never a traceback."""
        try:
            self.refresh_data()
        except XCircleError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            if self.is_current and len(self.app.screen_stack) > 1:
                self.dismiss()
