from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from xcircle.hlc import HLC, Stamp


def test_stamps_increase_even_when_the_wall_clock_goes_back() -> None:
    walls = iter([1000, 1000, 900, 500, 1001, 1001])
    clock = HLC("aaaa", lambda: next(walls))
    stamps = [clock.now() for _ in range(6)]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 6
    assert Stamp.parse(stamps[3]).wall == 1000  # held at the last wall time seen


def test_seed_keeps_the_clock_monotonic_across_restarts() -> None:
    first = HLC("aaaa", lambda: 5000)
    last = [first.now() for _ in range(3)][-1]
    restarted = HLC("aaaa", lambda: 10)  # the machine's clock is now far behind
    restarted.seed(last)
    assert restarted.now() > last


def test_observe_orders_local_events_after_remote_ones() -> None:
    local = HLC("aaaa", lambda: 100)
    local.observe(HLC("bbbb", lambda: 9_000).now())
    assert Stamp.parse(local.now()).wall == 9_000


@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=50))
def test_any_wall_clock_gives_strictly_increasing_stamps(walls: list[int]) -> None:
    it = iter(walls)
    clock = HLC("node", lambda: next(it))
    stamps = [clock.now() for _ in walls]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert [Stamp.parse(s) for s in stamps] == sorted(Stamp.parse(s) for s in stamps)
