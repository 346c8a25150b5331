"""The agenda's time budget: whether the round fits, and proposals that do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import NOW
from xcircle.domain import DEFAULT_TIMEBOXES
from xcircle.errors import InvalidInput
from xcircle.services import Services
from xcircle.timebudget import MIN_TIMEBOX, budget, turn_seconds


def test_five_presenters_at_default_timeboxes_overrun_75_minutes() -> None:
    b = budget(75, presenters=5)
    assert b.turn == 21 * 60  # 5 + 5 + 4 × 2 + 2 + 1 minutes
    assert b.round == 105 * 60 and b.needed == 135 * 60  # + 30 for the other steps
    assert not b.fits and b.over == 60 * 60
    assert b.max_presenters == 2  # 45 minutes for the round
    assert b.proposed_timeboxes is not None
    assert turn_seconds(b.proposed_timeboxes, 5) * 5 + b.steps <= 75 * 60


def test_a_short_round_fits_and_proposes_nothing() -> None:
    b = budget(120, presenters=3)
    assert b.fits and b.over == 0 and b.proposed_timeboxes is None and b.max_presenters == 3


def test_nothing_fits_a_meeting_shorter_than_its_other_steps() -> None:
    b = budget(30, presenters=4)
    assert b.max_presenters == 0 and b.proposed_timeboxes is None and not b.fits


@given(
    duration=st.integers(15, 480),
    presenters=st.integers(1, 12),
    extra=st.integers(0, 4),
)
def test_proposed_timeboxes_always_fit(duration: int, presenters: int, extra: int) -> None:
    b = budget(duration, presenters, presenters + extra)
    if b.proposed_timeboxes is not None:
        boxes = b.proposed_timeboxes
        assert all(MIN_TIMEBOX <= boxes[p] <= DEFAULT_TIMEBOXES[p] for p in boxes)
        assert b.steps + turn_seconds(boxes, b.attendees) * presenters <= b.duration
    assert b.steps + b.turn * b.max_presenters <= max(b.duration, b.steps)


def test_a_meetings_budget_and_its_proposal_applied_to_the_round(svc: Services) -> None:
    cid = svc.circles.create("Leaders", duration=75)["id"]
    for i in range(4):
        svc.members.add(cid, f"Peer {i}", org="Acme")
    mid = svc.meetings.plan(cid, NOW + timedelta(days=1))["id"]
    svc.meetings.start(cid, mid)
    b = svc.rounds.budget(cid, mid)
    assert (b.presenters, b.duration, b.fits) == (5, 75 * 60, False)
    assert b.proposed_timeboxes is not None
    svc.rounds.start(cid, mid, timeboxes=b.proposed_timeboxes)
    assert svc.rounds.budget(cid, mid).fits
    with pytest.raises(InvalidInput, match="between 10 and 7200") as err:
        svc.rounds.set_timeboxes(cid, mid, {"present": 5})
    assert err.value.field == "timeboxes"
