"""Use cases a member relies on, through the services and a real store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import NOW
from xcircle.errors import Ambiguous, InvalidInput, NotFound
from xcircle.services import Services, parse_when
from xcircle.store import Store


def _circle(svc: Services, members: int = 3) -> tuple[str, list[str]]:
    cid = svc.circles.create("Leaders", purpose="Grow", outcomes=["Confidence"])["id"]
    for i in range(members):
        svc.members.add(cid, f"Peer {i}", org="Acme" if i % 2 else "Beta")
    return cid, [m["id"] for m in svc.members.all(cid)]


def _hold(svc: Services, cid: str, when_days: int, present: list[str]) -> str:
    mid = svc.meetings.plan(cid, NOW + timedelta(days=when_days))["id"]
    for m in svc.members.all(cid):
        svc.meetings.mark(cid, mid, m["id"], m["id"] in present)
    svc.meetings.start(cid, mid)
    return mid


def test_a_new_circle_has_me_and_the_default_agreements(svc: Services) -> None:
    cid, _members = _circle(svc, members=0)
    detail = svc.detail(cid)
    assert [m["name"] for m in detail["members"]] == ["Ada Lovelace"]
    titles = [a["title"] for a in detail["agreements"]]
    assert titles[0] == "Confidentiality"
    assert {"Commitment", "Balancing roles", "Being vulnerable"} <= set(titles)


def test_the_first_meeting_is_the_kickoff(svc: Services) -> None:
    cid, _ = _circle(svc)
    first = svc.meetings.plan(cid, NOW + timedelta(days=1))
    second = svc.meetings.plan(cid, NOW + timedelta(days=15))
    assert first["kickoff"] and not second["kickoff"]
    assert svc.meetings.agenda(first)[1] == "agreements"


def test_commitments_made_in_a_round_are_reviewed_at_the_next_meeting(svc: Services) -> None:
    cid, members = _circle(svc)
    first = _hold(svc, cid, 1, members)
    state = svc.rounds.start(cid, first)
    presenter = state["presenter"]
    made = svc.commitments.add(cid, presenter, "Talk to my director", meeting=first)
    svc.meetings.close(cid, first)
    second = _hold(svc, cid, 15, members)
    assert [c["id"] for c in svc.commitments.to_review(cid, second)] == [made["id"]]
    svc.commitments.review(cid, made["id"], "kept", meeting=second)
    reviewed = svc.commitments.to_review(cid, second)
    assert [c["status"] for c in reviewed] == ["kept"]  # still listed where it was reviewed
    third = _hold(svc, cid, 29, members)
    assert svc.commitments.to_review(cid, third) == []


def test_the_round_walks_every_phase_and_peer_and_resumes_after_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Ada", "Acme")
        cid, members = _circle(svc, members=2)
        mid = _hold(svc, cid, 1, members)
        state = svc.rounds.start(cid, mid)
        assert state["phase"] == "present" and state["remaining"] == 300
        steps = [state["phase"]]
        for _ in range(5):
            steps.append(svc.rounds.advance(cid, mid)["phase"])
        # present, questions, feedback from peer 1, from peer 2, reflect, commit
        assert steps == ["present", "questions", "feedback", "feedback", "reflect", "commit"]
        svc.rounds.pause(cid, mid)
        before = svc.rounds.state(cid, mid)
    with Store(home) as store:
        after = Services(store, clock=lambda: NOW + timedelta(minutes=5)).rounds.state(cid, mid)
        for key in ("presenter", "phase", "turn", "remaining", "paused", "order"):
            assert after[key] == before[key]


def test_the_timer_counts_down_with_the_clock_and_stops_when_paused(store: Store) -> None:
    now = [NOW]
    svc = Services(store, clock=lambda: now[0])
    svc.init_profile("Ada", "Acme")
    cid, members = _circle(svc, members=1)
    mid = _hold(svc, cid, 1, members)
    svc.rounds.start(cid, mid)
    now[0] += timedelta(seconds=100)
    assert svc.rounds.state(cid, mid)["remaining"] == 200
    svc.rounds.pause(cid, mid)
    now[0] += timedelta(seconds=500)
    assert svc.rounds.state(cid, mid)["remaining"] == 200
    svc.rounds.resume(cid, mid)
    now[0] += timedelta(seconds=250)
    assert svc.rounds.state(cid, mid)["remaining"] == -50  # overtime shows


def test_marking_everyone_present_is_all_or_nothing(svc: Services) -> None:
    cid, members = _circle(svc)
    mid = svc.meetings.plan(cid, NOW + timedelta(days=1))["id"]
    with pytest.raises(NotFound):
        svc.meetings.mark_many(cid, mid, [*members[:2], "not-a-member"], True)
    assert svc.meetings.attendance(cid, mid) == {}
    svc.meetings.mark_many(cid, mid, members, True)
    assert svc.meetings.attendance(cid, mid) == dict.fromkeys(members, True)


def test_changing_the_rotation_order_needs_a_reason(svc: Services) -> None:
    cid, members = _circle(svc)
    mid = _hold(svc, cid, 1, members)
    order = list(reversed(svc.rounds.derived_order(cid, mid)))
    with pytest.raises(InvalidInput, match="needs a reason"):
        svc.rounds.start(cid, mid, order=order)
    state = svc.rounds.start(cid, mid, order=order, reason="Priya has to leave early")
    assert state["order"] == order


def test_presenters_rotate_across_meetings(svc: Services) -> None:
    cid, members = _circle(svc)
    firsts = []
    for n in range(len(members)):
        mid = _hold(svc, cid, 1 + 14 * n, members)
        firsts.append(svc.rounds.start(cid, mid)["presenter"])
        svc.meetings.close(cid, mid)
    assert sorted(firsts) == sorted(members)


def test_reflections_never_enter_the_outbox(svc: Services) -> None:
    cid, _ = _circle(svc)
    before = len(svc.store.outbox(cid))
    svc.reflections.add(cid, "Private thought")
    assert len(svc.store.outbox(cid)) == before
    assert [r["text"] for r in svc.reflections.all(cid)] == ["Private thought"]
    assert b"Private thought" not in svc.store.canonical(cid)


def test_every_local_action_is_in_the_outbox(svc: Services) -> None:
    cid, _ = _circle(svc)
    goal = svc.goals.add(cid, "Ship")
    svc.goals.checkin(cid, goal["id"], progress=20)
    entities = [op.entity for op in svc.store.outbox(cid)]
    assert entities.count("goal") == 1 and entities.count("checkin") == 1


def test_user_mistakes_are_clear_errors(svc: Services) -> None:
    cid, _ = _circle(svc)
    goal = svc.goals.add(cid, "Ship")
    with pytest.raises(InvalidInput, match="between 0 and 100, not 140"):
        svc.goals.checkin(cid, goal["id"], progress=140)
    with pytest.raises(InvalidInput, match="not a date"):
        svc.goals.add(cid, "Later", due="31/12/2026")
    with pytest.raises(InvalidInput, match="not a date-time"):
        parse_when("next tuesday")
    with pytest.raises(InvalidInput, match="cannot be empty"):
        svc.circles.create("   ")
    svc.circles.create("Leaders two")
    with pytest.raises(Ambiguous):
        svc.circles.resolve("Lead")
    with pytest.raises(NotFound):
        svc.circles.resolve("Nope")
    assert svc.circles.resolve("leaders two") == svc.circles.resolve("Leaders t")


def test_meeting_times_keep_their_zone(svc: Services) -> None:
    cid, _ = _circle(svc)
    at = parse_when("2026-12-01T18:00", "Europe/Berlin")
    meeting = svc.meetings.plan(cid, at, zone="Europe/Berlin")
    assert meeting["at"] == "2026-12-01T18:00+01:00"
    assert meeting["tz"] == "Europe/Berlin"
