"""What the circle screen shows, read off the event loop in one go.

`read_circle` runs in a worker thread: a few passes over the circle's records (one for
attendance), never a query per meeting, so a circle of thousands of records reads in
tens of milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from xcircle.merge import Record
from xcircle.services import Services
from xcircle.services.amendments import AmendmentView
from xcircle.services.meetings import is_upcoming
from xcircle.services.views import KeptRatio


@dataclass
class CircleView:
    """Everything the circle screen shows, read off the event loop in one go."""

    circle: Record
    agreements: list[Record]
    acknowledged: set[str]
    members: list[Record]
    mix: dict[str, dict[str, int]]
    meetings: list[Record]
    next_facilitator: str | None
    me: str | None
    goals: list[Record]
    attendance: list[int]
    pulse: dict[str, list[float]]
    commitments: dict[str, int]
    roles: dict[str, str]  # member id → convener | member
    fingerprints: dict[str, str]  # member id → its devices' fingerprints, comma-separated
    kept: KeptRatio
    amendments: list[AmendmentView] = field(default_factory=list)  # open ones
    cards: list[Record] = field(default_factory=list)  # open issue cards, most urgent first

    @property
    def names(self) -> dict[str, str]:
        return {m["id"]: m["name"] for m in self.members}


def read_circle(services: Services, circle: str) -> CircleView:
    """Read one circle for the screen, counting attendance once."""
    present = services.insights.present_counts(circle)
    meetings = [{**m, "present": present[m["id"]]} for m in services.meetings.all(circle)]
    members = services.members.all(circle)
    devices = services.members.devices(circle)
    return CircleView(
        circle=services.circles.get(circle),
        agreements=services.circles.agreements(circle),
        acknowledged=services.meetings.acknowledged(circle),
        members=members,
        mix=services.insights.mix(circle),
        meetings=meetings,
        next_facilitator=services.meetings.next_facilitator(circle),
        me=services.ctx.me(circle),
        goals=services.goals.with_checkins(circle),
        attendance=services.insights.attendance(circle, present),
        pulse=services.insights.pulse(circle),
        commitments=services.insights.commitments(circle),
        roles={m["id"]: services.members.role(circle, m["id"]) for m in members},
        fingerprints={
            member: ", ".join(d["fingerprint"] for d in rows) for member, rows in devices.items()
        },
        kept=services.insights.kept(circle),
        amendments=services.amendments.pending(circle),
        cards=services.cards.all(circle),
    )


def meeting_order(meetings: list[Record], now: datetime) -> list[Record]:
    """Upcoming meetings soonest first, then past ones most recent first."""
    ahead = [m for m in meetings if is_upcoming(m, now)]
    past = [m for m in meetings if not is_upcoming(m, now)]
    return ahead + past[::-1]
