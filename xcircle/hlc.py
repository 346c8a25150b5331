"""Hybrid logical clock (Kulkarni et al. 2014): wall ms + counter + node id.

Stamps are fixed-width strings, so plain string comparison is the total order
`(wall, counter, node)`. The clock never goes backwards: not across restarts (the
store seeds it with the largest stamp it holds) and not when the wall clock jumps back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

WALL_DIGITS = 13
COUNTER_DIGITS = 6
MAX_COUNTER = 10**COUNTER_DIGITS - 1


def wall_ms() -> int:
    """The system's wall clock in milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, order=True, slots=True)
class Stamp:
    """One HLC stamp; ordered by (wall, counter, node)."""

    wall: int
    counter: int
    node: str

    def __str__(self) -> str:
        return f"{self.wall:0{WALL_DIGITS}d}-{self.counter:0{COUNTER_DIGITS}d}-{self.node}"

    @classmethod
    def parse(cls, text: str) -> Stamp:
        """Parse `str(stamp)`; raises ValueError on anything else."""
        wall, counter, node = text.split("-", 2)
        if len(wall) != WALL_DIGITS or len(counter) != COUNTER_DIGITS or not node:
            raise ValueError(f"not an HLC stamp: {text!r}")
        return cls(int(wall), int(counter), node)


class HLC:
    """A hybrid logical clock for one node (device)."""

    def __init__(self, node: str, now_ms: Callable[[], int] = wall_ms) -> None:
        self.node = node
        self._now = now_ms
        self._wall = 0
        self._counter = 0

    def seed(self, stamp: str | None) -> None:
        """Never issue a stamp at or below `stamp` (the largest one already stored)."""
        if not stamp:
            return
        s = Stamp.parse(stamp)
        if (s.wall, s.counter) > (self._wall, self._counter):
            self._wall, self._counter = s.wall, s.counter

    def now(self) -> str:
        """A new stamp for a local event, strictly greater than every stamp seen."""
        wall = max(self._wall, self._now())
        counter = self._counter + 1 if wall == self._wall else 0
        if counter > MAX_COUNTER:  # a burst of a million events in one ms: borrow the next ms
            wall, counter = wall + 1, 0
        self._wall, self._counter = wall, counter
        return str(Stamp(wall, counter, self.node))

    def observe(self, remote: str) -> None:
        """Merge a stamp received from another node, so later local stamps follow it."""
        self.seed(remote)
