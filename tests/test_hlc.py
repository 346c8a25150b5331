from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xcircle.hlc import HLC, MAX_COUNTER, Stamp, wall_ms


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


def test_wall_ms_is_the_system_clock_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_123_456_789)
    assert wall_ms() == 1_700_000_000_123


def test_stamps_are_exact_wall_counter_and_device() -> None:
    walls = iter([0, 5, 5, 5, 7, 3])
    clock = HLC("dev1", lambda: next(walls))
    stamps = [Stamp.parse(clock.now()) for _ in range(6)]
    assert [(s.wall, s.counter) for s in stamps] == [(0, 1), (5, 0), (5, 1), (5, 2), (7, 0), (7, 1)]
    assert {s.node for s in stamps} == {"dev1"}
    assert str(stamps[1]) == "0000000000005-000000-dev1"


def test_a_full_counter_borrows_the_next_millisecond() -> None:
    clock = HLC("dev1", lambda: 5)
    clock.seed(str(Stamp(5, MAX_COUNTER - 1, "other")))
    assert clock.now() == f"0000000000005-{MAX_COUNTER}-dev1"  # the last counter is used
    assert clock.now() == "0000000000006-000000-dev1"  # then the next ms, counter from 0
    assert clock.now() == "0000000000006-000001-dev1"


@pytest.mark.parametrize(
    "text",
    ["123-000001-node", "0000000000123-1-node", "0000000000123-000001-", "0000000000123"],
)
def test_parse_refuses_anything_but_a_stamp(text: str) -> None:
    with pytest.raises(ValueError, match=r"not an HLC stamp|not enough values"):
        Stamp.parse(text)


def test_parse_keeps_the_device_id_whole() -> None:
    stamp = Stamp.parse("0000000000123-000004-dev-with-dashes")
    assert stamp == Stamp(123, 4, "dev-with-dashes")
