"""A meeting a facilitator can trust: nothing changes by accident (starting is a
confirmed step, a closed meeting is read-only until reopened), nothing typed is lost
without a word, what was said can be corrected and the correction undone, the round
fits the meeting, and after closing the next meeting and the minutes are one key away."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, Input

from screens.agenda import CheckinStep, CommitmentsStep
from screens.forms import ConfirmScreen
from screens.meeting import MeetingScreen
from screens.meeting_close import AfterCloseScreen
from screens.meetingforms import CloseMeetingForm
from screens.round import RoundScreen
from screens.round_edit import CorrectFeedbackScreen
from tests.tui.conftest import SIZE, make_test_app, next_meeting, screen_text, settle
from xcircle.services import Services


async def open_meeting(pilot: Pilot[object], circle: str, meeting: str) -> MeetingScreen:
    await pilot.app.push_screen(MeetingScreen(circle, meeting))
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, MeetingScreen)
    return screen


def step_shown(pilot: Pilot[object]) -> str:
    return str(pilot.app.screen.query_one(ContentSwitcher).current)


async def test_next_step_only_looks_at_a_planned_meeting(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    async with app.run_test(size=SIZE) as pilot:
        await open_meeting(pilot, circle, meeting)
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert step_shown(pilot) == "step-round"  # shown…
        await pilot.press("enter")  # the round waits for the start
        await pilot.press("right_square_bracket", "right_square_bracket", "5")  # no pulse yet
        assert isinstance(app.screen, MeetingScreen) and step_shown(pilot) == "step-pulse"
        assert svc.pulses.for_meeting(circle, meeting) == {}
        rec = svc.meetings.get(circle, meeting)
        assert (rec["status"], rec["step"], rec.get("facilitator")) == ("planned", 0, None)


async def test_starting_is_confirmed_and_fixes_the_facilitator(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    pick = svc.meetings.facilitator_of(circle, meeting)
    async with app.run_test(size=SIZE) as pilot:
        await open_meeting(pilot, circle, meeting)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert svc.members.names(circle)[str(pick)] in screen_text(app)
        await pilot.press("n")  # declined: still planned
        await pilot.pause()
        assert svc.meetings.get(circle, meeting)["status"] == "planned"
        await pilot.press("s", "y")
        await settle(pilot)
        assert svc.meetings.get(circle, meeting)["status"] == "running"
        # Marking the facilitator absent and someone else present first moves nothing.
        await pilot.press("space")
        for _ in range(3):
            await pilot.press("down", "space")
        assert svc.meetings.get(circle, meeting)["facilitator"] == pick
        assert "start" not in enabled_actions(pilot)  # started once, for good


async def closed_meeting(svc: Services) -> tuple[str, str]:
    circle, meeting = next_meeting(svc, "Leading")
    svc.meetings.mark_many(circle, meeting, [m["id"] for m in svc.members.all(circle)], True)
    svc.meetings.start(circle, meeting)
    svc.meetings.close(circle, meeting, "Done.")
    return circle, meeting


def enabled_actions(pilot: Pilot[object]) -> set[str]:
    return {b.binding.action for b in pilot.app.screen.active_bindings.values() if b.enabled}


async def test_a_closed_meeting_is_read_only_until_reopened(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = await closed_meeting(svc)
    before = svc.meetings.attendance(circle, meeting)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_meeting(pilot, circle, meeting)
        assert isinstance(screen.current_step, CheckinStep)
        await pilot.press("space", "enter", "a")
        assert svc.meetings.attendance(circle, meeting) == before
        actions = enabled_actions(pilot)
        assert "close" not in actions and "toggle_present" not in actions
        assert "reopen" in actions
        assert "read-only" in screen_text(app)
        await pilot.press("R")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert svc.meetings.get(circle, meeting)["status"] == "running"
        await pilot.press("space")
        assert svc.meetings.attendance(circle, meeting) != before
        assert "close" in enabled_actions(pilot)


async def test_a_failed_action_is_a_notice_not_a_crash(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    svc.meetings.start(circle, meeting)
    async with app.run_test(size=SIZE) as pilot:
        await open_meeting(pilot, circle, meeting)
        # Closed elsewhere in the very moment the key is pressed: before the screen hears
        # of the change (it follows the data: see the test below).
        hook, app.store.on_change = app.store.on_change, None
        svc.meetings.close(circle, meeting)
        app.store.on_change = hook
        before = svc.meetings.attendance(circle, meeting)
        await pilot.press("space")
        await pilot.pause()
        assert svc.meetings.attendance(circle, meeting) == before
        notices = [n.message for n in app._notifications]
        assert any("closed" in n and "reopens" in n for n in notices)


async def test_a_meeting_closed_elsewhere_turns_read_only_on_the_open_screen(
    demo_home: Path,
) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    svc.meetings.start(circle, meeting)
    async with app.run_test(size=SIZE) as pilot:
        await open_meeting(pilot, circle, meeting)
        step = app.screen.query_one(".step")
        assert not step.read_only
        svc.meetings.close(circle, meeting)  # another screen, a sync, the same store
        await settle(pilot)
        assert step.read_only and "Closed" in screen_text(app)


async def test_closing_asks_about_a_half_entered_pulse(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    svc.meetings.start(circle, meeting, step=4)
    async with app.run_test(size=SIZE) as pilot:
        await open_meeting(pilot, circle, meeting)
        await pilot.press("4", "4")  # support and confidence, not learning
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "pulse (4 4 ·)" in screen_text(app)
        await pilot.press("n")  # back to finish it
        await settle(pilot)
        assert step_shown(pilot) == "step-pulse"
        assert svc.meetings.get(circle, meeting)["status"] == "running"
        await pilot.press("x", "y")  # close anyway: the draft goes, the notes come
        await pilot.pause()
        assert isinstance(app.screen, CloseMeetingForm)


async def test_after_closing_plan_the_next_meeting_and_export_minutes(
    demo_home: Path, tmp_path: Path
) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    svc.store.save_setting("export_dir", str(tmp_path / "out"))
    svc.meetings.start(circle, meeting, step=4)
    expected = svc.meetings.next_date(circle, meeting)
    async with app.run_test(size=SIZE) as pilot:
        await open_meeting(pilot, circle, meeting)
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, AfterCloseScreen)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.press("escape")
        await pilot.pause()
    planned = [m for m in svc.meetings.all(circle) if m["status"] == "planned"]
    assert expected.isoformat(timespec="minutes") in {m["at"] for m in planned}
    written = list((tmp_path / "out").glob("*-minutes-*.md"))
    assert len(written) == 1 and (written[0].stat().st_mode & 0o777) == 0o600
    assert "Leading Through Change" in written[0].read_text()


async def test_own_commitment_corrected_removed_and_undone(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    svc.meetings.start(circle, meeting, step=3)
    me = svc.ctx.me(circle)
    assert me is not None
    made = svc.commitments.add(circle, me, "Call Sam", due="2026-12-01", meeting=meeting)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_meeting(pilot, circle, meeting)
        assert isinstance(screen.current_step, CommitmentsStep)
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#text", Input).value = "Call Sam and Ana"
        await pilot.press("enter")
        await settle(pilot)
        assert svc.commitments.get(circle, made["id"])["text"] == "Call Sam and Ana"
        await pilot.press("u")  # undo the correction
        await settle(pilot)
        assert svc.commitments.get(circle, made["id"])["text"] == "Call Sam"
        await pilot.press("d")  # remove: a tombstone
        await settle(pilot)
        mine = [c for c in svc.commitments.all(circle) if c.get("meeting") == meeting]
        assert not mine
        await pilot.press("u")  # undo the removal
        await settle(pilot)
        mine = [c for c in svc.commitments.all(circle) if c.get("meeting") == meeting]
        assert [(c["text"], c["due"]) for c in mine] == [("Call Sam", "2026-12-01")]


async def test_renegotiating_needs_a_new_due_date(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    svc.meetings.start(circle, meeting, step=1)
    async with app.run_test(size=SIZE) as pilot:
        await open_meeting(pilot, circle, meeting)
        await pilot.press("r")
        await pilot.pause()
        form = app.screen
        form.query_one("#text", Input).value = "Ask one team member"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form
        assert form.query_one("#error-due").has_class("-shown")
        form.query_one("#due", Input).value = "2026-12-20"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is not form
    new = [c for c in svc.commitments.all(circle) if c.get("replaces")]
    assert any(c["text"] == "Ask one team member" and c["due"] == "2026-12-20" for c in new)


async def test_the_agenda_shows_the_budget_and_fits_the_timeboxes(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    svc.meetings.update(circle, meeting, duration=75)
    svc.meetings.start(circle, meeting, step=2)
    before = svc.rounds.budget(circle, meeting)
    assert not before.fits and before.proposed_timeboxes
    async with app.run_test(size=(120, 40)) as pilot:
        await open_meeting(pilot, circle, meeting)
        text = screen_text(app)
        assert f"{-(-before.over // 60)} min over" in text
        assert "Timeboxes that fit (t uses them)" in text
        await pilot.press("t")
        await settle(pilot)
        assert svc.rounds.budget(circle, meeting).fits
        assert "✓ fits" in screen_text(app)


async def test_round_feedback_removed_corrected_and_undone(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    svc.meetings.start(circle, meeting, step=2)
    order = svc.rounds.start(circle, meeting)["order"]
    svc.rounds.feedback(circle, meeting, order[0], order[1], "question", "Typed in the wrong box")
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(RoundScreen(circle, meeting))
        await settle(pilot)
        await pilot.press("k")
        await settle(pilot)
        assert isinstance(app.screen, CorrectFeedbackScreen)
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#kind").value = "advice"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(pilot)
        [item] = svc.rounds.feedback_for(circle, meeting)
        assert (item["kind"], item["text"]) == ("advice", "Typed in the wrong box")
        await pilot.press("d")
        await settle(pilot)
        assert svc.rounds.feedback_for(circle, meeting) == []
        await pilot.press("u")
        await settle(pilot)
        [back] = svc.rounds.feedback_for(circle, meeting)
        assert (back["kind"], back["text"], back["giver"]) == ("advice", item["text"], order[1])
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RoundScreen)
        assert "Typed in the wrong box" in screen_text(app)


async def test_a_saved_pulse_is_removed_and_the_removal_undone(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    circle, meeting = next_meeting(svc, "Leading")
    svc.meetings.mark_many(circle, meeting, [m["id"] for m in svc.members.all(circle)], True)
    svc.meetings.start(circle, meeting, step=4)
    first = svc.members.all(circle)[0]["id"]
    svc.pulses.record(circle, meeting, first, support=2, confidence=3, learning=4)
    async with app.run_test(size=SIZE) as pilot:
        await open_meeting(pilot, circle, meeting)
        await pilot.press("d")
        await settle(pilot)
        assert first not in svc.pulses.for_meeting(circle, meeting)
        await pilot.press("u")
        await settle(pilot)
        back = svc.pulses.for_meeting(circle, meeting)[first]
        assert (back["support"], back["confidence"], back["learning"]) == (2, 3, 4)
        await pilot.press("5", "5", "5")  # typing over a saved pulse corrects it
        await settle(pilot)
        again = svc.pulses.for_meeting(circle, meeting)[first]
        assert (again["support"], again["confidence"], again["learning"]) == (5, 5, 5)
        given = svc.store.records(circle, "pulse")
        assert len([p for p in given if (p["member"], p["meeting"]) == (first, meeting)]) == 1


async def test_the_journal_is_written_and_never_synced(demo_home: Path) -> None:
    from textual.widgets import Select, TextArea

    from screens.journal import JournalForm, JournalScreen

    app = make_test_app(demo_home)
    svc = app.services
    circle = svc.circles.resolve("Leading")
    queued = len(svc.store.outbox(circle))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("j")
        await settle(pilot)
        assert isinstance(app.screen, JournalScreen)
        assert "never synced" in screen_text(app)
        for about in (circle, None):
            await pilot.press("n")
            await settle(pilot)
            assert isinstance(app.screen, JournalForm)
            app.screen.query_one("#circle", Select).value = about or Select.NULL
            app.screen.query_one("#text", TextArea).load_text(f"I rush to advise ({about})")
            await pilot.press("ctrl+s")
            await settle(pilot)
        assert isinstance(app.screen, JournalScreen)
        assert f"I rush to advise ({circle})" in screen_text(app)
    written = {(e.circle, e.text) for e in svc.reflections.journal()}
    assert {(circle, f"I rush to advise ({circle})"), (None, "I rush to advise (None)")} <= written
    assert len(svc.store.outbox(circle)) == queued  # nothing to push


async def test_planning_a_past_date_is_refused_under_the_date(demo_home: Path) -> None:
    from screens.meeting import PlanMeetingScreen

    app = make_test_app(demo_home)
    svc = app.services
    circle = svc.circles.resolve("Leading")
    before = len(svc.meetings.all(circle))
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(PlanMeetingScreen(circle))
        await pilot.pause()
        form = app.screen
        form.query_one("#date", Input).value = "2020-01-01"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form
        error = form.query_one("#error-date")
        assert error.has_class("-shown") and "past" in str(error.render())
    assert len(svc.meetings.all(circle)) == before
