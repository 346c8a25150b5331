"""The forms of written rounds: open a case, answer one, close yours.

Each calls one use case of `services.cases`; a refusal (a kind the protocol does not
take, an empty reflection…) lands under its field and nothing is saved.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input, Static, TextArea

from screens.forms import FormScreen, choice, field, form_error
from screens.widgets import styled


class CaseForm(FormScreen[str | None]):
    """Open a case between meetings: a title, the situation, the protocol answers follow."""

    TITLE_TEXT = "Open a case"
    SAVE_LABEL = "Open"

    def __init__(self, circle: str) -> None:
        super().__init__()
        self.circle = circle

    def fields(self) -> ComposeResult:
        yield field("Title", Input(id="title", compact=True, placeholder="The challenge, short"))
        area = TextArea(id="text", compact=True, soft_wrap=True)
        yield field("The situation and your question", area)
        protocols = self.services.protocols.all(self.circle)
        items = [(f"{p.title} ({', '.join(p.kinds)})", p.name) for p in protocols]
        default = self.services.protocols.get(self.circle, "").name
        yield field("Protocol: the answers it takes", choice("protocol", items, default))
        yield form_error()

    def save(self) -> str | None:
        view = self.services.cases.open(
            self.circle, self.text("title"), text=self.text("text"), protocol=self.text("protocol")
        )
        return view.id


class ReplyForm(FormScreen[str | None]):
    """Answer a peer's case, with a kind its protocol takes."""

    TITLE_TEXT = "Answer the case"

    def __init__(self, circle: str, case: str) -> None:
        super().__init__()
        self.circle, self.case = circle, case

    def fields(self) -> ComposeResult:
        view = self.services.cases.get(self.circle, self.case)
        yield Static(
            styled(
                "[b]$title[/b] — $who\n$text",
                title=view.title,
                who=view.presenter_name,
                text=view.text,
            ),
            id="case-summary",
        )
        kinds = view.kinds or ("question",)
        items = [(k.capitalize(), k) for k in kinds]
        yield field("Kind", choice("kind", items, kinds[0]))
        yield field("Your answer", TextArea(id="text", compact=True, soft_wrap=True))
        yield form_error()

    def save(self) -> str | None:
        reply = self.services.cases.reply(
            self.circle, self.case, self.text("kind"), self.text("text")
        )
        return reply.id


class CloseCaseForm(FormScreen[str | None]):
    """The presenter closes their case: a reflection, and a commitment the next meeting
    reviews."""

    TITLE_TEXT = "Close your case"
    SAVE_LABEL = "Close case"

    def __init__(self, circle: str, case: str) -> None:
        super().__init__()
        self.circle, self.case = circle, case

    def fields(self) -> ComposeResult:
        view = self.services.cases.get(self.circle, self.case)
        answers = len(view.replies)
        yield Static(
            styled(
                "[b]$title[/b] — $n",
                title=view.title,
                n="1 answer" if answers == 1 else f"{answers} answers",
            ),
            id="case-summary",
        )
        area = TextArea(id="reflection", compact=True, soft_wrap=True)
        yield field("What you take from the answers", area)
        yield field(
            "Your commitment (reviewed at the next meeting)", Input(id="commitment", compact=True)
        )
        yield field("Due (YYYY-MM-DD, optional)", Input(id="due", compact=True))
        yield form_error()

    def save(self) -> str | None:
        view = self.services.cases.close(
            self.circle,
            self.case,
            reflection=self.text("reflection"),
            commitment=self.text("commitment"),
            due=self.text("due").strip() or None,
        )
        return view.commitment
