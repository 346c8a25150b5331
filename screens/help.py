"""Help (`?` or F1): the keys of the screen you came from and how a feedback round runs.

Keys are read from the live bindings, so the help never drifts from the footer; each
binding's id is listed because the `keymap` setting remaps keys by id.
"""

from __future__ import annotations

from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from screens.widgets import Footer
from xcircle.domain import AGENDA, DEFAULT_TIMEBOXES, KICKOFF_AGENDA, PHASE_TITLES, PHASES


def minutes(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def round_table() -> RichTable:
    """The phases of one turn in the hot seat, with their default timeboxes."""
    table = RichTable(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("Phase")
    table.add_column("Timebox", justify="right")
    for n, phase in enumerate(PHASES, 1):
        box = minutes(DEFAULT_TIMEBOXES[phase])
        if phase == "feedback":
            box += " per peer"
        table.add_row(str(n), PHASE_TITLES[phase], box)
    return table


class HelpScreen(ModalScreen[None]):
    """The keys of one screen, and the round's phases."""

    CSS_PATH = "help.tcss"
    BINDINGS = [
        Binding(
            "escape,question_mark,f1", "close", "Close", tooltip="Close the help", id="help.close"
        ),
    ]

    def __init__(self, origin: Screen[object]) -> None:
        super().__init__()
        self.origin = origin

    def keys_table(self) -> RichTable:
        table = RichTable(box=None, show_header=True, header_style="bold", pad_edge=False)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("Does")
        table.add_column("Id (for the keymap setting)", style="dim", no_wrap=True)
        for active in self.origin.active_bindings.values():
            binding = active.binding
            if binding.description:
                does = binding.tooltip or binding.description
                table.add_row(self.app.get_key_display(binding), does, binding.id or "")
        return table

    def compose(self) -> ComposeResult:
        agenda = " → ".join(AGENDA)
        kickoff = " → ".join(KICKOFF_AGENDA)
        with Vertical(id="dialog"):
            yield Label("Help", id="help-title")
            with VerticalScroll(id="help-body"):
                yield Label("Keys on this screen", classes="section")
                yield Static(self.keys_table(), id="keys")
                yield Label("A meeting's agenda", classes="section")
                yield Static(
                    Text.assemble(
                        ("Every meeting: ", "bold"),
                        agenda,
                        "\n",
                        ("The kick-off: ", "bold"),
                        kickoff,
                        "\nAt the kick-off each member acknowledges the circle's agreements.",
                    ),
                    id="agenda",
                )
                yield Label("The feedback round", classes="section")
                yield Static(
                    "Members take turns in the hot seat, in an order the rotation derives "
                    "from the history (least recently first, absentees keep their place). "
                    "Each turn runs through these phases, each with a timebox:",
                    classes="para",
                )
                yield Static(round_table(), id="phases")
                yield Static(
                    "Feedback comes from each peer in order, as a question, a challenge, "
                    "support or advice. The turn ends with one commitment, reviewed at the "
                    "next meeting.",
                    classes="para",
                )
                yield Label("Everything by name, and your own keys", classes="section")
                yield Static(
                    "ctrl+p opens the command palette: new circle, open a circle, plan or "
                    "run a meeting, check in on a goal, export, switch theme. The chosen "
                    "theme is saved. Keys are remapped by binding id with the `keymap` "
                    'setting, e.g. {"home.new": "ctrl+n"}.',
                    classes="para",
                    markup=False,
                )
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
