"""Commitments made at the end of a turn, reviewed at the next meeting."""

from __future__ import annotations

from datetime import date

from xcircle.domain import COMMITMENT_STATUSES
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.ops import new_id
from xcircle.services.context import Context, clean
from xcircle.services.goals import parse_date
from xcircle.services.meetings import Meetings, chrono


class Commitments:
    """Use cases of commitments: make one, review it, list what is due."""

    def __init__(self, ctx: Context, meetings: Meetings) -> None:
        self.ctx = ctx
        self.meetings = meetings

    def add(
        self,
        circle: str,
        owner: str,
        text: str,
        *,
        due: str | None = None,
        meeting: str | None = None,
    ) -> Record:
        self.ctx.record(circle, "member", owner, "member")
        key = new_id()
        fields = {
            "owner": owner,
            "text": clean(text, "the commitment", 1000, required=True, multiline=True),
            "due": parse_date(due),
            "status": "open",
            "meeting": meeting,
            "reviewed_in": None,
            "note": "",
            "created": self.ctx.now_iso(),
        }
        self.ctx.commit([self.ctx.op(circle, "commitment", key, **fields)])
        return self.get(circle, key)

    def review(
        self,
        circle: str,
        commitment: str,
        status: str,
        *,
        meeting: str | None = None,
        note: str = "",
    ) -> Record:
        """Mark a commitment kept, renegotiated or dropped (or open again)."""
        if status not in COMMITMENT_STATUSES:
            raise InvalidInput(f"a commitment is one of {', '.join(COMMITMENT_STATUSES)}")
        self.get(circle, commitment)
        self.ctx.commit(
            [
                self.ctx.op(
                    circle,
                    "commitment",
                    commitment,
                    status=status,
                    reviewed_in=meeting,
                    note=clean(note, "the note", 1000, multiline=True),
                )
            ]
        )
        return self.get(circle, commitment)

    def get(self, circle: str, commitment: str) -> Record:
        return self.ctx.record(circle, "commitment", commitment, "commitment")

    def all(self, circle: str) -> list[Record]:
        return sorted(
            self.ctx.store.records(circle, "commitment"),
            key=lambda c: (c["status"] != "open", c.get("due") or "9999", c["created"], c["id"]),
        )

    def to_review(self, circle: str, meeting: str) -> list[Record]:
        """Commitments a meeting reviews: made at earlier meetings, still open or reviewed here."""
        this = self.meetings.get(circle, meeting)
        earlier = {
            m["id"]
            for m in self.meetings.all(circle)
            if m["id"] != meeting and chrono(m) < chrono(this)
        }
        return [
            c
            for c in self.all(circle)
            if c.get("meeting") != meeting
            and (c.get("meeting") in earlier or c.get("meeting") is None)
            and (c["status"] == "open" or c.get("reviewed_in") == meeting)
        ]

    def mine_due(self, within_days: int = 14) -> list[Record]:
        """My open commitments across circles, those due soonest first."""
        today = self.ctx.now().date()
        out = []
        for cid in self.ctx.store.circle_ids():
            me = self.ctx.me(cid)
            for c in self.ctx.store.records(cid, "commitment"):
                if c["owner"] != me or c["status"] != "open":
                    continue
                due = date.fromisoformat(c["due"]) if c.get("due") else None
                if due is None or (due - today).days <= within_days:
                    out.append({**c, "circle": cid})
        return sorted(out, key=lambda c: c.get("due") or "9999")
