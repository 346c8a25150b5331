"""The issue card form: what a member prepares, offline, to bring to a round.

One call of `services.cards.add`; a refusal (an empty situation, a question too long)
lands under its field and nothing is saved. Escape cancels.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input, Static, TextArea

from screens.forms import FormScreen, choice, field, form_error
from screens.widgets import MISSING, literal, styled
from xcircle.domain import URGENCIES

URGENCY_CHOICES = {"A": "A: now", "B": "B: soon", "C": "C: some day"}


class CardForm(FormScreen[str | None]):
    """Prepare an issue card: the situation, the key question, the help wanted and not
    wanted, and how urgent it is. Mine, or (on a device with no member of mine in the
    circle) the member's chosen here."""

    TITLE_TEXT = "New issue card"
    # FormScreen's attribute is inferred as a single path; Textual takes a list too.
    CSS_PATH = ["forms.tcss", "cardforms.tcss"]  # type: ignore[assignment]
    AUTO_FOCUS = "#situation"

    def __init__(self, circle: str) -> None:
        super().__init__()
        self.circle = circle
        self.me: str | None = None

    def fields(self) -> ComposeResult:
        svc = self.services
        self.me = svc.ctx.me(self.circle)
        members = svc.members.all(self.circle)
        if self.me is None and members:  # a facilitator's device types in a member's card
            owners = [(literal(m["name"]), str(m["id"])) for m in members]
            yield field("Whose card", choice("member", owners, members[0]["id"]))
        elif self.me is not None:
            name = svc.members.names(self.circle).get(self.me, MISSING)
            yield Static(styled("By [b]$who[/b]", who=name), id="card-owner")
        situation = TextArea(id="situation", compact=True, soft_wrap=True)
        yield field("The situation", situation, "A few sentences: what is going on")
        yield field("Your key question", Input(id="question", compact=True))
        yield field("Help you want (optional)", Input(id="want", compact=True))
        yield field("Help you do not want (optional)", Input(id="not_want", compact=True))
        items = [(URGENCY_CHOICES[u], u) for u in URGENCIES]
        yield field(
            "Urgency", choice("urgency", items, "B"), "A cards are proposed first, then B, then C"
        )
        yield form_error()

    def save(self) -> str | None:
        rec = self.services.cards.add(
            self.circle,
            self.text("situation"),
            self.text("question"),
            self.text("urgency"),
            want=self.text("want"),
            not_want=self.text("not_want"),
            member=None if self.me or not self.query("#member") else self.text("member"),
        )
        return str(rec["id"])
