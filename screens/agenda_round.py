"""The agenda's feedback-round step: where the round stands; Enter opens it.

The round itself is a screen of its own (`screens/round.py`); this step only summarizes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from screens.agenda_budget import proposal_text
from screens.agenda_step import AgendaStep
from screens.widgets import MISSING, styled

if TYPE_CHECKING:
    from xcircle.timebudget import TimeBudget


class RoundStep(AgendaStep):
    """Where the feedback round stands; Enter opens it (starting it the first time)."""

    TITLE = "Feedback round"
    SHORT = "Feedback round"
    HINT = "Enter opens the round: each member in turn in the hot seat."
    can_focus = True
    WRITES = frozenset({"fit"})
    BINDINGS = [
        Binding(
            "enter",
            "open_round",
            "Open the round",
            tooltip="Run the feedback round (it resumes where it was)",
            id="meeting.round.open",
        ),
        Binding(
            "t",
            "fit",
            "Fit timeboxes",
            tooltip="Use the proposed timeboxes, so the round fits the meeting",
            id="meeting.round.fit",
        ),
    ]

    budget: TimeBudget | None = None

    class OpenRound(Message):
        """The facilitator wants to run the round."""

    def body(self) -> ComposeResult:
        yield Static(id="round-summary")
        yield Static(id="round-budget")

    def reload(self) -> None:
        rounds = self.services.rounds
        self.update_read_only()
        self.budget = rounds.budget(self.circle, self.meeting)
        self.query_one("#round-budget", Static).update(proposal_text(self.budget))
        self.refresh_bindings()
        state = rounds.state(self.circle, self.meeting)
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
                phase=state["phase_title"].lower(),
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "fit":
            budget = getattr(self, "budget", None)
            return not self.read_only and bool(budget and budget.proposed_timeboxes)
        return super().check_action(action, parameters)

    def action_open_round(self) -> None:
        if self.services.meetings.get(self.circle, self.meeting)["status"] == "planned":
            self.notify("The round runs once the meeting has started: s starts it.", markup=False)
            return
        self.post_message(self.OpenRound())

    def action_fit(self) -> None:
        """Use the budget's timeboxes: set on a running round, or start it with them."""
        boxes = self.budget.proposed_timeboxes if self.budget else None
        if not boxes:
            return
        rounds, proposal = self.services.rounds, dict(boxes)
        if rounds.state(self.circle, self.meeting)["started"]:
            self.attempt(lambda: rounds.set_timeboxes(self.circle, self.meeting, proposal))
        else:
            self.attempt(lambda: rounds.start(self.circle, self.meeting, timeboxes=proposal))
        self.notify("The round's timeboxes now fit the meeting.", timeout=3, markup=False)
