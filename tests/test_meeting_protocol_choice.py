"""Choosing a meeting's round protocol after planning it (the app's plan form and its
`P` key): one service call, checked by name, refused once the round has started."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import NOW
from xcircle.errors import InvalidInput
from xcircle.services import Services


def planned(svc: Services) -> tuple[str, str]:
    cid = svc.circles.create("Leaders")["id"]
    for i in range(3):
        svc.members.add(cid, f"Peer {i}", org="Acme")
    return cid, str(svc.meetings.plan(cid, NOW + timedelta(days=1))["id"])


def test_rescheduling_changes_the_protocol_and_keeps_it_when_not_named(svc: Services) -> None:
    cid, mid = planned(svc)
    at = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    svc.meetings.schedule(cid, at, zone="UTC", meeting=mid, protocol="troika")
    assert svc.meetings.get(cid, mid)["protocol"] == "troika"
    assert svc.rounds.protocol(cid, mid).name == "troika"
    svc.meetings.schedule(cid, at, zone="UTC", meeting=mid, themes=["Focus"])
    assert svc.meetings.get(cid, mid)["protocol"] == "troika"  # not named: kept
    svc.meetings.update(cid, mid, protocol="")  # empty: back to the default
    assert svc.rounds.protocol(cid, mid).name == "classic"


def test_an_unknown_protocol_is_refused_naming_the_field(svc: Services) -> None:
    cid, mid = planned(svc)
    with pytest.raises(InvalidInput) as refused:
        svc.meetings.update(cid, mid, protocol="fishbowl")
    assert refused.value.field == "protocol" and "troika" in str(refused.value)
    assert "protocol" not in svc.meetings.get(cid, mid)


def test_the_protocol_changes_until_the_round_starts_and_not_after(svc: Services) -> None:
    cid, mid = planned(svc)
    svc.meetings.start(cid, mid)
    svc.meetings.update(cid, mid, protocol="peer-forum")  # running, round not started
    assert svc.rounds.start(cid, mid)["protocol"] == "peer-forum"
    with pytest.raises(InvalidInput) as refused:
        svc.meetings.update(cid, mid, protocol="troika")
    assert refused.value.field == "protocol"
    svc.meetings.update(cid, mid, protocol="peer-forum")  # the same one: nothing to refuse
    assert svc.rounds.state(cid, mid)["protocol"] == "peer-forum"
