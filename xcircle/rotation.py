"""Who facilitates next and who presents first: derived from history, never stored.

Every replica computes the same answer from the same synced data. Fairness rule for
both rotations: least recently served first; a member who has never served comes
before anyone who has; an absent member keeps their place (absence is not service);
ties go to who joined earlier, then to the member id, so the order is total. Since the
last to serve is the most recently served, nobody serves twice in a row while anyone
else is present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Served:
    """One past service: at meeting number `index` (chronological), `member` served."""

    index: int
    member: str


def last_served(history: Iterable[Served]) -> dict[str, int]:
    """The index of each member's most recent service."""
    last: dict[str, int] = {}
    for s in history:
        if s.index > last.get(s.member, -1):
            last[s.member] = s.index
    return last


def rotation_order(
    members: Sequence[str],
    history: Iterable[Served],
    joined: Mapping[str, str] | None = None,
    airtime: Mapping[str, int] | None = None,
) -> list[str]:
    """`members` ordered least-recently-served first (never served = first of all);
    among those served equally recently, who has had the least `airtime` (seconds in
    the hot seat across meetings) first."""
    last = last_served(history)
    joined = joined or {}
    airtime = airtime or {}
    return sorted(members, key=lambda m: (last.get(m, -1), airtime.get(m, 0), joined.get(m, ""), m))


URGENCY_RANK: Mapping[str, int] = {"A": 0, "B": 1, "C": 2}


def proposal_order(
    members: Sequence[str],
    history: Iterable[Served],
    joined: Mapping[str, str] | None = None,
    *,
    urgency: Mapping[str, str] | None = None,
    airtime: Mapping[str, int] | None = None,
) -> list[str]:
    """Who to propose as presenters, in order: members with an issue card of urgency A
    (now) first, then B (soon), then C (some day), then those without a card; within
    each group, the rotation's order (`rotation_order`, airtime included)."""
    urgency = urgency or {}
    rotated = rotation_order(members, history, joined, airtime)
    place = {m: i for i, m in enumerate(rotated)}
    return sorted(rotated, key=lambda m: (URGENCY_RANK.get(urgency.get(m, ""), 3), place[m]))


def next_server(
    members: Sequence[str],
    history: Iterable[Served],
    present: Iterable[str] | None = None,
    joined: Mapping[str, str] | None = None,
) -> str | None:
    """Who serves next among those present (everyone, when attendance is unknown)."""
    here = set(members if present is None else present) & set(members)
    for member in rotation_order(members, history, joined):
        if member in here:
            return member
    return None
