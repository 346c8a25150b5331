"""Forming circles: the hard rules, the soft score and its reasons, and `form`.

Hard rules (never broken by forming): circle size within [min_size, max_size]; at most
`max_per_org` members of one organization; no manager with their report; no not-with
pair; one weekly hour inside every member's working hours (`slots`). Soft goals
(weighted, `scoring`): a mix of organizations, seniorities and functions, shared topics.
The algorithm is in `engine`; this module is its interface in the model's terms.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from xcircle.programmes import slots
from xcircle.programmes.engine import Engine, Features, features
from xcircle.programmes.model import Participant, Programme, Rules, StagedCircle, Unplaced
from xcircle.programmes.scoring import scorer

# Attempts of the local search per participant (each tries one person against every
# member of another circle): a pool of 10,000 settles in about three seconds here; the
# time cap only matters on much slower machines.
ATTEMPTS_PER_PERSON = 6
TIME_CAP_S = 3.0
# Pools up to this size also get an exhaustive swap-and-move pass (O(n²) per pass).
POLISH_UP_TO = 300
# Pools up to this size are formed several times from different starts, the best kept.
RESTART_UP_TO = 60
RESTARTS = 8


@dataclass(frozen=True)
class Formation:
    """Staged circles (locked ones first, as they were) and who could not be placed."""

    circles: tuple[StagedCircle, ...]
    unplaced: tuple[Unplaced, ...]


def check_rules(rules: Rules) -> None:
    """Refuse rules no circle can satisfy (sizes out of 4–8, a cap below 1)."""
    from xcircle.errors import InvalidInput
    from xcircle.programmes.model import MAX_SIZE, MIN_SIZE

    if not MIN_SIZE <= rules.min_size <= rules.size <= rules.max_size <= MAX_SIZE:
        raise InvalidInput(
            f"a circle's size must be between {MIN_SIZE} and {MAX_SIZE}", field="size"
        )
    if rules.max_per_org < 1:
        raise InvalidInput(
            "at least 1 member per organization must be allowed", field="max_per_org"
        )


def common_slot(members: Sequence[Participant]) -> str | None:
    """A weekly hour within every member's working hours ("Tue 15:00 UTC"), or None."""
    mask = -1
    for p in members:
        mask &= slots.zone_mask(p.tz)
    return slots.label(mask) if members else None


def violations(members: Sequence[Participant], programme: Programme, rules: Rules) -> list[str]:
    """The hard rules `members` break, each as a sentence (empty: all hold)."""
    out: list[str] = []
    n = len(members)
    if not rules.min_size <= n <= rules.max_size:
        out.append(f"{n} members; a circle has {rules.min_size} to {rules.max_size}")
    orgs = Counter(p.organization for p in members)
    for org, count in sorted(orgs.items()):
        if count > rules.max_per_org:
            out.append(f"{count} members from {org} (at most {rules.max_per_org})")
    for a in members:
        for b in members:
            if (a.id, b.id) in programme.manages:
                out.append(f"{a.name} manages {b.name}")
            if a.id < b.id and frozenset((a.id, b.id)) in programme.not_with:
                out.append(f"{a.name} and {b.name} must not share a circle")
    if members and common_slot(members) is None:
        out.append(f"no weekly hour within everyone's working hours ({slots.WORKING_HOURS})")
    return out


def score(members: Sequence[Participant], rules: Rules) -> tuple[float, tuple[str, ...]]:
    """The soft score in [0, 1] (see `scoring`) and the reasons behind it."""
    n = len(members)
    if not n:
        return 0.0, ()
    orgs = Counter(p.organization.casefold() for p in members)
    sens = Counter(p.seniority for p in members)
    fns = Counter(p.function.casefold() for p in members)
    topics = Counter(t.casefold() for p in members for t in {t for t in p.topics})
    value = scorer(rules.weights).value(
        n,
        sum(c * c for c in orgs.values()),
        sum(c * c for c in sens.values()),
        sum(c * c for c in fns.values()),
        sum(c * (c - 1) // 2 for c in topics.values()),
    )
    reasons = [
        _plural(len(orgs), "organization"),
        f"seniorities {sens['junior']}/{sens['mid']}/{sens['senior']}",
        _plural(len(fns), "function"),
    ]
    shared = [(c, t) for t, c in topics.items() if c >= 2]
    if shared:
        count, key = max(shared, key=lambda ct: (ct[0], [-ord(ch) for ch in ct[1]]))
        shown = next(t for p in members for t in p.topics if t.casefold() == key)
        reasons.append(f"shared topic: {shown} ({count} of {n})")
    else:
        reasons.append("no shared topic")
    return round(value, 4), tuple(reasons)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def staged(
    cid: str, members: Sequence[Participant], programme: Programme, rules: Rules, locked: bool
) -> StagedCircle:
    """A staged circle with its slot, score, reasons and any broken rule."""
    value, reasons = score(members, rules)
    return StagedCircle(
        id=cid,
        members=tuple(p.id for p in members),
        locked=locked,
        slot=common_slot(members),
        score=value,
        reasons=reasons,
        violations=tuple(violations(members, programme, rules)),
    )


def form(programme: Programme, rules: Rules, seed: int = 0) -> Formation:
    """Form everyone not in a locked circle into new circles; keep locked circles as they
    are. Deterministic for a seed (unless the time cap cuts the search short)."""
    check_rules(rules)
    people = programme.participants
    kept = [c for c in programme.staged if c.locked]
    taken = {m for c in kept for m in c.members}
    pool = [p for pid, p in people.items() if pid not in taken]
    f = features(pool, programme.not_with, programme.manages)
    deadline = time.perf_counter() + TIME_CAP_S
    engine, left = _search(f, rules, seed, deadline)
    used = {c.id for c in programme.staged} | set(programme.published)
    ids = _fresh_ids(used)
    circles = [
        staged(c.id, [people[m] for m in c.members if m in people], programme, rules, True)
        for c in kept
    ]
    for ci in engine.circles:
        if ci.members:
            members = [pool[i] for i in sorted(ci.members, key=lambda i: f.ids[i])]
            circles.append(staged(next(ids), members, programme, rules, False))
    unplaced = [Unplaced(pool[i].id, why_unplaced(engine, i)) for i in sorted(left)]
    return Formation(tuple(circles), tuple(unplaced))


def _search(f: Features, rules: Rules, seed: int, deadline: float) -> tuple[Engine, list[int]]:
    """Construct, improve, polish; small pools several times over (the best kept: most
    people placed, then the highest total score)."""
    n = len(f.ids)
    best: tuple[tuple[int, float], Engine, list[int]] | None = None
    for attempt in range(RESTARTS if n <= RESTART_UP_TO else 1):
        engine = Engine(f, rules, seed * 64 + attempt)
        left = engine.construct(list(range(n)))
        engine.improve(ATTEMPTS_PER_PERSON * n, deadline)
        if n <= POLISH_UP_TO:
            engine.polish()
        key = (-len(left), engine.total())
        if best is None or key > best[0]:
            best = (key, engine, left)
    assert best is not None
    return best[1], best[2]


def _fresh_ids(used: set[str]) -> Iterator[str]:
    n = 1
    while True:
        cid = f"c{n}"
        if cid not in used:
            yield cid
        n += 1


def why_unplaced(engine: Engine, i: int) -> str:
    """Why participant `i` is in no circle, from what each formed circle says to them."""
    f, rules = engine.f, engine.rules
    live = [c for c, ci in enumerate(engine.circles) if ci.members]
    if not live:
        return (
            f"too few participants share working hours with them to make a circle of "
            f"{rules.min_size}"
        )
    slot_ok = [c for c in live if engine.mask_without(engine.circles[c], -1) & f.mask[i]]
    if not slot_ok:
        return (
            "no circle has a weekly hour within their working hours "
            f"({slots.WORKING_HOURS}), and too few others share theirs to start one"
        )
    blocked = Counter[str]()
    for c in slot_ok:
        ci = engine.circles[c]
        if len(ci.members) >= rules.max_size:
            blocked["full"] += 1
        elif ci.oc.get(f.org[i], 0) >= rules.max_per_org:
            blocked["org"] += 1
        else:
            blocked["conflict"] += 1
    parts = []
    if blocked["full"]:
        parts.append(f"{blocked['full']} {'is' if blocked['full'] == 1 else 'are'} full")
    if blocked["org"]:
        verb = "has" if blocked["org"] == 1 else "have"
        parts.append(f"{blocked['org']} already {verb} {rules.max_per_org} from {f.org_names[i]}")
    if blocked["conflict"]:
        verb = "holds" if blocked["conflict"] == 1 else "hold"
        parts.append(f"{blocked['conflict']} {verb} someone they must not meet (not with, manager)")
    if len(slot_ok) == 1:
        return "the one circle sharing their working hours " + parts[0].removeprefix("1 ")
    return f"of the {len(slot_ok)} circles sharing their working hours, " + "; ".join(parts)
