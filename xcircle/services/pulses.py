"""Pulses (1–5 on support, confidence, learning after a meeting) and the private journal."""

from __future__ import annotations

from xcircle.domain import PULSE_ASPECTS
from xcircle.errors import NotYours
from xcircle.merge import Record
from xcircle.ops import new_id
from xcircle.services.context import Context, clean, in_range
from xcircle.services.meetings import Meetings
from xcircle.services.views import JournalEntry, PulseAggregate

# A shared circle shows a meeting's pulse averages from this many pulses on: with fewer,
# a member who knows their own rating could work out another's from the average.
MIN_AGGREGATE = 3

# The profile's table of journal entries that belong to no circle.
JOURNAL = "journal"


class Pulses:
    """Use cases of the outcomes the circle exists for, as its members rate them."""

    def __init__(self, ctx: Context, meetings: Meetings | None = None) -> None:
        self.ctx = ctx
        self.meetings = meetings or Meetings(ctx)

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
        """A member's pulse for a meeting; given again, the latest one counts."""
        self.meetings.writable(circle, meeting)
        self.ctx.record(circle, "member", member, "member")
        self.meetings.speak_for(circle, meeting, member)
        values = self._values(support, confidence, learning)
        op = self.ctx.add(circle, "pulse", meeting=meeting, member=member, **values)
        self.ctx.commit([op])
        return self.ctx.record(circle, "pulse", op.key, "pulse")

    def _values(self, support: int, confidence: int, learning: int) -> dict[str, int]:
        values = dict(zip(PULSE_ASPECTS, (support, confidence, learning), strict=True))
        for name, value in values.items():
            in_range(value, name, 1, 5, field=name)
        return values

    def edit(
        self,
        circle: str,
        pulse: str,
        *,
        support: int | None = None,
        confidence: int | None = None,
        learning: int | None = None,
    ) -> Record:
        """Correct a pulse (aspects not given stay): the old one is tombstoned and the
        corrected one added, in one write; both sync."""
        old = self._own(circle, pulse)
        values = self._values(
            old["support"] if support is None else support,
            old["confidence"] if confidence is None else confidence,
            old["learning"] if learning is None else learning,
        )
        op = self.ctx.add(circle, "pulse", meeting=old["meeting"], member=old["member"], **values)
        self.ctx.commit([self.ctx.op(circle, "pulse", pulse, _deleted=True), op])
        return self.ctx.record(circle, "pulse", op.key, "pulse")

    def remove(self, circle: str, pulse: str) -> Record:
        """Remove a member's pulse for a meeting (every rating they gave it, so an older
        one does not show again): tombstones that sync, one write."""
        old = self._own(circle, pulse)
        same = [
            p["id"]
            for p in self.ctx.store.records(circle, "pulse")
            if p["meeting"] == old["meeting"] and p["member"] == old["member"]
        ]
        self.ctx.commit([self.ctx.op(circle, "pulse", key, _deleted=True) for key in same])
        return old

    def restore(self, circle: str, removed: Record) -> Record:
        """Undo a removal: the member's pulse again, as a new record."""
        return self.record(
            circle,
            removed["meeting"],
            removed["member"],
            support=removed["support"],
            confidence=removed["confidence"],
            learning=removed["learning"],
        )

    def _own(self, circle: str, pulse: str) -> Record:
        old = self.ctx.record(circle, "pulse", pulse, "pulse")
        self.meetings.writable(circle, old["meeting"])
        self.ctx.check_mine(circle, "pulse", pulse, old["member"], "pulse")
        return old

    def for_meeting(self, circle: str, meeting: str) -> dict[str, Record]:
        """Each member's pulse for a meeting (the latest one, if given twice)."""
        return self.by_meeting(circle).get(meeting, {})

    def by_meeting(self, circle: str) -> dict[str, dict[str, Record]]:
        """`for_meeting` of every meeting at once (one pass over the records)."""
        out: dict[str, dict[str, Record]] = {}
        for p in sorted(self.ctx.store.records(circle, "pulse"), key=lambda p: p["stamp"]):
            out.setdefault(p["meeting"], {})[p["member"]] = p
        return out

    def shown(self, circle: str, pulse: Record) -> bool:
        """Whether this device may show `pulse`'s own ratings: in a circle that is not
        shared (one device records them all), or when it is this device's member's own
        or was typed on this device (for a member without one). Everyone else's pulse
        counts only in the circle's aggregate."""
        if not self.ctx.store.meta(circle).get("shared"):
            return True
        try:
            self.ctx.check_mine(circle, "pulse", pulse["id"], pulse["member"], "pulse")
        except NotYours:
            return False
        return True

    def aggregate(self, circle: str, meeting: str) -> PulseAggregate:
        """How many rated the meeting and the average of each aspect (two decimals)."""
        pulses = list(self.for_meeting(circle, meeting).values())
        if not pulses:
            return PulseAggregate(0, None, None, None)

        def mean(aspect: str) -> float:
            return round(sum(int(p[aspect]) for p in pulses) / len(pulses), 2)

        return PulseAggregate(len(pulses), mean("support"), mean("confidence"), mean("learning"))


class Reflections:
    """The private journal: kept on this device only, never in the outbox, never synced.

    An entry about a circle is a `reflection` record in the circle's database (a private
    entity: never pushed, refused when pulled); one about no circle stays in the
    profile's database."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(self, circle: str, text: str, meeting: str | None = None) -> Record:
        op = self.ctx.add(
            circle,
            "reflection",
            text=clean(text, "the reflection", 20000, required=True, multiline=True, field="text"),
            meeting=meeting,
            at=self.ctx.now_iso(),
        )
        self.ctx.commit([op])
        return self.ctx.record(circle, "reflection", op.key, "reflection")

    def all(self, circle: str) -> list[Record]:
        return sorted(self.ctx.store.records(circle, "reflection"), key=lambda r: r["at"])

    def write(self, text: str, circle: str | None = None) -> JournalEntry:
        """Add a journal entry, about `circle` or about no circle in particular."""
        if circle is not None:
            rec = self.add(circle, text)
            return JournalEntry(rec["id"], rec["text"], rec["at"], circle, None)
        self.ctx.store.require_profile()
        body = clean(text, "the reflection", 20000, required=True, multiline=True, field="text")
        key, at = new_id(), self.ctx.now_iso()
        self.ctx.store.save_private(JOURNAL, key, {"text": body, "at": at})
        return JournalEntry(key, body, at, None, None)

    def journal(self, circle: str | None = None) -> list[JournalEntry]:
        """Every journal entry, oldest first (only `circle`'s when given)."""
        out: list[JournalEntry] = []
        circles = [circle] if circle is not None else self.ctx.store.circle_ids()
        for cid in circles:
            for r in self.all(cid):
                out.append(JournalEntry(r["id"], r["text"], r["at"], cid, r.get("meeting")))
        if circle is None:
            for r in self.ctx.store.private_records(JOURNAL):
                out.append(JournalEntry(r["id"], r["text"], r["at"], None, None))
        return sorted(out, key=lambda e: (e.at, e.id))
