"""Commitments made at the end of a turn, reviewed at the next meeting.

An open commitment carries forward: every later meeting reviews it until it is kept or
dropped. Renegotiating one closes it as "renegotiated" and makes, in the same write, a
new open commitment with the new wording and due date (`replaces` points back), which the
next meeting reviews in turn.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from xcircle.domain import COMMITMENT_STATUSES
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.ops import Op, new_id
from xcircle.services.context import Context, clean
from xcircle.services.goals import parse_date
from xcircle.services.meetings import Meetings, chrono
from xcircle.services.views import DueCommitment


class Commitments:
    """Use cases of commitments: make, correct, review and renegotiate one; list what is due."""

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
        if meeting is not None:
            self.meetings.writable(circle, meeting)
        self.ctx.record(circle, "member", owner, "member")
        key = new_id()
        self.ctx.commit([self._new(circle, key, owner, text, due, meeting)])
        return self.get(circle, key)

    def _new(
        self,
        circle: str,
        key: str,
        owner: str,
        text: str,
        due: str | None,
        meeting: str | None,
        replaces: str | None = None,
        case: str | None = None,
    ) -> Op:
        fields: dict[str, Any] = {
            "owner": owner,
            "text": clean(
                text, "the commitment", 1000, required=True, multiline=True, field="text"
            ),
            "due": parse_date(due),
            "status": "open",
            "meeting": meeting,
            "reviewed_in": None,
            "note": "",
            "created": self.ctx.now_iso(),
        }
        if replaces is not None:
            fields["replaces"] = replaces
        if case is not None:
            fields["case"] = case
        return self.ctx.op(circle, "commitment", key, **fields)

    def new_op(
        self,
        circle: str,
        key: str,
        owner: str,
        text: str,
        due: str | None,
        meeting: str | None,
        *,
        case: str | None = None,
    ) -> Op:
        """The op making a new open commitment, for a use case that writes it together
        with other changes (closing a case)."""
        return self._new(circle, key, owner, text, due, meeting, case=case)

    def edit(
        self, circle: str, commitment: str, *, text: str | None = None, due: str | None = None
    ) -> Record:
        """Correct one's own commitment: its wording and/or due date ("" clears the date)."""
        rec = self._own(circle, commitment)
        fields: dict[str, Any] = {}
        if text is not None:
            fields["text"] = clean(
                text, "the commitment", 1000, required=True, multiline=True, field="text"
            )
        if due is not None:
            fields["due"] = parse_date(due)
        if fields:
            self.ctx.commit([self.ctx.op(circle, "commitment", rec["id"], **fields)])
        return self.get(circle, commitment)

    def remove(self, circle: str, commitment: str) -> Record:
        """Remove one's own commitment (made by mistake): a tombstone that syncs."""
        rec = self._own(circle, commitment)
        self.ctx.commit([self.ctx.op(circle, "commitment", commitment, _deleted=True)])
        return rec

    def restore(self, circle: str, removed: Record) -> Record:
        """Undo a removal: the same commitment again (tombstones are sticky, so as a new
        record with the removed one's fields)."""
        if removed.get("meeting"):
            self.meetings.writable(circle, removed["meeting"])
        self.ctx.record(circle, "member", removed["owner"], "member")
        key = new_id()
        fields = {k: v for k, v in removed.items() if k not in ("id", "renegotiated_as")}
        self.ctx.commit([self.ctx.op(circle, "commitment", key, **fields)])
        return self.get(circle, key)

    def _own(self, circle: str, commitment: str) -> Record:
        rec = self.get(circle, commitment)
        for meeting in (rec.get("meeting"), rec.get("reviewed_in")):
            if meeting and self.ctx.store.get(circle, "meeting", meeting):
                self.meetings.writable(circle, meeting)
        self.ctx.check_mine(circle, "commitment", commitment, rec["owner"], "commitment")
        return rec

    def review(
        self,
        circle: str,
        commitment: str,
        status: str,
        *,
        meeting: str | None = None,
        note: str = "",
        text: str | None = None,
        due: str | None = None,
    ) -> Record:
        """Mark a commitment kept, renegotiated or dropped (or open again), one write.

        Renegotiating takes the new wording (`text`) and due date (`due`): the
        commitment is closed as renegotiated and a new open one, made at `meeting`,
        replaces it. Returns the reviewed commitment (the replacement's id is in
        `renegotiated_as`)."""
        if status not in COMMITMENT_STATUSES:
            raise InvalidInput(
                f"a commitment is one of {', '.join(COMMITMENT_STATUSES)}", field="status"
            )
        rec = self.get(circle, commitment)
        if meeting is not None:
            self.meetings.writable(circle, meeting)
        ops = [
            self.ctx.op(
                circle,
                "commitment",
                commitment,
                status=status,
                reviewed_in=meeting,
                note=clean(note, "the note", 1000, multiline=True, field="note"),
            )
        ]
        new_key = None
        if status == "renegotiated":
            if text is None or not text.strip():
                raise InvalidInput("renegotiating takes the new wording", field="text")
            if not due:
                raise InvalidInput("renegotiating takes a new due date", field="due")
            new_key = new_id()
            ops.append(
                self._new(circle, new_key, rec["owner"], text, due, meeting, replaces=commitment)
            )
        elif text is not None or due is not None:
            raise InvalidInput("new wording and due date go with renegotiated", field="status")
        self.ctx.commit(ops)
        out = self.get(circle, commitment)
        return {**out, "renegotiated_as": new_key} if new_key else out

    def get(self, circle: str, commitment: str) -> Record:
        return self.ctx.record(circle, "commitment", commitment, "commitment")

    def all(self, circle: str) -> list[Record]:
        return sorted(
            self.ctx.store.records(circle, "commitment"),
            key=lambda c: (c["status"] != "open", c.get("due") or "9999", c["created"], c["id"]),
        )

    def to_review(self, circle: str, meeting: str) -> list[Record]:
        """Commitments a meeting reviews: made at earlier meetings (or outside any) and
        still open, whatever meeting made them (they carry forward until kept or
        dropped), plus those this meeting reviewed already."""
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
        """My open commitments across circles, those due soonest first; each says
        whether it is `overdue` (its due date has passed)."""
        return [
            {**d.record, "circle": d.circle, "overdue": d.overdue, "days_left": d.days_left}
            for d in self.due_soon(within_days)
        ]

    def due_soon(self, within_days: int = 14) -> list[DueCommitment]:
        """`mine_due` as typed read models."""
        today = self.ctx.now().date()
        out = []
        for cid in self.ctx.store.circle_ids():
            me = self.ctx.me(cid)
            for c in self.ctx.store.records(cid, "commitment"):
                if c["owner"] != me or c["status"] != "open":
                    continue
                due = date.fromisoformat(c["due"]) if c.get("due") else None
                left = None if due is None else (due - today).days
                if left is None or left <= within_days:
                    out.append(DueCommitment(cid, c["id"], c["text"], c.get("due"), left, c))
        return sorted(out, key=lambda d: (d.due or "9999", d.id))
