"""One meeting: plan it, run it step by step along its agenda, and close it.

The agenda (check-in → review or agreements → round → commitments → pulse) is walked
with `]` and `[`; the step is saved with the meeting, so a closed app resumes at the
same step. Leaving the check-in starts the meeting, which records the facilitator the
rotation picks from who is present (the facilitator can be changed with `f`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Label, Static

from screens.agenda import (
    AgendaStep,
    AgreementsStep,
    CheckinStep,
    CommitmentsStep,
    PulseStep,
    ReviewStep,
    RoundStep,
)
from screens.meetingforms import CloseMeetingForm, FacilitatorForm, PlanMeetingScreen
from screens.widgets import (
    MISSING,
    Footer,
    TopBar,
    attempt,
    services_of,
    styled,
    when_text,
    zone_of,
)

if TYPE_CHECKING:
    from xcircle.merge import Record
    from xcircle.services import Services

__all__ = ["MeetingScreen", "PlanMeetingScreen"]

STEPS: dict[str, type[AgendaStep]] = {
    "checkin": CheckinStep,
    "review": ReviewStep,
    "agreements": AgreementsStep,
    "round": RoundStep,
    "commitments": CommitmentsStep,
    "pulse": PulseStep,
}


class MeetingScreen(Screen[None]):
    """Plan, run and close one meeting: its agenda on the left, the current step beside."""

    CSS_PATH = "meeting.tcss"
    BINDINGS = [
        Binding(
            "right_square_bracket",
            "step(1)",
            "Next step",
            tooltip="Go to the next agenda step (leaving the check-in starts the meeting)",
            id="meeting.next",
        ),
        Binding(
            "left_square_bracket",
            "step(-1)",
            "Previous step",
            show=False,
            tooltip="Go back to the previous agenda step",
            id="meeting.previous",
        ),
        Binding(
            "f", "facilitator", "Facilitator", tooltip="Change the facilitator", id="meeting.fac"
        ),
        Binding(
            "e",
            "reschedule",
            "Reschedule",
            tooltip="Change the date, time, zone, length or themes",
            id="meeting.reschedule",
        ),
        Binding(
            "x",
            "close",
            "Close meeting",
            tooltip="Close the meeting with notes",
            id="meeting.close",
        ),
        Binding("escape", "leave", "Back", tooltip="Back to the circle", id="meeting.back"),
    ]

    def __init__(self, circle: str, meeting: str) -> None:
        super().__init__()
        self.circle, self.meeting = circle, meeting
        self.agenda: tuple[str, ...] = ()

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        rec = self.services.meetings.get(self.circle, self.meeting)
        self.agenda = self.services.meetings.agenda(rec)
        yield TopBar(id="topbar")
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield Static(id="info")
                yield Label("Agenda", classes="section")
                yield Static(id="agenda")
            with ContentSwitcher(id="steps", initial=f"step-{self.agenda[0]}"):
                for name in self.agenda:
                    yield STEPS[name](self.circle, self.meeting, id=f"step-{name}")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        circle, rec = self.services.circles.get(self.circle), self.record
        self.show_step(rec["step"])
        detail = "kick-off meeting" if rec.get("kickoff") else "meeting"
        self.query_one(TopBar).show(circle["name"], detail)

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.show_step(self.record["step"])

    @property
    def record(self) -> Record:
        return self.services.meetings.get(self.circle, self.meeting)

    def rotation_pick(self) -> str | None:
        """The rotation's facilitator among those present (everyone, before attendance)."""
        meetings = self.services.meetings
        present = meetings.present(self.circle, self.meeting) or None
        return meetings.next_facilitator(self.circle, present)

    @property
    def current_step(self) -> AgendaStep:
        switcher = self.query_one(ContentSwitcher)
        step = switcher.visible_content
        assert isinstance(step, AgendaStep)
        return step

    def show_step(self, index: int) -> None:
        """Show agenda step `index` (already saved), reloaded, with the focus on it."""
        index = max(0, min(index, len(self.agenda) - 1))
        self.query_one(ContentSwitcher).current = f"step-{self.agenda[index]}"
        step = self.current_step
        step.reload()
        step.focus_body()
        self.refresh_sidebar()

    def refresh_sidebar(self) -> None:
        """The meeting's status, time, facilitator and themes, and where the agenda is."""
        rec = self.record
        names = self.services.members.names(self.circle)
        if rec.get("facilitator"):
            facilitator = names.get(rec["facilitator"], MISSING)
            fac_label = "Facilitator"
        else:
            nxt = self.rotation_pick()
            facilitator = names.get(nxt, MISSING) if nxt else MISSING
            fac_label = "Facilitator (rotation)"
        themes = ", ".join(rec.get("themes", [])) or MISSING
        info = styled(
            "[b]$status[/b]\n$when\n$minutes min\n\n[$text-muted]$fac_label[/]\n$facilitator\n\n"
            "[$text-muted]Themes[/]\n$themes",
            status=rec["status"].capitalize(),
            when=when_text(rec["at"], zone_of(self), now=self.services.now()),
            minutes=rec["duration"],
            fac_label=fac_label,
            facilitator=facilitator,
            themes=themes,
        )
        if rec["status"] == "closed" and rec.get("notes"):
            info += styled("\n\n[$text-muted]Notes[/]\n$notes", notes=rec["notes"])
        self.query_one("#info", Static).update(info)
        lines = []
        for i, name in enumerate(self.agenda):
            title = STEPS[name].SHORT
            if i == rec["step"]:
                lines.append(styled("[b $text-accent]▶ $n $title[/]", n=i + 1, title=title))
            else:
                lines.append(styled("  $n $title", n=i + 1, title=title))
        self.query_one("#agenda", Static).update(Content("\n").join(lines))

    # -- actions -----------------------------------------------------------------------------

    def action_leave(self) -> None:
        self.dismiss(None)

    def action_step(self, delta: int) -> None:
        meetings = self.services.meetings
        rec = self.record
        index = rec["step"] + delta
        if index >= len(self.agenda):
            self.notify("This is the last step: x closes the meeting.", markup=False)
            return
        if index < 0:
            return
        if delta > 0 and rec["status"] == "planned":
            if not attempt(self, lambda: meetings.start(self.circle, self.meeting)):
                return
            facilitator = self.record.get("facilitator", "")
            name = self.services.members.names(self.circle).get(facilitator)
            self.notify(f"Meeting started. {name or 'Nobody'} facilitates.", markup=False)
        if attempt(self, lambda: meetings.set_step(self.circle, self.meeting, index)):
            self.show_step(index)

    def action_facilitator(self) -> None:
        current = self.record.get("facilitator") or self.rotation_pick()
        form = FacilitatorForm(self.circle, self.meeting, current)
        self.app.push_screen(form, lambda _: self.refresh_sidebar())

    def action_reschedule(self) -> None:
        form = PlanMeetingScreen(self.circle, self.meeting)
        self.app.push_screen(form, lambda _: self.refresh_sidebar())

    def action_close(self) -> None:
        def closed(done: bool | None) -> None:
            if done:
                self.notify("Meeting closed. Thank you for facilitating.", markup=False)
            self.refresh_sidebar()

        self.app.push_screen(CloseMeetingForm(self.circle, self.meeting), closed)

    @on(AgendaStep.Changed)
    def _step_changed(self) -> None:
        self.refresh_sidebar()

    @on(RoundStep.OpenRound)
    def _open_round(self) -> None:
        from screens.round import RoundScreen

        self.app.push_screen(RoundScreen(self.circle, self.meeting))
