"""One agreement's history: its versions, the amendments proposed to it, and the
consent-based decision on each.

`m` proposes an amendment (conveners), `c` consents to the highlighted open one, `o`
objects to it (saying why), `k` acknowledges the agreements as they stand (an agreed
amendment asks everyone again).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Input, Label, Static, TextArea

from screens.forms import FormScreen, field, form_error
from screens.widgets import (
    Footer,
    TopBar,
    WrappedList,
    attempt,
    date_text,
    services_of,
    styled,
)
from xcircle import safetext
from xcircle.services import Services
from xcircle.services.amendments import AgreementHistory, AmendmentView


def amend_key(keys: str, action: str, description: str, tooltip: str) -> Binding:
    return Binding(keys, action, description, tooltip=tooltip, id=f"agreement.{action}")


def amendment_text(a: AmendmentView) -> Content:
    """One amendment: what it says, why, and where the decision stands."""
    votes = ", ".join(f"{v.name} {'consents' if v.consent else 'objects'}" for v in a.votes)
    notes = "".join(f"\n  {v.name}: {v.note}" for v in a.votes if v.note)
    waiting = f"\nWaiting for {', '.join(a.waiting)}" if a.waiting else ""
    return styled(
        "[b]$status[/b] · proposed by $who on $day\n$title — $text\n[$text-muted]Why: $why[/]"
        "\n$votes$notes$waiting",
        status=a.status.capitalize(),
        who=a.proposer_name,
        day=date_text(a.proposed),
        title=a.title,
        text=a.text,
        why=a.reason or "—",
        votes=votes or "No answers yet",
        notes=notes,
        waiting=waiting,
    )


class AgreementScreen(Screen[None]):
    """An agreement as it stands, its versions, and its amendments."""

    CSS_PATH = "amendments.tcss"
    BINDINGS = [
        amend_key("escape", "app.pop_screen", "Back", "Back to the circle"),
        amend_key("m", "amend", "Amend", "Propose new wording (conveners)"),
        amend_key("c", "consent", "Consent", "Consent to the highlighted amendment"),
        amend_key("o", "object", "Object", "Object to the highlighted amendment"),
        amend_key("k", "acknowledge", "Acknowledge", "Acknowledge the agreements as they stand"),
    ]

    def __init__(self, circle: str, agreement: str) -> None:
        super().__init__()
        self.circle, self.agreement = circle, agreement

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        yield TopBar()
        with VerticalScroll(id="agreement-body"):
            yield Static(id="current")
            yield Label("Versions", classes="section")
            yield Static(id="versions")
            yield Label("Amendments", classes="section")
            yield WrappedList(id="amendments")
            yield Static(id="acks")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Read the agreement again (a handful of records: on the event loop)."""
        svc = self.services
        if not attempt(
            self, lambda: self.show(svc.amendments.history(self.circle, self.agreement))
        ):
            self.app.pop_screen()

    def show(self, hist: AgreementHistory) -> None:
        svc = self.services
        name = svc.circles.get(self.circle)["name"]
        self.query_one(TopBar).show(name, f"agreement · {hist.title}")
        self.query_one("#current", Static).update(
            styled(
                "[b]$title[/b] (version $n)\n$text",
                title=hist.title,
                n=len(hist.versions),
                text=hist.text or "—",
            )
        )
        lines = [
            styled(
                "v$n ($since): $title — $text",
                n=v.version,
                since=f"agreed {date_text(v.since)}" if v.since else "first",
                title=v.title,
                text=v.text,
            )
            for v in hist.versions
        ]
        self.query_one("#versions", Static).update(Content("\n").join(lines))
        amendments = self.query_one("#amendments", WrappedList)
        amendments.fill((a.id, amendment_text(a)) for a in hist.amendments)
        if not hist.amendments:
            amendments.display = False
        else:
            amendments.display = True
            amendments.focus()
        acked = svc.meetings.acknowledged(self.circle)
        missing = [m["name"] for m in svc.members.all(self.circle) if m["id"] not in acked]
        self.query_one("#acks", Static).update(
            styled("[b]Not yet acknowledged:[/b] $who", who=", ".join(missing))
            if missing
            else styled("[b]Everyone acknowledged the agreements as they stand.[/b]")
        )

    def current(self) -> AmendmentView | None:
        key = self.query_one("#amendments", WrappedList).current_key
        if key is None:
            self.notify("No amendment to answer: m proposes one.", severity="warning")
            return None
        return self.services.amendments.get(self.circle, key)

    def after(self, result: object) -> None:
        if result:
            self.notify("Saved", timeout=2)
        self.reload()

    def action_amend(self) -> None:
        self.app.push_screen(AmendmentForm(self.circle, self.agreement), self.after)

    def action_consent(self) -> None:
        if (a := self.current()) is None:
            return
        amendments = self.services.amendments
        if attempt(self, lambda: self._said(amendments.vote(self.circle, a.id, True))):
            self.reload()

    def _said(self, view: AmendmentView) -> None:
        if view.status == "agreed":
            self.notify("Agreed by everyone: a new version. Please acknowledge it (k).")
        else:
            self.notify("Consent recorded", timeout=2)

    def action_object(self) -> None:
        if (a := self.current()) is not None:
            self.app.push_screen(ObjectionForm(self.circle, a.id), self.after)

    def action_acknowledge(self) -> None:
        me = self.services.ctx.me(self.circle)
        if me is None:
            self.notify("You are not a member of this circle.", severity="warning")
            return
        if me in self.services.meetings.acknowledged(self.circle):
            self.notify("Already acknowledged.", markup=False)
            return
        if attempt(self, lambda: self.services.meetings.acknowledge(self.circle, me)):
            self.notify("Acknowledged", timeout=2)
            self.reload()

    @on(WrappedList.OptionSelected, "#amendments")
    def _selected(self) -> None:
        self.action_consent()


class AmendmentForm(FormScreen[str | None]):
    """A convener proposes new wording for an agreement, and says why."""

    TITLE_TEXT = "Propose an amendment"
    SAVE_LABEL = "Propose"
    FIELD_IDS = {"text": "body"}

    def __init__(self, circle: str, agreement: str) -> None:
        super().__init__()
        self.circle, self.agreement = circle, agreement

    def fields(self) -> ComposeResult:
        hist = self.services.amendments.history(self.circle, self.agreement)
        yield field("Title", Input(safetext.line(hist.title), id="title", compact=True))
        yield field(
            "New wording",
            TextArea(safetext.block(hist.text), id="body", compact=True, soft_wrap=True),
        )
        yield field("Why change it", Input(id="reason", compact=True))
        yield form_error()

    def save(self) -> str | None:
        view = self.services.amendments.propose(
            self.circle,
            self.agreement,
            title=self.text("title"),
            text=self.text("body"),
            reason=self.text("reason"),
        )
        return view.id


class ObjectionForm(FormScreen[str | None]):
    """Object to an amendment: one objection blocks it, so it says what it objects to."""

    TITLE_TEXT = "Object to the amendment"
    SAVE_LABEL = "Object"

    def __init__(self, circle: str, amendment: str) -> None:
        super().__init__()
        self.circle, self.amendment = circle, amendment

    def fields(self) -> ComposeResult:
        view = self.services.amendments.get(self.circle, self.amendment)
        yield Static(
            styled("[b]$title[/b] — $text", title=view.title, text=view.text), id="case-summary"
        )
        yield field("What you object to", Input(id="note", compact=True))
        yield form_error()

    def save(self) -> str | None:
        view = self.services.amendments.vote(
            self.circle, self.amendment, False, note=self.text("note")
        )
        return view.id
