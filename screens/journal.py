"""My private journal: reflections about a circle or about nothing in particular.

They stay on this device: never in the outbox, never synced (the services keep them in
private tables). Entries wrap, newest first; `n` writes one.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Label, Select, Static, TextArea

from screens.forms import FormScreen, field, form_error
from screens.widgets import (
    Footer,
    TopBar,
    WrappedList,
    cell,
    notify_saved,
    services_of,
    styled,
    when_text,
    zone_of,
)

PRIVATE = "Private: kept on this device only, never synced."


class JournalForm(FormScreen[str | None]):
    """Write a journal entry, about one of my circles or none."""

    TITLE_TEXT = "New journal entry"
    AUTO_FOCUS = "#text"
    CSS_PATH = ["forms.tcss", "journal.tcss"]  # type: ignore[assignment]

    def __init__(self, circle: str | None = None) -> None:
        super().__init__()
        self.circle = circle

    def fields(self) -> ComposeResult:
        circles = self.services.overview()
        options = [(cell(c["name"]), c["id"]) for c in circles]
        about = Select(
            options, value=self.circle or Select.NULL, prompt="No circle", compact=True, id="circle"
        )
        yield field("About", about)
        area = TextArea(id="text", compact=True, soft_wrap=True)
        yield field("Reflection", area, f"Ctrl+S saves · {PRIVATE}")
        yield form_error()

    def save(self) -> str | None:
        entry = self.services.reflections.write(self.text("text"), self.text("circle") or None)
        return entry.id


class JournalScreen(Screen[None]):
    """My reflections, newest first, with the circle each is about."""

    CSS_PATH = "journal.tcss"
    BINDINGS = [
        Binding("n", "write", "Write", tooltip="Write a journal entry", id="journal.new"),
        Binding("escape", "app.pop_screen", "Back", tooltip="Back", id="journal.back"),
    ]

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Vertical(id="body"):
            yield Static(PRIVATE, id="private")
            yield Label("Reflections, newest first", classes="section")
            yield WrappedList(id="entries")
            yield Static("Nothing written yet: press n to write.", id="empty")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TopBar).show("Journal", "private reflections")
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def reload(self) -> None:
        services = services_of(self)
        names = {c["id"]: c["name"] for c in services.overview(include_archived=True)}
        zone, now = zone_of(self), services.now()
        entries = services.reflections.journal()[::-1]
        self.query_one("#entries", WrappedList).fill(
            (
                e.id,
                styled(
                    "[b]$when[/b] [$text-muted]$about[/]\n$text",
                    when=when_text(e.at, zone, now=now),
                    about=names.get(e.circle or "", "") if e.circle else "",
                    text=e.text,
                ),
            )
            for e in entries
        )
        self.query_one("#empty").display = not entries
        self.query_one("#entries").display = bool(entries)

    def action_write(self) -> None:
        self.app.push_screen(JournalForm(), notify_saved(self))
