"""A circle's soft score from counts alone, so forming can update it in O(1) per move.

Each mix (organizations, seniorities, functions) is Simpson's diversity, 1 − Σcᵢ²/n²,
divided by the best any circle of n people could reach (every member different; for
seniority, the three levels as even as n allows). Shared topics count the pairs of
members who share a topic, Σ C(cₜ, 2) / C(n, 2), capped at 1. The score is the weighted
mean of the four, in [0, 1].
"""

from __future__ import annotations

from functools import lru_cache

from xcircle.programmes.model import Weights

SENIORITY_LEVELS = 3
TABLE = 17  # circle sizes the tables cover (moves look one past the largest)


@lru_cache(maxsize=4096)
def best_simpson(n: int, kinds: int) -> float:
    """The highest 1 − Σcᵢ²/n² for n people over at most `kinds` kinds (0 for n ≤ 1)."""
    k = min(kinds, n)
    if k <= 1:
        return 0.0
    q, r = divmod(n, k)
    squares = r * (q + 1) ** 2 + (k - r) * q * q
    return 1.0 - squares / (n * n)


def mix(squares: int, n: int, kinds: int) -> float:
    """Simpson's diversity of counts whose squares sum to `squares`, normalised to [0, 1]."""
    best = best_simpson(n, kinds)
    if best <= 0.0:
        return 1.0 if n == 1 else 0.0
    return (1.0 - squares / (n * n)) / best


@lru_cache(maxsize=64)
def scorer(weights: Weights) -> Scorer:
    """The `Scorer` of `weights`, made once (its tables cost more than a score)."""
    return Scorer(weights)


class Scorer:
    """Weighted circle values from count statistics (the same numbers `score` reports)."""

    def __init__(self, weights: Weights) -> None:
        total = weights.organization + weights.seniority + weights.function + weights.topic
        if total <= 0:
            raise ValueError("at least one weight must be positive")
        self.wo = weights.organization / total
        self.ws = weights.seniority / total
        self.wf = weights.function / total
        self.wt = weights.topic / total

        # Per circle size, the constants of `value` (sizes are small: a table, no cache).
        self._base: list[float] = []
        self._sq: list[tuple[float, float, float]] = []
        self._pairs: list[float] = []
        for n in range(TABLE):
            if n <= 1:
                self._base.append(0.0)
                self._sq.append((0.0, 0.0, 0.0))
                self._pairs.append(0.0)
                continue
            co = self.wo / best_simpson(n, n)
            cs = self.ws / best_simpson(n, SENIORITY_LEVELS)
            cf = self.wf / best_simpson(n, n)
            self._base.append(co + cs + cf)
            self._sq.append((co / (n * n), cs / (n * n), cf / (n * n)))
            self._pairs.append(2 / (n * (n - 1)))

    def value(self, n: int, org_sq: int, sen_sq: int, fn_sq: int, topic_pairs: int) -> float:
        """The score of a circle of n from its sums of squared counts and shared pairs."""
        if n >= TABLE:
            return self._slow(n, org_sq, sen_sq, fn_sq, topic_pairs)
        so, ss, sf = self._sq[n]
        shared = topic_pairs * self._pairs[n]
        return (
            self._base[n]
            - so * org_sq
            - ss * sen_sq
            - sf * fn_sq
            + self.wt * (shared if shared < 1.0 else 1.0)
        )

    def _slow(self, n: int, org_sq: int, sen_sq: int, fn_sq: int, topic_pairs: int) -> float:
        shared = min(1.0, topic_pairs * 2 / (n * (n - 1)))
        return (
            self.wo * mix(org_sq, n, n)
            + self.ws * mix(sen_sq, n, SENIORITY_LEVELS)
            + self.wf * mix(fn_sq, n, n)
            + self.wt * shared
        )
