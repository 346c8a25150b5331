"""After a meeting closes: a plus/delta on the process, plan the next one from the
circle's cadence, export the minutes. A modal with one key per offer; Escape (or Done)
leaves it.

The minutes are written in a thread to the exports folder (0600), as Markdown: who was
there, who presented, the commitments, the pulse aggregate; feedback only when the
circle's agreements allow it (the services decide).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Button, Static, TextArea

from screens.forms import ConfirmScreen, FormScreen, field, form_error
from screens.widgets import Footer, attempt, services_of, styled, when_text, zone_of
from xcircle.errors import XCircleError

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel


def export_minutes(app: App[object], circle: str, meeting: str) -> None:
    """Write the meeting's minutes (Markdown, 0600) in a thread, then say where."""
    from screens.commands import export_dir

    services = services_of(app)

    def work() -> None:
        from xcircle.export import write_private
        from xcircle.export_minutes import render_minutes

        try:
            minutes = services.minutes(circle, meeting)
            data = render_minutes(minutes, "markdown", generated=services.now())
            slug = re.sub(r"[^a-z0-9]+", "-", minutes.circle_name.lower()).strip("-")
            folder = export_dir(services)
            path = folder / f"{slug or 'circle'}-minutes-{minutes.at[:10]}.md"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_private(path, data)
        except OSError as exc:
            say(f"cannot write the minutes: {exc.strerror}", "Export failed", "error")
        except XCircleError as exc:
            say(str(exc), "Export failed", "error")
        else:
            say(f"Minutes written to {path}", "Minutes", "information")

    def say(message: str, title: str, severity: SeverityLevel) -> None:
        app.call_from_thread(app.notify, message, title=title, severity=severity, markup=False)

    app.run_worker(work, thread=True, group="export", exit_on_error=False)


class AfterCloseScreen(ConfirmScreen, inherit_bindings=False):
    """The meeting is closed: offer to plan the next one and to export the minutes
    (styled as the confirm dialog; it answers False when left)."""

    BINDINGS = [
        Binding(
            "f",
            "plusdelta",
            "Plus/delta",
            tooltip="What worked, what to change in how we met",
            id="after.plusdelta",
        ),
        Binding("p", "plan_next", "Plan next", tooltip="Plan the next meeting", id="after.plan"),
        Binding("m", "minutes", "Minutes", tooltip="Export the minutes", id="after.minutes"),
        Binding("escape,d", "done", "Done", tooltip="Back to the meeting", id="after.done"),
    ]

    def __init__(self, circle: str, meeting: str) -> None:
        super().__init__("")
        self.circle, self.meeting = circle, meeting
        self.planned: str | None = None

    def compose(self) -> ComposeResult:
        services = services_of(self)
        frequency = services.circles.get(self.circle)["frequency"]
        try:
            at = services.meetings.next_date(self.circle, self.meeting)
            when = when_text(at.isoformat(), zone_of(self), now=services.now())
        except XCircleError as exc:  # a peer's meeting in a zone this device does not know
            when = f"unknown ({exc})"
        with Vertical(id="dialog"):
            yield Static(
                styled(
                    "[b]Meeting closed.[/b] Thank you for facilitating.\n\n"
                    "Next by the circle's cadence ($frequency): [b]$when[/b]",
                    frequency=frequency,
                    when=when,
                ),
                id="question",
            )
            yield Static(self.plusdelta_text(), id="plusdelta")
            with Horizontal(id="buttons"):
                yield Button("Plan it (p)", variant="primary", id="plan", compact=True)
                yield Button("Minutes (m)", id="minutes", compact=True)
                yield Button("Done", id="done", compact=True)
        yield Footer()

    def plusdelta_text(self) -> Content:
        pd = services_of(self).plusdelta.of(self.circle, self.meeting)
        if not pd.plus and not pd.delta:
            return styled("[$text-muted]Plus/delta (f): what worked, what to change?[/]")
        lines = [styled("[$success]+[/] $t", t=i.text) for i in pd.plus]
        lines += [styled("[$warning]Δ[/] $t", t=i.text) for i in pd.delta]
        return Content("\n").join(lines)

    def action_plusdelta(self) -> None:
        def after(result: object) -> None:
            if result:
                self.query_one("#plusdelta", Static).update(self.plusdelta_text())

        self.app.push_screen(PlusDeltaForm(self.circle, self.meeting), after)

    def action_plan_next(self) -> None:
        if self.planned:
            self.notify("Already planned.", markup=False)
            return
        meetings = services_of(self).meetings
        if attempt(self, lambda: self._plan(meetings.plan_next(self.circle, self.meeting))):
            at = when_text(self.planned, zone_of(self), year=True)
            self.notify(f"Next meeting planned: {at}", timeout=4, markup=False)
            self.query_one("#plan", Button).disabled = True

    def _plan(self, record: dict[str, object]) -> None:
        self.planned = str(record["at"])

    def action_minutes(self) -> None:
        export_minutes(self.app, self.circle, self.meeting)

    def action_done(self) -> None:
        self.dismiss(bool(self.planned))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        {
            "plan": self.action_plan_next,
            "minutes": self.action_minutes,
        }.get(event.button.id or "", self.action_done)()


class PlusDeltaForm(FormScreen[bool | None]):
    """The meeting's plus/delta on its process: one item per line."""

    TITLE_TEXT = "Plus/delta"

    def __init__(self, circle: str, meeting: str) -> None:
        super().__init__()
        self.circle, self.meeting = circle, meeting

    def fields(self) -> ComposeResult:
        yield field("Plus: what worked (one per line)", TextArea(id="plus", compact=True))
        yield field("Delta: what to change (one per line)", TextArea(id="delta", compact=True))
        yield form_error()

    def save(self) -> bool:
        self.services.plusdelta.add(
            self.circle,
            self.meeting,
            plus=self.text("plus").splitlines(),
            delta=self.text("delta").splitlines(),
        )
        return True
