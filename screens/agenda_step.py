"""The base of every agenda step: a title, a hint, and a table that keeps its cursor.

Each step reads and writes only through the services, reloads itself when shown, and
binds its own single keys, which apply (and show in the footer) while its table has the
focus. The steps themselves are in `screens/agenda.py` and the modules it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, Static

from screens.follow import removed_from
from screens.undo import UndoSlot
from screens.widgets import CursorTable, attempt, services_of

if TYPE_CHECKING:
    from xcircle.merge import Record
    from xcircle.services import Services


class StepTable(CursorTable):
    """An agenda step's table (its keys are the step's own)."""


class AgendaStep(Vertical):
    """One agenda step: a title, a line teaching its keys, and a table of members/items."""

    TITLE: ClassVar[str] = ""
    SHORT: ClassVar[str] = ""  # its name in the meeting's narrow sidebar
    HINT: ClassVar[str] = ""
    EMPTY: ClassVar[str] = ""
    COLUMNS: ClassVar[tuple[str, ...]] = ()
    # The step's actions that write: hidden and refused while the meeting is closed,
    # and before it starts unless the step belongs before the start (the check-in).
    WRITES: ClassVar[frozenset[str]] = frozenset()
    BEFORE_START: ClassVar[bool] = False

    class Changed(Message):
        """Something the meeting's sidebar shows may have changed (attendance…)."""

    def __init__(self, circle: str, meeting: str, *, id: str) -> None:
        super().__init__(id=id, classes="step")
        self.circle, self.meeting = circle, meeting
        self.read_only = False  # the meeting is closed (until a facilitator reopens it)

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        yield Label(self.TITLE, classes="step-title")
        yield Static(self.HINT, classes="step-hint", markup=False)
        yield from self.body()
        yield Static(self.EMPTY, classes="empty", markup=False)

    def body(self) -> ComposeResult:
        yield StepTable(cursor_type="row", zebra_stripes=True)

    @property
    def table(self) -> StepTable:
        return self.query_one(StepTable)

    def on_mount(self) -> None:
        # Textual calls `on_mount` of every class in the MRO: steps extend `prepare`
        # instead, or their table would get its columns twice.
        if self.COLUMNS:
            self.table.add_columns(*self.COLUMNS)
        self.reload()
        self.prepare()

    def prepare(self) -> None:
        """Set up what the step shows besides its rows, once, after the first reload."""

    def reload(self) -> None:
        """Read the step's data again from the services and show it."""
        self.update_read_only()
        rows = list(self.rows())
        self.table.fill(rows)
        self.query_one(".empty").display = not rows and bool(self.EMPTY)

    def update_read_only(self) -> None:
        """Whether the step's keys write now: not in a closed meeting, nor before the
        start (except on the check-in), nor in a circle this device was removed from."""
        status = self.services.meetings.get(self.circle, self.meeting)["status"]
        read_only = status == "closed" or (status == "planned" and not self.BEFORE_START)
        read_only = read_only or removed_from(self.services.store, self.circle)
        if read_only != self.read_only:
            self.read_only = read_only
            self.refresh_bindings()

    def rows(self) -> Iterable[tuple[str, Sequence[object]]]:
        return ()

    def focus_body(self) -> None:
        self.table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (self.read_only and action in self.WRITES)

    def unsaved(self) -> list[str]:
        """What was typed on this step and not saved yet, in words (nothing, mostly)."""
        return []

    def discard(self) -> None:
        """Drop what `unsaved` lists (the user chose to lose it)."""

    def remember(self, done: str, undo: Callable[[], object]) -> None:
        """Offer `undo` for the action just done (one slot per meeting screen)."""
        slot = getattr(self.screen, "undo", None)
        if isinstance(slot, UndoSlot):
            slot.remember(done, undo)
            self.screen.refresh_bindings()

    def attempt(self, action: Callable[[], object]) -> None:
        """Run one use case, then show the step again and tell the meeting's sidebar;
        its error becomes one line for the user, never a traceback."""
        if attempt(self, action):
            self.reload()
            self.post_message(self.Changed())

    def members(self, *, present_only: bool = False) -> list[Record]:
        members = self.services.members.all(self.circle)
        if present_only:
            present = set(self.services.meetings.present(self.circle, self.meeting))
            # Before attendance is taken, everyone is expected.
            members = [m for m in members if m["id"] in present] or members
        return members
