"""Insights: attendance and pulse trends, commitments kept vs open, the circle's mix."""

from __future__ import annotations

from collections import Counter

from xcircle.domain import COMMITMENT_STATUSES, PULSE_ASPECTS
from xcircle.merge import Record
from xcircle.services.context import Context
from xcircle.services.meetings import Meetings
from xcircle.services.views import KeptRatio


class Insights:
    """Figures derived from a circle's history, for the insights tab and reports."""

    def __init__(self, ctx: Context, meetings: Meetings) -> None:
        self.ctx = ctx
        self.meetings = meetings

    def present_counts(self, circle: str) -> Counter[str]:
        """Meeting id -> how many members were marked present (one pass)."""
        marks: Counter[str] = Counter()
        for a in self.ctx.store.records(circle, "attendance"):
            if a["present"]:
                marks[a["meeting"]] += 1
        return marks

    def attendance(self, circle: str, present: Counter[str] | None = None) -> list[int]:
        """Per held meeting, oldest first: the share of members present (percent).
        `present`: `present_counts(circle)` when the caller has it already."""
        members = len(self.ctx.members(circle)) or 1
        marks = self.present_counts(circle) if present is None else present
        return [min(100, round(100 * marks[m["id"]] / members)) for m in self.meetings.held(circle)]

    def pulse(self, circle: str) -> dict[str, list[float]]:
        """Per aspect, per held meeting with pulses: the circle's average (1–5)."""
        by_meeting: dict[str, dict[str, Record]] = {}
        for p in sorted(self.ctx.store.records(circle, "pulse"), key=lambda p: p["stamp"]):
            by_meeting.setdefault(p["meeting"], {})[p["member"]] = p
        out: dict[str, list[float]] = {a: [] for a in PULSE_ASPECTS}
        for m in self.meetings.held(circle):
            pulses = list(by_meeting.get(m["id"], {}).values())
            if not pulses:
                continue
            for aspect in PULSE_ASPECTS:
                out[aspect].append(round(sum(p[aspect] for p in pulses) / len(pulses), 2))
        return out

    def kept(self, circle: str) -> KeptRatio:
        """Commitments kept among those reviewed: an open commitment is neither kept nor
        missed yet, so it never lowers (or raises) the figure."""
        counts = self.commitments(circle)
        reviewed = sum(n for status, n in counts.items() if status != "open")
        return KeptRatio(counts["kept"], reviewed)

    def commitments(self, circle: str) -> dict[str, int]:
        counts = Counter(c["status"] for c in self.ctx.store.records(circle, "commitment"))
        return {s: counts.get(s, 0) for s in COMMITMENT_STATUSES}

    def mix(self, circle: str) -> dict[str, dict[str, int]]:
        """How many members come from each organization, and of each seniority."""
        members = self.ctx.members(circle)
        return {
            "organizations": dict(Counter(m["org"] for m in members).most_common()),
            "seniority": dict(
                Counter(m.get("seniority") or "unset" for m in members).most_common()
            ),
        }
