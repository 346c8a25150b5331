"""The agenda's feedback-round step: where the round stands; Enter opens it.

The round itself is a screen of its own (`screens/round.py`); this step only summarizes it.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from screens.agenda_step import AgendaStep
from screens.widgets import MISSING, styled
from xcircle.domain import PHASE_TITLES


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
