"""Forming bench: a 10,000-person programme, exact optima of small ones, a greedy baseline.

1. Large: 10,000 participants from 12 organizations of unequal size, each organization
   in one to three of 12 time zones (offices), 8 functions, 12 topics, 1 % not-with
   pairs and 5 % manager relations. `forming.form` end to end (features, buckets,
   dealing, repair, local search, the staged circles with reasons), timed. Target < 5 s.
   Every circle is re-checked against the hard rules.
2. Small: programmes of 12, 18 and 24 people, circles of exactly 6, solved exactly as a
   set-partitioning ILP (every feasible circle enumerated and scored with the same
   `forming.score`; HiGHS through scipy.optimize.milp). Ratio of the total score
   formed to the optimum. Target ≥ 0.95.
3. A greedy baseline beside both: participants in random order, each into the first
   circle that keeps every hard rule (what a spreadsheet by hand does), a new circle
   when none does; circles under the minimum dissolved.

    .venv/bin/python bench/forming.py [--people 10000] [--orgs 12] [--small 1]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import time
from collections import Counter

from xcircle.programmes import forming, slots
from xcircle.programmes.model import Participant, Programme, Rules

ZONES = (
    "Europe/London", "Europe/Paris", "Europe/Berlin", "Europe/Madrid", "America/New_York",
    "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata",
    "Asia/Singapore", "Africa/Johannesburg", "Australia/Sydney",
)  # fmt: skip
FUNCTIONS = (
    "engineering", "sales", "operations", "finance", "hr", "marketing", "legal", "support",
)  # fmt: skip
TOPICS = (
    "change management", "leadership", "career moves", "wellbeing", "negotiation",
    "feedback", "strategy", "product", "data", "inclusion", "remote teams", "first 90 days",
)  # fmt: skip
LEVELS = ("junior", "mid", "senior")
ILP_TIME_LIMIT_S = 60.0
# (people, circle size, instances). 24 people in circles of 6 is out of reach: HiGHS finds
# no feasible partition of ~80k candidate circles in minutes; in circles of 4 it is fast.
SMALL = ((12, 6, 3), (18, 6, 2), (20, 4, 2), (24, 4, 2))


def make_programme(n: int, orgs: int, seed: int, zones: tuple[str, ...] = ZONES) -> Programme:
    """A synthetic pool (see the module docstring)."""
    rng = random.Random(seed)
    org_weights = [1 / (k + 1) ** 0.7 for k in range(orgs)]  # a few large, many small
    offices = {o: rng.sample(zones, rng.randint(1, min(3, len(zones)))) for o in range(orgs)}
    people: dict[str, Participant] = {}
    for k in range(n):
        org = rng.choices(range(orgs), org_weights)[0]
        pid = f"p{k:05d}"
        people[pid] = Participant(
            id=pid,
            name=f"Person {k}",
            organization=f"Org {org:02d}",
            seniority=rng.choices(LEVELS, (5, 3, 2))[0],
            function=rng.choice(FUNCTIONS),
            topics=tuple(rng.sample(TOPICS, rng.randint(1, 3))),
            tz=rng.choice(offices[org]),
            email=f"{pid}@example.org",
        )
    ids = list(people)
    not_with = {frozenset(rng.sample(ids, 2)) for _ in range(n // 100)}
    by_org: dict[str, list[str]] = {}
    for p in people.values():
        by_org.setdefault(p.organization, []).append(p.id)
    manages = set()
    for _ in range(n // 20):
        staff = by_org[people[rng.choice(ids)].organization]
        if len(staff) > 1:
            boss, report = rng.sample(staff, 2)
            manages.add((boss, report))
    return Programme(
        id="0" * 12,
        name="bench",
        organizations=tuple(sorted(by_org)),
        participants=people,
        not_with=frozenset(not_with),
        manages=frozenset(manages),
    )


def check(programme: Programme, rules: Rules, circles: list[list[Participant]]) -> int:
    """How many circles break a hard rule (must be 0)."""
    return sum(bool(forming.violations(c, programme, rules)) for c in circles)


def total(rules: Rules, circles: list[list[Participant]]) -> float:
    return sum(forming.score(c, rules)[0] for c in circles)


# -- the greedy baseline ---------------------------------------------------------------------


def greedy(programme: Programme, rules: Rules, seed: int) -> list[list[Participant]]:
    """First fit in random order (see the module docstring)."""
    people = list(programme.participants.values())
    random.Random(seed).shuffle(people)
    conflicts: dict[str, set[str]] = {}
    for a, b in [tuple(p) for p in programme.not_with] + list(programme.manages):
        conflicts.setdefault(a, set()).add(b)
        conflicts.setdefault(b, set()).add(a)
    circles: list[tuple[list[Participant], Counter[str], set[str], list[int]]] = []
    open_: list[int] = []
    for p in people:
        mask = slots.zone_mask(p.tz)
        mine = conflicts.get(p.id, set())
        for c in open_:
            members, orgs, ids, shared = circles[c]
            if orgs[p.organization] < rules.max_per_org and shared[0] & mask and not mine & ids:
                members.append(p)
                orgs[p.organization] += 1
                ids.add(p.id)
                shared[0] &= mask
                if len(members) == rules.size:
                    open_.remove(c)
                break
        else:
            circles.append(([p], Counter([p.organization]), {p.id}, [mask]))
            open_.append(len(circles) - 1)
    return [c[0] for c in circles if len(c[0]) >= rules.min_size]


# -- exact optimum of small programmes ---------------------------------------------------------


def optimum(programme: Programme, rules: Rules) -> tuple[float, bool, int] | None:
    """The best total score over partitions into circles of exactly `rules.size` that keep
    every hard rule, whether HiGHS proved it within the time limit (if not: its upper
    bound, which any ratio against is a lower bound of the true ratio), and how many
    feasible circles there were. None if there is no partition (or none found in time)."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import csr_matrix

    people = list(programme.participants.values())
    n = len(people)
    columns: list[tuple[int, ...]] = []
    values: list[float] = []
    for combo in itertools.combinations(range(n), rules.size):
        members = [people[i] for i in combo]
        if forming.violations(members, programme, rules):
            continue
        columns.append(combo)
        values.append(forming.score(members, rules)[0])
    if not columns:
        return None
    rows = [i for combo in columns for i in combo]
    cols = [j for j, combo in enumerate(columns) for _ in combo]
    a = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(columns)))
    result = milp(
        c=-np.array(values),
        constraints=LinearConstraint(a, lb=1, ub=1),
        integrality=np.ones(len(columns)),
        bounds=Bounds(0, 1),
        options={"time_limit": ILP_TIME_LIMIT_S},
    )
    if result.status == 0:
        return -float(result.fun), True, len(columns)
    bound = getattr(result, "mip_dual_bound", None)
    if result.status == 1 and result.x is not None and bound is not None:
        return -float(bound), False, len(columns)
    return None


def staged_members(programme: Programme, formation: forming.Formation) -> list[list[Participant]]:
    return [[programme.participants[m] for m in c.members] for c in formation.circles]


# -- the runs --------------------------------------------------------------------------------


def large(people: int, orgs: int) -> None:
    programme = make_programme(people, orgs, seed=1)
    rules = Rules()
    print(f"Large: {people} participants, {orgs} organizations, {len(ZONES)} time zones")
    started = time.perf_counter()
    formation = forming.form(programme, rules, seed=0)
    elapsed = time.perf_counter() - started
    circles = staged_members(programme, formation)
    scores = [c.score for c in formation.circles]
    print(
        f"  formed   {elapsed:6.2f} s  {len(circles):5d} circles  "
        f"{len(formation.unplaced):4d} unplaced  mean score {statistics.mean(scores):.3f}  "
        f"broken rules {check(programme, rules, circles)}   (target < 5 s)"
    )
    started = time.perf_counter()
    base = greedy(programme, rules, seed=0)
    elapsed = time.perf_counter() - started
    placed = sum(len(c) for c in base)
    print(
        f"  greedy   {elapsed:6.2f} s  {len(base):5d} circles  {people - placed:4d} unplaced  "
        f"mean score {total(rules, base) / max(1, len(base)):.3f}  "
        f"broken rules {check(programme, rules, base)}"
    )
    reasons = Counter(u.reason.split(",")[0] for u in formation.unplaced)
    for reason, count in reasons.most_common(3):
        print(f"  unplaced: {count} × {reason}")
    print(f"  e.g. {formation.circles[0].id}: {', '.join(formation.circles[0].reasons)}")


def small(scale: int) -> None:
    print("Small: circles of one size, optimum by ILP (HiGHS) over every feasible circle")
    print("   people  size  feasible circles  optimum  formed  ratio  greedy  ratio   ILP s")
    ratios = []
    for people, size, count in SMALL:
        rules = Rules(size=size, min_size=size, max_size=size)
        done, seed = 0, 0
        while done < count * scale and seed < count * scale * 5:
            seed += 1
            programme = make_programme(people, 8, seed=100 * people + seed, zones=ZONES[:4])
            formation = forming.form(programme, rules, seed)
            started = time.perf_counter()
            best = optimum(programme, rules)
            solve = time.perf_counter() - started
            if best is None:
                print(
                    f"   {people:6d}  {size:4d}  no partition keeps every rule (or none found); "
                    f"formed leaves {len(formation.unplaced)} unplaced"
                )
                continue
            opt, proved, feasible = best
            formed = total(rules, staged_members(programme, formation))
            base = total(rules, greedy(programme, rules, seed))
            ratios.append(formed / opt)
            mark = " " if proved else "≤"  # not proved in time: HiGHS's upper bound
            print(
                f"   {people:6d}  {size:4d}  {feasible:16d} {mark}{opt:7.3f}  {formed:6.3f}  "
                f"{formed / opt:5.3f}  {base:6.3f}  {base / opt:5.3f}  {solve:6.1f}"
            )
            done += 1
    if ratios:
        print(
            f"  worst ratio {min(ratios):.3f}, mean {statistics.mean(ratios):.3f} (target ≥ 0.95)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--orgs", type=int, default=12)
    parser.add_argument("--small", type=int, default=1, help="multiplies the small instances")
    parser.add_argument("--only", choices=("large", "small"), default=None)
    args = parser.parse_args()
    if args.only != "small":
        large(args.people, args.orgs)
        print()
    if args.only != "large":
        small(args.small)


if __name__ == "__main__":
    main()
