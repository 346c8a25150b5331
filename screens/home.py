"""The circles area (home): my circles at a glance and my commitments due soon.

Each row shows the next meeting in my zone, the members' organizations, open goals
and my open commitments. Circles are created, edited and archived from here; archived
ones stay hidden until shown with `v`. Data loads in a thread so the UI never waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static
from textual.worker import get_current_worker

from screens.follow import Follows, removed_from
from screens.widgets import (
    MISSING,
    Footer,
    Table,
    TopBar,
    attempt,
    cell,
    date_text,
    notify_saved,
    services_of,
    styled,
    sync_of,
    when_text,
)
from xcircle.merge import Record
from xcircle.services import Services
from xcircle.services.views import DueCommitment


@dataclass
class HomeData:
    """What the home shows, read in a worker thread in one go."""

    circles: list[Record] = field(default_factory=list)
    due: list[DueCommitment] = field(default_factory=list)
    profile: Record | None = None


def read_home(services: Services, *, include_archived: bool) -> HomeData:
    """Everything the home screen shows (called off the event loop)."""
    return HomeData(
        circles=services.overview(include_archived=include_archived),
        due=services.commitments.due_soon(),
        profile=services.profile(),
    )


def due_cell(commitment: DueCommitment) -> Text:
    """The due date, saying "overdue" (in bold) once it has passed."""
    shown = date_text(commitment.due)
    return cell(f"{shown} · overdue", "bold") if commitment.overdue else cell(shown)


class HomeScreen(Follows):
    """My circles, their next meetings, and what I committed to."""

    CSS_PATH = "home.tcss"
    AUTO_FOCUS = "#circles"
    BINDINGS = [
        Binding("n", "new_circle", "New circle", tooltip="Create a circle", id="home.new"),
        Binding("e", "edit_circle", "Edit", tooltip="Edit the highlighted circle", id="home.edit"),
        Binding(
            "a",
            "archive",
            "Archive",
            tooltip="Archive (or restore) the highlighted circle",
            id="home.archive",
        ),
        Binding(
            "v",
            "toggle_archived",
            "Archived",
            tooltip="Show or hide archived circles",
            id="home.show_archived",
        ),
        Binding(
            "j",
            "journal",
            "Journal",
            tooltip="My private reflections (never synced)",
            id="home.journal",
        ),
        Binding(
            "g",
            "app.switch_mode('goals')",
            "My goals",
            tooltip="My goals across all circles",
            id="home.goals",
        ),
        Binding(
            "P",
            "programmes",
            "Programmes",
            tooltip="Edit a programme's staged circles before publishing",
            id="home.programmes",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.show_archived = False
        self.data = HomeData()
        self.loaded = False
        self.removed_circles: set[str] = set()

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        if (controller := sync_of(self)) is not None:
            yield controller
        yield TopBar(id="topbar")
        with Vertical(id="body"):
            yield Label("Circles", classes="section")
            yield Table(id="circles")
            yield Static("", id="empty", classes="empty")
            yield Label("My commitments due soon", classes="section")
            yield Table(id="due")
        yield Footer()

    def on_mount(self) -> None:
        circles = self.query_one("#circles", Table)
        circles.add_columns(
            "Circle", "Next meeting", "Members", "Organizations", "Open goals", "My open"
        )
        self.query_one("#due", Table).add_columns("Due", "Commitment", "Circle")
        if self.services.profile() is None:
            from screens.forms import ProfileForm

            self.app.push_screen(ProfileForm())
        self.reload()

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.reload()

    def reload(self) -> None:
        self.load(self.show_archived)

    def refresh_data(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="home")
    def load(self, include_archived: bool) -> None:
        worker = get_current_worker()
        data = read_home(self.services, include_archived=include_archived)
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show, data)

    def show(self, data: HomeData) -> None:
        """Fill the tables from `data` (user text kept literal)."""
        if not self.showing:  # a read that finished after the screen began to close
            return
        self.data = data
        profile = data.profile or {}
        zone = str(profile.get("tz") or "")
        who = f"{profile.get('name', '')} · {profile.get('org', '')}" if profile else ""
        shown = "all circles" if self.show_archived else "active circles"
        self.query_one(TopBar).show("xcircle", f"{who}  ({shown})")
        names = {c["id"]: c["name"] for c in data.circles}
        store = self.services.store
        self.removed_circles = {c["id"] for c in data.circles if removed_from(store, c["id"])}
        self.query_one("#circles", Table).fill(
            (
                c["id"],
                self.circle_row(c, zone, self.services.now(), c["id"] in self.removed_circles),
            )
            for c in data.circles
        )
        self.refresh_bindings()
        self.query_one("#due", Table).fill(
            (f"{c.circle}/{c.id}", (due_cell(c), cell(c.text), cell(names[c.circle])))
            for c in data.due
            if c.circle in names
        )
        empty = self.query_one("#empty", Static)
        empty.display = not data.circles
        empty.update("No circles yet: press n to create one, or run `xcircle demo` to explore.")
        if not self.loaded:
            self.loaded = True
            self.call_after_refresh(self.app.mark_ready)  # type: ignore[attr-defined]

    @staticmethod
    def circle_row(
        circle: Record, zone: str, now: datetime, removed: bool = False
    ) -> tuple[Any, ...]:
        nxt = circle.get("next_meeting")
        name = cell(circle["name"])
        if circle.get("archived"):
            name.append(" (archived)", style="dim italic")
        if removed:
            name.append(" (removed: read-only)", style="dim italic")
        return (
            name,
            when_text(nxt["at"], zone, now=now) if nxt else MISSING,
            circle["members"],
            cell(", ".join(circle["organizations"]) or MISSING),
            circle["open_goals"],
            circle["my_open_commitments"] or MISSING,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A circle this device was removed from offers no edit (it would reach nobody)."""
        if action in ("edit_circle", "archive") and self.removed_circles:
            tables = self.query("#circles").results(Table)
            table = next(tables, None)
            return table is None or table.current_key not in self.removed_circles
        return True

    @on(Table.RowHighlighted, "#circles")
    def _highlighted(self) -> None:
        self.refresh_bindings()  # the keys follow the highlighted circle

    def current(self) -> Record | None:
        key = self.query_one("#circles", Table).current_key
        return next((c for c in self.data.circles if c["id"] == key), None)

    @on(Table.RowSelected, "#circles")
    def _open_circle(self, event: Table.RowSelected) -> None:
        if event.row_key.value:
            self.open_circle(str(event.row_key.value))

    @on(Table.RowSelected, "#due")
    def _open_due(self, event: Table.RowSelected) -> None:
        if event.row_key.value:
            self.open_circle(str(event.row_key.value).split("/")[0], tab="meetings")

    def open_circle(self, circle: str, tab: str = "overview") -> None:
        from screens.circle import CircleScreen

        self.app.push_screen(CircleScreen(circle, tab=tab))

    def action_new_circle(self) -> None:
        from screens.forms import CircleForm

        self.app.push_screen(CircleForm(), notify_saved(self))

    def action_edit_circle(self) -> None:
        from screens.forms import CircleForm

        if circle := self.current():
            self.app.push_screen(CircleForm(circle["id"]), notify_saved(self))

    def action_archive(self) -> None:
        from screens.forms import ConfirmScreen

        circle = self.current()
        if circle is None:
            return
        cid = circle["id"]
        circles = self.services.circles
        if circle.get("archived"):
            if attempt(self, lambda: circles.archive(cid, False)):
                self.notify("Circle restored", timeout=2)
            self.reload()
            return
        question = styled(
            "Archive [b]$name[/b]?\n\nIt is hidden from this list until you show archived "
            "circles with [b]v[/b]; nothing is deleted.",
            name=circle["name"],
        )

        def answer(yes: bool | None) -> None:
            if yes and attempt(self, lambda: circles.archive(cid, True)):
                self.notify("Circle archived", timeout=2)
            self.reload()

        self.app.push_screen(ConfirmScreen(question, yes="Archive"), answer)

    def action_programmes(self) -> None:
        from screens.programme import open_programme

        open_programme(self.app)

    def action_journal(self) -> None:
        from screens.journal import JournalScreen

        self.app.push_screen(JournalScreen())

    def action_toggle_archived(self) -> None:
        self.show_archived = not self.show_archived
        self.reload()
