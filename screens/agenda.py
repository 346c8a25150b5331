"""The steps of a running meeting's agenda, one widget each.

The meeting screen shows one step at a time. Each step reads and writes only through
the services, reloads itself when shown, and binds its own single keys, which apply
(and show in the footer) while its table has the focus. The feedback round itself is a
screen of its own (`screens/round.py`); its agenda step only summarizes it.

This module holds the table steps (check-in, review, agreements, commitments) and names
every step for the meeting screen; the base is `agenda_step.py`, the round's and the
pulse's steps are `agenda_round.py` and `agenda_pulse.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import DataTable, Static

from screens.agenda_pulse import PulseStep
from screens.agenda_round import RoundStep
from screens.agenda_step import AgendaStep, StepTable
from screens.correctforms import EditCommitmentForm, RenegotiateForm
from screens.meetingforms import CommitmentForm
from screens.widgets import MISSING, cell, date_text, styled

if TYPE_CHECKING:
    from xcircle.merge import Record

__all__ = [
    "AgendaStep",
    "AgreementsStep",
    "CheckinStep",
    "CommitmentsStep",
    "PulseStep",
    "ReviewStep",
    "RoundStep",
    "StepTable",
]

REVIEW_MARKS = {
    "open": "· open",
    "kept": "✓ kept",
    "renegotiated": "↻ renegotiated",
    "dropped": "✗ dropped",
}


class CheckinStep(AgendaStep):
    """Who is here: each member present or absent (the rotations skip absentees)."""

    TITLE = "Check-in and attendance"
    SHORT = "Check-in"
    COLUMNS = ("Member", "Organization", "Attendance")
    HINT = "Space: present or absent · a: everyone present"
    WRITES = frozenset({"toggle_present", "all_present"})
    BEFORE_START = True  # who is here may be marked before the start
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "all_present" and self.following:
            return False  # each member marks only themselves on their own device
        return super().check_action(action, parameters)

    def action_toggle_present(self) -> None:
        member = self.table.current_key
        if member is None:
            return
        present = self.services.meetings.attendance(self.circle, self.meeting).get(member)
        self.attempt(
            lambda: self.services.meetings.mark(self.circle, self.meeting, member, not present)
        )

    def action_all_present(self) -> None:
        members = [m["id"] for m in self.members()]
        self.attempt(
            lambda: self.services.meetings.mark_many(self.circle, self.meeting, members, True)
        )

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        if not self.read_only:
            self.action_toggle_present()


class ReviewStep(AgendaStep):
    """Commitments made at earlier meetings: kept, renegotiated or dropped."""

    TITLE = "Review of last meeting's commitments"
    SHORT = "Review"
    # The long text goes last so the review mark stays visible in a narrow terminal.
    COLUMNS = ("Member", "Review", "Due", "Commitment")
    HINT = "k kept · r renegotiate (new wording and date) · d dropped · o open again"
    EMPTY = "Nothing to review: no open commitments from earlier meetings."
    WRITES = frozenset({"mark", "renegotiate"})
    BINDINGS = [
        Binding("k", "mark('kept')", "Kept", tooltip="The commitment was kept", id="review.kept"),
        Binding(
            "r",
            "renegotiate",
            "Renegotiate",
            tooltip="Change the commitment: new wording and a new due date",
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

    def action_renegotiate(self) -> None:
        key = self.table.current_key
        if key is None:
            return

        def done(result: str | None) -> None:
            if result:
                self.reload()
                self.post_message(self.Changed())

        self.app.push_screen(RenegotiateForm(self.circle, self.meeting, key), done)


class AgreementsStep(AgendaStep):
    """The kick-off's step: each member acknowledges the circle's agreements."""

    TITLE = "Agreements"
    SHORT = "Agreements"
    COLUMNS = ("Member", "Organization", "Agreements")
    HINT = "Read them together; Space records that the highlighted member agrees."
    WRITES = frozenset({"acknowledge"})
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
        # Wrapped, and scrolled when the terminal is too short to show them all.
        with VerticalScroll(id="agreements-box"):
            yield Static(id="agreements-text")
        yield from super().body()

    def prepare(self) -> None:
        lines = [
            styled("[b]$title[/b] — $body", title=a["title"], body=a.get("text", ""))
            for a in self.services.circles.agreements(self.circle)
        ]
        text = Content("\n").join(lines) if lines else Content("This circle has no agreements.")
        self.query_one("#agreements-text", Static).update(text)

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
        if not self.read_only:
            self.action_acknowledge()


class CommitmentsStep(AgendaStep):
    """The commitments made in this meeting (in the round or added here); the owner's
    own can be corrected or removed, and the last change undone."""

    TITLE = "New commitments"
    SHORT = "Commitments"
    COLUMNS = ("Member", "Due", "Commitment")
    HINT = "a adds · e corrects · d removes · u undoes · each comes back at the next review"
    EMPTY = "No commitments yet."
    WRITES = frozenset({"add", "edit", "remove"})
    BINDINGS = [
        Binding(
            "a",
            "add",
            "Add",
            tooltip="Record a member's commitment (text and due date)",
            id="meeting.commitments.add",
        ),
        Binding(
            "e",
            "edit",
            "Correct",
            tooltip="Correct the highlighted commitment's wording or due date",
            id="meeting.commitments.edit",
        ),
        Binding(
            "d",
            "remove",
            "Remove",
            tooltip="Remove the highlighted commitment (u undoes)",
            id="meeting.commitments.remove",
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

        # On a following device, a member makes their own commitment only.
        owner = self.services.ctx.me(self.circle) if self.following else None
        form = CommitmentForm(self.circle, self.meeting, owner)
        self.app.push_screen(form, added)

    def action_edit(self) -> None:
        key = self.table.current_key
        if key is None:
            return
        commitments = self.services.commitments
        before = commitments.get(self.circle, key)

        def edited(result: str | None) -> None:
            if result:
                text, due = before["text"], before.get("due") or ""
                self.remember(
                    "the correction of a commitment",
                    lambda: commitments.edit(self.circle, key, text=text, due=due),
                )
                self.reload()

        self.app.push_screen(EditCommitmentForm(self.circle, key), edited)

    def action_remove(self) -> None:
        key = self.table.current_key
        if key is None:
            return
        commitments = self.services.commitments
        removed: list[Record] = []
        self.attempt(lambda: removed.append(commitments.remove(self.circle, key)))
        if removed:
            self.notify("Commitment removed · u undoes", timeout=3, markup=False)
            self.remember(
                "the removal of a commitment",
                lambda: commitments.restore(self.circle, removed[0]),
            )
