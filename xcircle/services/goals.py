"""Goals (individual or group) and their check-ins."""

from __future__ import annotations

from datetime import date
from typing import Any

from xcircle.domain import GOAL_STATUSES
from xcircle.errors import InvalidInput
from xcircle.merge import Record
from xcircle.ops import new_id
from xcircle.services.context import Context, clean, in_range


def parse_date(text: str | None, field: str = "due") -> str | None:
    """An ISO date (YYYY-MM-DD) or None; a clear error for anything else."""
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a date: use YYYY-MM-DD, e.g. 2026-12-31", field=field
        ) from None


class Goals:
    """Use cases of goals: set them, check in on them, close them."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def add(
        self,
        circle: str,
        title: str,
        *,
        owner: str | None = None,
        why: str = "",
        measure: str = "",
        due: str | None = None,
    ) -> Record:
        """Add a goal: individual with `owner` (a member id), or a group goal without."""
        if owner is not None:
            self.ctx.record(circle, "member", owner, "member")
        key = new_id()
        fields = {
            "title": clean(title, "the goal's title", 200, required=True, field="title"),
            "why": clean(why, "why", 2000, multiline=True, field="why"),
            "measure": clean(
                measure, "the measure of success", 1000, multiline=True, field="measure"
            ),
            "due": parse_date(due),
            "status": "active",
            "owner": owner,
            "created": self.ctx.now_iso(),
        }
        self.ctx.commit([self.ctx.op(circle, "goal", key, **fields)])
        return self.get(circle, key)

    def update(self, circle: str, goal: str, **changes: Any) -> Record:
        self.get(circle, goal)
        fields: dict[str, Any] = {}
        for name, max_len, required in (
            ("title", 200, True),
            ("why", 2000, False),
            ("measure", 1000, False),
        ):
            if name in changes:
                fields[name] = clean(
                    changes[name],
                    name,
                    max_len,
                    required=required,
                    multiline=name != "title",
                    field=name,
                )
        if "due" in changes:
            fields["due"] = parse_date(changes["due"])
        if "status" in changes:
            if changes["status"] not in GOAL_STATUSES:
                raise InvalidInput(
                    f"a goal's status is one of {', '.join(GOAL_STATUSES)}", field="status"
                )
            fields["status"] = changes["status"]
        if "owner" in changes:
            if changes["owner"] is not None:
                self.ctx.record(circle, "member", changes["owner"], "member")
            fields["owner"] = changes["owner"]
        if fields:
            self.ctx.commit([self.ctx.op(circle, "goal", goal, **fields)])
        return self.get(circle, goal)

    def checkin(
        self,
        circle: str,
        goal: str,
        *,
        progress: int,
        confidence: int | None = None,
        note: str = "",
        member: str | None = None,
    ) -> Record:
        """Record progress (0–100), confidence (1–5) and a note on a goal."""
        self.get(circle, goal)
        in_range(progress, "progress", 0, 100, field="progress")
        in_range(confidence, "confidence", 1, 5, field="confidence")
        op = self.ctx.add(
            circle,
            "checkin",
            goal=goal,
            member=member or self.ctx.me(circle),
            progress=progress,
            confidence=confidence,
            note=clean(note, "the note", 4000, multiline=True, field="note"),
            at=self.ctx.now_iso(),
        )
        self.ctx.commit([op])
        return self.ctx.record(circle, "checkin", op.key, "check-in")

    def get(self, circle: str, goal: str) -> Record:
        return self.ctx.record(circle, "goal", goal, "goal")

    def all(self, circle: str) -> list[Record]:
        return sorted(
            self.ctx.store.records(circle, "goal"),
            # The id breaks ties: replicas hold records in different orders, lists must not.
            key=lambda g: (
                g["status"] != "active",
                g.get("due") or "9999",
                g["title"].lower(),
                g["id"],
            ),
        )

    def checkins(self, circle: str, goal: str | None = None) -> list[Record]:
        items = [
            c
            for c in self.ctx.store.records(circle, "checkin")
            if goal is None or c["goal"] == goal
        ]
        return sorted(items, key=lambda c: (c["at"], c["stamp"], c["id"]))

    def with_checkins(self, circle: str) -> list[Record]:
        """Every goal with its check-ins (oldest first) and latest progress."""
        by_goal: dict[str, list[Record]] = {}
        for c in self.checkins(circle):
            by_goal.setdefault(c["goal"], []).append(c)
        out = []
        for g in self.all(circle):
            history = by_goal.get(g["id"], [])
            out.append(
                {**g, "checkins": history, "progress": history[-1]["progress"] if history else 0}
            )
        return out

    def mine(self) -> list[Record]:
        """My individual goals and the group goals, across all my circles."""
        out = []
        for cid in self.ctx.store.circle_ids():
            me = self.ctx.me(cid)
            if self.ctx.store.get(cid, "circle", cid) is None:
                continue
            for g in self.with_checkins(cid):
                if g.get("owner") in (None, me):
                    out.append({**g, "circle": cid})
        return out
