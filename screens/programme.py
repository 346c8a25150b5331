"""A programme's staged circles, side by side, to edit before publishing.

One column per staged circle in a horizontal row that scrolls (the participants forming
could not place come first, each with why): its members with organization and
seniority, its score, weekly slot and reasons, and the hard rules a manual move broke,
in the warning colour. The arrows select a person; `shift+←/→` moves them to the
circle beside, `space` picks them up and `space` again drops them in the circle the
cursor is on (into the first column: out of every circle). `l` locks or unlocks a
circle, `r` re-forms every unlocked circle (after asking). Each change is one service
call, run in a worker (a re-form of hundreds of people takes a while, and every call
writes the programme's file); the columns it touched are drawn again from the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import HorizontalScroll, Vertical
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from screens.forms import ConfirmScreen
from screens.widgets import Footer, TopBar, literal, services_of, styled
from xcircle.errors import XCircleError

if TYPE_CHECKING:
    from collections.abc import Callable

    from xcircle.programmes.model import Participant, Programme, StagedCircle
    from xcircle.services import Services

WINDOW = 12  # columns mounted at most; the cursor moves the window along the circles
UNPLACED = "-"  # the first column's key, and the service's word for "out of every circle"


@dataclass(frozen=True)
class Cursor:
    """Where the selection is: a column (0 = unplaced) and a row in it."""

    column: int = 0
    row: int = 0


def person_line(person: Participant | None, pid: str) -> str:
    if person is None:
        return pid
    detail = " · ".join(x for x in (person.organization, person.seniority) if x)
    return f"{person.name}  ({detail})" if detail else person.name


class CircleColumn(Widget):
    """One staged circle (or the unplaced participants) as a column of text."""

    def __init__(self, index: int) -> None:
        super().__init__(id=f"col-{index}")
        self.body: Content = Content("")

    drawn: object = None  # what the text was drawn from (unchanged: not drawn again)

    def show(self, body: Content, *, current: bool, locked: bool, broken: bool) -> None:
        self.body = body
        self.set_class(current, "-current")
        self.set_class(locked, "-locked")
        self.set_class(broken, "-broken")
        self.refresh(layout=True)

    def render(self) -> Content:
        return self.body


def circle_body(
    c: StagedCircle, programme: Programme, row: int | None, held: str | None
) -> Content:
    """A staged circle's column: header, members (the selected one marked), then its
    broken rules (warning) and its reasons."""
    people = programme.participants
    lines = [
        styled(
            "[b]$id[/b]"
            + ("  [$text-primary]■ locked[/]" if c.locked else "")
            + ("  [$text-success]published[/]" if c.id in programme.published else ""),
            id=c.id,
        ),
        styled(
            "[$text-muted]score[/] [b]$score[/b] · $n members",
            score=f"{c.score:.2f}",
            n=len(c.members),
        ),
        styled("[$text-muted]$slot[/]", slot=c.slot or "no shared weekly slot"),
        Content(""),
    ]
    for i, pid in enumerate(c.members):
        lines.append(member_line(people.get(pid), pid, i == row, pid == held))
    if not c.members:
        lines.append(styled("[$text-muted]nobody yet[/]"))
    lines.append(Content(""))
    for v in c.violations:
        lines.append(styled("[$text-warning]⚠ $v[/]", v=v))
    for r in c.reasons:
        lines.append(styled("[$text-muted]$r[/]", r=r))
    return Content("\n").join(lines)


def member_line(person: Participant | None, pid: str, selected: bool, held: bool) -> Content:
    mark = "▶ " if selected else "  "
    style = "reverse" if selected else ""
    text = literal(person_line(person, pid))
    if held:
        text = styled("[b $text-accent]$who[/] (moving)", who=person_line(person, pid))
    line = Content(mark) + text
    return line.stylize(style) if style else line


def unplaced_body(programme: Programme, row: int | None, held: str | None) -> Content:
    """The first column: who forming could not place, each with why."""
    people = programme.participants
    lines = [
        styled("[b]Unplaced[/b] · $n", n=len(programme.unplaced)),
        styled("[$text-muted]drop someone here to take them out[/]"),
        Content(""),
    ]
    for i, u in enumerate(programme.unplaced):
        lines.append(member_line(people.get(u.participant), u.participant, i == row, False))
        lines.append(styled("[$text-muted i]$why[/]", why=u.reason))
    if not programme.unplaced:
        lines.append(styled("[$text-muted]Everyone is placed.[/]"))
    return Content("\n").join(lines)


def programme_key(
    keys: str, action: str, description: str, tooltip: str, name: str = "", show: bool = True
) -> Binding:
    """A programme-screen binding with its id (`programme.<name>`, for the keymap)."""
    name = name or action
    return Binding(keys, action, description, show=show, tooltip=tooltip, id=f"programme.{name}")


class ProgrammeScreen(Screen[None]):
    """Edit a programme's staged circles before publishing them."""

    CSS_PATH = "programme.tcss"
    BINDINGS: ClassVar = [
        programme_key("escape", "leave", "Back", "Back (a person picked up is put down)"),
        programme_key("left", "column(-1)", "Circle ←", "The circle to the left", "left", False),
        programme_key("right", "column(1)", "Circle →", "The circle to the right", "right", False),
        programme_key("up", "row(-1)", "Up", "The person above", "up", False),
        programme_key("down", "row(1)", "Down", "The person below", "down", False),
        programme_key("space", "grab", "Pick up", "Pick up the person, to drop them elsewhere"),
        programme_key("space", "drop", "Drop here", "Drop the person picked up in this circle"),
        programme_key("l", "lock", "Lock", "Lock or unlock this circle (re-forming keeps it)"),
        programme_key("r", "reform", "Re-form", "Form every unlocked circle again (asks)"),
        programme_key(
            "shift+left", "move(-1)", "Move ←", "Move the person to the circle left", "move_left"
        ),
        programme_key(
            "shift+right", "move(1)", "Move →", "Move the person to the circle right", "move_right"
        ),
    ]

    def __init__(self, programme: str) -> None:
        super().__init__()
        self.ref = programme
        self.programme: Programme | None = None
        self.cursor = Cursor()
        self.held: str | None = None  # a participant picked up to move
        self.busy = False
        self.follow: str | None = None  # the person the cursor goes with after a move
        self.seed = 0
        self.first = 0  # the first column of the window, in `keys()`

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        yield TopBar()
        row = HorizontalScroll(id="columns")
        row.can_focus = False  # the screen's keys move the selection
        yield row
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TopBar).show("Programme", "loading…")
        self.change(lambda svc: svc.programmes.get(self.ref))

    # -- reading and writing, off the event loop ------------------------------------------

    def change(self, call: Callable[[Services], Programme], done: str = "") -> None:
        """Run one service call in a worker; show the programme it returns."""
        self.busy = True
        self.refresh_bindings()
        self.run_call(call, done)

    @work(thread=True, exclusive=True, group="programme", exit_on_error=False)
    def run_call(self, call: Callable[[Services], Programme], done: str) -> None:
        worker = get_current_worker()
        try:
            programme = call(self.services)
        except XCircleError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self.failed, str(exc))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show_soon, programme, done)

    def failed(self, message: str) -> None:
        self.busy, self.follow = False, None
        self.notify(message, severity="error", markup=False)
        self.refresh_bindings()
        if self.programme is None and self.is_current:
            self.dismiss()

    def show_soon(self, programme: Programme, done: str) -> None:
        self.run_worker(self.show(programme, done), group="programme-show")

    async def show(self, programme: Programme, done: str = "") -> None:
        """Draw `programme`: a column per staged circle (built when the set changes)."""
        if not self.is_attached:
            return
        self.programme = programme
        self.busy = False
        # A window of columns, by place: a re-form of as many circles keeps them, and a
        # programme of a thousand circles mounts no more than this (layout is per widget).
        wanted = min(WINDOW, len(self.keys()))
        row = self.query_one("#columns", HorizontalScroll)
        if len(row.children) != wanted:
            await row.remove_children()
            await row.mount_all(CircleColumn(i) for i in range(wanted))
        self.cursor = self.where(self.follow) or self.clamped(self.cursor)
        self.follow = None
        self.draw()
        if done:
            self.notify(done, timeout=2, markup=False)

    def keys(self) -> list[str]:
        staged = self.programme.staged if self.programme else ()
        return [UNPLACED, *(c.id for c in staged)]

    def items(self, column: int) -> list[str]:
        """The participant ids listed in `column`."""
        if self.programme is None:
            return []
        if column == 0:
            return [u.participant for u in self.programme.unplaced]
        return list(self.programme.staged[column - 1].members)

    def where(self, person: str | None) -> Cursor | None:
        """The place of `person` in the columns, if they are in one."""
        for column in range(len(self.keys()) if person else 0):
            if person in (items := self.items(column)):
                return Cursor(column, items.index(person))
        return None

    def clamped(self, cursor: Cursor) -> Cursor:
        column = max(0, min(cursor.column, len(self.keys()) - 1))
        row = max(0, min(cursor.row, len(self.items(column)) - 1))
        return Cursor(column, row)

    def draw(self) -> None:
        """Every column's text, the header, and the selected column in view."""
        p = self.programme
        if p is None:
            return
        # Only the columns whose data, cursor or held person changed are drawn again: a
        # move touches two of hundreds, a step of the cursor one or two.
        columns = list(self.query(CircleColumn))
        self.first = max(
            min(self.first, self.cursor.column), self.cursor.column - len(columns) + 1, 0
        )
        for slot, column in enumerate(columns):
            i = self.first + slot
            current = i == self.cursor.column
            row = self.cursor.row if current else None
            held = self.held if self.held in self.items(i) else None
            if i == 0:
                key: object = (p.unplaced, row, held, current)
                if column.drawn != key:
                    column.drawn = key
                    body = unplaced_body(p, row, held)
                    column.show(body, current=current, locked=False, broken=False)
                continue
            c = p.staged[i - 1]
            key = (c, row, held, current, c.id in p.published)
            if column.drawn != key:
                column.drawn = key
                column.show(
                    circle_body(c, p, row, held),
                    current=current,
                    locked=c.locked,
                    broken=bool(c.violations),
                )
        broken = sum(1 for c in p.staged if c.violations)
        moving = p.participants.get(self.held or "")
        detail = (
            f"{len(p.participants)} participants · {len(p.staged)} circles · "
            f"{len(p.unplaced)} unplaced"
            + (f" · {broken} breaking a rule" if broken else "")
            + (f" · moving {moving.name}" if moving else "")
        )
        if len(columns) < len(self.keys()):
            last = min(self.first + len(columns) - 1, len(p.staged))
            detail += f" · showing circles {max(self.first, 1)}–{last}"
        self.query_one(TopBar).show(p.name, detail)
        column = columns[self.cursor.column - self.first]
        self.query_one("#columns", HorizontalScroll).scroll_to_widget(column, animate=False)
        self.refresh_bindings()

    # -- actions --------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("move", "grab", "drop", "lock", "reform"):
            if self.busy or self.programme is None:
                return False
            if action in ("grab", "drop"):  # one key: picks up, or drops what it holds
                holding = self.held is not None
                return holding if action == "drop" else not holding and bool(self.selected())
            if action == "lock":
                return self.cursor.column > 0
            if action == "move":
                return self.selected() is not None
        return True

    def selected(self) -> str | None:
        items = self.items(self.cursor.column)
        return items[self.cursor.row] if 0 <= self.cursor.row < len(items) else None

    def action_leave(self) -> None:
        if self.held is not None:
            self.held = None
            self.draw()
        else:
            self.dismiss()

    def action_column(self, delta: int) -> None:
        self.cursor = self.clamped(Cursor(self.cursor.column + delta, self.cursor.row))
        self.draw()

    def action_row(self, delta: int) -> None:
        self.cursor = self.clamped(Cursor(self.cursor.column, self.cursor.row + delta))
        self.draw()

    def action_move(self, delta: int) -> None:
        person = self.selected()
        target = self.cursor.column + delta
        if person is None or not 0 <= target < len(self.keys()):
            return
        self.move(person, target)

    def action_grab(self) -> None:
        self.held = self.selected()
        self.draw()

    def action_drop(self) -> None:
        if self.held is None:
            return
        person, self.held = self.held, None
        if person in self.items(self.cursor.column):  # dropped where it was
            self.draw()
            return
        self.move(person, self.cursor.column)

    def move(self, person: str, column: int) -> None:
        ref, to = self.programme_id, self.keys()[column]
        self.follow = person  # the cursor goes with them
        self.change(lambda svc: svc.programmes.move(ref, person, to))

    @property
    def programme_id(self) -> str:
        return self.programme.id if self.programme else self.ref

    def action_lock(self) -> None:
        if self.programme is None or self.cursor.column == 0:
            return
        c = self.programme.staged[self.cursor.column - 1]
        ref = self.programme_id
        done = f"{c.id} {'unlocked' if c.locked else 'locked'}"
        self.change(lambda svc: svc.programmes.lock(ref, c.id, not c.locked), done)

    def action_reform(self) -> None:
        p = self.programme
        if p is None:
            return
        locked = sum(1 for c in p.staged if c.locked)
        question = styled(
            "Form every unlocked circle again?\n\nThe $locked locked circles stay as they "
            "are; the moves made in the others are lost.",
            locked=locked,
        )

        def answer(yes: bool | None) -> None:
            if yes:
                self.seed += 1
                ref, seed = self.programme_id, self.seed
                self.held = None
                self.change(lambda svc: svc.programmes.reform(ref, seed), "Re-formed")

        self.app.push_screen(ConfirmScreen(question, yes="Re-form"), answer)


class ProgrammeChooser(ModalScreen[str | None]):
    """Which programme to edit, when this device has several; Escape cancels."""

    CSS_PATH = "programme.tcss"
    BINDINGS: ClassVar = [
        Binding(
            "escape", "cancel", "Cancel", tooltip="Close without choosing", id="chooser.cancel"
        ),
    ]

    def __init__(self, programmes: list[Programme]) -> None:
        super().__init__()
        self.programmes = programmes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Edit which programme?", id="chooser-title")
            yield OptionList(
                *(
                    Option(
                        literal(
                            f"{p.name}  ({len(p.participants)} participants, "
                            f"{len(p.staged)} circles)"
                        ),
                        id=p.id,
                    )
                    for p in self.programmes
                ),
                id="programme-list",
                compact=True,
            )
        yield Footer()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


def open_programme(app: App[object]) -> None:
    """Edit this device's programme (asking which when there are several)."""
    found = services_of(app).programmes.list()
    if not found:
        app.notify(
            "No programme yet: xcircle programme create NAME, then import and form it.",
            markup=False,
        )
        return

    def chosen(programme: str | None) -> None:
        if programme:
            app.push_screen(ProgrammeScreen(programme))

    if len(found) == 1:
        chosen(found[0].id)
    else:
        app.push_screen(ProgrammeChooser(found), chosen)
