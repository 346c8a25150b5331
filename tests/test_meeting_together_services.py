"""A meeting run together, through the services alone: who drives, whose input a device
may record, whose pulse it may show, and the clock a shared countdown reads."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from tests.conftest import NOW
from xcircle.errors import NotYours
from xcircle.services import Services
from xcircle.services.context import MAX_SKEW_MS


def shared_meeting(svc: Services, *, me_is: int) -> tuple[str, str, list[str]]:
    """A circle marked shared with three members (this device is member `me_is`), and
    a meeting started with the first member as its facilitator."""
    cid = svc.circles.create("Leaders")["id"]
    for name in ("Ada", "Bob", "Cy"):
        svc.members.add(cid, name, org="Acme")
    members = [m["id"] for m in svc.members.all(cid) if m["name"] in ("Ada", "Bob", "Cy")]
    meeting = svc.meetings.plan(cid, NOW)["id"]
    svc.meetings.start(cid, meeting, members[0])
    svc.store.set_meta(cid, shared=True, me=members[me_is])
    return cid, meeting, members


def test_a_circle_that_is_not_shared_is_driven_from_this_device(svc: Services) -> None:
    cid = svc.circles.create("Leaders")["id"]
    a, b = (svc.members.add(cid, n, org="Acme")["id"] for n in ("Ada", "Bob"))
    meeting = svc.meetings.plan(cid, NOW)["id"]
    svc.meetings.start(cid, meeting, a)
    assert svc.meetings.drives(cid, meeting)
    # One device types for everyone, as before.
    svc.pulses.record(cid, meeting, b, support=3, confidence=3, learning=3)
    svc.rounds.start(cid, meeting, [a, b], "as agreed")
    svc.rounds.feedback(cid, meeting, a, b, "advice", "Say no more often")
    assert svc.pulses.shown(cid, svc.pulses.for_meeting(cid, meeting)[b])


def test_the_facilitators_device_drives_and_types_for_anyone(svc: Services) -> None:
    cid, meeting, (ada, bob, cy) = shared_meeting(svc, me_is=0)
    assert svc.meetings.drives(cid, meeting)
    svc.meetings.set_step(cid, meeting, 1)
    svc.rounds.start(cid, meeting, [ada, bob, cy], "as agreed")
    svc.rounds.advance(cid, meeting)
    svc.rounds.feedback(cid, meeting, ada, cy, "question", "For Cy, who has no device")
    svc.pulses.record(cid, meeting, cy, support=4, confidence=4, learning=4)
    svc.meetings.mark(cid, meeting, bob, True)
    # What this device typed it may show, whoever it is for.
    assert svc.pulses.shown(cid, svc.pulses.for_meeting(cid, meeting)[cy])


@pytest.mark.parametrize(
    "move",
    [
        lambda s, c, m, _ms: s.meetings.set_step(c, m, 1),
        lambda s, c, m, _ms: s.meetings.close(c, m),
        lambda s, c, m, ms: s.rounds.start(c, m, ms, "as agreed"),
    ],
    ids=["step", "close", "round start"],
)
def test_a_following_device_does_not_move_the_meeting(svc: Services, move: Any) -> None:
    cid, meeting, members = shared_meeting(svc, me_is=1)
    assert not svc.meetings.drives(cid, meeting)
    before = svc.meetings.get(cid, meeting)
    with pytest.raises(NotYours, match="facilitator's device runs this meeting"):
        move(svc, cid, meeting, members)
    assert svc.meetings.get(cid, meeting) == before


def test_a_following_device_records_only_its_own_members_input(svc: Services) -> None:
    cid, meeting, (ada, bob, cy) = shared_meeting(svc, me_is=1)
    for record in (
        lambda: svc.rounds.feedback(cid, meeting, ada, cy, "advice", "x"),
        lambda: svc.rounds.set_reflection(cid, meeting, ada, "x"),
        lambda: svc.pulses.record(cid, meeting, cy, support=1, confidence=1, learning=1),
        lambda: svc.commitments.add(cid, cy, "x", meeting=meeting),
        lambda: svc.meetings.mark(cid, meeting, ada, True),
        lambda: svc.meetings.acknowledge(cid, cy, meeting),
        lambda: svc.meetings.set_facilitator(cid, meeting, cy),
    ):
        with pytest.raises(NotYours, match="only your own"):
            record()
    svc.rounds.feedback(cid, meeting, ada, bob, "support", "Mine to give")
    svc.rounds.set_reflection(cid, meeting, bob, "Mine to write")
    svc.pulses.record(cid, meeting, bob, support=5, confidence=4, learning=3)
    svc.commitments.add(cid, bob, "I will delegate", meeting=meeting)
    svc.meetings.mark(cid, meeting, bob, True)
    svc.meetings.set_facilitator(cid, meeting, bob)  # taking it over
    assert svc.meetings.drives(cid, meeting)


def test_another_devices_pulse_is_not_shown_here(svc: Services) -> None:
    cid, meeting, (ada, bob, _cy) = shared_meeting(svc, me_is=0)
    mine = svc.pulses.record(cid, meeting, ada, support=2, confidence=2, learning=2)
    assert svc.pulses.shown(cid, mine)
    # Bob's pulse as his device would send it: his member, another device's node.
    theirs = svc.store.op(
        cid,
        "pulse",
        None,
        {"meeting": meeting, "member": bob, "support": 5, "confidence": 5, "learning": 5},
    )
    svc.store.apply([replace(theirs, author="other-device")])
    pulse = svc.pulses.for_meeting(cid, meeting)[bob]
    assert not svc.pulses.shown(cid, pulse)
    assert svc.pulses.aggregate(cid, meeting).count == 2


def test_the_shared_clock_is_this_devices_plus_the_last_measured_skew(svc: Services) -> None:
    base = int(NOW.timestamp() * 1000)
    assert svc.ctx.shared_now_ms() == base  # never synced: this device's clock
    svc.store.save_setting("sync_state", {"skew_ms": -90_000})
    assert svc.ctx.shared_now_ms() == base - 90_000
    svc.store.save_setting("sync_state", {"skew_ms": MAX_SKEW_MS + 1})
    assert svc.ctx.shared_now_ms() == base  # a broken clock is not corrected for
