"""Goals: mine across circles (the "goals" area), and one goal with its check-ins.

A check-in is two keystrokes plus text from either screen: `c` opens the check-in form
pre-filled from the last check-in, type the note, Enter saves.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static
from textual.worker import get_current_worker

from screens.follow import Follows
from screens.widgets import (
    MISSING,
    Footer,
    LabelledSparkline,
    Table,
    TopBar,
    bar,
    cell,
    date_text,
    notify_saved,
    services_of,
    styled,
)
from xcircle.errors import XCircleError
from xcircle.merge import Record
from xcircle.services import Services

GOAL_COLUMNS = ("Goal", "Whose", "Progress", "Due", "Status")
ROW_LIMIT = 300  # DataTable measures every row on the event loop (~0.17 ms each)


def whose(goal: Record, names: dict[str, str], me: str | None) -> Text:
    """`Me`, `Group` or the owner's name."""
    owner = goal.get("owner")
    if owner is None:
        return cell("Group", "italic")
    return cell("Me" if owner == me else names.get(owner, MISSING))


def goal_cells(goal: Record, names: dict[str, str], me: str | None) -> tuple[Any, ...]:
    """The cells of one goal row: title, whose, progress bar, due, status."""
    progress = int(goal.get("progress", 0))
    return (
        cell(goal["title"], "" if goal["status"] == "active" else "dim"),
        whose(goal, names, me),
        f"{bar(progress)} {progress:>3}%",
        date_text(goal.get("due")),
        goal["status"],
    )


class GoalsScreen(Follows):
    """My individual goals and my circles' group goals, across every circle."""

    FOLLOWS = frozenset({"goal", "checkin", "member", "circle"})
    CSS_PATH = "goals.tcss"
    AUTO_FOCUS = "#my-goals"
    BINDINGS = [
        Binding(
            "c",
            "checkin",
            "Check in",
            tooltip="Record progress on the highlighted goal",
            id="goals.checkin",
        ),
        Binding(
            "n", "new_goal", "New goal", tooltip="Set a goal in one of your circles", id="goals.new"
        ),
        Binding(
            "h,escape",
            "app.switch_mode('circles')",
            "Circles",
            tooltip="Back to the circles",
            id="goals.circles",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.goals: list[Record] = []
        self.loaded = False

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Vertical(id="body"):
            yield Label("My goals and my circles' group goals", classes="section")
            yield Table(id="my-goals")
            yield Static("", id="empty", classes="empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(Table)
        table.add_columns(GOAL_COLUMNS[0], "Circle", *GOAL_COLUMNS[1:])
        self.query_one(TopBar).show("My goals", "across all my circles")
        self.reload()

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.reload()

    def refresh_data(self) -> None:
        if self.loaded:
            self.reload()

    @work(thread=True, exclusive=True, group="goals")
    def reload(self) -> None:
        """Read my goals again in a thread; `show` fills the table from them."""
        worker = get_current_worker()
        svc = self.services
        goals = svc.goals.mine()
        circles = {c["id"]: c for c in svc.circles.all()}
        names = {cid: svc.members.names(cid) for cid in {g["circle"] for g in goals}}
        mine = {cid: svc.ctx.me(cid) for cid in names}
        active = [g for g in goals if not circles[g["circle"]].get("archived")]
        active.sort(key=lambda g: (g["status"] != "active", g.get("due") or "9999", g["title"]))
        rows = []
        for g in active[:ROW_LIMIT]:
            cells = goal_cells(g, names[g["circle"]], mine[g["circle"]])
            rows.append(
                (
                    f"{g['circle']}/{g['id']}",
                    (cells[0], cell(circles[g["circle"]]["name"]), *cells[1:]),
                )
            )
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show, active, rows)

    def show(self, goals: list[Record], rows: list[tuple[str, tuple[Any, ...]]]) -> None:
        if not self.showing:  # a read that finished after the screen began to close
            return
        self.goals, self.loaded = goals, True
        self.query_one(Table).fill(rows)
        empty = self.query_one("#empty", Static)
        empty.display = not rows or len(goals) > len(rows)
        if rows:
            empty.update(f"Showing {len(rows)} of {len(goals)} goals, active and due first.")
        else:
            empty.update("No goals yet: press n to set one.")

    def current(self) -> tuple[str, str] | None:
        key = self.query_one(Table).current_key
        if not key:
            return None
        circle, goal = key.split("/")
        return circle, goal

    def action_checkin(self) -> None:
        from screens.goalforms import CheckinForm

        if current := self.current():
            self.app.push_screen(CheckinForm(*current), notify_saved(self))

    def action_new_goal(self) -> None:
        from screens.goalforms import GoalForm

        if not self.services.circles.ids(include_archived=False):
            self.notify("A goal belongs to a circle: create a circle first.", severity="warning")
            return
        self.app.push_screen(GoalForm(), notify_saved(self))

    @on(Table.RowSelected)
    def _open(self, event: Table.RowSelected) -> None:
        circle, goal = str(event.row_key.value).split("/")
        self.app.push_screen(GoalDetailScreen(circle, goal))


class GoalDetailScreen(Follows):
    """One goal: why, how we will know, its progress over time and every check-in."""

    FOLLOWS = frozenset({"goal", "checkin", "member", "circle"})
    CSS_PATH = "goals.tcss"
    AUTO_FOCUS = "#checkins"
    BINDINGS = [
        Binding(
            "c", "checkin", "Check in", tooltip="Record progress on this goal", id="goal.checkin"
        ),
        Binding(
            "e", "edit", "Edit goal", tooltip="Edit title, owner, due date, status", id="goal.edit"
        ),
        Binding("escape", "app.pop_screen", "Back", tooltip="Back", id="goal.back"),
    ]

    def __init__(self, circle: str, goal: str) -> None:
        super().__init__()
        self.circle, self.goal = circle, goal

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Vertical(id="body"):
            yield Static(id="about")
            yield LabelledSparkline("Progress", scale=(0, 100), unit="%", id="progress")
            yield LabelledSparkline("Confidence", scale=(1, 5), unit="/5", id="confidence")
            yield Label("Check-ins, newest first", classes="section")
            yield Table(id="checkins")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(Table).add_columns("When", "Progress", "Confidence", "By", "Note")

    def on_screen_resume(self) -> None:
        self.reload()

    def refresh_data(self) -> None:
        self.reload()

    @work(thread=True, exclusive=True, group="goal")
    def reload(self) -> None:
        worker = get_current_worker()
        svc = self.services
        try:
            goal = svc.goals.get(self.circle, self.goal)
            history = svc.goals.checkins(self.circle, self.goal)
            circle = svc.circles.get(self.circle)
            names = svc.members.names(self.circle)
            me = svc.ctx.me(self.circle)
        except XCircleError as exc:  # gone meanwhile (its circle forgotten on this device)
            if not worker.is_cancelled:
                self.app.call_from_thread(self.gone, str(exc))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show, goal, history, circle, names, me)

    def gone(self, reason: str) -> None:
        if not self.showing:  # a read that finished after the screen began to close
            return
        self.notify(reason, severity="warning", markup=False)
        if self.is_current:
            self.dismiss()

    def show(
        self,
        goal: Record,
        history: list[Record],
        circle: Record,
        names: dict[str, str],
        me: str | None,
    ) -> None:
        if not self.showing:  # a read that finished after the screen began to close
            return
        progress = history[-1]["progress"] if history else 0
        self.query_one(TopBar).show(goal["title"], f"{circle['name']} · {goal['status']}")
        self.query_one("#about", Static).update(
            styled(
                "[b]Whose[/b] $whose   [b]Due[/b] $due   [b]Progress[/b] $progress%\n"
                "[b]Why[/b] $why\n[b]How we will know[/b] $measure",
                whose=whose(goal, names, me).plain,
                due=date_text(goal.get("due")),
                progress=progress,
                why=goal.get("why") or MISSING,
                measure=goal.get("measure") or MISSING,
            )
        )
        self.query_one("#progress", LabelledSparkline).set_data([c["progress"] for c in history])
        confidence = [c["confidence"] for c in history if c.get("confidence") is not None]
        self.query_one("#confidence", LabelledSparkline).set_data(confidence)
        self.query_one(Table).fill(
            (
                c["id"],
                (
                    date_text(c["at"]),
                    f"{c['progress']}%",
                    MISSING if c.get("confidence") is None else f"{c['confidence']}/5",
                    cell(names.get(c.get("member") or "", MISSING)),
                    cell(c.get("note") or ""),
                ),
            )
            for c in history[::-1][:ROW_LIMIT]
        )

    def action_checkin(self) -> None:
        from screens.goalforms import CheckinForm

        self.app.push_screen(CheckinForm(self.circle, self.goal), notify_saved(self))

    def action_edit(self) -> None:
        from screens.goalforms import GoalForm

        self.app.push_screen(GoalForm(self.circle, self.goal), notify_saved(self))
