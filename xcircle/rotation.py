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
) -> list[str]:
    """`members` ordered least-recently-served first (never served = first of all)."""
    last = last_served(history)
    joined = joined or {}
    return sorted(members, key=lambda m: (last.get(m, -1), joined.get(m, ""), m))


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
