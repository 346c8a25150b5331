"""Pulses (1–5 on support, confidence, learning after a meeting) and private reflections."""

from __future__ import annotations

from xcircle.domain import PULSE_ASPECTS
from xcircle.merge import Record
from xcircle.services.context import Context, clean, in_range


class Pulses:
    """Use cases of the outcomes the circle exists for, as its members rate them."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def record(
        self,
        circle: str,
        meeting: str,
        member: str,
        *,
        support: int,
        confidence: int,
        learning: int,
    ) -> Record:
        self.ctx.record(circle, "meeting", meeting, "meeting")
        self.ctx.record(circle, "member", member, "member")
        for name, value in zip(PULSE_ASPECTS, (support, confidence, learning), strict=True):
            in_range(value, name, 1, 5)
        op = self.ctx.add(
            circle,
            "pulse",
            meeting=meeting,
            member=member,
            support=support,
            confidence=confidence,
            learning=learning,
        )
        self.ctx.commit([op])
        return self.ctx.record(circle, "pulse", op.key, "pulse")

    def for_meeting(self, circle: str, meeting: str) -> dict[str, Record]:
        """Each member's pulse for a meeting (the latest one, if given twice)."""
        return self.by_meeting(circle).get(meeting, {})

    def by_meeting(self, circle: str) -> dict[str, dict[str, Record]]:
        """`for_meeting` of every meeting at once (one pass over the records)."""
        out: dict[str, dict[str, Record]] = {}
        for p in sorted(self.ctx.store.records(circle, "pulse"), key=lambda p: p["stamp"]):
            out.setdefault(p["meeting"], {})[p["member"]] = p
        return out


class Reflections:
    """Private notes: kept on this device only, never in the outbox, never synced."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(self, circle: str, text: str, meeting: str | None = None) -> Record:
        op = self.ctx.add(
            circle,
            "reflection",
            text=clean(text, "the reflection", 20000, required=True, multiline=True),
            meeting=meeting,
            at=self.ctx.now_iso(),
        )
        self.ctx.commit([op])
        return self.ctx.record(circle, "reflection", op.key, "reflection")

    def all(self, circle: str) -> list[Record]:
        return sorted(self.ctx.store.records(circle, "reflection"), key=lambda r: r["at"])
