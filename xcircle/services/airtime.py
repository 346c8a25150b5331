"""Airtime: who presented, who gave feedback, and for how long, across meetings.

A round keeps, per member, the seconds they spent in the hot seat (`presented`: every
phase of their turn) and the seconds they had the floor giving feedback (`gave`: the
phases where each peer speaks in turn), credited when the facilitator moves on. The
fairness view sums them over the circle's meetings; the rotation uses the hot-seat
seconds as a tie-break (`rotation.proposal_order`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from xcircle.merge import Record
from xcircle.protocols import Phase
from xcircle.services.context import Context
from xcircle.services.meetings import Meetings
from xcircle.services.views import AirtimeRow, AirtimeView

CAP = 86_400  # a round field's bound (domain.seconds_by_member)


def credit(r: Record, phase: Phase, peers: Sequence[str], seconds: int) -> dict[str, Any]:
    """The round fields that credit `seconds` of `phase` to whoever had the floor: the
    presenter for their whole turn, and the peer in turn in a peer-by-peer phase."""
    if seconds <= 0:
        return {}
    presenter = r["order"][r["turn"]]
    presented = dict(r.get("presented") or {})
    presented[presenter] = min(presented.get(presenter, 0) + seconds, CAP)
    out: dict[str, Any] = {"presented": presented}
    if phase.per_peer and peers:
        peer = peers[min(r["peer"], len(peers) - 1)]
        gave = dict(r.get("gave") or {})
        gave[peer] = min(gave.get(peer, 0) + seconds, CAP)
        out["gave"] = gave
    return out


class Airtime:
    """The fairness view of a circle."""

    def __init__(self, ctx: Context, meetings: Meetings) -> None:
        self.ctx = ctx
        self.meetings = meetings

    def _rounds(self, circle: str, exclude: str | None = None) -> list[Record]:
        out = []
        for m in self.meetings.all(circle):
            if m["id"] == exclude or m["status"] == "cancelled":
                continue
            r = self.ctx.store.get(circle, "round", m["id"])
            if r and r.get("order"):
                out.append(r)
        return out

    def presenting_seconds(self, circle: str, exclude: str | None = None) -> dict[str, int]:
        """Seconds each member has spent in the hot seat (meeting `exclude` left out)."""
        total: Counter[str] = Counter()
        for r in self._rounds(circle, exclude):
            total.update({k: v for k, v in (r.get("presented") or {}).items()})
        return dict(total)

    def view(self, circle: str) -> AirtimeView:
        """Per member: turns in the hot seat and their seconds, feedback given (items
        and seconds), and their share of all hot-seat time, most airtime first."""
        turns: Counter[str] = Counter()
        presenting: Counter[str] = Counter()
        giving: Counter[str] = Counter()
        rounds = self._rounds(circle)
        for r in rounds:
            order = list(r["order"])
            reached = len(order) if r.get("done") else min(r.get("turn", 0), len(order) - 1) + 1
            turns.update(order[: max(reached, 0)])
            presenting.update(r.get("presented") or {})
            giving.update(r.get("gave") or {})
        items = Counter(f["giver"] for f in self.ctx.store.records(circle, "feedback"))
        members = self.ctx.members(circle)
        total_turns = sum(turns.values())
        total_seconds = sum(presenting.values())
        fair = total_turns / len(members) if members else 0.0
        rows = [
            AirtimeRow(
                member=m["id"],
                name=m["name"],
                turns=turns[m["id"]],
                presenting=presenting[m["id"]],
                feedback=items[m["id"]],
                giving=giving[m["id"]],
                share=round(100 * presenting[m["id"]] / total_seconds) if total_seconds else 0,
                balance=round(turns[m["id"]] - fair, 1),
            )
            for m in members
        ]
        rows.sort(key=lambda row: (-row.turns, -row.presenting, row.name))
        return AirtimeView(circle=circle, rounds=len(rounds), fair_turns=round(fair, 1),
                           rows=tuple(rows))  # fmt: skip
