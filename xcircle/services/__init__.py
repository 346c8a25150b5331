"""Use cases: one call is one user action, one store transaction, one durable write.

Screens and the CLI call these; they never touch the store's files or TinyDB directly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from xcircle.domain import SENIORITIES
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.services.airtime import Airtime
from xcircle.services.amendments import Amendments
from xcircle.services.cards import Cards
from xcircle.services.cases import Cases
from xcircle.services.checkrounds import CheckRounds
from xcircle.services.circles import Circles
from xcircle.services.commitments import Commitments
from xcircle.services.context import Context, clean, local_now
from xcircle.services.goals import Goals, parse_date
from xcircle.services.insights import Insights
from xcircle.services.meetings import Meetings, parse_when
from xcircle.services.members import Members
from xcircle.services.minutes import MinutesOf
from xcircle.services.plusdelta import PlusDeltas
from xcircle.services.programmes import Programmes
from xcircle.services.protocols import Protocols
from xcircle.services.pulses import Pulses, Reflections
from xcircle.services.rounds import Rounds
from xcircle.store import Store

__all__ = ["Services", "local_now", "parse_date", "parse_when"]


class Services:
    """Every use case of xcircle over one store, with an injectable clock."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = local_now) -> None:
        self.store = store
        self.ctx = Context(store, clock)
        self.circles = Circles(self.ctx)
        self.members = Members(self.ctx)
        self.meetings = Meetings(self.ctx)
        self.protocols = Protocols(self.ctx)
        self.cards = Cards(self.ctx)
        self.rounds = Rounds(self.ctx, self.meetings, self.protocols, self.cards)
        self.airtime: Airtime = self.rounds.airtime
        self.topics = self.rounds.topics
        self.checkrounds = CheckRounds(self.ctx, self.rounds)
        self.goals = Goals(self.ctx)
        self.commitments = Commitments(self.ctx, self.meetings)
        self.pulses = Pulses(self.ctx, self.meetings)
        self.reflections = Reflections(self.ctx)
        self.insights = Insights(self.ctx, self.meetings)
        self.minutes = MinutesOf(
            self.ctx, self.circles, self.meetings, self.rounds, self.commitments, self.pulses
        )
        self.cases = Cases(self.ctx, self.members, self.commitments, self.protocols)
        self.amendments = Amendments(self.ctx, self.members)
        self.plusdelta = PlusDeltas(self.ctx, self.meetings)
        self.programmes = Programmes(self.ctx)

    def now(self) -> datetime:
        return self.ctx.now()

    # -- the profile -----------------------------------------------------------------------

    def init_profile(
        self, name: str, org: str, *, seniority: str | None = None, zone: str = ""
    ) -> Record:
        """Create or update this member's profile."""
        if seniority and seniority not in SENIORITIES:
            raise InvalidInput(
                f"seniority must be one of {', '.join(SENIORITIES)}", field="seniority"
            )
        profile = self.store.save_profile(
            name=clean(name, "your name", 120, required=True, field="name"),
            org=clean(org, "your organization", 120, required=True, field="org"),
            seniority=seniority,
            tz=zone,
        )
        from xcircle.keystore import keystore_of  # cryptography: only when needed

        keystore_of(self.store).device_keys()  # this device's keys, made once
        return profile

    def secrets(self) -> dict[str, Any]:
        """Where this device's secrets are kept, its fingerprint, and `notice`: the line
        the first run must show (where secrets are kept: never silently), else None."""
        from xcircle.keystore import keystore_of

        ks = keystore_of(self.store)
        keys = ks.device_keys()
        notice = ks.first_run_notice()
        return {**ks.info(), "fingerprint": keys.public.fingerprint, "notice": notice}

    def profile(self) -> Record | None:
        return self.store.profile

    # -- whole-circle views ------------------------------------------------------------------

    def summary(self, circle: str) -> Record:
        """One circle as the home screen lists it."""
        rec = self.circles.get(circle)
        members = self.members.all(circle)
        nxt = self.meetings.next(circle)
        me = self.ctx.me(circle)
        return {
            **rec,
            "members": len(members),
            "organizations": sorted({m["org"] for m in members}),
            "next_meeting": nxt,
            "open_goals": sum(1 for g in self.goals.all(circle) if g["status"] == "active"),
            "my_open_commitments": sum(
                1
                for c in self.commitments.all(circle)
                if c["owner"] == me and c["status"] == "open"
            ),
            "shared": self.circles.is_shared(circle),
        }

    def overview(self, *, include_archived: bool = False) -> list[Record]:
        return [self.summary(c) for c in self.circles.ids(include_archived=include_archived)]

    def detail(self, circle: str) -> dict[str, Any]:
        """Everything a member would verify after a sync: settings, members, meetings,
        goals with check-ins, commitments, agreements and acknowledgements, pulses."""
        rec = self.circles.get(circle)
        attendance = self.meetings.attendance_by_meeting(circle)
        feedback = self.rounds.feedback_by_meeting(circle)
        pulses = self.pulses.by_meeting(circle)
        meetings = []
        for m in self.meetings.all(circle):
            mid = m["id"]
            meetings.append(
                {
                    **m,
                    "attendance": attendance.get(mid, {}),
                    "round": self.ctx.store.get(circle, "round", mid),
                    "feedback": feedback.get(mid, []),
                    "pulses": sorted(pulses.get(mid, {}).values(), key=lambda p: p["id"]),
                }
            )
        return {
            "circle": rec,
            "agreements": self.circles.agreements(circle),
            "acknowledged": sorted(self.meetings.acknowledged(circle)),
            "members": self.members.all(circle),
            "meetings": meetings,
            "next_facilitator": self.meetings.next_facilitator(circle),
            "goals": self.goals.with_checkins(circle),
            "commitments": self.commitments.all(circle),
            "turns": sorted(self.ctx.store.records(circle, "turn"), key=lambda t: t["id"]),
        }
