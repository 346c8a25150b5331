"""Rotation fairness: least recently served first, absentees keep their place."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from xcircle.rotation import Served, last_served, next_server, rotation_order

MEMBERS = [f"m{i}" for i in range(7)]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[str], list[set[str]]]:
    regulars = draw(st.lists(st.sampled_from(MEMBERS), min_size=1, max_size=7, unique=True))
    others = [m for m in MEMBERS if m not in regulars]
    meetings = draw(
        st.lists(st.sets(st.sampled_from(others)) if others else st.just(set()), max_size=40)
    )
    return regulars, [set(regulars) | extra for extra in meetings]


@settings(max_examples=300)
@given(histories())
def test_every_regular_attendee_serves_within_one_of_every_other(
    case: tuple[list[str], list[set[str]]],
) -> None:
    regulars, meetings = case
    history: list[Served] = []
    for index, present in enumerate(meetings):
        chosen = next_server(MEMBERS, history, present)
        assert chosen in present
        if history and len(present) > 1:
            assert chosen != history[-1].member, "nobody twice in a row when others are here"
        history.append(Served(index, chosen))  # type: ignore[arg-type]
        counts = Counter(s.member for s in history)
        served = [counts[m] for m in regulars]
        assert max(served) - min(served) <= 1


def test_absentees_keep_their_place() -> None:
    history = [Served(0, "m0"), Served(1, "m1")]
    order = rotation_order(["m0", "m1", "m2", "m3"], history)
    assert order[:2] == ["m2", "m3"]  # never served: first, in join order
    # m2 is due but absent: m3 serves, and m2 is still first next time.
    assert next_server(["m0", "m1", "m2", "m3"], history, present={"m0", "m1", "m3"}) == "m3"
    history.append(Served(2, "m3"))
    assert next_server(["m0", "m1", "m2", "m3"], history) == "m2"


def test_the_order_is_the_same_on_every_replica() -> None:
    history = [Served(i, m) for i, m in enumerate(["m3", "m1", "m2"])]
    shuffled = list(reversed(history))
    members = ["m1", "m2", "m3", "m4"]
    joined = {"m1": "2026-01-01", "m2": "2026-01-01", "m3": "2025-12-01", "m4": "2026-02-01"}
    assert rotation_order(members, history, joined) == rotation_order(members, shuffled, joined)
    assert rotation_order(members, history, joined)[0] == "m4"


def test_the_latest_service_counts_whatever_the_order_of_history() -> None:
    out_of_order = [Served(5, "m1"), Served(2, "m1"), Served(3, "m2"), Served(0, "m3")]
    assert last_served(out_of_order) == {"m1": 5, "m2": 3, "m3": 0}
    assert rotation_order(["m1", "m2", "m3"], out_of_order) == ["m3", "m2", "m1"]
    assert next_server(["m1", "m2", "m3"], list(reversed(out_of_order))) == "m3"


def test_having_served_at_the_first_meeting_still_counts_as_service() -> None:
    history = [Served(0, "m1")]
    joined = {"m1": "2026-01-01", "m2": "2026-02-01"}
    assert rotation_order(["m1", "m2"], history, joined) == ["m2", "m1"]


def test_ties_go_to_who_joined_earlier_then_to_the_member_id() -> None:
    members = ["m3", "m1", "m2", "m4"]
    joined = {"m1": "2026-03-01", "m2": "2026-01-01", "m3": "2026-01-01", "m4": "2026-02-01"}
    assert rotation_order(members, [], joined) == ["m2", "m3", "m4", "m1"]
    history = [Served(1, "m2"), Served(1, "m3")]  # a forged tie: both served at meeting 1
    assert rotation_order(members, history, joined) == ["m4", "m1", "m2", "m3"]
    assert rotation_order(["m3", "m1", "m2"], []) == ["m1", "m2", "m3"]  # no join dates: by id
    # A member whose join date is unknown sorts before those with one.
    assert rotation_order(["m1", "m2"], [], {"m1": "2026-01-01"}) == ["m2", "m1"]


def test_next_server_picks_among_members_present_or_nobody() -> None:
    members = ["m1", "m2"]
    assert next_server(members, [], present=set()) is None
    assert next_server(members, [], present={"guest"}) is None  # not a member
    assert next_server(members, [], present={"guest", "m2"}) == "m2"
    assert next_server(members, [Served(0, "m1")]) == "m2"
    assert next_server([], []) is None


def test_next_server_breaks_ties_by_join_date() -> None:
    joined = {"m1": "2026-02-01", "m2": "2026-01-01"}
    assert next_server(["m1", "m2"], [], joined=joined) == "m2"
    assert next_server(["m1", "m2"], [], present={"m1", "m2"}, joined=joined) == "m2"
