"""The time budget of a meeting's agenda: does the round fit the meeting's duration?

A turn in the hot seat lasts present + questions + feedback from each peer + reflect +
commit; the round is one turn per presenter; the other agenda steps take a fixed share
(`STEP_MINUTES`). When the total is over the meeting's duration, two proposals fit it:
the same phases scaled down (in whole 10-second steps, never under `MIN_TIMEBOX`), or
fewer presenters at the current timeboxes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from xcircle.domain import AGENDA, DEFAULT_TIMEBOXES, PHASES

# Minutes the agenda's other steps take (the round is computed).
STEP_MINUTES: Mapping[str, int] = {
    "checkin": 10,
    "review": 10,
    "agreements": 10,
    "commitments": 5,
    "pulse": 5,
}
MIN_TIMEBOX = 30  # seconds: shorter than this a phase is no longer a phase
STEP = 10  # proposed timeboxes are whole multiples of this many seconds


def turn_seconds(
    timeboxes: Mapping[str, int],
    attendees: int,
    phases: Sequence[str] = PHASES,
    per_peer: Collection[str] = ("feedback",),
) -> int:
    """One turn: every phase once, a phase where each peer speaks in turn (the classic
    feedback) once per peer. `phases` and `per_peer` come from the round's protocol."""
    peers = max(attendees - 1, 0)
    return sum(timeboxes[p] * (peers if p in per_peer else 1) for p in phases)


@dataclass(frozen=True)
class TimeBudget:
    """What the agenda needs against what the meeting has (all in seconds)."""

    duration: int
    presenters: int
    attendees: int
    timeboxes: Mapping[str, int]
    steps: int  # the other agenda steps together
    turn: int
    needed: int
    proposed_timeboxes: Mapping[str, int] | None  # None: it fits, or nothing can
    max_presenters: int  # at the current timeboxes

    @property
    def round(self) -> int:
        return self.turn * self.presenters

    @property
    def fits(self) -> bool:
        return self.needed <= self.duration

    @property
    def over(self) -> int:
        return max(self.needed - self.duration, 0)

    def as_dict(self) -> dict[str, object]:
        return {
            "duration": self.duration,
            "presenters": self.presenters,
            "attendees": self.attendees,
            "timeboxes": dict(self.timeboxes),
            "steps": self.steps,
            "turn": self.turn,
            "round": self.round,
            "needed": self.needed,
            "fits": self.fits,
            "over": self.over,
            "proposed_timeboxes": (
                dict(self.proposed_timeboxes) if self.proposed_timeboxes else None
            ),
            "max_presenters": self.max_presenters,
        }


def budget(
    duration_minutes: int,
    presenters: int,
    attendees: int | None = None,
    timeboxes: Mapping[str, int] | None = None,
    agenda: Sequence[str] = AGENDA,
    *,
    phases: Sequence[str] = PHASES,
    per_peer: Collection[str] = ("feedback",),
    defaults: Mapping[str, int] = DEFAULT_TIMEBOXES,
) -> TimeBudget:
    """The budget of a meeting of `duration_minutes` with `presenters` in the hot seat
    and `attendees` present (default: the presenters); `phases`, `per_peer` and
    `defaults` describe the round's protocol (the classic one unless given)."""
    boxes = {**defaults, **(timeboxes or {})}
    shape = (phases, per_peer)
    attendees = presenters if attendees is None else attendees
    duration = duration_minutes * 60
    steps = sum(STEP_MINUTES.get(s, 0) * 60 for s in agenda if s != "round")
    turn = turn_seconds(boxes, attendees, *shape)
    needed = steps + turn * presenters
    available = duration - steps
    max_presenters = min(presenters, available // turn) if turn and available > 0 else 0
    proposed = None
    if needed > duration and presenters:
        proposed = _scaled(boxes, attendees, available // presenters, shape)
    return TimeBudget(
        duration, presenters, attendees, boxes, steps, turn, needed, proposed, max_presenters
    )


def _scaled(
    boxes: Mapping[str, int],
    attendees: int,
    per_turn: int,
    shape: tuple[Sequence[str], Collection[str]] = (PHASES, ("feedback",)),
) -> dict[str, int] | None:
    """The timeboxes scaled down so one turn fits `per_turn` seconds, or None if even
    the shortest phases do not fit."""
    phases = shape[0]
    if turn_seconds(dict.fromkeys(phases, MIN_TIMEBOX), attendees, *shape) > per_turn:
        return None
    factor = per_turn / turn_seconds(boxes, attendees, *shape)
    scaled = {p: max(MIN_TIMEBOX, int(boxes[p] * factor) // STEP * STEP) for p in phases}
    # The MIN_TIMEBOX floor may overshoot: take 10 s off the longest phases until it fits.
    while turn_seconds(scaled, attendees, *shape) > per_turn:
        longest = max((p for p in phases if scaled[p] > MIN_TIMEBOX), key=lambda p: scaled[p])
        scaled[longest] -= STEP
    return scaled
