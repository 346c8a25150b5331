"""Meetings a facilitator can trust, through the services: explicit start, read-only
when closed, corrections of what was said, renegotiation, carry-forward, journal."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import NOW
from xcircle.errors import InvalidInput, MeetingClosed, NotYours
from xcircle.services import Services
from xcircle.storage import Database


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the files each durable write went to, in order."""
    seen: list[str] = []
    original = Database.commit

    def commit(self: Database, changes: Any, **kw: Any) -> None:
        changes = list(changes)
        if changes:
            seen.append(self.base.name)
        original(self, changes, **kw)

    monkeypatch.setattr(Database, "commit", commit)
    yield seen


def circle_of(svc: Services, n: int = 3) -> tuple[str, list[str]]:
    cid = svc.circles.create("Leaders")["id"]
    for i in range(n):
        svc.members.add(cid, f"Peer {i}", org="Acme")
    return cid, [m["id"] for m in svc.members.all(cid)]


def running(svc: Services, cid: str, days: int = 1) -> str:
    mid = svc.meetings.plan(cid, NOW + timedelta(days=days))["id"]
    svc.meetings.start(cid, mid)
    return str(mid)


# -- starting, closing, reopening --------------------------------------------------------


def test_starting_is_one_write_and_fixes_the_facilitator(svc: Services, writes: list[str]) -> None:
    cid, members = circle_of(svc)
    mid = svc.meetings.plan(cid, NOW + timedelta(days=1))["id"]
    pick = svc.meetings.facilitator_of(cid, mid)
    svc.meetings.mark(cid, mid, members[2], True)  # marked first: must not become facilitator
    assert svc.meetings.facilitator_of(cid, mid) == pick
    other = next(m for m in members if m != pick)
    svc.meetings.mark(cid, mid, pick, False)  # the pick is away: the next one in rotation
    assert svc.meetings.facilitator_of(cid, mid) == other
    svc.meetings.mark(cid, mid, pick, True)
    writes.clear()
    started = svc.meetings.start(cid, mid, step=1)
    assert writes == [cid]
    assert (started["status"], started["step"], started["facilitator"]) == ("running", 1, pick)
    svc.meetings.mark_many(cid, mid, members, True)
    assert svc.meetings.get(cid, mid)["facilitator"] == pick
    with pytest.raises(InvalidInput, match="running, not planned"):
        svc.meetings.start(cid, mid)


def test_start_takes_a_chosen_facilitator_and_steps_need_a_start(svc: Services) -> None:
    cid, members = circle_of(svc)
    mid = svc.meetings.plan(cid, NOW + timedelta(days=1))["id"]
    with pytest.raises(InvalidInput, match="start the meeting first") as err:
        svc.meetings.set_step(cid, mid, 1)
    assert err.value.field == "meeting"
    assert svc.meetings.start(cid, mid, facilitator=members[3])["facilitator"] == members[3]


def test_a_closed_meeting_is_read_only_until_reopened(svc: Services) -> None:
    cid, members = circle_of(svc)
    mid = running(svc, cid)
    svc.rounds.start(cid, mid)
    svc.meetings.close(cid, mid)
    attempts = [
        lambda: svc.meetings.mark(cid, mid, members[0], False),
        lambda: svc.meetings.set_step(cid, mid, 2),
        lambda: svc.meetings.close(cid, mid),
        lambda: svc.meetings.update(cid, mid, notes="late"),
        lambda: svc.rounds.advance(cid, mid),
        lambda: svc.rounds.feedback(cid, mid, members[0], members[1], "support", "Nice"),
        lambda: svc.commitments.add(cid, members[0], "Do it", meeting=mid),
        lambda: svc.pulses.record(cid, mid, members[0], support=3, confidence=3, learning=3),
    ]
    before = svc.store.canonical(cid)
    for attempt in attempts:
        with pytest.raises(MeetingClosed, match="is closed: a facilitator reopens it"):
            attempt()
    assert svc.store.canonical(cid) == before
    assert svc.meetings.reopen(cid, mid)["status"] == "running"
    svc.meetings.mark(cid, mid, members[0], False)
    with pytest.raises(InvalidInput, match="running, not closed"):
        svc.meetings.reopen(cid, mid)


# -- correcting what was said -------------------------------------------------------------


def test_feedback_is_edited_and_removed_by_tombstones_that_sync(
    svc: Services, writes: list[str]
) -> None:
    cid, members = circle_of(svc)
    mid = running(svc, cid)
    me = svc.ctx.me(cid)
    assert me
    first = svc.rounds.feedback(cid, mid, members[1], me, "question", "Why now?")
    svc.ctx.clock = lambda: NOW + timedelta(seconds=1)
    typo = svc.rounds.feedback(cid, mid, members[1], members[2], "support", "wrong field")
    writes.clear()
    edited = svc.rounds.edit_feedback(cid, first["id"], text="Why this quarter?", kind="challenge")
    assert writes == [cid]
    items = svc.rounds.feedback_for(cid, mid, members[1])
    assert [(f["kind"], f["text"]) for f in items] == [
        ("challenge", "Why this quarter?"),
        ("support", "wrong field"),
    ]
    assert edited["at"] == first["at"]  # it keeps its place in the round
    removed = svc.rounds.remove_feedback(cid, typo["id"])
    assert [f["id"] for f in svc.rounds.feedback_for(cid, mid)] == [edited["id"]]
    pushed = {(op.entity, op.key, op.is_delete) for op in svc.store.outbox(cid)}
    assert ("feedback", first["id"], True) in pushed and ("feedback", typo["id"], True) in pushed
    restored = svc.rounds.restore_feedback(cid, removed)
    assert restored["text"] == "wrong field"
    assert len(svc.rounds.feedback_for(cid, mid)) == 2


def test_only_the_giver_or_the_recording_device_changes_feedback(svc: Services) -> None:
    cid, members = circle_of(svc)
    mid = running(svc, cid)
    item = svc.rounds.feedback(cid, mid, members[1], members[2], "advice", "Try it")
    svc.store.save_profile(node="another-device")  # as if pulled from someone else
    with pytest.raises(NotYours, match="only whoever gave or recorded"):
        svc.rounds.edit_feedback(cid, item["id"], text="mine now")


def test_commitments_are_edited_removed_and_renegotiated(svc: Services) -> None:
    cid, members = circle_of(svc)
    first = running(svc, cid, 1)
    made = svc.commitments.add(cid, members[1], "Talk to my director", meeting=first)
    gone = svc.commitments.add(cid, members[2], "typo", meeting=first)
    svc.commitments.edit(cid, made["id"], text="Talk to my director twice", due="2026-12-10")
    svc.commitments.remove(cid, gone["id"])
    assert [c["text"] for c in svc.commitments.all(cid)] == ["Talk to my director twice"]
    svc.meetings.close(cid, first)
    second = running(svc, cid, 15)
    with pytest.raises(InvalidInput, match="new wording") as err:
        svc.commitments.review(cid, made["id"], "renegotiated", meeting=second)
    assert err.value.field == "text"
    with pytest.raises(InvalidInput, match="new due date") as err:
        svc.commitments.review(cid, made["id"], "renegotiated", meeting=second, text="Smaller")
    assert err.value.field == "due"
    old = svc.commitments.review(
        cid, made["id"], "renegotiated", meeting=second, text="Email my director", due="2026-12-20"
    )
    new = svc.commitments.get(cid, old["renegotiated_as"])
    assert (new["text"], new["due"], new["status"]) == ("Email my director", "2026-12-20", "open")
    assert new["replaces"] == made["id"] and new["meeting"] == second
    assert [c["id"] for c in svc.commitments.to_review(cid, second)] == [made["id"]]
    svc.meetings.close(cid, second)
    third = running(svc, cid, 29)
    assert [c["id"] for c in svc.commitments.to_review(cid, third)] == [new["id"]]


def test_open_commitments_carry_forward_until_kept_or_dropped(svc: Services) -> None:
    cid, members = circle_of(svc)
    first = running(svc, cid, 1)
    made = svc.commitments.add(cid, members[1], "Delegate the report", meeting=first)
    svc.meetings.close(cid, first)
    second = running(svc, cid, 15)
    svc.meetings.close(cid, second)  # not reviewed: it stays open
    third = running(svc, cid, 29)
    assert [c["id"] for c in svc.commitments.to_review(cid, third)] == [made["id"]]
    svc.commitments.review(cid, made["id"], "kept", meeting=third)
    svc.meetings.close(cid, third)
    fourth = running(svc, cid, 43)
    assert svc.commitments.to_review(cid, fourth) == []
    assert svc.insights.kept(cid).percent == 100


def test_kept_counts_only_reviewed_commitments(svc: Services) -> None:
    cid, members = circle_of(svc)
    first = running(svc, cid)
    for text in ("a", "b", "c"):
        svc.commitments.add(cid, members[1], text, meeting=first)
    assert svc.insights.kept(cid).percent is None  # nothing reviewed yet: not 0%
    a, b, _c = sorted(svc.commitments.all(cid), key=lambda c: c["text"])
    svc.commitments.review(cid, a["id"], "kept", meeting=first)
    svc.commitments.review(cid, b["id"], "dropped", meeting=first)
    ratio = svc.insights.kept(cid)
    assert (ratio.kept, ratio.reviewed, ratio.percent) == (1, 2, 50)


def test_pulses_are_edited_removed_and_aggregated(svc: Services) -> None:
    cid, members = circle_of(svc)
    mid = running(svc, cid)
    p = svc.pulses.record(cid, mid, members[1], support=2, confidence=3, learning=4)
    svc.pulses.record(cid, mid, members[2], support=4, confidence=5, learning=4)
    svc.pulses.edit(cid, p["id"], support=5)
    agg = svc.pulses.aggregate(cid, mid)
    assert (agg.count, agg.support, agg.confidence, agg.learning) == (2, 4.5, 4.0, 4.0)
    mine = svc.pulses.for_meeting(cid, mid)[members[2]]
    svc.pulses.remove(cid, mine["id"])
    assert list(svc.pulses.for_meeting(cid, mid)) == [members[1]]
    with pytest.raises(InvalidInput, match="support must be between 1 and 5") as err:
        svc.pulses.record(cid, mid, members[2], support=9, confidence=3, learning=3)
    assert err.value.field == "support"


# -- planning ----------------------------------------------------------------------------


def test_a_past_date_is_refused_with_a_clear_message(svc: Services) -> None:
    cid, _ = circle_of(svc)
    with pytest.raises(InvalidInput, match="2026-11-22 is in the past") as err:
        svc.meetings.plan(cid, NOW - timedelta(days=1))
    assert err.value.field == "date"
    later_today = svc.meetings.plan(cid, NOW - timedelta(hours=1))  # today still counts
    with pytest.raises(InvalidInput, match="in the past"):
        svc.meetings.update(cid, later_today["id"], at=NOW - timedelta(days=3))


def test_planning_in_a_zone_is_one_handler(svc: Services) -> None:
    cid, _ = circle_of(svc)
    rec = svc.meetings.schedule(cid, "2026-12-01T18:00", zone="America/New_York")
    assert (rec["at"], rec["tz"]) == ("2026-12-01T18:00-05:00", "America/New_York")
    moved = svc.meetings.schedule(cid, "2026-12-02T09:30", zone="Asia/Tokyo", meeting=rec["id"])
    assert (moved["at"], moved["tz"]) == ("2026-12-02T09:30+09:00", "Asia/Tokyo")
    with pytest.raises(InvalidInput, match="unknown time zone") as err:
        svc.meetings.schedule(cid, "2026-12-01T18:00", zone="Mars/Base")
    assert err.value.field == "zone"
    with pytest.raises(InvalidInput, match="not a date-time") as err:
        svc.meetings.schedule(cid, "soon")
    assert err.value.field == "at"


def test_the_next_meeting_follows_the_cadence(svc: Services) -> None:
    cid, _ = circle_of(svc)
    svc.circles.update(cid, frequency="monthly")
    jan = svc.meetings.schedule(cid, "2027-01-31T18:00", zone="Europe/Paris")
    nxt = svc.meetings.plan_next(cid, jan["id"])
    assert (nxt["at"], nxt["tz"]) == ("2027-02-28T18:00+01:00", "Europe/Paris")
    svc.circles.update(cid, frequency="weekly")
    # Across the change to summer time, the wall time stays 18:00 in Paris.
    mar = svc.meetings.schedule(cid, "2027-03-24T18:00", zone="Europe/Paris")
    assert svc.meetings.plan_next(cid, mar["id"])["at"] == "2027-03-31T18:00+02:00"


def test_overdue_commitments_say_so(svc: Services) -> None:
    cid, _ = circle_of(svc)
    me = svc.ctx.me(cid)
    assert me
    svc.commitments.add(cid, me, "Late one", due="2026-11-20")
    svc.commitments.add(cid, me, "Soon one", due="2026-11-30")
    due = svc.commitments.due_soon()
    assert [(d.text, d.overdue, d.days_left) for d in due] == [
        ("Late one", True, -3),
        ("Soon one", False, 7),
    ]
    assert [c["overdue"] for c in svc.commitments.mine_due()] == [True, False]


# -- members, circles, journal -----------------------------------------------------------


def test_members_added_in_the_same_second_keep_the_order_they_were_added(
    svc: Services,
) -> None:
    cid = svc.circles.create("Leaders")["id"]
    names = [f"Peer {i}" for i in range(12)]
    for name in names:
        svc.members.add(cid, name, org="Acme")  # the fixed clock: all in one second
    assert [m["name"] for m in svc.members.all(cid)][1:] == names


def test_the_journal_never_syncs(svc: Services) -> None:
    cid, _ = circle_of(svc)
    outbox = len(svc.store.outbox(cid))
    about = svc.reflections.write("I rush to advice.", circle=cid)
    loose = svc.reflections.write("A general thought.")
    entries = {e.id: (e.text, e.circle) for e in svc.reflections.journal()}
    assert entries == {about.id: ("I rush to advice.", cid), loose.id: ("A general thought.", None)}
    assert len(svc.store.outbox(cid)) == outbox
    assert b"rush" not in svc.store.canonical(cid)
    with pytest.raises(InvalidInput, match="cannot be empty") as err:
        svc.reflections.write("  ")
    assert err.value.field == "text"


def test_input_errors_name_their_field(svc: Services) -> None:
    cid, members = circle_of(svc)
    mid = running(svc, cid)
    cases: list[tuple[Any, str]] = [
        (lambda: svc.commitments.add(cid, members[0], "x", due="someday"), "due"),
        (lambda: svc.commitments.add(cid, members[0], " "), "text"),
        (lambda: svc.rounds.feedback(cid, mid, members[0], members[1], "praise", "x"), "kind"),
        (lambda: svc.meetings.plan(cid, datetime(2027, 1, 1), duration=10), "at"),
        (lambda: svc.meetings.plan(cid, datetime(2027, 1, 1, tzinfo=UTC), duration=5), "duration"),
    ]
    goal = svc.goals.add(cid, "Delegate")["id"]
    cases += [
        (lambda: svc.goals.checkin(cid, goal, progress=140), "progress"),
        (lambda: svc.circles.update(cid, duration=5), "duration"),
        (lambda: svc.members.add(cid, " ", org="Acme"), "name"),
        (lambda: svc.rounds.start(cid, mid, order=members[:1]), "reason"),
    ]
    for call, field in cases:
        with pytest.raises(InvalidInput) as err:
            call()
        assert err.value.field == field, (str(err.value), field)


def test_removing_a_member_of_a_shared_circle_is_one_write(
    svc: Services, writes: list[str]
) -> None:
    cid, members = circle_of(svc)
    svc.store.set_meta(cid, shared=True, remove_pending=[members[2]])
    writes.clear()
    removal = svc.members.remove(cid, members[1])
    assert writes == [cid]
    assert (removal.name, removal.shared) == ("Peer 0", True)
    assert svc.store.meta(cid)["remove_pending"] == [members[2], members[1]]
    assert members[1] not in [m["id"] for m in svc.members.all(cid)]
    local = svc.circles.create("Local")["id"]
    gone = svc.members.add(local, "Zed", org="Acme")["id"]
    assert not svc.members.remove(local, gone).shared
    assert "remove_pending" not in svc.store.meta(local)


def test_duplicate_circle_names_are_refused(svc: Services) -> None:
    svc.circles.create("Leaders")
    with pytest.raises(InvalidInput, match="a circle named 'Leaders' exists already") as err:
        svc.circles.create("  leaders ")
    assert err.value.field == "name"
    other = svc.circles.create("Builders")["id"]
    with pytest.raises(InvalidInput, match="exists already"):
        svc.circles.update(other, name="LEADERS")
    assert svc.circles.update(other, name="Builders")["name"] == "Builders"  # its own name


def test_removed_commitments_and_pulses_come_back_on_undo(svc: Services) -> None:
    cid, members = circle_of(svc)
    mid = running(svc, cid)
    made = svc.commitments.add(cid, members[1], "Ask twice", due="2026-12-01", meeting=mid)
    back = svc.commitments.restore(cid, svc.commitments.remove(cid, made["id"]))
    assert (back["text"], back["due"], back["owner"]) == ("Ask twice", "2026-12-01", members[1])
    p = svc.pulses.record(cid, mid, members[1], support=2, confidence=3, learning=4)
    svc.pulses.restore(cid, svc.pulses.remove(cid, p["id"]))
    again = svc.pulses.for_meeting(cid, mid)[members[1]]
    assert (again["support"], again["confidence"], again["learning"]) == (2, 3, 4)


def test_a_meeting_view_is_typed_and_says_what_is_fixed(svc: Services) -> None:
    cid, members = circle_of(svc)
    mid = svc.meetings.plan(cid, NOW + timedelta(days=1))["id"]
    view = svc.meetings.view(cid, mid)
    assert (view.status, view.facilitator_fixed, view.read_only) == ("planned", False, False)
    assert view.facilitator == svc.meetings.next_facilitator(cid)
    svc.meetings.start(cid, mid, facilitator=members[2])
    svc.meetings.mark_many(cid, mid, members[:2], True)
    svc.meetings.close(cid, mid)
    view = svc.meetings.view(cid, mid)
    assert (view.facilitator, view.facilitator_fixed, view.read_only) == (members[2], True, True)
    assert view.present == tuple(members[:2]) and view.absent == ()


def test_the_round_is_a_typed_read_model(svc: Services) -> None:
    cid, _ = circle_of(svc, 2)
    mid = running(svc, cid)
    before = svc.rounds.view(cid, mid)
    assert not before.started and len(before.order) == 3
    svc.rounds.start(cid, mid)
    svc.rounds.advance(cid, mid)
    svc.rounds.advance(cid, mid)  # → feedback from the first peer
    view = svc.rounds.view(cid, mid)
    assert (view.started, view.phase, view.presenter) == (True, "feedback", view.order[0])
    assert view.peer == view.peers[0] == view.order[1]
    assert view.as_dict()["phase_title"] == "Feedback from each peer"
