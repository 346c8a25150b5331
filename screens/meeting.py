"""One meeting: plan it, start it, run it step by step along its agenda, close it.

The agenda (check-in → review or agreements → round → commitments → pulse) is walked
with `]` and `[`. In a running meeting the step is saved, so a closed app resumes at
the same step; in a planned or closed one `]` and `[` only look (nothing is written).
Starting is its own, confirmed step (`s`), and fixes the facilitator. A closed meeting
is read-only until a facilitator reopens it (`R`); closing asks about anything unsaved
and then offers to plan the next meeting and to export the minutes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
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
from screens.agenda_budget import budget_text
from screens.follow import Follows
from screens.forms import ConfirmScreen
from screens.meeting_close import AfterCloseScreen
from screens.meeting_follow import following_text
from screens.meetingforms import (
    CloseMeetingForm,
    FacilitatorForm,
    PlanMeetingScreen,
    ProtocolForm,
)
from screens.undo import UndoSlot
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


class MeetingScreen(Follows):
    """Plan, run and close one meeting: its agenda on the left, the current step beside."""

    CSS_PATH = "meeting.tcss"
    BINDINGS = [
        Binding(
            "right_square_bracket",
            "step(1)",
            "Next step",
            tooltip="Go to the next agenda step (in a planned meeting: only to look)",
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
            "s", "start", "Start", tooltip="Start the meeting (asks first)", id="meeting.start"
        ),
        Binding(
            "f", "facilitator", "Facilitator", tooltip="Change the facilitator", id="meeting.fac"
        ),
        Binding(
            "P",
            "protocol",
            "Protocol",
            tooltip="Choose the round's protocol (until the round starts)",
            id="meeting.protocol",
        ),
        Binding(
            "e",
            "reschedule",
            "Reschedule",
            tooltip="Change the date, time, zone, length or themes",
            id="meeting.reschedule",
        ),
        Binding("x", "close", "Close", tooltip="Close the meeting with notes", id="meeting.close"),
        Binding(
            "R",
            "reopen",
            "Reopen",
            tooltip="Reopen the closed meeting to correct it (asks first)",
            id="meeting.reopen",
        ),
        Binding("u", "undo", "Undo", tooltip="Undo the last correction", id="meeting.undo"),
        Binding(
            "I",
            "checkround('in')",
            "Check-in round",
            tooltip="Each member in turn: how they arrive, 1 to 10 and a sentence",
            id="meeting.checkin_round",
        ),
        Binding(
            "O",
            "checkround('out')",
            "Check-out round",
            tooltip="Each member in turn: one word and one take-away",
            id="meeting.checkout_round",
        ),
        Binding("escape", "leave", "Back", tooltip="Back to the circle", id="meeting.back"),
    ]
    # Which meeting status each action needs (others: any).
    NEEDS = {
        "start": ("planned",),
        "facilitator": ("planned", "running"),
        "protocol": ("planned", "running"),
        "reschedule": ("planned",),
        "close": ("running",),
        "reopen": ("closed",),
    }

    def __init__(self, circle: str, meeting: str) -> None:
        super().__init__()
        self.circle, self.meeting = circle, meeting
        self.agenda: tuple[str, ...] = ()
        self.viewing = 0  # the step shown (saved as the meeting's step only while running)
        self.status = ""
        self.undo = UndoSlot()
        self.following = False  # a shared meeting run from the facilitator's device
        self.round_followed = False  # the round was opened for the facilitator's round
        self.round_begun = False  # its protocol is fixed once the round has started

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
                yield Static(id="budget")
            with ContentSwitcher(id="steps", initial=f"step-{self.agenda[0]}"):
                for name in self.agenda:
                    yield STEPS[name](self.circle, self.meeting, id=f"step-{name}")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.show_step(self.record["step"])
        if self.following:
            self.call_after_refresh(self.follow_round)

    def follow_data(self) -> None:
        """Show what a sync brought: a following device moves to the facilitator's step
        (and into the round once it runs); any device reloads the step it shows."""
        if not self.is_mounted:
            return
        self.refresh_sidebar()  # also reads again whether this device follows
        step = self.record["step"]
        if not (self.following and step != self.viewing):
            self.current_step.reload()
        elif self.is_current:
            self.show_step(step)
        else:  # under a form: move along without taking the focus from it
            self.viewing = max(0, min(step, len(self.agenda) - 1))
            self.query_one(ContentSwitcher).current = f"step-{self.agenda[self.viewing]}"
            self.current_step.reload()
            self.refresh_sidebar()
        self.follow_round()

    def follow_round(self) -> None:
        """On a following device, open the round once when the facilitator runs it (a
        member who leaves it is not pulled back until the meeting comes to it again)."""
        on_round = self.agenda[self.viewing] == "round"
        if not (self.following and on_round):
            self.round_followed = False
            return
        if self.round_followed or not self.is_current:
            return
        if self.services.rounds.state(self.circle, self.meeting)["started"]:
            self.round_followed = True
            self.post_message(RoundStep.OpenRound())

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            rec = self.record
            self.show_step(rec["step"] if rec["status"] == "running" else self.viewing)

    def refresh_data(self) -> None:
        """The meeting changed (here or on another device): the step shown and the
        sidebar again, the step and the focus staying where they are (a following
        device moves to the facilitator's step: `follow_data`)."""
        self.follow_data()

    @property
    def record(self) -> Record:
        return self.services.meetings.get(self.circle, self.meeting)

    @property
    def current_step(self) -> AgendaStep:
        switcher = self.query_one(ContentSwitcher)
        step = switcher.visible_content
        assert isinstance(step, AgendaStep)
        return step

    def show_step(self, index: int) -> None:
        """Show agenda step `index`, reloaded, with the focus on it."""
        self.viewing = index = max(0, min(index, len(self.agenda) - 1))
        self.query_one(ContentSwitcher).current = f"step-{self.agenda[index]}"
        step = self.current_step
        step.reload()
        step.focus_body()
        self.refresh_sidebar()

    def refresh_sidebar(self) -> None:
        """The meeting's status, time, facilitator, themes, time budget, and where the
        agenda is; the keys follow the status."""
        view = self.services.meetings.view(self.circle, self.meeting)
        self.status = view.status
        self.following = view.status == "running" and not self.services.meetings.drives(
            self.circle, self.meeting
        )
        names = self.services.members.names(self.circle)
        facilitator = names.get(view.facilitator or "", MISSING)
        fac_label = "Facilitator" if view.facilitator_fixed else "Facilitator (rotation)"
        themes = ", ".join(view.themes) or MISSING
        status = view.status.capitalize() + (" · read-only" if view.read_only else "")
        info = styled(
            "[b]$status[/b]\n$when\n$minutes min\n\n[$text-muted]$fac_label[/]\n$facilitator\n\n"
            "[$text-muted]Themes[/]\n$themes",
            status=status,
            when=when_text(view.at, zone_of(self), now=self.services.now()),
            minutes=view.duration,
            fac_label=fac_label,
            facilitator=facilitator,
            themes=themes,
        )
        if view.read_only and view.notes:
            info += styled("\n\n[$text-muted]Notes[/]\n$notes", notes=view.notes)
        round_rec = self.services.store.get(self.circle, "round", self.meeting) or {}
        self.round_begun = bool(round_rec.get("order"))
        detail = "kick-off meeting" if view.kickoff else "meeting"
        if self.following:
            detail += " · " + following_text(facilitator)
        detail += " · round: " + self.services.rounds.protocol(self.circle, self.meeting).title
        self.query_one(TopBar).show(self.services.circles.get(self.circle)["name"], detail)
        self.query_one("#info", Static).update(info)
        self.query_one("#budget", Static).update(
            budget_text(self.services, self.circle, self.meeting)
        )
        lines = []
        for i, name in enumerate(self.agenda):
            title = STEPS[name].SHORT
            if i == self.viewing:
                lines.append(styled("[b $text-accent]▶ $n $title[/]", n=i + 1, title=title))
            else:
                lines.append(styled("  $n $title", n=i + 1, title=title))
        self.query_one("#agenda", Static).update(Content("\n").join(lines))
        self.refresh_bindings()

    def may(self, action: str) -> bool:
        """A following device does not move the meeting along: the facilitator's does."""
        following = self.following and action in ("step", "close")
        return super().may(action) and not following

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "undo":
            return self.undo.last is not None and self.status != "closed"
        if action == "checkround":
            enabled = self.services.checkrounds.enabled(self.circle)
            return self.status == "running" and enabled[str(parameters[0])]
        if action == "protocol" and self.round_begun:
            return False
        needs = self.NEEDS.get(action)
        return needs is None or self.status in needs

    def action_checkround(self, kind: str) -> None:
        from screens.checkround import CheckRoundScreen

        self.app.push_screen(CheckRoundScreen(self.circle, self.meeting, kind))

    def action_undo(self) -> None:
        self.undo.undo(self)
        self.show_step(self.viewing)

    # -- actions -----------------------------------------------------------------------------

    def action_leave(self) -> None:
        self.dismiss(None)

    def action_step(self, delta: int) -> None:
        index = self.viewing + delta
        if index >= len(self.agenda):
            if self.status == "running":
                self.notify("This is the last step: x closes the meeting.", markup=False)
            return
        if index < 0:
            return
        if self.status != "running":  # planned or closed: only looking
            self.show_step(index)
            return
        meetings = self.services.meetings
        if attempt(self, lambda: meetings.set_step(self.circle, self.meeting, index)):
            self.show_step(index)

    def action_start(self) -> None:
        meetings = self.services.meetings
        facilitator = meetings.facilitator_of(self.circle, self.meeting)
        name = self.services.members.names(self.circle).get(facilitator or "", "nobody")
        protocol = self.services.rounds.protocol(self.circle, self.meeting).title
        question = styled(
            "Start the meeting now?\n\n[b]$name[/b] facilitates (press f first to choose "
            "someone else); from the start on, the facilitator stays fixed.\n\n"
            "The round runs [b]$protocol[/b] (P chooses another until the round starts).",
            name=name,
            protocol=protocol,
        )

        def start() -> None:
            meetings.start(self.circle, self.meeting, step=self.viewing)

        def answer(yes: bool | None) -> None:
            if yes and attempt(self, start):
                self.notify(f"Meeting started. {name} facilitates.", markup=False)
                self.show_step(self.viewing)

        self.app.push_screen(ConfirmScreen(question, yes="Start"), answer)

    def action_facilitator(self) -> None:
        current = self.services.meetings.facilitator_of(self.circle, self.meeting)
        form = FacilitatorForm(self.circle, self.meeting, current)
        self.app.push_screen(form, lambda _: self.refresh_sidebar())

    def action_protocol(self) -> None:
        def chosen(name: str | None) -> None:
            self.show_step(self.viewing)
            if name:
                title = self.services.rounds.protocol(self.circle, self.meeting).title
                self.notify(f"The round runs {title}.", markup=False, timeout=3)

        self.app.push_screen(ProtocolForm(self.circle, self.meeting), chosen)

    def action_reschedule(self) -> None:
        form = PlanMeetingScreen(self.circle, self.meeting)
        self.app.push_screen(form, lambda _: self.refresh_sidebar())

    def unsaved(self) -> list[str]:
        """What was typed on this screen but not saved (a half-entered pulse…)."""
        return [line for step in self.query(AgendaStep) for line in step.unsaved()]

    def action_close(self) -> None:
        unsaved = self.unsaved()
        if not unsaved:
            self.close_with_notes()
            return
        question = styled(
            "Not saved yet:\n$items\n\nClose the meeting anyway and lose it?",
            items="\n".join(f"• {line}" for line in unsaved),
        )

        def answer(yes: bool | None) -> None:
            if yes:
                for step in self.query(AgendaStep):
                    step.discard()
                self.close_with_notes()
            else:  # back to where it was left, to finish it
                pending = [i for i, n in enumerate(self.agenda) if self.step(n).unsaved()]
                if pending:
                    self.action_step(pending[0] - self.viewing)

        self.app.push_screen(ConfirmScreen(question, yes="Close anyway"), answer)

    def step(self, name: str) -> AgendaStep:
        return self.query_one(f"#step-{name}", AgendaStep)

    def close_with_notes(self) -> None:
        def closed(done: bool | None) -> None:
            self.show_step(self.viewing)
            if done:
                self.app.push_screen(AfterCloseScreen(self.circle, self.meeting))

        self.app.push_screen(CloseMeetingForm(self.circle, self.meeting), closed)

    def action_reopen(self) -> None:
        question = Content(
            "Reopen this meeting to correct it?\n\nIt runs again until it is closed; "
            "everything recorded stays."
        )

        def answer(yes: bool | None) -> None:
            meetings = self.services.meetings
            if yes and attempt(self, lambda: meetings.reopen(self.circle, self.meeting)):
                self.notify("Meeting reopened.", markup=False)
                self.show_step(self.viewing)

        self.app.push_screen(ConfirmScreen(question, yes="Reopen"), answer)

    @on(AgendaStep.Changed)
    def _step_changed(self) -> None:
        self.refresh_sidebar()

    @on(RoundStep.OpenRound)
    def _open_round(self) -> None:
        from screens.round import RoundScreen

        self.app.push_screen(RoundScreen(self.circle, self.meeting))
