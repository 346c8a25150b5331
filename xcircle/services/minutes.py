"""A meeting's minutes: who was there, who presented, the commitments, the pulse.

Feedback text is confidential by default ("what is said in the circle stays in the
circle"): the minutes carry it only when one of the circle's agreements is titled
`MINUTES_FEEDBACK_AGREEMENT` ("Feedback in minutes"), i.e. when the circle agreed to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from xcircle.domain import MINUTES_FEEDBACK_AGREEMENT
from xcircle.services.circles import Circles
from xcircle.services.commitments import Commitments
from xcircle.services.context import Context
from xcircle.services.meetings import Meetings
from xcircle.services.pulses import Pulses
from xcircle.services.rounds import Rounds
from xcircle.services.views import PulseAggregate


@dataclass(frozen=True)
class MinutesCommitment:
    """A commitment as the minutes list it (made here, or reviewed here)."""

    id: str
    owner: str
    text: str
    due: str | None
    status: str
    replaces: str | None


@dataclass(frozen=True)
class MinutesFeedback:
    presenter: str
    giver: str
    kind: str
    text: str


@dataclass(frozen=True)
class Minutes:
    """What the minutes of one meeting hold; names, not ids, for people."""

    circle: str
    circle_name: str
    meeting: str
    at: str
    zone: str
    duration: int
    status: str
    kickoff: bool
    themes: tuple[str, ...]
    facilitator: str | None
    present: tuple[str, ...]
    absent: tuple[str, ...]
    presenters: tuple[str, ...]
    made: tuple[MinutesCommitment, ...]
    reviewed: tuple[MinutesCommitment, ...]
    pulse: PulseAggregate
    notes: str
    feedback_allowed: bool
    feedback: tuple[MinutesFeedback, ...]  # empty unless the agreements allow it
    plus: tuple[str, ...] = ()  # the plus/delta on the process: what worked
    delta: tuple[str, ...] = ()  # and what to change

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class MinutesOf:
    """Builds a meeting's `Minutes` from the services' records."""

    def __init__(
        self,
        ctx: Context,
        circles: Circles,
        meetings: Meetings,
        rounds: Rounds,
        commitments: Commitments,
        pulses: Pulses,
    ) -> None:
        self.ctx, self.circles, self.meetings = ctx, circles, meetings
        self.rounds, self.commitments, self.pulses = rounds, commitments, pulses

    def feedback_allowed(self, circle: str) -> bool:
        wanted = MINUTES_FEEDBACK_AGREEMENT.casefold()
        return any(a["title"].strip().casefold() == wanted for a in self.circles.agreements(circle))

    def __call__(self, circle: str, meeting: str) -> Minutes:
        rec = self.meetings.get(circle, meeting)
        circle_rec = self.circles.get(circle)
        names: dict[str, str] = {m["id"]: m["name"] for m in self.ctx.members(circle)}

        def name(member: str | None) -> str:
            return names.get(member or "", "a former member")

        marks = self.meetings.attendance(circle, meeting)
        round_rec = self.ctx.store.get(circle, "round", meeting) or {}

        def item(c: dict[str, Any]) -> MinutesCommitment:
            return MinutesCommitment(
                c["id"], name(c["owner"]), c["text"], c.get("due"), c["status"], c.get("replaces")
            )

        commitments = self.commitments.all(circle)
        allowed = self.feedback_allowed(circle)
        given = self.rounds.feedback_for(circle, meeting)
        feedback = tuple(
            MinutesFeedback(name(f["presenter"]), name(f["giver"]), f["kind"], f["text"])
            for f in given
        )
        # Who presented: the round's order; without a round (a meeting run from the
        # CLI), whoever received feedback, in the order they first did.
        presenters = round_rec.get("order") or list(dict.fromkeys(f["presenter"] for f in given))
        return Minutes(
            circle=circle,
            circle_name=circle_rec["name"],
            meeting=meeting,
            at=rec["at"],
            zone=rec.get("tz", ""),
            duration=rec["duration"],
            status=rec["status"],
            kickoff=bool(rec.get("kickoff")),
            themes=tuple(rec.get("themes", [])),
            facilitator=name(rec["facilitator"]) if rec.get("facilitator") else None,
            present=tuple(name(m) for m in names if marks.get(m) is True),
            absent=tuple(name(m) for m in names if marks.get(m) is False),
            presenters=tuple(name(m) for m in presenters),
            made=tuple(item(c) for c in commitments if c.get("meeting") == meeting),
            reviewed=tuple(item(c) for c in commitments if c.get("reviewed_in") == meeting),
            pulse=self.pulses.aggregate(circle, meeting),
            notes=rec.get("notes", ""),
            feedback_allowed=allowed,
            feedback=feedback if allowed else (),
            plus=self._plusdelta(circle, meeting, "plus"),
            delta=self._plusdelta(circle, meeting, "delta"),
        )

    def _plusdelta(self, circle: str, meeting: str, kind: str) -> tuple[str, ...]:
        items = [
            r
            for r in self.ctx.store.records(circle, "plusdelta")
            if r["meeting"] == meeting and r["kind"] == kind
        ]
        return tuple(r["text"] for r in sorted(items, key=lambda r: (r["stamp"], r["id"])))
