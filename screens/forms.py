"""The app's questions: modal forms that validate inline and save in one service call.

Each form calls its use case itself, so an `XCircleError` lands next to the field it is
about and nothing is saved half-way; on success it dismisses with what it saved (an
id, or True). Escape cancels; Enter in a one-line field or Ctrl+S saves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from screens.widgets import Footer, literal, services_of
from xcircle import safetext
from xcircle.domain import DEFAULT_AGREEMENTS, FREQUENCIES, MODES, SENIORITIES
from xcircle.errors import InvalidInput, XCircleError

if TYPE_CHECKING:
    from xcircle.services import Services

T = TypeVar("T")


def field(label: str, widget: Widget, hint: str = "") -> Vertical:
    """A labelled field with room for its inline error; `widget.id` names the field."""
    parts: list[Widget] = [Label(label, classes="label"), widget]
    if hint:
        parts.append(Static(hint, classes="hint", markup=False))
    parts.append(Static("", id=f"error-{widget.id}", classes="error"))
    return Vertical(*parts, classes="field")


def canonical(value: str, known: Sequence[str]) -> str:
    """`value` spelled as the known name it matches but for case and outer spaces."""
    folded = value.strip().casefold()
    return next((k for k in known if k.casefold() == folded), value)


class KnownNameInput(Input):
    """An input that completes from known names (an organization, say): Tab takes the
    suggestion shown before moving on, and a known name typed in another case takes the
    known spelling, so it never becomes a second one."""

    BINDINGS = [
        Binding(
            "tab",
            "accept_and_next",
            "Accept",
            show=False,
            tooltip="Take the suggestion and go to the next field",
            id="form.accept_suggestion",
        ),
    ]

    def __init__(self, value: str, known: Sequence[str], *, id: str) -> None:
        suggester = SuggestFromList(known, case_sensitive=False)
        super().__init__(value, id=id, compact=True, suggester=suggester)
        self.known = list(known)

    def action_accept_and_next(self) -> None:
        self.action_end()
        self.action_cursor_right()  # takes the suggestion when one is shown
        self.value = canonical(self.value, self.known)
        self.screen.focus_next()


def options(values: Sequence[str]) -> list[tuple[str, str]]:
    """Select options from domain words: `in-person` shows as `In person`."""
    return [(v.replace("-", " ").capitalize(), v) for v in values]


def choice(name: str, items: Sequence[tuple[str | Content, str]], value: str) -> Select[str]:
    """A compact, never-blank Select named `name`."""
    return Select(items, value=value, allow_blank=False, compact=True, id=name)


class FormScreen(ModalScreen[T]):
    """A dialog of fields: `fields()` composes them, `save()` performs the use case."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving", id="form.cancel"),
        Binding("ctrl+s", "save", "Save", tooltip="Save and close", id="form.save"),
    ]
    CSS_PATH = "forms.tcss"
    TITLE_TEXT = "Form"
    SAVE_LABEL = "Save"
    CANCEL_LABEL = "Cancel"
    # A service error's `field` -> the id of this form's input for it (when they differ).
    FIELD_IDS: ClassVar[dict[str, str]] = {}

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.TITLE_TEXT, id="form-title")
            with VerticalScroll(id="fields", can_focus=False):
                yield from self.fields()
            with Horizontal(id="buttons"):
                yield Button(self.SAVE_LABEL, variant="primary", id="save", compact=True)
                yield Button(self.CANCEL_LABEL, id="cancel", compact=True)
        yield Footer()

    def fields(self) -> ComposeResult:
        """The form's fields: every form subclass yields its own."""
        raise NotImplementedError

    def on_resize(self, event: events.Resize) -> None:
        """Let the fields scroll so Save and Cancel stay visible on a short terminal."""
        self.query_one("#fields").styles.max_height = max(4, event.size.height - 8)

    def save(self) -> T:
        """Validate and save through the services; raise XCircleError to stay open."""
        raise NotImplementedError

    def text(self, name: str) -> str:
        widget = self.query_one(f"#{name}")
        if isinstance(widget, TextArea):
            return widget.text
        if isinstance(widget, Select):
            return "" if widget.value is Select.NULL else str(widget.value)
        assert isinstance(widget, Input)
        return widget.value

    def number(self, name: str, what: str, *, optional: bool = False) -> int | None:
        raw = self.text(name).strip()
        if not raw and optional:
            return None
        try:
            return int(raw)
        except ValueError:
            raise InvalidInput(f"{what} must be a whole number", field=name) from None

    def fail(self, message: str, field: str = "") -> None:
        """Show `message` under the input of the error's `field` (through `FIELD_IDS`)
        and move the focus there; the message's words never choose the place."""
        name = self.FIELD_IDS.get(field, field)
        # No field, or one not in this form (a fixed owner, say): the form's own line.
        errors = list(self.query(f"#error-{name}")) if name else []
        target = errors[0] if errors else self.query_one("#error-form")
        assert isinstance(target, Static)
        target.update(literal(message))
        target.add_class("-shown")
        if errors:
            self.query_one(f"#{name}").focus()

    def clear_errors(self) -> None:
        for error in self.query(".error"):
            assert isinstance(error, Static)
            error.update("")
            error.remove_class("-shown")

    def action_save(self) -> None:
        self.clear_errors()
        try:
            result = self.save()
        except XCircleError as exc:
            self.fail(str(exc), getattr(exc, "field", ""))
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()


def form_error() -> Static:
    """Where an error that belongs to no single field is shown."""
    return Static("", id="error-form", classes="error")


def parse_agreements(text: str) -> list[tuple[str, str]]:
    """`Title: text` lines (blank lines skipped) into agreements, checked before saving."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        title, _, body = line.partition(":")
        title, body = title.strip(), body.strip()
        if not title:
            raise InvalidInput(
                f"agreement on line {number} needs a title before the colon", field="agreements"
            )
        if len(title) > 120 or len(body) > 1000:
            raise InvalidInput(f"agreement on line {number} is too long", field="agreements")
        out.append((title, body))
    return out


class CircleForm(FormScreen[str | None]):
    """Create a circle (agreements pre-filled, editable) or edit one's settings."""

    def __init__(self, circle: str | None = None) -> None:
        super().__init__()
        self.circle = circle
        self.TITLE_TEXT = "New circle" if circle is None else "Edit circle"

    def fields(self) -> ComposeResult:
        rec: dict[str, Any] = (
            self.services.circles.get(self.circle)
            if self.circle
            else {"frequency": "biweekly", "duration": 90, "mode": "online"}
        )
        yield field("Name", Input(safetext.line(rec.get("name", "")), id="name", compact=True))
        yield field(
            "Purpose", Input(safetext.line(rec.get("purpose", "")), id="purpose", compact=True)
        )
        outcomes = TextArea(
            "\n".join(safetext.line(o) for o in rec.get("outcomes", [])),
            id="outcomes",
            compact=True,
        )
        yield field("Intended outcomes (one per line)", outcomes)
        with Horizontal(classes="row"):
            yield field("Cadence", choice("frequency", options(FREQUENCIES), rec["frequency"]))
            yield field("Minutes", Input(str(rec["duration"]), id="duration", compact=True))
            yield field("Mode", choice("mode", options(MODES), rec["mode"]))
        if self.circle is None:
            text = "\n".join(f"{t}: {b}" for t, b in DEFAULT_AGREEMENTS)
            area = TextArea(text, id="agreements", compact=True, soft_wrap=True)
            yield field("Agreements (Title: text, one per line)", area)
        yield form_error()

    def save(self) -> str | None:
        values: dict[str, Any] = {
            "name": self.text("name"),
            "purpose": self.text("purpose"),
            "outcomes": self.text("outcomes").splitlines(),
            "frequency": self.text("frequency"),
            "duration": self.number("duration", "the duration (minutes)"),
            "mode": self.text("mode"),
        }
        if self.circle is None:
            agreements = parse_agreements(self.text("agreements"))
            return str(self.services.circles.create(agreements=agreements, **values)["id"])
        return str(self.services.circles.update(self.circle, **values)["id"])


class AgreementForm(FormScreen[bool | None]):
    """Add an agreement to a circle, or edit one."""

    FIELD_IDS = {"text": "body"}

    def __init__(self, circle: str, agreement: str | None = None) -> None:
        super().__init__()
        self.circle, self.agreement = circle, agreement
        self.TITLE_TEXT = "New agreement" if agreement is None else "Edit agreement"

    def fields(self) -> ComposeResult:
        rec = {a["id"]: a for a in self.services.circles.agreements(self.circle)}.get(
            self.agreement or "", {}
        )
        yield field("Title", Input(safetext.line(rec.get("title", "")), id="title", compact=True))
        yield field(
            "What we agree", Input(safetext.line(rec.get("text", "")), id="body", compact=True)
        )
        yield form_error()

    def save(self) -> bool:
        self.services.circles.set_agreement(
            self.circle, self.text("title"), self.text("body"), self.agreement
        )
        return True


class MemberForm(FormScreen[str | None]):
    """Add a member to a circle, or edit one (organization suggested from the home)."""

    def __init__(self, circle: str, member: str | None = None) -> None:
        super().__init__()
        self.circle, self.member = circle, member
        self.orgs: list[str] = []
        self.TITLE_TEXT = "Add a member" if member is None else "Edit member"

    def fields(self) -> ComposeResult:
        svc = self.services
        rec: dict[str, Any] = (
            svc.ctx.record(self.circle, "member", self.member, "member") if self.member else {}
        )
        orgs = sorted({m["org"] for c in svc.circles.ids() for m in svc.members.all(c)})
        yield field("Name", Input(safetext.line(rec.get("name", "")), id="name", compact=True))
        self.orgs = orgs
        org = KnownNameInput(safetext.line(rec.get("org", "")), orgs, id="org")
        yield field("Organization", org, "Tab or → takes the suggestion")
        levels = [("Not set", ""), *options(SENIORITIES)]
        yield field("Seniority", choice("seniority", levels, rec.get("seniority") or ""))
        topics = ", ".join(rec.get("topics", []))
        yield field("Topics (comma separated)", Input(topics, id="topics", compact=True))
        yield form_error()

    def save(self) -> str | None:
        name, seniority = self.text("name"), self.text("seniority")
        org = canonical(self.text("org"), self.orgs)
        topics = [t.strip() for t in self.text("topics").split(",")]
        members = self.services.members
        if self.member is None:
            rec = members.add(
                self.circle, name, org=org, seniority=seniority or None, topics=topics
            )
        else:
            rec = members.update(
                self.circle, self.member, name=name, org=org, seniority=seniority, topics=topics
            )
        return str(rec["id"])


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: `y` or Enter confirms, `n` or Escape declines."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", tooltip="Confirm", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", tooltip="Cancel", id="confirm.no"),
    ]
    CSS_PATH = "forms.tcss"

    def __init__(self, question: str | Content, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question = question if isinstance(question, Content) else literal(question)
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            with Horizontal(id="buttons"):
                yield Button(self.yes, variant="warning", id="yes", compact=True)
                yield Button(self.no, id="no", compact=True)
        yield Footer()

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class ProfileForm(FormScreen[bool | None]):
    """Who you are on this device: asked once, on a home without a profile."""

    TITLE_TEXT = "Welcome to xcircle: who are you?"

    def fields(self) -> ComposeResult:
        yield field("Your name", Input(id="name", compact=True))
        yield field("Your organization", Input(id="org", compact=True))
        levels = [("Not set", ""), *options(SENIORITIES)]
        yield field("Seniority", choice("seniority", levels, ""))
        yield form_error()

    def save(self) -> bool:
        seniority = self.text("seniority") or None
        self.services.init_profile(self.text("name"), self.text("org"), seniority=seniority)
        notice = self.services.secrets()["notice"]
        if notice:  # the first run says where secrets are kept (SEC-27)
            self.app.notify(notice, title="Your keys", markup=False, timeout=12)
        return True
