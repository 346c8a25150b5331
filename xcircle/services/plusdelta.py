"""Plus/delta: a meeting ends with a look at its process, what worked (plus) and what
to change (delta), recorded per meeting and shown in its minutes.

It is the meeting's last word, given as it closes: so it may be added while the
meeting runs and also once it is closed (the one thing a closed meeting still takes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from xcircle.errors import InvalidInput
from xcircle.services.context import Context, clean
from xcircle.services.meetings import Meetings


@dataclass(frozen=True)
class PlusDeltaItem:
    id: str
    kind: str  # plus | delta
    text: str
    member: str | None
    name: str  # who said it ("" when recorded for the circle)
    at: str


@dataclass(frozen=True)
class PlusDelta:
    """A meeting's plus/delta, each list in the order it was given."""

    circle: str
    meeting: str
    plus: tuple[PlusDeltaItem, ...]
    delta: tuple[PlusDeltaItem, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PlusDeltas:
    """Use cases of a meeting's plus/delta."""

    def __init__(self, ctx: Context, meetings: Meetings) -> None:
        self.ctx, self.meetings = ctx, meetings

    def add(
        self,
        circle: str,
        meeting: str,
        *,
        plus: Sequence[str] = (),
        delta: Sequence[str] = (),
        member: str | None = None,
    ) -> PlusDelta:
        """Record pluses and deltas (one per line or item) in one write; `member`: who
        said them (None: the circle's, as the facilitator notes them)."""
        rec = self.meetings.get(circle, meeting)
        if rec["status"] not in ("running", "closed"):
            raise InvalidInput(
                f"a plus/delta ends a meeting that was held; this one is {rec['status']}",
                field="meeting",
            )
        if member is not None:
            self.ctx.record(circle, "member", member, "member")
        ops = []
        now = self.ctx.now_iso()
        for kind, items in (("plus", plus), ("delta", delta)):
            for item in items:
                text = clean(item, f"a {kind}", 1000, multiline=True, field=kind)
                if text:
                    ops.append(
                        self.ctx.add(
                            circle,
                            "plusdelta",
                            meeting=meeting,
                            member=member,
                            kind=kind,
                            text=text,
                            at=now,
                        )
                    )
        if not ops:
            raise InvalidInput("say what worked (plus) or what to change (delta)", field="plus")
        self.ctx.commit(ops)
        return self.of(circle, meeting)

    def of(self, circle: str, meeting: str) -> PlusDelta:
        self.meetings.get(circle, meeting)
        names = {m["id"]: m["name"] for m in self.ctx.members(circle)}
        items = sorted(
            (r for r in self.ctx.store.records(circle, "plusdelta") if r["meeting"] == meeting),
            key=lambda r: (r.get("stamp", ""), r["id"]),
        )
        views = [
            PlusDeltaItem(
                r["id"],
                r["kind"],
                r["text"],
                r["member"],
                names.get(r["member"], "a former member") if r["member"] else "",
                r["at"],
            )
            for r in items
        ]
        return PlusDelta(
            circle,
            meeting,
            tuple(v for v in views if v.kind == "plus"),
            tuple(v for v in views if v.kind == "delta"),
        )
