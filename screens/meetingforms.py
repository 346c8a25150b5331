"""The questions a meeting asks: plan or reschedule it, pick its facilitator, close it,
and, in the feedback round, capture feedback, the turn's texts, a commitment or a new
presenter order.

Each is a `FormScreen` (screens/forms.py): it calls its use case itself, so an error
lands next to the field it is about and nothing is saved half-way; Escape cancels.
"""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.suggester import SuggestFromList
from textual.widgets import Input, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from screens.forms import FormScreen, field, form_error
from screens.widgets import MISSING, cell, literal, styled, to_local, zone_of
from xcircle.domain import FEEDBACK_KINDS
from xcircle.errors import InvalidInput
from xcircle.services import parse_date

if TYPE_CHECKING:
    from xcircle.merge import Record
    from xcircle.protocols import Protocol

T = TypeVar("T")

KIND_TITLES = {kind: kind.capitalize() for kind in FEEDBACK_KINDS}


def local_zone_name() -> str:
    """This machine's IANA zone name (from TZ or /etc/localtime), or '' when unknown."""
    name = os.environ.get("TZ", "").lstrip(":")
    if not name:
        try:
            name = str(Path("/etc/localtime").resolve()).partition("zoneinfo/")[2]
        except OSError:
            return ""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ""
    return name


def parse_time(text: str) -> time:
    """`18:30` as a time of day, with a clear error for anything else."""
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{text.strip()!r} is not a time: use HH:MM, e.g. 18:30", field="time"
        ) from None


def member_choice(name: str, members: list[Record], value: str | None) -> Select[str]:
    """A never-blank Select of members by name (shown literally), `value` chosen."""
    return Select(
        [(cell(m["name"]), m["id"]) for m in members],
        value=value if value else Select.NULL,
        allow_blank=False,
        compact=True,
        id=name,
    )


def protocol_field(
    choices: list[Protocol], current: str, label: str = "Round protocol"
) -> Vertical:
    """The round's protocol: a never-blank Select of the circle's protocols (titles
    shown literally: a circle's own come from its members), its purpose beneath."""
    items = [(literal(p.title), p.name) for p in choices]
    purpose = next((p.purpose for p in choices if p.name == current), "")
    select = Select(items, value=current, allow_blank=False, compact=True, id="protocol")
    box = field(label, select, purpose or " ")
    box.id = "protocol-field"
    return box


class MeetingForm(FormScreen[T]):
    """A form of the meeting area: the shared form styles plus this area's own."""

    # FormScreen's attribute is inferred as a single path; Textual takes a list too.
    CSS_PATH = ["forms.tcss", "meetingforms.tcss"]  # type: ignore[assignment]
    circle: str

    @on(Select.Changed, "#protocol")
    def _protocol_chosen(self, event: Select.Changed) -> None:
        """The chosen protocol's purpose under the choice, so the facilitator knows it."""
        chosen = self.services.protocols.all(self.circle)
        purpose = next((p.purpose for p in chosen if p.name == event.value), "")
        self.query_one("#protocol-field .hint", Static).update(literal(purpose or " "))


class PlanMeetingScreen(MeetingForm[str | None]):
    """Plan a meeting of a circle, or reschedule one; dismisses with the meeting's id."""

    FIELD_IDS = {"at": "date"}

    def __init__(self, circle: str, meeting: str | None = None) -> None:
        super().__init__()
        self.circle, self.meeting = circle, meeting
        self.TITLE_TEXT = "Plan a meeting" if meeting is None else "Reschedule the meeting"

    def fields(self) -> ComposeResult:
        svc = self.services
        circle = svc.circles.get(self.circle)
        if self.meeting is not None:
            rec = svc.meetings.get(self.circle, self.meeting)
            zone = rec.get("tz") or zone_of(self) or local_zone_name()
            when = to_local(rec["at"], zone)
            duration, themes = rec["duration"], rec.get("themes", [])
            protocol = svc.rounds.protocol(self.circle, self.meeting).name
        else:
            zone = zone_of(self) or local_zone_name()
            day = svc.now().date() + timedelta(days=7)
            when = datetime.combine(day, time(18, 0))
            duration = circle.get("duration", 90)
            themes = []
            protocol = svc.protocols.get(self.circle, None).name
        yield Static(styled("for [b]$name[/b]", name=circle["name"]), id="for")
        with Horizontal(classes="row"):
            date_input = Input(when.date().isoformat(), id="date", compact=True)
            yield field("Date", date_input, "YYYY-MM-DD")
            yield field("Time", Input(when.strftime("%H:%M"), id="time", compact=True), "HH:MM")
            yield field("Minutes", Input(str(duration), id="duration", compact=True))
        zones = SuggestFromList(sorted(available_timezones()), case_sensitive=False)
        zone_input = Input(zone, id="zone", compact=True, suggester=zones)
        yield field("Time zone", zone_input, "e.g. Europe/Paris; empty for this machine's zone")
        themes_input = Input(", ".join(themes), id="themes", compact=True)
        yield field("Themes (comma separated)", themes_input)
        yield protocol_field(svc.protocols.all(self.circle), protocol)
        yield form_error()

    def save(self) -> str | None:
        day = parse_date(self.text("date"), field="date")
        if day is None:
            raise InvalidInput("a meeting needs a date: use YYYY-MM-DD", field="date")
        at = f"{day}T{parse_time(self.text('time')):%H:%M}"
        rec = self.services.meetings.schedule(  # the one place a zone is applied
            self.circle,
            at,
            zone=self.text("zone"),
            meeting=self.meeting,
            themes=[t.strip() for t in self.text("themes").split(",")],
            duration=self.number("duration", "the duration (minutes)"),
            protocol=self.text("protocol"),
        )
        return str(rec["id"])


class ProtocolForm(MeetingForm[str | None]):
    """Choose the protocol the meeting's round runs, until the round has started."""

    TITLE_TEXT = "Round protocol"

    def __init__(self, circle: str, meeting: str) -> None:
        super().__init__()
        self.circle, self.meeting = circle, meeting

    def fields(self) -> ComposeResult:
        svc = self.services
        current = svc.rounds.protocol(self.circle, self.meeting).name
        yield protocol_field(svc.protocols.all(self.circle), current, "This meeting's round runs")
        yield form_error()

    def save(self) -> str | None:
        name = self.text("protocol")
        self.services.meetings.update(self.circle, self.meeting, protocol=name)
        return name


class FacilitatorForm(MeetingForm[str | None]):
    """Choose who facilitates this meeting (the rotation's pick is the default)."""

    TITLE_TEXT = "Facilitator"

    def __init__(self, circle: str, meeting: str, current: str | None) -> None:
        super().__init__()
        self.circle, self.meeting, self.current = circle, meeting, current

    def fields(self) -> ComposeResult:
        members = self.services.members.all(self.circle)
        current = self.current or (members[0]["id"] if members else None)
        yield field("Who facilitates", member_choice("facilitator", members, current))
        yield form_error()

    def save(self) -> str | None:
        member = self.text("facilitator")
        self.services.meetings.set_facilitator(self.circle, self.meeting, member)
        return member


class CloseMeetingForm(MeetingForm[bool | None]):
    """Close the meeting with its notes (what the circle wants to remember)."""

    TITLE_TEXT = "Close the meeting"
    AUTO_FOCUS = "#notes"

    def __init__(self, circle: str, meeting: str) -> None:
        super().__init__()
        self.circle, self.meeting = circle, meeting

    def fields(self) -> ComposeResult:
        notes = self.services.meetings.get(self.circle, self.meeting).get("notes", "")
        area = TextArea(notes, id="notes", compact=True, soft_wrap=True)
        yield field("Notes", area, "Ctrl+S closes the meeting · Esc keeps it open")
        yield form_error()

    def save(self) -> bool:
        self.services.meetings.close(self.circle, self.meeting, self.text("notes"))
        return True


class CommitmentForm(MeetingForm[str | None]):
    """Record a commitment (text and due date); the owner is fixed in the round's last phase."""

    TITLE_TEXT = "New commitment"
    AUTO_FOCUS = "#text"

    def __init__(self, circle: str, meeting: str, owner: str | None = None) -> None:
        super().__init__()
        self.circle, self.meeting, self.owner = circle, meeting, owner

    def fields(self) -> ComposeResult:
        members = self.services.members.all(self.circle)
        if self.owner is None:
            first = members[0]["id"] if members else None
            yield field("Member", member_choice("owner", members, first))
        else:
            names = self.services.members.names(self.circle)
            who = names.get(self.owner, MISSING)
            yield Static(styled("By [b]$who[/b]", who=who), id="who")
        yield field("Commitment", Input(id="text", compact=True, placeholder="I will…"))
        due = Input(id="due", compact=True, placeholder="YYYY-MM-DD")
        yield field("Due (optional)", due, "Reviewed at the next meeting")
        yield form_error()

    def save(self) -> str | None:
        owner = self.owner or self.text("owner")
        rec = self.services.commitments.add(
            self.circle, owner, self.text("text"), due=self.text("due"), meeting=self.meeting
        )
        return str(rec["id"])


class FeedbackForm(MeetingForm[bool | None]):
    """One line of feedback of one kind; the giver is the current peer unless changed."""

    AUTO_FOCUS = "#text"

    def __init__(
        self,
        circle: str,
        meeting: str,
        presenter: str,
        kind: str,
        giver: str | None,
        *,
        own: bool = False,
    ) -> None:
        super().__init__()
        self.circle, self.meeting, self.presenter = circle, meeting, presenter
        self.kind, self.giver = kind, giver
        self.own = own  # a following device: the member gives their own, nobody else's
        self.TITLE_TEXT = KIND_TITLES[kind]

    def fields(self) -> ComposeResult:
        names = self.services.members.names(self.circle)
        yield Static(styled("for [b]$name[/b]", name=names.get(self.presenter, MISSING)), id="for")
        peers = [
            (cell(n), m)
            for m, n in names.items()
            if m != self.presenter and (not self.own or m == self.giver)
        ]
        giver = Select(
            peers,
            value=self.giver if self.giver else Select.NULL,
            allow_blank=self.giver is None,
            compact=True,
            id="giver",
        )
        yield field("From", giver)
        yield field("What they said", Input(id="text", compact=True), "Enter saves · Esc cancels")
        yield form_error()

    def save(self) -> bool:
        giver = self.text("giver")
        if not giver:
            raise InvalidInput("choose the member who gave the feedback", field="giver")
        self.services.rounds.feedback(
            self.circle, self.meeting, self.presenter, giver, self.kind, self.text("text")
        )
        return True


class TurnTextForm(MeetingForm[bool | None]):
    """The presenter's challenge or reflection, as free text."""

    AUTO_FOCUS = "#text"

    def __init__(self, circle: str, meeting: str, presenter: str, what: str) -> None:
        super().__init__()
        self.circle, self.meeting, self.presenter, self.what = circle, meeting, presenter, what
        self.TITLE_TEXT = "The challenge" if what == "challenge" else "The reflection"

    def fields(self) -> ComposeResult:
        state = self.services.rounds.state(self.circle, self.meeting)
        text = state[self.what] if state.get("presenter") == self.presenter else ""
        area = TextArea(text, id="text", compact=True, soft_wrap=True)
        yield field("In the presenter's words", area, "Ctrl+S saves · Esc cancels")
        yield form_error()

    def save(self) -> bool:
        rounds, text = self.services.rounds, self.text("text")
        if self.what == "challenge":
            rounds.set_challenge(self.circle, self.meeting, self.presenter, text)
        else:
            rounds.set_reflection(self.circle, self.meeting, self.presenter, text)
        return True


class OrderList(OptionList):
    """Presenters in order; Shift+↑/↓ moves the highlighted one."""

    BINDINGS = [
        Binding("shift+up", "move(-1)", "Move up", tooltip="Present earlier", id="reorder.up"),
        Binding("shift+down", "move(1)", "Move down", tooltip="Present later", id="reorder.down"),
    ]

    def __init__(self, order: list[str], names: dict[str, str], *, id: str) -> None:
        super().__init__(id=id, compact=True)
        self.order, self.names = list(order), names

    def on_mount(self) -> None:
        self.show_order(0)

    def show_order(self, highlight: int) -> None:
        self.set_options(
            Option(literal(f"{i + 1}. {self.names.get(m, MISSING)}"), id=m)
            for i, m in enumerate(self.order)
        )
        self.highlighted = highlight

    def action_move(self, delta: int) -> None:
        i = self.highlighted
        if i is None or not 0 <= i + delta < len(self.order):
            return
        self.order[i], self.order[i + delta] = self.order[i + delta], self.order[i]
        self.show_order(i + delta)


class ReorderForm(MeetingForm[bool | None]):
    """Change the presenter order; any order other than the rotation's needs a reason."""

    TITLE_TEXT = "Presenter order"

    def __init__(self, circle: str, meeting: str, order: list[str]) -> None:
        super().__init__()
        self.circle, self.meeting, self.order = circle, meeting, order

    def fields(self) -> ComposeResult:
        names = self.services.members.names(self.circle)
        orders = OrderList(self.order, names, id="order")
        yield field("Order", orders, "Shift+↑/↓ moves the highlighted presenter")
        state = self.services.rounds.state(self.circle, self.meeting)
        reason = Input(state.get("order_reason", ""), id="reason", compact=True)
        yield field("Why this order", reason, "Needed when it differs from the rotation")
        yield form_error()

    def save(self) -> bool:
        order = self.query_one(OrderList).order
        self.services.rounds.reorder(self.circle, self.meeting, order, self.text("reason"))
        return True
