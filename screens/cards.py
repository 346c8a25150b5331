"""A circle's open issue cards: what members prepared to bring to the next round.

The cards are listed most urgent and oldest first, which is the order in which the
round proposes their members; mine are marked. The highlighted card is shown whole,
and under the list who the next meeting's round proposes first. `a` prepares a card,
`w` withdraws the highlighted one (mine, after asking). Opened from a circle's Meetings
tab (`i`); the cards are read in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static
from textual.worker import get_current_worker

from screens.cardforms import CardForm
from screens.follow import Follows
from screens.forms import ConfirmScreen
from screens.widgets import (
    MISSING,
    CursorTable,
    Footer,
    TopBar,
    attempt,
    cell,
    date_text,
    services_of,
    styled,
)
from xcircle.errors import XCircleError

if TYPE_CHECKING:
    from xcircle.merge import Record
    from xcircle.services import Services

URGENCY_WORDS = {"A": "A, now", "B": "B, soon", "C": "C, some day"}
PROPOSED = 3  # how many of the next round's proposed presenters the screen names

# Fixed widths: the table is filled from a worker (see screens/cases.py).
COLUMNS = (("Urgency", 11), ("Member", 18), ("Key question", 28), ("Prepared", 11))


@dataclass(frozen=True)
class CardsView:
    """What the screen shows, read in one go off the event loop."""

    circle_name: str
    cards: tuple[Record, ...]  # open ones, most urgent and oldest first
    names: dict[str, str]
    me: str | None
    proposed: tuple[str, ...]  # the next meeting's proposed presenters, first few
    next_meeting: str | None


def read_cards(services: Services, circle: str) -> CardsView:
    """The circle's open cards and the next round's proposal, for the screen."""
    upcoming = services.meetings.next(circle)
    proposed: list[str] = []
    if upcoming is not None:
        proposed = services.rounds.derived_order(circle, upcoming["id"])[:PROPOSED]
    return CardsView(
        circle_name=services.circles.get(circle)["name"],
        cards=tuple(services.cards.all(circle)),
        names=services.members.names(circle),
        me=services.ctx.me(circle),
        proposed=tuple(proposed),
        next_meeting=upcoming["at"] if upcoming else None,
    )


def card_key(keys: str, action: str, description: str, tooltip: str) -> Binding:
    return Binding(keys, action, description, tooltip=tooltip, id=f"cards.{action}")


class CardsScreen(Follows):
    """A circle's open issue cards, with the form to add one and a way to withdraw."""

    CSS_PATH = "cards.tcss"
    FOLLOWS = frozenset({"card", "member", "circle", "meeting", "round"})
    BINDINGS = [
        card_key("escape", "app.pop_screen", "Back", "Back to the circle"),
        card_key("a", "add_card", "Add card", "Prepare what you want to bring to a round"),
        card_key("w", "withdraw", "Withdraw", "Withdraw the highlighted card (yours)"),
    ]

    def __init__(self, circle: str) -> None:
        super().__init__()
        self.circle = circle
        self.view: CardsView | None = None

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield Static(
            styled(
                "[$text-muted]What members prepared to bring. The round proposes members "
                "with a card first, A (now), then B (soon), then C (some day); the "
                "presenter's card is on screen during their turn.[/]"
            ),
            id="cards-intro",
        )
        table = CursorTable(id="card-table", cursor_type="row", zebra_stripes=True)
        for label, width in COLUMNS:
            table.add_column(label, width=width)
        yield table
        yield Static(id="proposal")
        with VerticalScroll(id="card-detail-box", can_focus=False):
            yield Static(id="card-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TopBar).show("", "issue cards")
        self.reload()

    def refresh_data(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="cards")
    def reload(self) -> None:
        """Read the cards again in a thread, then show them."""
        worker = get_current_worker()
        try:
            view = read_cards(self.services, self.circle)
        except XCircleError as exc:  # the circle was forgotten on this device
            if not worker.is_cancelled:
                self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show, view)

    def show(self, view: CardsView) -> None:
        if not self.is_attached:  # a read that finished after the screen closed
            return
        self.view = view
        self.query_one(TopBar).show(view.circle_name, "issue cards")
        self.query_one("#card-table", CursorTable).fill(
            (
                c["id"],
                (
                    URGENCY_WORDS.get(c["urgency"], c["urgency"]),
                    cell(self.owner(c), "bold" if c["member"] == view.me else ""),
                    cell(c["question"]),
                    date_text(c["created"]),
                ),
            )
            for c in view.cards
        )
        self.query_one("#proposal", Static).update(self.proposal_text(view))
        self.show_detail()
        self.refresh_bindings()  # Withdraw follows the highlighted card

    def owner(self, card: Record) -> str:
        assert self.view is not None
        name = self.view.names.get(card["member"], MISSING)
        return name + (" (me)" if card["member"] == self.view.me else "")

    def proposal_text(self, view: CardsView) -> Content:
        if view.next_meeting is None:
            return styled("[$text-muted]No meeting planned: p on the Meetings tab plans one.[/]")
        urgency = {c["member"]: c["urgency"] for c in reversed(view.cards)}  # most urgent
        parts = [
            view.names.get(m, MISSING) + (f" ({urgency[m]} card)" if m in urgency else "")
            for m in view.proposed
        ]
        return styled("[b]The next round proposes first[/b] $who", who=", ".join(parts) or MISSING)

    def current(self) -> Record | None:
        key = self.query_one("#card-table", CursorTable).current_key
        cards = {c["id"]: c for c in self.view.cards} if self.view else {}
        return cards.get(key or "")

    def show_detail(self) -> None:
        card = self.current()
        detail = self.query_one("#card-detail", Static)
        if card is None:
            detail.update(styled("[$text-muted]No open cards: [b]a[/b] prepares one.[/]"))
            return
        urgency = URGENCY_WORDS.get(card["urgency"], card["urgency"])
        parts = [
            styled("[b]$who[/b] · $urgency", who=self.owner(card), urgency=urgency),
            styled("$situation", situation=card["situation"]),
            styled("[b]Key question:[/b] $q", q=card["question"]),
        ]
        if card["want"]:
            parts.append(styled("[b]Help wanted:[/b] $w", w=card["want"]))
        if card["not_want"]:
            parts.append(styled("[b]Not wanted:[/b] $w", w=card["not_want"]))
        detail.update(Content("\n").join(parts))

    @on(CursorTable.RowHighlighted, "#card-table")
    def _highlighted(self) -> None:
        self.show_detail()
        self.refresh_bindings()

    # -- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "withdraw":
            card = self.current()
            if card is None:
                return False
            # Mine (or any, on a device with no member here: a facilitator's, which typed
            # the cards in); a peer's shows the key dimmed.
            me = self.view.me if self.view else None
            return True if me is None or card["member"] == me else None
        return True

    def action_add_card(self) -> None:
        def added(card: str | None) -> None:
            if card:
                self.notify("Card added", timeout=2)
                self.reload()

        self.app.push_screen(CardForm(self.circle), added)

    def action_withdraw(self) -> None:
        card = self.current()
        if card is None:
            return
        mine = self.view is not None and card["member"] == self.view.me
        question = styled(
            "Withdraw $whose card?\n\n[b]$q[/b]\n\nIt leaves the round's proposals; what "
            "was written stays in the circle's history.",
            whose="your" if mine else f"{self.owner(card)}'s",
            q=card["question"],
        )

        def answer(yes: bool | None) -> None:
            cards = self.services.cards
            if yes and attempt(self, lambda: cards.withdraw(self.circle, card["id"])):
                self.notify("Card withdrawn", timeout=2)
            self.reload()

        self.app.push_screen(ConfirmScreen(question, yes="Withdraw"), answer)
