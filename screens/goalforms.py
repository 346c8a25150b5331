"""Forms about goals: set or edit a goal, and the two-keystroke check-in.

The check-in form opens with progress and confidence pre-filled from the last
check-in and the focus on the note, so `c`, a few words and Enter record progress.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Input, Select, Static

from screens.forms import FormScreen, choice, field, form_error, options
from screens.widgets import date_text, literal, styled
from xcircle import safetext
from xcircle.domain import GOAL_STATUSES
from xcircle.errors import InvalidInput

GROUP = "group"  # the owner choice of a group goal (member ids are hex, never this)


class GoalForm(FormScreen[str | None]):
    """Set a goal (individual or the circle's) or edit one; in any circle when none given."""

    ERROR_FIELDS = (
        ("circle", "circle"),
        ("title", "title"),
        ("member", "owner"),
        ("why", "why"),
        ("measure", "measure"),
        ("date", "due"),
        ("status", "status"),
    )

    def __init__(self, circle: str | None = None, goal: str | None = None) -> None:
        super().__init__()
        self.circle, self.goal = circle, goal
        self.TITLE_TEXT = "New goal" if goal is None else "Edit goal"

    def owners(self, circle: str | None) -> list[tuple[str | Content, str]]:
        """Owner choices: me first, then the group, then the other members by name."""
        if circle is None:
            return [("Group goal (the circle)", GROUP)]
        me = self.services.ctx.me(circle)
        items: list[tuple[str | Content, str]] = [("Me", me)] if me else []
        items.append(("Group goal (the circle)", GROUP))
        members = self.services.members.all(circle)
        items += [(literal(m["name"]), m["id"]) for m in members if m["id"] != me]
        return items

    def fields(self) -> ComposeResult:
        svc = self.services
        rec: dict[str, Any] = (
            svc.goals.get(self.circle, self.goal) if self.circle and self.goal else {}
        )
        circle = self.circle
        if circle is None:
            circles = svc.circles.all(include_archived=False)
            circle = circles[0]["id"] if circles else None
            items = [(literal(c["name"]), c["id"]) for c in circles]
            yield field("Circle", choice("circle", items, circle or ""))
        owners = self.owners(circle)
        owner = rec.get("owner", owners[0][1])
        yield field("Goal", Input(safetext.line(rec.get("title", "")), id="title", compact=True))
        yield field("Whose", choice("owner", owners, owner or GROUP))
        yield field(
            "Why it matters", Input(safetext.line(rec.get("why", "")), id="why", compact=True)
        )
        yield field(
            "How we will know",
            Input(safetext.line(rec.get("measure", "")), id="measure", compact=True),
        )
        due = Input(rec.get("due") or "", id="due", compact=True, placeholder="YYYY-MM-DD")
        yield field("Due (optional)", due)
        if self.goal:
            yield field("Status", choice("status", options(GOAL_STATUSES), rec["status"]))
        yield form_error()

    @on(Select.Changed, "#circle")
    def _circle_changed(self, event: Select.Changed) -> None:
        owners = self.owners(str(event.value))
        self.query_one("#owner", Select).set_options(owners)
        self.query_one("#owner", Select).value = owners[0][1]

    def save(self) -> str | None:
        circle = self.circle or self.text("circle")
        if not circle:
            raise InvalidInput("create a circle first: a goal belongs to a circle")
        owner = self.text("owner")
        values: dict[str, Any] = {
            "title": self.text("title"),
            "owner": None if owner == GROUP else owner,
            "why": self.text("why"),
            "measure": self.text("measure"),
            "due": self.text("due"),
        }
        if self.goal is None:
            return str(self.services.goals.add(circle, **values)["id"])
        values["status"] = self.text("status")
        return str(self.services.goals.update(circle, self.goal, **values)["id"])


class CheckinForm(FormScreen[str | None]):
    """Record progress on a goal: pre-filled from the last check-in, focus on the progress
    (what a check-in is for), its value selected so typing replaces it."""

    AUTO_FOCUS = "#progress"
    TITLE_TEXT = "Check in"
    ERROR_FIELDS = (("progress", "progress"), ("confidence", "confidence"), ("note", "note"))

    def __init__(self, circle: str, goal: str) -> None:
        super().__init__()
        self.circle, self.goal = circle, goal

    def fields(self) -> ComposeResult:
        svc = self.services
        goal = svc.goals.get(self.circle, self.goal)
        history = svc.goals.checkins(self.circle, self.goal)
        last = history[-1] if history else {}
        yield Static(styled("[b]$title[/b]", title=goal["title"]), id="goal-title")
        if last:
            summary = styled(
                "[$text-muted]Last: $progress% on $day$note[/]",
                progress=last["progress"],
                day=date_text(last["at"]),
                note=f" · {last['note']}" if last.get("note") else "",
            )
            yield Static(summary, id="last-checkin")
        progress = Input(str(last.get("progress", 0)), id="progress", type="integer", compact=True)
        yield field("Progress (0–100 %)", progress)
        confidence = last.get("confidence")
        conf = Input(
            "" if confidence is None else str(confidence),
            id="confidence",
            type="integer",
            compact=True,
            placeholder="1–5",
        )
        yield field("Confidence (1–5, optional)", conf)
        yield field("Note", Input(id="note", compact=True, placeholder="What moved? Enter saves"))
        yield form_error()

    def save(self) -> str | None:
        record = self.services.goals.checkin(
            self.circle,
            self.goal,
            progress=self.number("progress", "progress") or 0,
            confidence=self.number("confidence", "confidence", optional=True),
            note=self.text("note"),
        )
        return str(record["id"])
