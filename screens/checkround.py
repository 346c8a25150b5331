"""The check-in and check-out rounds: each member in turn, with the round's timer.

Opened from the meeting (`i`, `o`) when the circle has them. What is shown comes from
`services.checkrounds.view()`, read after each key and once a second for the countdown
(derived from the clock), so the round resumes where it was after a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Digits, Input, Static

from screens.forms import FormScreen, field, form_error
from screens.round import clock_text
from screens.widgets import MISSING, Footer, TopBar, attempt, services_of, styled

if TYPE_CHECKING:
    from xcircle.services import Services
    from xcircle.services.checkrounds import CheckRoundState


class CheckRoundScreen(Screen[None]):
    """Run the check-in (`kind` "in") or check-out ("out") round of a meeting."""

    CSS_PATH = "checkround.tcss"
    BINDINGS = [
        Binding("n,space", "next", "Next", tooltip="Next member", id="checkround.next"),
        Binding("p", "pause", "Pause", tooltip="Pause or resume the timer", id="checkround.pause"),
        Binding(
            "enter", "say", "Write down", tooltip="Write down what they said", id="checkround.say"
        ),
        Binding("escape", "leave", "Meeting", tooltip="Back to the meeting", id="checkround.back"),
    ]

    def __init__(self, circle: str, meeting: str, kind: str) -> None:
        super().__init__()
        self.circle, self.meeting, self.kind = circle, meeting, kind
        self.state: CheckRoundState | None = None

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        with Vertical(id="main"):
            with Horizontal(id="head"):
                with Vertical(id="who"):
                    yield Static(id="member")
                    yield Static(id="prompt")
                yield Digits("", id="clock")
            yield Static(id="said")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        checks = self.services.checkrounds
        if not checks.view(self.circle, self.meeting, self.kind).started:
            self.attempt(lambda: checks.start(self.circle, self.meeting, self.kind))
        self.refresh_view()
        self.set_interval(1.0, self.tick)

    def attempt(self, action: Callable[[], Any]) -> None:
        if attempt(self, action):
            self.refresh_view()

    def refresh_view(self) -> None:
        self.state = s = self.services.checkrounds.view(self.circle, self.meeting, self.kind)
        names = self.services.members.names(self.circle)
        where = "complete" if s.done else f"{s.turn + 1} of {len(s.order)}"
        self.query_one(TopBar).show(
            self.services.circles.get(self.circle)["name"], f"{s.title.lower()}: {where}"
        )
        member = (
            Content(f"The {s.title.lower()} is complete ✓")
            if s.done or s.member is None
            else styled("[b]$name[/b] [$text-muted]speaks[/]", name=names.get(s.member, MISSING))
        )
        self.query_one("#member", Static).update(member)
        self.query_one("#prompt", Static).update(styled("[i]$p[/i]", p=s.prompt))
        self.query_one("#said", Static).update(self.said_text(s, names))
        self.show_clock(s)
        self.refresh_bindings()

    def said_text(self, s: CheckRoundState, names: dict[str, str]) -> Content:
        said = {c["member"]: c for c in s.said}
        lines = []
        for i, member in enumerate(s.order):
            name = names.get(member, MISSING)
            mark = "▶" if not s.done and i == s.turn else ("✓" if member in said else " ")
            c = said.get(member)
            if c is None:
                words = ""
            elif self.kind == "in":
                words = f"{c['score']}/10 · {c['sentence']}"
            else:
                words = f"{c['word']} · {c['takeaway']}"
            lines.append(styled("$mark [b]$name[/b]  $words", mark=mark, name=name, words=words))
        return Content("\n").join(lines)

    def tick(self) -> None:
        self.show_clock(self.services.checkrounds.view(self.circle, self.meeting, self.kind))

    def show_clock(self, s: CheckRoundState) -> None:
        clock = self.query_one("#clock", Digits)
        clock.display = s.started and not s.done
        text = clock_text(s.remaining)
        if clock.value != text:
            clock.update(text)
        clock.set_class(s.remaining < 0, "-overtime")
        clock.set_class(s.paused, "-paused")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "leave":
            return True
        s = self.state
        return bool(s and s.started and not s.done)

    def action_next(self) -> None:
        checks = self.services.checkrounds
        self.attempt(lambda: checks.advance(self.circle, self.meeting, self.kind))

    def action_pause(self) -> None:
        checks = self.services.checkrounds
        self.attempt(lambda: checks.toggle_pause(self.circle, self.meeting, self.kind))

    def action_say(self) -> None:
        s = self.state
        if s is None or s.member is None:
            return
        form = CheckSayForm(self.circle, self.meeting, self.kind, s.member)
        self.app.push_screen(form, lambda _: self.refresh_view())

    def action_leave(self) -> None:
        self.dismiss(None)


class CheckSayForm(FormScreen[bool | None]):
    """What one member says: 1-10 and a sentence (check-in), or a word and a take-away."""

    AUTO_FOCUS = "#first"
    FIELD_IDS = {"score": "first", "word": "first", "sentence": "second", "takeaway": "second"}

    def __init__(self, circle: str, meeting: str, kind: str, member: str) -> None:
        super().__init__()
        self.circle, self.meeting, self.kind, self.member = circle, meeting, kind, member
        self.TITLE_TEXT = "Check-in" if kind == "in" else "Check-out"

    def fields(self) -> ComposeResult:
        name = self.services.members.names(self.circle).get(self.member, MISSING)
        yield Static(styled("[b]$name[/b]", name=name), id="for")
        if self.kind == "in":
            yield field("How they arrive (1-10)", Input(id="first", compact=True))
            yield field("A sentence", Input(id="second", compact=True), "Enter saves")
        else:
            yield field("One word", Input(id="first", compact=True))
            yield field("One take-away", Input(id="second", compact=True), "Enter saves")
        yield form_error()

    def save(self) -> bool:
        checks = self.services.checkrounds
        if self.kind == "in":
            score = self.number("first", "the number")
            checks.say(
                self.circle, self.meeting, "in", self.member, score=score,
                sentence=self.text("second"),
            )  # fmt: skip
        else:
            checks.say(
                self.circle, self.meeting, "out", self.member, word=self.text("first"),
                takeaway=self.text("second"),
            )  # fmt: skip
        return True
