"""Pilot tests of a meeting: plan it, run it along its agenda, close it.

Each test drives the real screens over a seeded demo home with a fixed clock and then
asserts what the store holds, since the store is what the other members will sync.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, Input, TextArea

from screens.meeting import MeetingScreen, PlanMeetingScreen
from screens.meeting_close import AfterCloseScreen
from screens.meetingforms import CommitmentForm
from screens.round import RoundScreen
from tests.tui.conftest import FIXED_NOW, SIZE, make_test_app, next_meeting
from xcircle.services import Services
from xcircle.services.rounds import peers_of
from xcircle.store import Store


@contextmanager
def reopened(home: Path) -> Iterator[tuple[Store, Services]]:
    """The home opened again after the app closed: what was durably saved."""
    with Store(home) as store:
        yield store, Services(store, clock=lambda: FIXED_NOW)


async def test_plan_meeting_bad_date_inline_error_then_saved(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle = svc.circles.resolve("Leading")
    before = len(svc.meetings.all(circle))
    results: list[str | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(PlanMeetingScreen(circle), results.append)
        await pilot.pause()
        form = app.screen
        form.query_one("#date", Input).value = "2026-13-40"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form
        error = form.query_one("#error-date")
        assert "not a date" in str(error.render())
        assert error.has_class("-shown")
        assert len(svc.meetings.all(circle)) == before

        form.query_one("#date", Input).value = "2026-12-10"
        form.query_one("#time", Input).value = "17:30"
        form.query_one("#zone", Input).value = "Europe/Paris"
        form.query_one("#themes", Input).value = "Energy, Hiring"
        form.query_one("#themes", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
    assert results and results[0] is not None
    with reopened(demo_home) as (_, svc):
        meeting = svc.meetings.get(circle, results[0])
        assert meeting["at"] == "2026-12-10T17:30+01:00"
        assert meeting["tz"] == "Europe/Paris"
        assert meeting["themes"] == ["Energy", "Hiring"]
        assert len(svc.meetings.all(circle)) == before + 1


async def test_reschedule_keeps_the_meeting(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    circle, meeting = next_meeting(app.services, "Leading")
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(PlanMeetingScreen(circle, meeting))
        await pilot.pause()
        app.screen.query_one("#time", Input).value = "08:15"
        app.screen.query_one("#zone", Input).value = "UTC"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PlanMeetingScreen)
    with reopened(demo_home) as (_, svc):
        assert svc.meetings.get(circle, meeting)["at"].endswith("T08:15+00:00")


async def test_run_a_whole_meeting(demo_home: Path) -> None:
    """Attendance → review → the round through every phase, peer and presenter (feedback
    of each kind) → commitments → pulse → close; then what the store holds."""
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "New Managers")
    members = [m["id"] for m in svc.members.all(circle)]
    to_review = svc.commitments.to_review(circle, meeting)
    assert len(to_review) >= 3
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(MeetingScreen(circle, meeting))
        await pilot.pause()
        # Check-in: everyone present, then the last member absent.
        await pilot.press("a", *["down"] * (len(members) - 1), "space")
        absent = members[-1]
        assert svc.meetings.present(circle, meeting) == members[:-1]
        # Starting is its own, confirmed step; it fixes the rotation's facilitator.
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        started = svc.meetings.get(circle, meeting)
        assert started["status"] == "running" and started["facilitator"] in members
        await pilot.press("right_square_bracket")
        assert svc.meetings.get(circle, meeting)["step"] == 1
        # Review: kept, renegotiated (new wording and date), dropped with single keys.
        await pilot.press("k", "down", "r")
        await pilot.pause()
        app.screen.query_one("#text", Input).value = "Delegate one decision a week"
        app.screen.query_one("#due", Input).value = "2026-12-14"
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("down", "d")
        statuses = {c["id"]: c["status"] for c in svc.commitments.to_review(circle, meeting)}
        assert [statuses[c["id"]] for c in to_review[:3]] == ["kept", "renegotiated", "dropped"]
        renegotiated = [c for c in svc.commitments.all(circle) if c.get("replaces")]
        assert any(
            c["text"] == "Delegate one decision a week" and c["due"] == "2026-12-14"
            for c in renegotiated
        )
        # The round: every phase and every peer for every presenter.
        await pilot.press("right_square_bracket", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RoundScreen)
        order = svc.rounds.state(circle, meeting)["order"]
        assert absent not in order and len(order) == len(members) - 1
        for turn, presenter in enumerate(order):
            first = turn == 0
            if first:
                await edit_text(pilot, "e", "How do I delegate without losing touch?")
            await pilot.press("n")  # → clarifying questions
            if first:
                await give(pilot, "q", "What have you tried?")
            await pilot.press("n")  # → feedback, first peer
            for i, peer in enumerate(peers_of(order, turn)):
                assert svc.rounds.state(circle, meeting)["peer"] == peer
                if first:
                    await give(pilot, "csa"[i % 3], f"Feedback {i}")
                await pilot.press("n")
            assert svc.rounds.state(circle, meeting)["phase"] == "reflect"
            if first:
                await edit_text(pilot, "r", "Ask before I advise.")
            await pilot.press("n")  # → commitment
            await pilot.press("m")
            await pilot.pause()
            app.screen.query_one("#text", Input).value = f"Commitment {turn}"
            app.screen.query_one("#due", Input).value = "2026-12-07"
            await pilot.press("enter")
            await pilot.pause()
            state = svc.rounds.state(circle, meeting)
            assert state["presenter"] == presenter and state["phase"] == "commit"
            await pilot.press("n")
        assert svc.rounds.state(circle, meeting)["done"]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MeetingScreen)
        # New commitments: the round's, and one more added here.
        await pilot.press("right_square_bracket", "a")
        await pilot.pause()
        app.screen.query_one("#text", Input).value = "Share the playbook"
        await pilot.press("enter")
        await pilot.pause()
        # Pulse: three digits per present member.
        await pilot.press("right_square_bracket")
        for _ in order:
            await pilot.press("4", "5", "3")
        # Close with notes.
        await pilot.press("x")
        await pilot.pause()
        app.screen.query_one("#notes", TextArea).load_text("A calm, useful round.")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, AfterCloseScreen)  # plan the next one, minutes
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MeetingScreen)

    with reopened(demo_home) as (store, svc):
        closed = svc.meetings.get(circle, meeting)
        assert closed["status"] == "closed" and closed["notes"] == "A calm, useful round."
        assert closed["step"] == 4
        first_presenter = order[0]
        feedback = svc.rounds.feedback_for(circle, meeting)
        assert sorted((f["kind"], f["giver"], f["text"]) for f in feedback) == sorted(
            [
                ("question", order[1], "What have you tried?"),
                ("challenge", order[1], "Feedback 0"),
                ("support", order[2], "Feedback 1"),
                ("advice", order[3], "Feedback 2"),
            ]
        )
        assert {f["presenter"] for f in feedback} == {first_presenter}
        turn = store.get(circle, "turn", f"{meeting}:{first_presenter}")
        assert turn is not None and turn["reflection"] == "Ask before I advise."
        made = [
            c
            for c in svc.commitments.all(circle)
            if c.get("meeting") == meeting and not c.get("replaces")  # not renegotiated
        ]
        assert len(made) == len(order) + 1
        by_owner = {c["owner"]: c for c in made if c["text"].startswith("Commitment")}
        assert set(by_owner) == set(order)
        assert {c["due"] for c in by_owner.values()} == {"2026-12-07"}
        pulses = svc.pulses.for_meeting(circle, meeting)
        assert set(pulses) == set(order)
        ratings = {(p["support"], p["confidence"], p["learning"]) for p in pulses.values()}
        assert ratings == {(4, 5, 3)}


async def test_commitment_from_the_round_is_reviewed_next_meeting(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, first = next_meeting(svc, "New Managers")
    svc.meetings.start(circle, first)
    svc.rounds.start(circle, first)
    while svc.rounds.state(circle, first)["phase"] != "commit":
        svc.rounds.advance(circle, first)
    presenter = svc.rounds.state(circle, first)["presenter"]
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, first))
        await pilot.pause()
        await pilot.press("m")
        await pilot.pause()
        app.screen.query_one("#text", Input).value = "Ask for feedback weekly"
        app.screen.query_one("#due", Input).value = "2026-12-20"
        await pilot.press("enter")
        await pilot.pause()
        svc.meetings.close(circle, first)
        later = FIXED_NOW.replace(day=30)
        second = svc.meetings.plan(circle, later)["id"]
        svc.meetings.start(circle, second)
        await app.push_screen(MeetingScreen(circle, second))
        await pilot.pause()
        await pilot.press("right_square_bracket")
        assert app.screen.query_one(ContentSwitcher).current == "step-review"
        row = next(c for c in svc.commitments.to_review(circle, second) if c["meeting"] == first)
        assert row["owner"] == presenter and row["text"] == "Ask for feedback weekly"
        table = app.screen.query_one("#step-review StepTable")
        table.move_cursor(row=table.get_row_index(row["id"]))  # type: ignore[attr-defined]
        await pilot.press("k")
    with reopened(demo_home) as (_, svc):
        reviewed = svc.commitments.get(circle, row["id"])
        assert reviewed["status"] == "kept" and reviewed["reviewed_in"] == second


async def test_kickoff_agreements_step_records_acknowledgements(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle = svc.circles.resolve("Data")
    meeting = svc.meetings.next(circle)
    assert meeting is not None and meeting["kickoff"]
    members = [m["id"] for m in svc.members.all(circle)]
    svc.meetings.start(circle, meeting["id"])  # agreements are read together, once started
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(MeetingScreen(circle, meeting["id"]))
        await pilot.pause()
        await pilot.press("a", "right_square_bracket")
        assert app.screen.query_one(ContentSwitcher).current == "step-agreements"
        await pilot.press("space", "down", "space", "down", "enter")
        await pilot.press("up", "space")  # already acknowledged: nothing new is written
    with reopened(demo_home) as (store, svc):
        assert svc.meetings.acknowledged(circle) == set(members[:3])
        acks = list(store.records(circle, "ack"))
        assert len(acks) == 3 and {a["meeting"] for a in acks} == {meeting["id"]}


async def test_agenda_step_survives_a_restart(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    circle, planned = next_meeting(app.services, "Leading")
    app.services.meetings.start(circle, planned)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(MeetingScreen(circle, planned))
        await pilot.pause()
        await pilot.press("right_square_bracket", "right_square_bracket")

    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(MeetingScreen(circle, planned))
        await pilot.pause()
        assert app.screen.query_one(ContentSwitcher).current == "step-round"
        await pilot.press("left_square_bracket")
        assert app.screen.query_one(ContentSwitcher).current == "step-review"
    with reopened(demo_home) as (_, svc):
        assert svc.meetings.get(circle, planned)["step"] == 1


async def edit_text(pilot: Pilot[object], key: str, text: str) -> None:
    """Open the challenge/reflection editor with `key`, write `text`, save."""
    await pilot.press(key)
    await pilot.pause()
    pilot.app.screen.query_one("#text", TextArea).load_text(text)
    await pilot.press("ctrl+s")
    await pilot.pause()


async def give(pilot: Pilot[object], key: str, text: str) -> None:
    """Capture one feedback of the kind bound to `key`, from the prefilled giver."""
    await pilot.press(key)
    await pilot.pause()
    pilot.app.screen.query_one("#text", Input).value = text
    await pilot.press("enter")
    await pilot.pause()


async def test_an_error_about_a_field_the_form_lacks_shows_on_the_form(demo_home: Path) -> None:
    """The owner of a commitment is fixed in the round (no owner field); when they were
    removed meanwhile (a sync, say), saving says so on the form instead of crashing."""
    app = make_test_app(demo_home)
    circle, meeting = next_meeting(app.services, "Leading")
    owner = app.services.members.all(circle)[1]["id"]
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(CommitmentForm(circle, meeting, owner))
        await pilot.pause()
        form = app.screen
        app.services.members.remove(circle, owner)
        form.query_one("#text", Input).value = "Book the budget talk"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form
        error = form.query_one("#error-form")
        assert "no member" in str(error.render()) and error.has_class("-shown")
        texts = [c["text"] for c in app.services.commitments.all(circle)]
        assert "Book the budget talk" not in texts
