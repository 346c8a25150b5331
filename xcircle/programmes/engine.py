"""The forming engine: integer features, a constructive pass, then local search.

1. Features. Each participant becomes small integers (organization, seniority, function
   indices, topic indices) and a bitmask of the week's UTC hours within their working
   hours (`slots`). Conflicts (not-with pairs, manager and report) are a tuple per person.
2. Buckets. Participants sorted by where their working day starts in UTC are cut into
   runs whose masks still share an hour: inside a bucket any group shares a weekly slot,
   so the slot rule holds by construction.
3. Dealing. Each bucket gets round(B / size) circles; its members, sorted by
   organization then seniority then function, are dealt round-robin, skipping a circle
   that is full, at its organization cap or holds a conflict. Dealing spreads every
   organization and level evenly across the circles.
4. Repair. Whoever could not be dealt goes into the best circle anywhere that keeps every
   hard rule; the rest form new circles among themselves when they can; circles left
   under the minimum are dissolved and their members tried again.
5. Local search. Random swaps between two circles (mostly of one bucket) and moves of
   one person, accepted when they keep every hard rule and raise the total score. Each
   attempt costs O(1) (count updates, a handful of mask ANDs); the number of attempts is
   fixed by the pool's size, so a seed gives one result, with a time cap as a backstop.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from xcircle.programmes import slots
from xcircle.programmes.model import Participant, Rules
from xcircle.programmes.scoring import scorer

# Dealing looks at this many circles ahead for the one a person adds most to.
DEAL_WINDOW = 6
# Repair looks at this many circles that could take a person, and picks the best.
INSERT_SCAN = 24

SENIORITY_INDEX = {"junior": 0, "mid": 1, "senior": 2}


@dataclass
class Features:
    """Per-participant integers, indexed 0..n-1 in `ids` order."""

    ids: list[str]
    org: list[int]
    sen: list[int]
    fn: list[int]
    topics: list[tuple[int, ...]]
    mask: list[int]
    conflicts: list[tuple[int, ...]]
    org_names: list[str]


def features(
    people: Sequence[Participant],
    not_with: frozenset[frozenset[str]],
    manages: frozenset[tuple[str, str]],
) -> Features:
    index = {p.id: i for i, p in enumerate(people)}
    orgs: dict[str, int] = {}
    fns: dict[str, int] = {}
    tops: dict[str, int] = {}
    conflicts: list[list[int]] = [[] for _ in people]
    pairs = [tuple(pair) for pair in not_with if len(pair) == 2] + list(manages)
    for a, b in pairs:
        if a in index and b in index:
            conflicts[index[a]].append(index[b])
            conflicts[index[b]].append(index[a])
    return Features(
        ids=[p.id for p in people],
        org=[orgs.setdefault(p.organization.casefold(), len(orgs)) for p in people],
        sen=[SENIORITY_INDEX.get(p.seniority, 1) for p in people],
        fn=[fns.setdefault(p.function.casefold(), len(fns)) for p in people],
        topics=[
            tuple(sorted({tops.setdefault(t.casefold(), len(tops)) for t in p.topics}))
            for p in people
        ],
        mask=[slots.zone_mask(p.tz) for p in people],
        conflicts=[tuple(c) for c in conflicts],
        org_names=[p.organization for p in people],
    )


class Circle:
    """A circle being formed: its members and the counts its score is made of."""

    __slots__ = (
        "bucket",
        "fc",
        "fsq",
        "mask",
        "members",
        "oc",
        "osq",
        "sc",
        "ssq",
        "tc",
        "tp",
        "value",
    )

    def __init__(self, bucket: int) -> None:
        self.bucket = bucket
        self.members: list[int] = []
        self.oc: dict[int, int] = {}
        self.sc = [0, 0, 0]
        self.fc: dict[int, int] = {}
        self.tc: dict[int, int] = {}
        self.osq = self.ssq = self.fsq = self.tp = 0
        self.value = 0.0
        self.mask = -1  # the hours every member has (all, while empty)


class Engine:
    """One forming run over the participants `f` (see the module docstring)."""

    def __init__(self, f: Features, rules: Rules, seed: int) -> None:
        self.f = f
        self.rules = rules
        self.scorer = scorer(rules.weights)
        self.rng = random.Random(seed)
        self.where = [-1] * len(f.ids)
        self.circles: list[Circle] = []
        # Moves keep circles within one of the size asked for (and within the hard range).
        self.low = max(rules.min_size, rules.size - 1)
        self.high = min(rules.max_size, rules.size + 1)

    # -- counts ------------------------------------------------------------------------------

    def add(self, c: int, i: int) -> None:
        f, ci = self.f, self.circles[c]
        ci.members.append(i)
        ci.mask &= f.mask[i]
        self.where[i] = c
        o = ci.oc.get(f.org[i], 0)
        ci.oc[f.org[i]] = o + 1
        ci.osq += 2 * o + 1
        s = ci.sc[f.sen[i]]
        ci.sc[f.sen[i]] = s + 1
        ci.ssq += 2 * s + 1
        fn = ci.fc.get(f.fn[i], 0)
        ci.fc[f.fn[i]] = fn + 1
        ci.fsq += 2 * fn + 1
        for t in f.topics[i]:
            k = ci.tc.get(t, 0)
            ci.tc[t] = k + 1
            ci.tp += k
        self.rescore(ci)

    def remove(self, c: int, i: int) -> None:
        f, ci = self.f, self.circles[c]
        ci.members.remove(i)
        mask = -1
        for m in ci.members:
            mask &= f.mask[m]
        ci.mask = mask
        self.where[i] = -1
        o = ci.oc[f.org[i]]
        ci.oc[f.org[i]] = o - 1
        ci.osq -= 2 * o - 1
        s = ci.sc[f.sen[i]]
        ci.sc[f.sen[i]] = s - 1
        ci.ssq -= 2 * s - 1
        fn = ci.fc[f.fn[i]]
        ci.fc[f.fn[i]] = fn - 1
        ci.fsq -= 2 * fn - 1
        for t in f.topics[i]:
            k = ci.tc[t]
            ci.tc[t] = k - 1
            ci.tp -= k - 1
        self.rescore(ci)

    def rescore(self, ci: Circle) -> None:
        ci.value = self.scorer.value(len(ci.members), ci.osq, ci.ssq, ci.fsq, ci.tp)

    def swapped(self, ci: Circle, out: int, inn: int) -> float:
        """The value of circle `ci` with `out` replaced by `inn` (nothing changes)."""
        f = self.f
        osq, ssq, fsq, tp = ci.osq, ci.ssq, ci.fsq, ci.tp
        if f.org[out] != f.org[inn]:
            osq += 2 * (ci.oc.get(f.org[inn], 0) - ci.oc[f.org[out]]) + 2
        if f.sen[out] != f.sen[inn]:
            ssq += 2 * (ci.sc[f.sen[inn]] - ci.sc[f.sen[out]]) + 2
        if f.fn[out] != f.fn[inn]:
            fsq += 2 * (ci.fc.get(f.fn[inn], 0) - ci.fc[f.fn[out]]) + 2
        t_out, t_in = f.topics[out], f.topics[inn]
        if t_out != t_in:
            tc = ci.tc
            for t in t_out:
                if t not in t_in:
                    tp -= tc[t] - 1
            for t in t_in:
                if t not in t_out:
                    tp += tc.get(t, 0)
        return self.scorer.value(len(ci.members), osq, ssq, fsq, tp)

    def resized(self, ci: Circle, i: int, sign: int) -> float:
        """The value of circle `ci` with `i` added (sign 1) or taken out (sign -1)."""
        f = self.f
        n = len(ci.members) + sign
        o = ci.oc.get(f.org[i], 0)
        s = ci.sc[f.sen[i]]
        fn = ci.fc.get(f.fn[i], 0)
        if sign > 0:
            osq, ssq, fsq = ci.osq + 2 * o + 1, ci.ssq + 2 * s + 1, ci.fsq + 2 * fn + 1
            tp = ci.tp + sum(ci.tc.get(t, 0) for t in f.topics[i])
        else:
            osq, ssq, fsq = ci.osq - 2 * o + 1, ci.ssq - 2 * s + 1, ci.fsq - 2 * fn + 1
            tp = ci.tp - sum(ci.tc[t] - 1 for t in f.topics[i])
        return self.scorer.value(n, osq, ssq, fsq, tp)

    # -- hard rules ---------------------------------------------------------------------------

    def mask_without(self, ci: Circle, out: int) -> int:
        if out < 0:
            return ci.mask
        mask = -1
        for m in ci.members:
            if m != out:
                mask &= self.f.mask[m]
        return mask

    def admits(self, c: int, i: int, out: int = -1) -> bool:
        """Whether circle `c`, less `out`, can take `i` under every hard rule but size."""
        f, ci = self.f, self.circles[c]
        org = f.org[i]
        if (ci.oc.get(org, 0) - (out >= 0 and f.org[out] == org)) >= self.rules.max_per_org:
            return False
        where = self.where
        for q in f.conflicts[i]:
            if where[q] == c and q != out:
                return False
        return bool(self.mask_without(ci, out) & f.mask[i])

    # -- construction -------------------------------------------------------------------------

    def buckets(self, pool: list[int]) -> list[list[int]]:
        """Runs of participants (sorted by the start of their working day in UTC) whose
        masks share at least one hour."""
        mask = self.f.mask
        keyed = [(slots.centre(mask[i]), self.rng.random(), i) for i in pool]
        keyed.sort()
        out: list[list[int]] = []
        run: list[int] = []
        shared = -1
        for _, _, i in keyed:
            if run and not shared & mask[i]:
                out.append(run)
                run, shared = [], -1
            run.append(i)
            shared &= mask[i]
        if run:
            out.append(run)
        return out

    def deal(self, bucket: list[int], b: int) -> list[int]:
        """Deal `bucket` into new circles; return who could not be dealt."""
        rules, f = self.rules, self.f
        size = len(bucket)
        if size < rules.min_size:
            return list(bucket)
        per_org: dict[int, int] = {}
        for i in bucket:
            per_org[f.org[i]] = per_org.get(f.org[i], 0) + 1
        # Circles of the size asked for, but enough of them for the largest organization
        # to fit under its cap (smaller circles rather than people left out), within 4–8.
        largest = max(per_org.values())
        m = max(1, round(size / rules.size), -(-largest // rules.max_per_org))
        while m * rules.max_size < size:
            m += 1
        while m > 1 and m * rules.min_size > size:
            m -= 1
        first = len(self.circles)
        self.circles.extend(Circle(b) for _ in range(m))
        base, extra = divmod(size, m)
        caps = [base + (k < extra) for k in range(m)]
        tie = {i: self.rng.random() for i in bucket}
        order = sorted(
            bucket, key=lambda i: (-per_org[f.org[i]], f.org[i], f.sen[i], f.fn[i], tie[i])
        )
        left: list[int] = []
        turn = 0
        for i in order:
            # Of the next few circles in turn that can take i, the one i adds most to.
            best, gain, seen = -1, -2.0, 0
            for k in range(m):
                c = first + (turn + k) % m
                ci = self.circles[c]
                if len(ci.members) < caps[c - first] and self.admits(c, i):
                    delta = self.resized(ci, i, 1) - ci.value
                    if delta > gain:
                        best, gain = c, delta
                    seen += 1
                    if seen == DEAL_WINDOW:
                        break
            if best < 0:
                left.append(i)
            else:
                self.add(best, i)
            turn = (turn + 1) % m
        return left

    def insert_best(self, i: int, candidates: Sequence[int]) -> bool:
        """Put `i` in the circle among `candidates` (with room) whose score gains most,
        looking at the first `INSERT_SCAN` that keep every hard rule."""
        f, rules, circles = self.f, self.rules, self.circles
        org, mask = f.org[i], f.mask[i]
        best, gain, seen = -1, -2.0, 0
        for c in candidates:
            ci = circles[c]
            if (
                len(ci.members) >= rules.max_size
                or ci.oc.get(org, 0) >= rules.max_per_org
                or not ci.mask & mask
                or not self.admits(c, i)
            ):
                continue
            delta = self.resized(ci, i, 1) - ci.value
            if delta > gain:
                best, gain = c, delta
            seen += 1
            if seen == INSERT_SCAN:
                break
        if best < 0:
            return False
        self.add(best, i)
        return True

    def construct(self, pool: list[int]) -> list[int]:
        """Circles for `pool`; return who is left unplaced."""
        left: list[int] = []
        for b, bucket in enumerate(self.buckets(pool)):
            left += self.deal(bucket, b)
        for _ in range(3):
            left = self.repair(left)
            if not left:
                break
        return left

    def repair(self, left: list[int]) -> list[int]:
        open_ = [
            c for c, ci in enumerate(self.circles) if 0 < len(ci.members) < self.rules.max_size
        ]
        still: list[int] = []
        for i in left:
            # Start each search at a random circle, so repairs spread over the programme.
            k = int(self.rng.random() * len(open_)) if open_ else 0
            if not self.insert_best(i, open_[k:] + open_[:k]):
                still.append(i)
        left = still
        if len(left) >= self.rules.min_size:
            start = len(self.circles)
            rest: list[int] = []
            for bucket in self.buckets(left):
                rest += self.deal(bucket, -1 - start)
            left = rest
        # Circles under the minimum cannot meet: first they take members from circles above
        # it; those still short are dissolved and their people tried again.
        for c, ci in enumerate(self.circles):
            if 0 < len(ci.members) < self.rules.min_size and not self.fill(c):
                for i in list(ci.members):
                    self.remove(c, i)
                    left.append(i)
        return left

    def fill(self, c: int) -> bool:
        """Bring circle `c` up to the minimum with members of circles above it (its own
        bucket's first) that it can take under every hard rule; True if it got there."""
        ci, low = self.circles[c], self.rules.min_size
        donors = sorted(
            (d for d, cd in enumerate(self.circles) if d != c and len(cd.members) > low),
            key=lambda d: self.circles[d].bucket != ci.bucket,
        )
        for d in donors:
            cd = self.circles[d]
            for j in list(cd.members):
                if len(ci.members) >= low or len(cd.members) <= low:
                    break
                if self.admits(c, j):
                    self.remove(d, j)
                    self.add(c, j)
            if len(ci.members) >= low:
                return True
        return False

    # -- local search -------------------------------------------------------------------------

    def improve(self, attempts: int, deadline: float) -> int:
        """Hill-climb with random swaps and moves; return how many were accepted."""
        live = [c for c, ci in enumerate(self.circles) if ci.members]
        if len(live) < 2:
            return 0
        by_bucket: dict[int, list[int]] = {}
        for c in live:
            by_bucket.setdefault(self.circles[c].bucket, []).append(c)
        rng, circles = self.rng, self.circles
        accepted = 0
        for n in range(attempts):
            if n & 1023 == 0 and time.perf_counter() > deadline:
                break
            # The weaker of two random circles: the search works where there is most to gain.
            a = live[int(rng.random() * len(live))]
            a2 = live[int(rng.random() * len(live))]
            if circles[a2].value < circles[a].value:
                a = a2
            ca = circles[a]
            same = by_bucket[ca.bucket]
            if len(same) > 1 and rng.random() < 0.85:
                b = same[int(rng.random() * len(same))]
            else:
                b = live[int(rng.random() * len(live))]
            if a == b:
                continue
            cb = circles[b]
            i = ca.members[int(rng.random() * len(ca.members))]
            if rng.random() < 0.2:
                if len(ca.members) <= self.low or len(cb.members) >= self.high:
                    continue
                delta = self.resized(ca, i, -1) - ca.value + self.resized(cb, i, 1) - cb.value
                if delta > 1e-12 and self.admits(b, i):
                    self.remove(a, i)
                    self.add(b, i)
                    accepted += 1
                continue
            # The best partner for i in b: six evaluations for one random draw.
            va, vb = ca.value, cb.value
            best, gain = -1, 1e-12
            for j in cb.members:
                delta = self.swapped(ca, i, j) - va + self.swapped(cb, j, i) - vb
                if delta > gain:
                    best, gain = j, delta
            if best >= 0 and self.admits(a, best, out=i) and self.admits(b, i, out=best):
                self.remove(a, i)
                self.remove(b, best)
                self.add(a, best)
                self.add(b, i)
                accepted += 1
        return accepted

    def polish(self) -> None:
        """Every swap and move tried until none improves (small pools only: O(n²) a pass)."""
        improved = True
        while improved:
            improved = False
            live = [c for c, ci in enumerate(self.circles) if ci.members]
            for a in live:
                for b in live:
                    if a >= b:
                        continue
                    if self._best_exchange(a, b):
                        improved = True

    def _best_exchange(self, a: int, b: int) -> bool:
        ca, cb = self.circles[a], self.circles[b]
        for i in list(ca.members):
            for j in list(cb.members):
                delta = self.swapped(ca, i, j) - ca.value + self.swapped(cb, j, i) - cb.value
                if delta > 1e-12 and self.admits(a, j, out=i) and self.admits(b, i, out=j):
                    self.remove(a, i)
                    self.remove(b, j)
                    self.add(a, j)
                    self.add(b, i)
                    return True
        for src, dst in ((a, b), (b, a)):
            cs, cd = self.circles[src], self.circles[dst]
            if len(cs.members) <= self.low or len(cd.members) >= self.high:
                continue
            for i in list(cs.members):
                delta = self.resized(cs, i, -1) - cs.value + self.resized(cd, i, 1) - cd.value
                if delta > 1e-12 and self.admits(dst, i):
                    self.remove(src, i)
                    self.add(dst, i)
                    return True
        return False

    def total(self) -> float:
        return sum(ci.value for ci in self.circles if ci.members)
