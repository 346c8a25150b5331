"""Forming circles: every hard rule holds on every formed circle, over random pools."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xcircle.programmes import forming, slots
from xcircle.programmes.engine import Circle, Engine, features
from xcircle.programmes.model import Participant, Programme, Rules, Weights

ZONES = (
    "Europe/Paris", "Europe/London", "America/New_York", "America/Los_Angeles",
    "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland", "UTC",
)  # fmt: skip
LEVELS = ("junior", "mid", "senior")


@st.composite
def programmes(draw: st.DrawFn) -> tuple[Programme, Rules, int]:
    n = draw(st.integers(0, 45))
    orgs = draw(st.integers(1, 6))
    zones = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=4, unique=True))
    people = {}
    for k in range(n):
        pid = f"p{k:03d}"
        people[pid] = Participant(
            id=pid,
            name=f"Person {k}",
            organization=f"Org {draw(st.integers(0, orgs - 1))}",
            seniority=draw(st.sampled_from(LEVELS)),
            function=draw(st.sampled_from(("eng", "sales", "hr"))),
            topics=tuple(draw(st.sets(st.sampled_from("abcde"), max_size=3))),
            tz=draw(st.sampled_from(zones)),
            email=f"{pid}@example.org",
        )
    ids = sorted(people)
    pairs = st.tuples(st.sampled_from(ids), st.sampled_from(ids)) if ids else st.nothing()
    not_with = draw(st.lists(pairs, max_size=n // 2)) if ids else []
    manages = draw(st.lists(pairs, max_size=n // 3)) if ids else []
    size = draw(st.integers(4, 8))
    rules = Rules(
        size=size,
        max_per_org=draw(st.integers(1, 3)),
        weights=Weights(*draw(st.tuples(*[st.sampled_from((0.0, 0.5, 1.0, 3.0))] * 3)), 1.0),
    )
    programme = Programme(
        id="0" * 12,
        name="Random",
        participants=people,
        not_with=frozenset(frozenset(p) for p in not_with if p[0] != p[1]),
        manages=frozenset(p for p in manages if p[0] != p[1]),
    )
    return programme, rules, draw(st.integers(0, 2**32))


def within_working_hours(tz: str, slot: str) -> bool:
    """Independently of `slots`: the slot's hour, in the reference week, is a whole hour
    within 09:00–18:00 on a weekday in zone `tz`."""
    day, hhmm, _ = slot.split()
    monday = datetime.combine(slots.REFERENCE_WEEK, datetime.min.time(), tzinfo=UTC)
    start = monday + timedelta(days=slots.DAYS.index(day), hours=int(hhmm[:2]))
    local = start.astimezone(ZoneInfo(tz))
    end = (start + timedelta(hours=1)).astimezone(ZoneInfo(tz))
    nine = local.replace(hour=9, minute=0)
    six = local.replace(hour=18, minute=0)
    return local.weekday() < 5 and nine <= local and end <= six


def assert_hard_rules(programme: Programme, rules: Rules, circle_members: list[str]) -> None:
    people = [programme.participants[m] for m in circle_members]
    assert rules.min_size <= len(people) <= rules.max_size
    assert max(Counter(p.organization for p in people).values()) <= rules.max_per_org
    inside = set(circle_members)
    assert not any(m in inside and r in inside for m, r in programme.manages)
    assert not any(pair <= inside for pair in programme.not_with)
    slot = forming.common_slot(people)
    assert slot is not None
    assert all(within_working_hours(p.tz, slot) for p in people), slot
    assert forming.violations(people, programme, rules) == []


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programmes())
def test_every_formed_circle_keeps_every_hard_rule(case: tuple[Programme, Rules, int]) -> None:
    programme, rules, seed = case
    formation = forming.form(programme, rules, seed)
    placed = [m for c in formation.circles for m in c.members]
    assert len(placed) == len(set(placed))
    for c in formation.circles:
        assert_hard_rules(programme, rules, list(c.members))
        assert 0.0 <= c.score <= 1.0
        assert c.violations == ()
    unplaced = {u.participant for u in formation.unplaced}
    assert all(u.reason for u in formation.unplaced)
    assert unplaced.isdisjoint(placed)
    assert unplaced | set(placed) == set(programme.participants)


@settings(max_examples=40, deadline=None)
@given(programmes())
def test_forming_is_deterministic_for_a_seed_and_keeps_locked_circles(
    case: tuple[Programme, Rules, int],
) -> None:
    programme, rules, seed = case
    first = forming.form(programme, rules, seed)
    assert forming.form(programme, rules, seed) == first
    if not first.circles:
        return
    locked = first.circles[0].__class__(**{**first.circles[0].__dict__, "locked": True})
    again = forming.form(programme.with_(staged=(locked, *first.circles[1:])), rules, seed + 1)
    assert again.circles[0].members == locked.members and again.circles[0].locked
    placed = [m for c in again.circles for m in c.members]
    assert len(placed) == len(set(placed))
    for c in again.circles[1:]:
        assert_hard_rules(programme, rules, list(c.members))


def person(k: int, org: str, tz: str = "Europe/Paris", **kw: object) -> Participant:
    fields: dict[str, object] = {
        "id": f"p{k}",
        "name": f"P{k}",
        "organization": org,
        "seniority": LEVELS[k % 3],
        "function": "eng",
        "topics": (),
        "tz": tz,
        "email": f"p{k}@x.org",
    }
    fields.update(kw)
    return Participant(**fields)  # type: ignore[arg-type]


def test_zones_without_a_shared_hour_never_meet_and_say_why() -> None:
    # Paris (08–17 UTC in March) and Auckland (20–05 UTC) share no weekday working hour.
    people = [person(k, f"O{k % 2}", "Europe/Paris") for k in range(4)] + [
        person(k, f"O{k % 3}", "Pacific/Auckland") for k in range(4, 9)
    ]
    programme = Programme(id="0" * 12, name="x", participants={p.id: p for p in people})
    assert forming.common_slot([people[0], people[5]]) is None
    formation = forming.form(programme, Rules(size=4), 0)
    zones = sorted(
        sorted({programme.participants[m].tz for m in c.members}) for c in formation.circles
    )
    assert zones == [["Europe/Paris"], ["Pacific/Auckland"]]
    assert formation.unplaced == ()
    lone = programme.with_(participants={p.id: p for p in people[:5]})
    formation = forming.form(lone, Rules(size=4), 0)
    assert [u.participant for u in formation.unplaced] == ["p4"]
    assert "no circle has a weekly hour within their working hours" in formation.unplaced[0].reason


def test_a_large_organization_gets_smaller_circles_rather_than_people_left_out() -> None:
    # Half of eight from Acme, at most 2 per circle: one circle of 6 would leave two out.
    people = [person(k, "Acme" if k < 4 else f"O{k}") for k in range(8)]
    programme = Programme(id="0" * 12, name="x", participants={p.id: p for p in people})
    formation = forming.form(programme, Rules(size=6, max_per_org=2), 0)
    assert formation.unplaced == ()
    assert [len(c.members) for c in formation.circles] == [4, 4]


def test_half_from_one_organization_places_all_it_can() -> None:
    # 15 from Delta, 8 Acme, 4 Borealis, 3 Cobalt, at most 2 per organization: 7 circles of
    # 4–5 place 29 (14 from Delta); 8 circles would need 32 people.
    orgs = ["Delta"] * 15 + ["Acme"] * 8 + ["Borealis"] * 4 + ["Cobalt"] * 3
    zones = ("Europe/Paris", "Europe/London")
    people = [person(k, org, zones[k % 2]) for k, org in enumerate(orgs)]
    programme = Programme(id="0" * 12, name="x", participants={p.id: p for p in people})
    for seed in range(5):
        formation = forming.form(programme, Rules(size=6, max_per_org=2), seed)
        assert len(formation.circles) == 7
        assert [programme.participants[u.participant].organization for u in formation.unplaced] == [
            "Delta"
        ]
        assert all(4 <= len(c.members) <= 5 for c in formation.circles)


def test_a_short_circle_takes_members_it_may_have_from_circles_above_the_minimum() -> None:
    orgs = ["A", "B", "C", "A", "A", "D", "E", "F", "G"]
    people = [person(k, org) for k, org in enumerate(orgs)]
    f = features(people, frozenset({frozenset(("p0", "p5"))}), frozenset())
    eng = Engine(f, Rules(size=6, max_per_org=1), 0)
    eng.circles = [Circle(0), Circle(0)]
    for i in (0, 1, 2):
        eng.add(0, i)
    for i in (3, 4, 5, 6, 7, 8):
        eng.add(1, i)
    assert eng.fill(0)
    # Not p3 or p4 (a second from A), not p5 (not with p0): the first it may have, p6.
    assert eng.circles[0].members == [0, 1, 2, 6]
    assert len(eng.circles[1].members) == 5
    short = Engine(f, Rules(size=6, max_per_org=1), 0)
    short.circles = [Circle(0), Circle(0)]
    for i in (0, 1, 2):
        short.add(0, i)
    for i in (3, 4, 5, 6):
        short.add(1, i)  # at the minimum already: nothing to give
    assert not short.fill(0)


def test_an_organization_over_its_cap_is_left_out_with_the_reason() -> None:
    # Five of eight from Acme: two circles of 4 would need four others, there are three;
    # so one circle (2 from Acme and the three others) and three of Acme left out.
    people = [person(k, "Acme" if k < 5 else f"O{k}") for k in range(8)]
    programme = Programme(id="0" * 12, name="x", participants={p.id: p for p in people})
    formation = forming.form(programme, Rules(size=6, max_per_org=2), 0)
    assert [len(c.members) for c in formation.circles] == [5]
    assert len(formation.unplaced) == 3
    assert {programme.participants[u.participant].organization for u in formation.unplaced} == {
        "Acme"
    }
    assert {u.reason for u in formation.unplaced} == {
        "the one circle sharing their working hours already has 2 from Acme"
    }


def test_score_and_reasons_describe_the_mix() -> None:
    members = [
        person(0, "A", seniority="junior", topics=("change management", "data")),
        person(1, "B", seniority="junior", topics=("change management",)),
        person(2, "C", seniority="mid", function="hr", topics=("Change Management",)),
        person(3, "A", seniority="mid", function="hr"),
        person(4, "B", seniority="senior", function="sales"),
        person(5, "C", seniority="senior", function="sales", topics=("data",)),
    ]
    value, reasons = forming.score(members, Rules())
    assert reasons == (
        "3 organizations",
        "seniorities 2/2/2",
        "3 functions",
        "shared topic: change management (3 of 6)",
    )
    # Seniority perfectly even (1), 3 orgs and 3 functions of 6 (2/3 + ... normalised),
    # 4 of 15 pairs share a topic.
    org_mix = (1 - 12 / 36) / (1 - 6 / 36)
    assert value == round((org_mix + 1 + org_mix + 4 / 15) / 4, 4)
    same = [person(k, "A", seniority="mid") for k in range(4)]
    assert forming.score(same, Rules())[0] == 0.0


def test_violations_are_sentences_naming_people() -> None:
    people = [person(k, "Acme") for k in range(3)]
    programme = Programme(
        id="0" * 12,
        name="x",
        participants={p.id: p for p in people},
        not_with=frozenset({frozenset(("p0", "p1"))}),
        manages=frozenset({("p2", "p0")}),
    )
    assert forming.violations(people, programme, Rules()) == [
        "3 members; a circle has 4 to 8",
        "3 members from Acme (at most 2)",
        "P0 and P1 must not share a circle",
        "P2 manages P0",
    ]
    far = [person(0, "A"), person(1, "B", "Pacific/Auckland"), person(2, "C", "America/Denver")]
    assert "no weekly hour" in forming.violations(far, programme, Rules(min_size=4))[-1]


def test_half_hour_zones_get_the_hours_within_their_day() -> None:
    mask = slots.zone_mask("Asia/Kolkata")
    # UTC+5:30: 09:00 local is 03:30 UTC, so the first whole UTC hour inside is 04:00 UTC
    # (09:30 local) and the last starts 11:00 UTC (16:30–17:30 local).
    monday = [h for h in range(24) if mask >> h & 1]
    assert monday == list(range(4, 12))
    assert bin(mask).count("1") == 8 * 5
