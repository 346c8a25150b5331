"""The feedback round: each member in turn in the hot seat, in timeboxed phases.

Everything shown is `services.rounds.state()`, read again after each key and once a
second for the countdown, so the round resumes exactly where it was after the app is
closed (the state lives in the store, the timer is derived from the clock). The
facilitator drives it with single keys; feedback is captured by kind and giver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Digits, Label, Static

from screens.follow import Follows
from screens.meetingforms import (
    KIND_TITLES,
    CommitmentForm,
    FeedbackForm,
    ReorderForm,
    TurnTextForm,
)
from screens.undo import UndoSlot
from screens.widgets import (
    MISSING,
    Footer,
    TopBar,
    attempt,
    date_text,
    literal,
    services_of,
    styled,
)
from xcircle.domain import FEEDBACK_KINDS

if TYPE_CHECKING:
    from xcircle.merge import Record
    from xcircle.services import Services

KIND_PHRASES = {
    "question": "a question",
    "challenge": "a challenge",
    "support": "support",
    "advice": "advice",
    "experience": 'an experience (an "I" statement)',
    "idea": "an idea",
    "observation": "an observation",
}
# One key per kind: its initial where free (e, o and r already edit, reorder, reflect).
KIND_KEYS = {
    "question": "q",
    "challenge": "c",
    "support": "s",
    "advice": "a",
    "experience": "x",
    "idea": "i",
    "observation": "w",
}
URGENCY_WORDS = {"A": "A, now", "B": "B, soon", "C": "C, some day"}
PHASE_SHORT = {
    "present": "Present",
    "questions": "Clarifying questions",
    "feedback": "Feedback",
    "reflect": "Reflect",
    "commit": "Commit",
}


def clock_text(seconds: int) -> str:
    """`04:59`, or `-01:05` once the timebox is over."""
    sign = "-" if seconds < 0 else ""
    minutes, secs = divmod(abs(seconds), 60)
    return f"{sign}{minutes:02d}:{secs:02d}"


class RoundScreen(Follows):
    """Run the feedback round of one meeting (started on first open, resumed after)."""

    CSS_PATH = "round.tcss"
    # What the round shows (a check-in or a pulse elsewhere in the circle does not redraw it).
    FOLLOWS = frozenset({"round", "turn", "feedback", "commitment", "member", "circle", "meeting"})
    BINDINGS = [
        Binding(
            "n,space", "next", "Next", tooltip="Next peer, phase or presenter", id="round.next"
        ),
        Binding("b", "back", "Back", tooltip="Back one peer, phase or presenter", id="round.back"),
        Binding("p", "pause", "Pause", tooltip="Pause or resume the timer", id="round.pause"),
        *(
            Binding(
                KIND_KEYS[kind],
                f"feedback('{kind}')",
                KIND_TITLES[kind],
                tooltip=f"Capture {KIND_PHRASES[kind]} for the presenter, from the current peer",
                id=f"round.{kind}",
            )
            for kind in FEEDBACK_KINDS
        ),
        # Behind each kind's key when the phase does not take that kind: it says so, and
        # the key never falls through to the app (`q` would quit).
        *(
            Binding(KIND_KEYS[kind], f"refuse('{kind}')", "", show=False, id=f"round.no_{kind}")
            for kind in FEEDBACK_KINDS
        ),
        Binding(
            "e",
            "edit('challenge')",
            "Challenge text",
            tooltip="Write down the presenter's challenge",
            id="round.edit_challenge",
        ),
        Binding(
            "r",
            "edit('reflection')",
            "Reflection",
            tooltip="Write down what the presenter takes away",
            id="round.edit_reflection",
        ),
        Binding(
            "m",
            "commit",
            "Commitment",
            tooltip="Record the presenter's commitment (text and due date)",
            id="round.commit",
        ),
        Binding(
            "o",
            "reorder",
            "Order",
            tooltip="Change the presenter order (needs a reason)",
            id="round.reorder",
        ),
        Binding(
            "k",
            "correct",
            "Correct",
            tooltip="Edit or remove feedback given in this turn (u undoes)",
            id="round.correct",
        ),
        Binding("u", "undo", "Undo", tooltip="Undo the last correction", id="round.undo"),
        Binding(
            "M",
            "method",
            "Method",
            tooltip="Choose the next of the protocol's methods (brainstorm, headline…)",
            id="round.method",
        ),
        Binding(
            "escape",
            "leave",
            "Meeting",
            tooltip="Back to the meeting; the round stays where it is",
            id="round.leave",
        ),
    ]

    def __init__(self, circle: str, meeting: str) -> None:
        super().__init__()
        self.circle, self.meeting = circle, meeting
        self.state: Record = {"started": False}
        self._shown: dict[str, tuple[str, tuple[object, ...]]] = {}
        self.undo = UndoSlot()
        self.read_only = False  # the meeting is closed: the round is only shown

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        with Horizontal(id="body"):
            with Vertical(id="side"):
                yield Label("Presenters", classes="section")
                yield Static(id="order")
                yield Label("Phases", classes="section")
                yield Static(id="phases")
            with Vertical(id="main"):
                with Horizontal(id="head"):
                    with Vertical(id="who"):
                        yield Static(id="presenter")
                        yield Static(id="phase")
                        yield Static(id="prompt")
                        yield Static(id="speakers")
                        yield Static(id="hint")
                    yield Digits("", id="clock")
                with VerticalScroll(id="detail"):
                    yield Static(id="turn")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        rounds = self.services.rounds
        status = self.services.meetings.get(self.circle, self.meeting)["status"]
        self.read_only = status == "closed"
        if status == "running" and not rounds.state(self.circle, self.meeting)["started"]:
            self.attempt(lambda: rounds.start(self.circle, self.meeting))
        self.refresh_view()
        self.set_interval(1.0, self.tick)

    def on_screen_resume(self) -> None:
        if self.is_mounted:
            self.refresh_view()

    def refresh_data(self) -> None:
        """Another device (or screen) changed the round: show it as it is now."""
        self.refresh_view()

    def attempt(self, action: Callable[[], Any]) -> None:
        """Run one use case and show the round again; an error is one line, not a crash."""
        if attempt(self, action):
            self.refresh_view()

    # -- showing the state -------------------------------------------------------------------

    def refresh_view(self) -> None:
        """Show `state()`: order, phases, presenter, countdown and what was said."""
        self.state = state = self.services.rounds.state(self.circle, self.meeting)
        if not state["started"]:
            return
        names = self.services.members.names(self.circle)
        name = names.get(state["presenter"], MISSING)
        count = len(state["order"])
        self.query_one(TopBar).show(
            self.services.circles.get(self.circle)["name"],
            "feedback round: complete"
            if state["done"]
            else f"feedback round: turn {state['turn'] + 1} of {count}",
        )
        self.show("#order", self.order_text(names))
        self.show("#phases", self.phases_text())
        self.show(
            "#presenter",
            Content("The round is complete ✓")
            if state["done"]
            else styled("[b]$name[/b] [$text-muted]in the hot seat[/]", name=name),
        )
        self.show("#phase", self.phase_text(names))
        self.show("#prompt", self.prompt_text())
        self.show("#speakers", self.speakers_text())
        self.show("#hint", self.hint_text())
        self.show("#turn", self.turn_text(names))
        self.show_clock(state)
        self.refresh_bindings()  # the keys follow the phase (our Footer redraws only on change)

    def show(self, selector: str, content: Content) -> None:
        """Update a Static only when its content changed (each update costs a layout)."""
        widget = self.query_one(selector, Static)
        key = (content.plain, tuple(content.spans))
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            widget.update(content)

    def tick(self) -> None:
        """Update the countdown from the clock: one record read (the store is not
        written, and the rest of the round is shown again only when its data changes)."""
        clock = self.services.rounds.clock(self.circle, self.meeting)
        if clock is not None:
            self.show_clock(clock)

    def show_clock(self, state: Record) -> None:
        """The countdown of `state`, marked when over time or paused."""
        clock = self.query_one("#clock", Digits)
        clock.display = not state["done"]
        text = clock_text(state["remaining"])
        if clock.value != text:
            clock.update(text)
        clock.set_class(state["remaining"] < 0, "-overtime")
        clock.set_class(state["paused"], "-paused")

    def order_text(self, names: dict[str, str]) -> Content:
        state = self.state
        lines = []
        for i, member in enumerate(state["order"]):
            who = names.get(member, MISSING)
            if not state["done"] and i == state["turn"]:
                lines.append(styled("[b reverse $accent] ▶ $who [/]", who=who))
            elif state["done"] or i < state["turn"]:
                lines.append(styled("[$text-muted] ✓ $who[/]", who=who))
            else:
                lines.append(styled("   $who", who=who))
        return Content("\n").join(lines)

    def phases_text(self) -> Content:
        state = self.state
        lines = [styled("[i]$title[/i]", title=state["protocol_title"])]
        for i, (phase, long_title, per_peer) in enumerate(state["phases"]):
            title = (
                PHASE_SHORT.get(phase, long_title) if state["protocol"] == "classic" else long_title
            )
            if per_peer and state["peers"]:
                title += f" ({len(state['peers'])} peers)"
            if state["done"] or i < state["phase_index"]:
                lines.append(styled("[$text-muted] ✓ $title[/]", title=title))
            elif i == state["phase_index"]:
                lines.append(styled("[b reverse $accent] ▶ $title [/]", title=title))
            else:
                lines.append(styled("   $title", title=title))
        return Content("\n").join(lines)

    def phase_text(self, names: dict[str, str]) -> Content:
        state = self.state
        if state["done"]:
            return Content("Esc returns to the meeting: new commitments, then the pulse.")
        title = state["phase_title"]
        if state["method"]:
            title += f" · {state['method']}"
        paused = " · paused" if state["paused"] else ""
        if state["peer"]:
            return styled(
                "[b]$title[/b]: [b $text-accent]$peer[/] ($n of $of)$paused",
                title=title,
                peer=names.get(state["peer"], MISSING),
                n=state["peer_index"] + 1,
                of=len(state["peers"]),
                paused=paused,
            )
        return styled("[b]$title[/b]$paused", title=title, paused=paused)

    def prompt_text(self) -> Content:
        """The facilitator's line for this phase."""
        prompt = "" if self.state["done"] else self.state["prompt"]
        return styled("[i]$prompt[/i]", prompt=prompt)

    def speakers_text(self) -> Content:
        """Who may speak now, and which feedback the phase takes."""
        state = self.state
        if state["done"]:
            return Content("")
        kinds = ", ".join(state["kinds"]) if state["kinds"] else "no feedback"
        return styled(
            "[$text-muted]Speaks:[/] $who [$text-muted]· takes:[/] $kinds",
            who=state["who"],
            kinds=kinds,
        )

    def hint_text(self) -> Content:
        state = self.state
        if state["done"]:
            return styled("[$text-muted][/]")
        parts = []
        accepted = state["accepted"]
        if accepted:
            keys = " ".join(KIND_KEYS[k] for k in accepted)
            parts.append(f"{keys}: {', '.join(accepted)}")
        if self.writes_reflection():
            parts.append("r: the reflection · m: the commitment")
        elif state["speakers"] == "presenter":
            parts.append("e: write down the challenge")
        if state["peer"]:
            parts.append("n: next peer")
        elif state["phase_index"] < len(state["phases"]) - 1:
            parts.append("n: next phase")
        else:
            parts.append("n: next presenter")
        return styled("[$text-muted]$hint[/]", hint=" · ".join(parts))

    def writes_reflection(self) -> bool:
        """Whether this phase is the presenter's own after the peers spoke (reflect,
        commit): the reflection and commitment are written here, the challenge before."""
        state = self.state
        phases: tuple[tuple[str, str, bool], ...] = state["phases"]
        speakers: tuple[str, ...] = state["phase_speakers"]
        first_peer = next((i for i, s in enumerate(speakers) if s != "presenter"), len(phases))
        return bool(state["phase_index"] > first_peer and state["speakers"] == "presenter")

    def turn_text(self, names: dict[str, str]) -> Content:
        """The challenge, the feedback by kind with givers, the reflection, commitments."""
        state = self.state
        parts = self.card_text() if state["card"] else []
        if state["topic"]:
            parts += [styled("[b $text-primary]Topic[/]"), literal(state["topic"]), Content("")]
        parts.append(styled("[b $text-primary]Challenge[/]"))
        parts.append(literal(state["challenge"] or MISSING))
        parts += [Content(""), styled("[b $text-primary]Feedback[/]")]
        feedback = state["feedback"]
        for kind in FEEDBACK_KINDS:
            items = [f for f in feedback if f["kind"] == kind]
            if not items:
                continue
            parts.append(styled("[b]$kind[/b] ($n)", kind=KIND_TITLES[kind], n=len(items)))
            for f in items:
                giver = names.get(f["giver"], MISSING)
                parts.append(
                    styled("  [$text-accent]$giver[/]: $body", giver=giver, body=f["text"])
                )
        if not feedback:
            parts.append(styled("[$text-muted]none yet[/]"))
        parts += [Content(""), styled("[b $text-primary]Reflection[/]")]
        parts.append(literal(state["reflection"] or MISSING))
        parts += [Content(""), styled("[b $text-primary]Commitment[/]")]
        for c in state["commitments"]:
            due = f" (due {date_text(c['due'])})" if c.get("due") else ""
            parts.append(styled("$body$due", body=c["text"], due=due))
        if not state["commitments"]:
            parts.append(literal(MISSING))
        return Content("\n").join(parts)

    def card_text(self) -> list[Content]:
        """The presenter's issue card: situation, key question, help wanted or not."""
        card: Record = self.state["card"]
        urgency = URGENCY_WORDS.get(card["urgency"], card["urgency"])
        parts = [styled("[b $text-primary]Issue card[/] ($urgency)", urgency=urgency)]
        parts.append(literal(card["situation"]))
        parts.append(styled("[b]Key question:[/b] $q", q=card["question"]))
        if card["want"]:
            parts.append(styled("[b]Help wanted:[/b] $w", w=card["want"]))
        if card["not_want"]:
            parts.append(styled("[b]Not wanted:[/b] $w", w=card["not_want"]))
        parts.append(Content(""))
        return parts

    # -- actions -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show the keys that fit the phase; feedback keys always work (`q` never quits)."""
        state = self.state
        if action == "leave":
            return True
        if self.read_only or not state.get("started"):
            return False  # a closed meeting's round is only shown
        if action == "undo":
            return self.undo.last is not None
        if action == "feedback":
            return parameters[0] in state["accepted"]
        if action == "refuse":
            return True
        if action == "method":
            return bool(state["methods"]) and not state["done"]
        if action in ("back", "reorder", "correct"):
            return True
        if state["done"]:
            return False  # nothing left to advance, time or write down
        if action == "edit":
            late = self.writes_reflection()
            return parameters[0] == ("reflection" if late else "challenge")
        if action == "commit":
            return self.writes_reflection()
        return True

    def action_next(self) -> None:
        self.attempt(lambda: self.services.rounds.advance(self.circle, self.meeting))

    def action_back(self) -> None:
        self.attempt(lambda: self.services.rounds.back(self.circle, self.meeting))

    def action_pause(self) -> None:
        self.attempt(lambda: self.services.rounds.toggle_pause(self.circle, self.meeting))

    def action_leave(self) -> None:
        self.dismiss(None)

    def action_feedback(self, kind: str) -> None:
        state = self.state
        if not state.get("started") or state["done"]:
            self.notify("The round is complete.", markup=False)
            return
        if kind not in state["accepted"]:
            self.notify(f"This phase does not take {kind}.", markup=False)
            return
        giver = state["peer"] or (state["peers"][0] if state["peers"] else None)
        form = FeedbackForm(self.circle, self.meeting, state["presenter"], kind, giver)
        self.app.push_screen(form, lambda _: self.refresh_view())

    def action_method(self) -> None:
        """The next of the protocol's methods for its method phase."""
        methods: tuple[str, ...] = self.state["methods"]
        raw = self.services.store.get(self.circle, "round", self.meeting) or {}
        current = str(raw.get("method", ""))
        following = (
            methods[(methods.index(current) + 1) % len(methods)]
            if current in methods
            else methods[0]
        )
        rounds = self.services.rounds
        self.attempt(lambda: rounds.set_method(self.circle, self.meeting, following))
        self.notify(f"Method: {following}", markup=False, timeout=3)

    def action_refuse(self, kind: str) -> None:
        """A kind's key in a phase that does not take it: say what the phase is for."""
        state = self.state
        if not state.get("started") or state["done"]:
            return
        takes = ", ".join(state["accepted"]) or f"no feedback ({state['who']} speaks)"
        self.notify(f"{state['phase_title']} takes {takes}.", markup=False, timeout=3)

    def action_edit(self, what: str) -> None:
        if not self.state.get("started") or self.state["done"]:
            return
        form = TurnTextForm(self.circle, self.meeting, self.state["presenter"], what)
        self.app.push_screen(form, lambda _: self.refresh_view())

    def action_commit(self) -> None:
        if not self.state.get("started") or self.state["done"]:
            return
        form = CommitmentForm(self.circle, self.meeting, self.state["presenter"])
        self.app.push_screen(form, lambda _: self.refresh_view())

    def action_reorder(self) -> None:
        if not self.state.get("started"):
            return
        form = ReorderForm(self.circle, self.meeting, self.state["order"])
        self.app.push_screen(form, lambda _: self.refresh_view())

    def action_correct(self) -> None:
        from screens.round_edit import CorrectFeedbackScreen

        if not self.state.get("started") or self.state["done"]:
            return
        screen = CorrectFeedbackScreen(
            self.circle, self.meeting, self.state["presenter"], self.undo
        )
        self.app.push_screen(screen, lambda _: self.refresh_view())

    def action_undo(self) -> None:
        self.undo.undo(self)
        self.refresh_view()
