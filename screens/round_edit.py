"""Correct the feedback of the turn in the hot seat: pick an item, edit its words or
kind (`e`), remove it (`d`), undo the last correction (`u`). Only the giver's own
items (or those recorded on this device) can change; the services say so otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from screens.correctforms import EditFeedbackForm
from screens.meetingforms import KIND_TITLES
from screens.widgets import MISSING, Footer, WrappedList, attempt, services_of, styled

if TYPE_CHECKING:
    from screens.undo import UndoSlot
    from xcircle.merge import Record


class CorrectFeedbackScreen(ModalScreen[None]):
    """The presenter's feedback, one item per line; corrections go through the services."""

    CSS_PATH = "round.tcss"
    BINDINGS = [
        Binding("e", "edit", "Edit", tooltip="Correct the words or the kind", id="fix.edit"),
        Binding("d", "remove", "Remove", tooltip="Remove it (u undoes)", id="fix.remove"),
        Binding("u", "undo", "Undo", tooltip="Undo the last correction", id="fix.undo"),
        Binding("escape", "dismiss(None)", "Done", tooltip="Back to the round", id="fix.done"),
    ]

    def __init__(self, circle: str, meeting: str, presenter: str, undo: UndoSlot) -> None:
        super().__init__()
        self.circle, self.meeting, self.presenter = circle, meeting, presenter
        self.undo = undo
        self.items: dict[str, Record] = {}

    def compose(self) -> ComposeResult:
        names = services_of(self).members.names(self.circle)
        with Vertical(id="fix-dialog"):
            yield Label(
                styled("Feedback for [b]$who[/b]", who=names.get(self.presenter, MISSING)),
                id="fix-title",
            )
            yield WrappedList(id="fix-list")
            yield Static("e edits · d removes · u undoes · Esc back", id="fix-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        services = services_of(self)
        names = services.members.names(self.circle)
        feedback = services.rounds.feedback_for(self.circle, self.meeting, self.presenter)
        self.items = {f["id"]: f for f in feedback}
        self.query_one(WrappedList).fill(
            (
                f["id"],
                styled(
                    "[b]$kind[/b] [$text-accent]$giver[/]: $text",
                    kind=KIND_TITLES.get(f["kind"], f["kind"]),
                    giver=names.get(f["giver"], MISSING),
                    text=f["text"],
                ),
            )
            for f in feedback
        )
        self.query_one("#fix-hint", Static).update(
            "e edits · d removes · u undoes · Esc back" if feedback else "No feedback yet."
        )

    def current(self) -> Record | None:
        key = self.query_one(WrappedList).current_key
        return self.items.get(key or "")

    def action_edit(self) -> None:
        item = self.current()
        if item is None:
            return
        rounds = services_of(self).rounds

        def edited(new_id: str | None) -> None:
            if new_id:
                old_text, old_kind = item["text"], item["kind"]
                self.undo.remember(
                    "the correction of a feedback item",
                    lambda: rounds.edit_feedback(self.circle, new_id, text=old_text, kind=old_kind),
                )
            self.reload()

        form = EditFeedbackForm(self.circle, item["id"], item["text"], item["kind"])
        self.app.push_screen(form, edited)

    def action_remove(self) -> None:
        item = self.current()
        if item is None:
            return
        rounds = services_of(self).rounds
        if attempt(self, lambda: rounds.remove_feedback(self.circle, item["id"])):
            self.undo.remember(
                "the removal of a feedback item",
                lambda: rounds.restore_feedback(self.circle, item),
            )
            self.notify("Feedback removed · u undoes", timeout=3, markup=False)
        self.reload()

    def action_undo(self) -> None:
        self.undo.undo(self)
        self.reload()

    @on(WrappedList.OptionSelected)
    def _selected(self) -> None:
        self.action_edit()
