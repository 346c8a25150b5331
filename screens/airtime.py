"""The fairness view of a circle: who presented, who gave feedback, and for how long.

`services.airtime.view()` sums the rounds of every meeting; the rotation already uses
the hot-seat time to order presenters. Opened from the circle (`A`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from screens.widgets import Footer, TopBar, cell, services_of, styled

if TYPE_CHECKING:
    from xcircle.services import Services


def minutes(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


class AirtimeScreen(Screen[None]):
    """Turns and time in the hot seat, feedback given, against a fair share."""

    CSS_PATH = "airtime.tcss"
    BINDINGS = [
        Binding(
            "escape", "app.pop_screen", "Back", tooltip="Back to the circle", id="airtime.back"
        ),
    ]

    def __init__(self, circle: str) -> None:
        super().__init__()
        self.circle = circle

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        yield Static(id="fair")
        yield DataTable(id="airtime", cursor_type="row", zebra_stripes=True)
        yield Static(id="note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        view = self.services.airtime.view(self.circle)
        self.query_one(TopBar).show(self.services.circles.get(self.circle)["name"], "airtime")
        self.query_one("#fair", Static).update(
            styled(
                "[b]$rounds[/b] rounds · a fair share is [b]$fair[/b] turns each",
                rounds=view.rounds,
                fair=view.fair_turns,
            )
        )
        table = self.query_one(DataTable)
        table.add_columns("Member", "Turns", "vs fair", "Hot seat", "Share", "Feedback", "Giving")
        for r in view.rows:
            table.add_row(
                cell(r.name),
                str(r.turns),
                f"{r.balance:+.1f}",
                minutes(r.presenting),
                f"{r.share}%",
                str(r.feedback),
                minutes(r.giving),
            )
        self.query_one("#note", Static).update(
            styled(
                "[$text-muted]Who has had less time in the hot seat is proposed first, "
                "after issue cards and the rotation.[/]"
            )
        )
