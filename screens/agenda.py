"""The steps of a running meeting's agenda, one widget each.

The meeting screen shows one step at a time. Each step reads and writes only through
the services, reloads itself when shown, and binds its own single keys, which apply
(and show in the footer) while its table has the focus. The feedback round itself is a
screen of its own (`screens/round.py`); its agenda step only summarizes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import DataTable, Label, Static

from screens.meetingforms import CommitmentForm
from screens.widgets import MISSING, cell, date_text, services_of, styled
from xcircle.domain import PHASE_TITLES, PULSE_ASPECTS
from xcircle.errors import XCircleError

if TYPE_CHECKING:
    from xcircle.merge import Record
    from xcircle.services import Services

REVIEW_MARKS = {
    "open": "· open",
    "kept": "✓ kept",
    "renegotiated": "↻ renegotiated",
    "dropped": "✗ dropped",
}


class StepTable(DataTable[object]):
    """A table that keeps its cursor where it was when its rows are replaced."""

    def fill(self, rows: Iterable[tuple[str, Sequence[object]]]) -> None:
        keep = self.cursor_coordinate
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        if self.row_count:
            self.move_cursor(row=min(keep.row, self.row_count - 1), column=keep.column)

    @property
    def current_key(self) -> str | None:
        """The key of the highlighted row, or None for an empty table."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return str(key) if key is not None else None


class AgendaStep(Vertical):
    """One agenda step: a title, a line teaching its keys, and a table of members/items."""

    TITLE: ClassVar[str] = ""
    SHORT: ClassVar[str] = ""  # its name in the meeting's narrow sidebar
    HINT: ClassVar[str] = ""
    EMPTY: ClassVar[str] = ""
    COLUMNS: ClassVar[tuple[str, ...]] = ()

    class Changed(Message):
        """Something the meeting's sidebar shows may have changed (attendance…)."""

    def __init__(self, circle: str, meeting: str, *, id: str) -> None:
        super().__init__(id=id, classes="step")
        self.circle, self.meeting = circle, meeting

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
        if self.COLUMNS:
            self.table.add_columns(*self.COLUMNS)
        self.reload()

    def reload(self) -> None:
        """Read the step's data again from the services and show it."""
        rows = list(self.rows())
        self.table.fill(rows)
        self.query_one(".empty").display = not rows and bool(self.EMPTY)

    def rows(self) -> Iterable[tuple[str, Sequence[object]]]:
        return ()

    def focus_body(self) -> None:
        self.table.focus()

    def attempt(self, action: Callable[[], object]) -> bool:
        """Run one use case; its error becomes one line for the user, never a traceback."""
        try:
            action()
        except XCircleError as exc:
            self.notify(str(exc), severity="error", markup=False)
            return False
        self.reload()
        self.post_message(self.Changed())
        return True

    def members(self, *, present_only: bool = False) -> list[Record]:
        members = self.services.members.all(self.circle)
        if present_only:
            present = set(self.services.meetings.present(self.circle, self.meeting))
            # Before attendance is taken, everyone is expected.
            members = [m for m in members if m["id"] in present] or members
        return members


class CheckinStep(AgendaStep):
    """Who is here: each member present or absent (the rotations skip absentees)."""

    TITLE = "Check-in and attendance"
    SHORT = "Check-in"
    COLUMNS = ("Member", "Organization", "Attendance")
    HINT = "Space: present or absent · a: everyone present"
    BINDINGS = [
        Binding(
            "space",
            "toggle_present",
            "Present/absent",
            tooltip="Mark the highlighted member present or absent",
            id="meeting.checkin.toggle",
        ),
        Binding(
            "a",
            "all_present",
            "All present",
            tooltip="Mark every member present",
            id="meeting.checkin.all",
        ),
    ]

    def rows(self) -> Iterable[tuple[str, Sequence[object]]]:
        marks = self.services.meetings.attendance(self.circle, self.meeting)
        for m in self.members():
            mark = marks.get(m["id"])
            shown = "· not marked" if mark is None else ("✓ present" if mark else "✗ absent")
            yield m["id"], (cell(m["name"]), cell(m["org"]), shown)

    def action_toggle_present(self) -> None:
        member = self.table.current_key
        if member is None:
            return
        present = self.services.meetings.attendance(self.circle, self.meeting).get(member)
        self.attempt(
            lambda: self.services.meetings.mark(self.circle, self.meeting, member, not present)
        )

    def action_all_present(self) -> None:
        def mark_all() -> None:
            for m in self.members():
                self.services.meetings.mark(self.circle, self.meeting, m["id"], True)

        self.attempt(mark_all)

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_toggle_present()


class ReviewStep(AgendaStep):
    """Commitments made at earlier meetings: kept, renegotiated or dropped."""

    TITLE = "Review of last meeting's commitments"
    SHORT = "Review"
    # The long text goes last so the review mark stays visible in a narrow terminal.
    COLUMNS = ("Member", "Review", "Due", "Commitment")
    HINT = "k kept · r renegotiated · d dropped · o open again"
    EMPTY = "Nothing to review: no open commitments from earlier meetings."
    BINDINGS = [
        Binding("k", "mark('kept')", "Kept", tooltip="The commitment was kept", id="review.kept"),
        Binding(
            "r",
            "mark('renegotiated')",
            "Renegotiated",
            tooltip="The commitment was changed or postponed",
            id="review.renegotiated",
        ),
        Binding(
            "d", "mark('dropped')", "Dropped", tooltip="The commitment was let go", id="review.drop"
        ),
        Binding("o", "mark('open')", "Open", tooltip="Undo the review", id="review.open"),
    ]

    def rows(self) -> Iterable[tuple[str, Sequence[object]]]:
        names = self.services.members.names(self.circle)
        items = self.services.commitments.to_review(self.circle, self.meeting)
        # A stable order: a reviewed commitment stays under the cursor, it does not jump.
        items.sort(key=lambda c: (c.get("due") or "9999", c["created"], c["id"]))
        for c in items:
            owner = names.get(c["owner"], MISSING)
            due = date_text(c.get("due"))
            yield c["id"], (cell(owner), REVIEW_MARKS[c["status"]], due, cell(c["text"]))

    def action_mark(self, status: str) -> None:
        key = self.table.current_key
        if key is None:
            return
        self.attempt(
            lambda: self.services.commitments.review(self.circle, key, status, meeting=self.meeting)
        )


class AgreementsStep(AgendaStep):
    """The kick-off's step: each member acknowledges the circle's agreements."""

    TITLE = "Agreements"
    SHORT = "Agreements"
    COLUMNS = ("Member", "Organization", "Agreements")
    HINT = "Read them together; Space records that the highlighted member agrees."
    BINDINGS = [
        Binding(
            "space",
            "acknowledge",
            "Acknowledge",
            tooltip="Record that the highlighted member acknowledges the agreements",
            id="agreements.ack",
        ),
    ]

    def body(self) -> ComposeResult:
        yield Static(id="agreements-text")
        yield from super().body()

    def on_mount(self) -> None:
        lines = [
            styled("[b]$title[/b] — $body", title=a["title"], body=a.get("text", ""))
            for a in self.services.circles.agreements(self.circle)
        ]
        text = Content("\n").join(lines) if lines else Content("This circle has no agreements.")
        self.query_one("#agreements-text", Static).update(text)
        super().on_mount()

    def rows(self) -> Iterable[tuple[str, Sequence[object]]]:
        acked = self.services.meetings.acknowledged(self.circle)
        for m in self.members():
            shown = "✓ acknowledged" if m["id"] in acked else "· not yet"
            yield m["id"], (cell(m["name"]), cell(m["org"]), shown)

    def action_acknowledge(self) -> None:
        member = self.table.current_key
        if member is None:
            return
        if member in self.services.meetings.acknowledged(self.circle):
            self.notify("Already acknowledged.", markup=False)
            return
        self.attempt(lambda: self.services.meetings.acknowledge(self.circle, member, self.meeting))

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_acknowledge()


class RoundStep(AgendaStep):
    """Where the feedback round stands; Enter opens it (starting it the first time)."""

    TITLE = "Feedback round"
    SHORT = "Feedback round"
    HINT = "Enter opens the round: each member in turn in the hot seat."
    can_focus = True
    BINDINGS = [
        Binding(
            "enter",
            "open_round",
            "Open the round",
            tooltip="Run the feedback round (it resumes where it was)",
            id="meeting.round.open",
        ),
    ]

    class OpenRound(Message):
        """The facilitator wants to run the round."""

    def body(self) -> ComposeResult:
        yield Static(id="round-summary")

    def reload(self) -> None:
        state = self.services.rounds.state(self.circle, self.meeting)
        names = self.services.members.names(self.circle)
        order: list[str] = state["order"] if state["started"] else state["derived_order"]
        if not state["started"]:
            head = Content("Not started. The rotation's order of presenters:")
        elif state["done"]:
            head = Content("The round is complete ✓")
        else:
            head = styled(
                "Turn $turn of $count: [b]$name[/b], $phase",
                turn=state["turn"] + 1,
                count=len(order),
                name=names.get(state["presenter"], MISSING),
                phase=PHASE_TITLES[state["phase"]].lower(),
            )
        lines = [head, Content("")]
        for i, member in enumerate(order):
            mark = "  "
            if state["started"] and (state["done"] or i < state["turn"]):
                mark = "✓ "
            elif state["started"] and i == state["turn"]:
                mark = "▶ "
            lines.append(styled(f"{i + 1:>2}. {mark}$name", name=names.get(member, MISSING)))
        self.query_one("#round-summary", Static).update(Content("\n").join(lines))

    def focus_body(self) -> None:
        self.focus()

    def action_open_round(self) -> None:
        self.post_message(self.OpenRound())


class CommitmentsStep(AgendaStep):
    """The commitments made in this meeting (in the round or added here)."""

    TITLE = "New commitments"
    SHORT = "Commitments"
    COLUMNS = ("Member", "Due", "Commitment")
    HINT = "a adds one · each comes back at the next meeting's review"
    EMPTY = "No commitments yet."
    BINDINGS = [
        Binding(
            "a",
            "add",
            "Add commitment",
            tooltip="Record a member's commitment (text and due date)",
            id="meeting.commitments.add",
        ),
    ]

    def rows(self) -> Iterable[tuple[str, Sequence[object]]]:
        names = self.services.members.names(self.circle)
        for c in self.services.commitments.all(self.circle):
            if c.get("meeting") == self.meeting:
                owner = cell(names.get(c["owner"], MISSING))
                yield c["id"], (owner, date_text(c.get("due")), cell(c["text"]))

    def action_add(self) -> None:
        def added(result: str | None) -> None:
            if result:
                self.reload()

        form = CommitmentForm(self.circle, self.meeting)
        self.app.push_screen(form, added)


class PulseStep(AgendaStep):
    """Each present member rates support, confidence and learning, 1 to 5."""

    TITLE = "Pulse"
    SHORT = "Pulse"
    COLUMNS = ("Member", *(a.capitalize() for a in PULSE_ASPECTS), "")
    HINT = "Type 1–5 in a cell; a pulse is saved once all three are rated."
    BINDINGS = [
        Binding(
            str(n),
            f"rate({n})",
            "Rate 1–5",
            key_display="1–5",
            show=n == 1,
            tooltip="Rate the highlighted cell from 1 (low) to 5 (high)",
            id=f"pulse.rate{n}",
        )
        for n in range(1, 6)
    ]

    def __init__(self, circle: str, meeting: str, *, id: str) -> None:
        super().__init__(circle, meeting, id=id)
        self.drafts: dict[str, dict[str, int]] = {}

    def body(self) -> ComposeResult:
        yield StepTable(cursor_type="cell", zebra_stripes=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.table.move_cursor(column=1)

    def values(self, member: str) -> tuple[dict[str, int], bool]:
        """A member's ratings (saved, then this session's unsaved ones) and if saved."""
        saved: Record = self.services.pulses.for_meeting(self.circle, self.meeting).get(member, {})
        values: dict[str, int] = {a: int(saved[a]) for a in PULSE_ASPECTS if a in saved}
        draft = self.drafts.get(member, {})
        return {**values, **draft}, bool(saved) and not draft

    def rows(self) -> Iterable[tuple[str, Sequence[object]]]:
        for m in self.members(present_only=True):
            values, saved = self.values(m["id"])
            ratings = [str(values.get(a, "·")) for a in PULSE_ASPECTS]
            status = "✓ saved" if saved else ("… unsaved" if values else "")
            yield m["id"], (cell(m["name"]), *ratings, status)

    def action_rate(self, value: int) -> None:
        member = self.table.current_key
        if member is None:
            return
        column = min(max(self.table.cursor_column, 1), len(PULSE_ASPECTS))
        values, _ = self.values(member)
        values[PULSE_ASPECTS[column - 1]] = value
        if all(a in values for a in PULSE_ASPECTS):
            ratings: dict[str, Any] = {a: values[a] for a in PULSE_ASPECTS}
            saved = self.attempt(
                lambda: self.services.pulses.record(self.circle, self.meeting, member, **ratings)
            )
            if saved:
                self.drafts.pop(member, None)
                self.reload()
        else:
            self.drafts[member] = values
            self.reload()
        row = self.table.cursor_row
        if column < len(PULSE_ASPECTS):
            self.table.move_cursor(row=row, column=column + 1)
        else:
            self.table.move_cursor(row=min(row + 1, self.table.row_count - 1), column=1)
