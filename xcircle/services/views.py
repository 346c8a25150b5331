"""Typed read models the services hand to screens and the CLI (frozen dataclasses).

Dicts stay inside the store and the merge; what a screen or a command reads of a
meeting, its minutes, a due commitment or a journal entry is one of these, so mypy
checks every field it reads. `as_dict()` is what `--json` prints.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from xcircle.merge import Record


@dataclass(frozen=True)
class DueCommitment:
    """One of my open commitments, as "my commitments due soon" lists it."""

    circle: str
    id: str
    text: str
    due: str | None
    days_left: int | None  # None: no due date
    record: Record = field(repr=False, compare=False)

    @property
    def overdue(self) -> bool:
        return self.days_left is not None and self.days_left < 0

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "record"}
        return {**out, "overdue": self.overdue}


@dataclass(frozen=True)
class KeptRatio:
    """Commitments kept among those reviewed (an open one is neither kept nor missed)."""

    kept: int
    reviewed: int

    @property
    def percent(self) -> int | None:
        return round(100 * self.kept / self.reviewed) if self.reviewed else None


@dataclass(frozen=True)
class PulseAggregate:
    """A meeting's pulse: how many members rated it and the average of each aspect."""

    count: int
    support: float | None
    confidence: float | None
    learning: float | None


@dataclass(frozen=True)
class MeetingView:
    """One meeting as the meeting screen and `xcircle meeting show` read it."""

    circle: str
    id: str
    at: str
    zone: str
    duration: int
    status: str
    kickoff: bool
    step: int
    themes: tuple[str, ...]
    notes: str
    facilitator: str | None  # fixed at the start; before it, the rotation's pick
    facilitator_fixed: bool
    present: tuple[str, ...]
    absent: tuple[str, ...]

    @property
    def read_only(self) -> bool:
        """A closed meeting changes only after a facilitator reopens it."""
        return self.status == "closed"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "read_only": self.read_only}


@dataclass(frozen=True)
class JournalEntry:
    """A private reflection: on this device only, never synced."""

    id: str
    text: str
    at: str
    circle: str | None
    meeting: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RoundState:
    """The feedback round as the round screen shows it, derived from the stored round
    and the clock (`started` False: not begun; then only `order` is set, the rotation's)."""

    started: bool
    order: tuple[str, ...]
    done: bool = False
    order_reason: str = ""
    turn: int = 0
    presenter: str | None = None
    phase: str = ""
    phase_index: int = 0
    phase_title: str = ""
    peers: tuple[str, ...] = ()
    peer: str | None = None
    peer_index: int = 0
    timebox: int = 0
    elapsed: int = 0
    remaining: int = 0
    paused: bool = False
    challenge: str = ""
    reflection: str = ""
    feedback: tuple[Record, ...] = ()
    commitments: tuple[Record, ...] = ()
    protocol: str = "classic"
    protocol_title: str = ""
    phases: tuple[tuple[str, str, bool], ...] = ()  # (id, title, per peer), in order
    phase_speakers: tuple[str, ...] = ()  # who speaks in each phase
    prompt: str = ""  # the facilitator's line for this phase
    speakers: str = ""  # protocols.SPEAKERS
    who: str = ""  # who speaks, in words
    presenter_silent: bool = False
    kinds: tuple[str, ...] = ()  # the feedback kinds this phase accepts
    accepted: tuple[str, ...] = ()  # what the round takes now (all the classic's kinds)
    method: str = ""  # the method phase's chosen method
    methods: tuple[str, ...] = ()  # the methods the protocol offers to choose from
    roles: tuple[str, ...] = ()
    card: Record | None = None  # the presenter's issue card
    topic: str = ""  # open agenda: the topic this turn walks

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AirtimeRow:
    """One member's airtime across a circle's meetings (seconds)."""

    member: str
    name: str
    turns: int  # turns in the hot seat
    presenting: int  # seconds in the hot seat
    feedback: int  # feedback items given
    giving: int  # seconds with the floor giving feedback
    share: int  # percent of all hot-seat time
    balance: float  # turns minus the fair share (negative: has presented less)


@dataclass(frozen=True)
class AirtimeView:
    """The fairness view of a circle: `xcircle airtime`, and the airtime screen."""

    circle: str
    rounds: int
    fair_turns: float  # turns each member would have had if all were equal
    rows: tuple[AirtimeRow, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
