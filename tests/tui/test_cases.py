"""Work between meetings and agreements that evolve, in the app: the circle's Cases tab
(open, answer, close a written round), the agreement view (amend, consent, object,
acknowledge again), and the plus/delta offered when a meeting closes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Select, Static, TabbedContent, TextArea

from screens.amendments import AgreementScreen, AmendmentForm, ObjectionForm
from screens.caseforms import CaseForm, CloseCaseForm, ReplyForm
from screens.cases import CasesPane
from screens.circle import CircleScreen
from screens.meeting_close import AfterCloseScreen, PlusDeltaForm
from screens.widgets import Table, WrappedList
from tests.tui.conftest import FIXED_NOW, SIZE, make_test_app, screen_text, settle
from xcircle.ops import deterministic_ids, new_id
from xcircle.services import Services
from xcircle.store import Store


def peer_case(home: Path, *, protocol: str = "action-learning") -> tuple[str, str]:
    """A case Priya Shah opened on her device (as it arrives by sync): (circle, case)."""
    with Store(home) as store, deterministic_ids(11):
        svc = Services(store, clock=lambda: FIXED_NOW)
        cid = svc.circles.resolve("Leading")
        priya = svc.members.resolve(cid, "Priya")
        key = new_id()
        fields = {
            "presenter": priya,
            "title": "My deputy wants my job",
            "text": "How do I support her without stepping aside too early?",
            "protocol": protocol,
            "status": "open",
            "opened": FIXED_NOW.isoformat(),
            "closed": None,
            "reflection": "",
            "commitment": None,
        }
        svc.ctx.commit([svc.ctx.op(cid, "case", key, **fields)])
        return cid, key


async def open_cases(pilot: Pilot[object]) -> CasesPane:
    await settle(pilot)
    await pilot.press("down", "enter")
    await settle(pilot)
    assert isinstance(pilot.app.screen, CircleScreen)
    await pilot.press("6")
    await settle(pilot)
    assert pilot.app.screen.query_one(TabbedContent).active == "cases"
    return pilot.app.screen.query_one(CasesPane)


async def test_a_member_opens_a_case_from_the_cases_tab(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_cases(pilot)
        assert "No cases yet" in screen_text(app)
        await pilot.press("a")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, CaseForm)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert form.query_one("#error-title").has_class("-shown")  # nothing saved
        form.query_one("#title", Input).value = "Saying no to my director"
        form.query_one("#text", TextArea).text = "Every request lands on my team."
        form.query_one("#protocol", Select).value = "action-learning"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is pane.screen
        table = pane.query_one("#case-table", Table)
        assert table.row_count == 1
        text = screen_text(app)
        assert "Saying no to my director" in text and "action-learning" in text
        assert "Answers may be: question" in text
        # My own case: peers answer it, the app says so instead of opening a form.
        await pilot.press("r")
        await settle(pilot)
        assert app.screen is pane.screen


async def test_a_peer_answers_with_a_kind_the_protocol_takes(demo_home: Path) -> None:
    cid, case = peer_case(demo_home)
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_cases(pilot)
        await pilot.press("enter")  # a peer's open case: Enter answers it
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ReplyForm)
        kinds = form.query_one("#kind", Select)
        assert [v for _, v in kinds._options] == ["question"]  # action learning: questions
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert form.query_one("#error-text").has_class("-shown")
        form.query_one("#text", TextArea).text = "What would stepping aside look like?"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is pane.screen
        assert "Question from Alex Morgan: What would stepping aside look like?" in screen_text(app)
        assert len(app.services.cases.get(cid, case).replies) == 1
        # Only the presenter closes it.
        await pilot.press("c")
        await settle(pilot)
        assert app.screen is pane.screen
        assert app.services.cases.get(cid, case).status == "open"


async def test_the_presenter_closes_a_case_and_the_next_meeting_reviews_it(
    demo_home: Path,
) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        pane = await open_cases(pilot)
        svc = app.services
        cid = pane.circle
        view = svc.cases.open(cid, "Too many meetings")
        priya = svc.members.resolve(cid, "Priya")
        svc.cases.reply(cid, view.id, "question", "Which one would you drop?", giver=priya)
        pane.reload()
        await settle(pilot)
        await pilot.press("enter")  # my own open case: Enter closes it
        await settle(pilot)
        form = app.screen
        assert isinstance(form, CloseCaseForm)
        form.query_one("#commitment", Input).value = "Drop the Monday sync"
        form.query_one("#due", Input).value = "next week"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert form.query_one("#error-reflection").has_class("-shown")
        form.query_one("#reflection", TextArea).text = "I keep meetings out of habit."
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert form.query_one("#error-due").has_class("-shown")  # not a date: nothing saved
        assert svc.cases.get(cid, view.id).status == "open"
        form.query_one("#due", Input).value = "2026-12-01"
        await pilot.press("ctrl+s")
        await settle(pilot)
        closed = svc.cases.get(cid, view.id)
        assert closed.status == "closed" and closed.commitment_text == "Drop the Monday sync"
        assert "Commitment Drop the Monday sync" in screen_text(app)
        nxt = svc.meetings.next(cid)
        assert nxt is not None
        due = svc.commitments.to_review(cid, nxt["id"])
        assert closed.commitment in [c["id"] for c in due]


async def open_agreement(pilot: Pilot[object]) -> AgreementScreen:
    await settle(pilot)
    await pilot.press("down", "enter")
    await settle(pilot)
    await pilot.press("h")  # the highlighted agreement: Confidentiality
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AgreementScreen)
    return screen


async def test_a_convener_amends_and_everyone_is_asked_to_acknowledge_again(
    demo_home: Path,
) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_agreement(pilot)
        svc = app.services
        cid = screen.circle
        assert svc.meetings.acknowledged(cid)  # the demo's kick-off acknowledged them
        await pilot.press("m")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, AmendmentForm)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert form.query_one("#error-body").has_class("-shown")  # changes nothing
        form.query_one("#body", TextArea).text = "We share lessons, never names."
        form.query_one("#reason", Input).value = "Stories were leaking as lessons"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen
        assert "Waiting for" in screen_text(app)
        (amendment,) = svc.amendments.pending(cid)
        for member in svc.members.all(cid)[1:]:  # the others, recorded by the scribe
            svc.amendments.vote(cid, amendment.id, True, member=member["id"])
        screen.reload()
        await settle(pilot)
        text = screen_text(app)
        assert "We share lessons, never names." in text
        assert "(version 2)" in text and "v1 (first)" in text
        assert svc.meetings.acknowledged(cid) == set()  # asked again
        assert "Not yet acknowledged:" in text
        await pilot.press("k")
        await settle(pilot)
        assert svc.meetings.acknowledged(cid) == {svc.ctx.me(cid)}


async def test_a_member_consents_or_objects_in_the_agreement_view(demo_home: Path) -> None:
    with Store(demo_home) as store:
        svc = Services(store, clock=lambda: FIXED_NOW)
        cid = svc.circles.resolve("Leading")
        priya = svc.members.resolve(cid, "Priya")
        agreement = svc.circles.agreements(cid)[0]["id"]
        members = [m["id"] for m in svc.members.all(cid)]
        svc.ctx.commit(  # Priya's proposal, as it arrives by sync from her device
            [
                svc.ctx.op(
                    cid,
                    "amendment",
                    new_id(),
                    agreement=agreement,
                    title="Privacy",
                    text="Lessons, never names.",
                    reason="",
                    proposer=priya,
                    voters=members,
                    proposed=FIXED_NOW.isoformat(),
                )
            ]
        )
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_agreement(pilot)
        await pilot.press("o")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ObjectionForm)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert form.query_one("#error-note").has_class("-shown")  # an objection says why
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        (pending,) = app.services.amendments.pending(cid)
        assert [v.name for v in pending.votes] == ["Alex Morgan"]
        await pilot.press("c")  # twice: refused, one line, nothing added
        await settle(pilot)
        assert len(app.services.amendments.get(cid, pending.id).votes) == 1
        assert screen.query_one("#amendments", WrappedList).option_count == 1


async def test_a_closed_meeting_takes_a_plus_delta_shown_in_its_minutes(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        svc = app.services
        cid = svc.circles.resolve("Leading")
        meeting = svc.meetings.plan(cid, datetime(2026, 11, 24, 18, 0, tzinfo=UTC))["id"]
        svc.meetings.start(cid, meeting)
        svc.meetings.close(cid, meeting)
        app.push_screen(AfterCloseScreen(cid, meeting))
        await settle(pilot)
        await pilot.press("f")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, PlusDeltaForm)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert form.query_one("#error-plus").has_class("-shown")
        form.query_one("#plus", TextArea).text = "Tight timeboxes\nEveryone spoke"
        form.query_one("#delta", TextArea).text = "Start on time"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, AfterCloseScreen)
        shown = str(app.screen.query_one("#plusdelta", Static).render())
        assert "Tight timeboxes" in shown and "Start on time" in shown
        minutes = svc.minutes(cid, meeting)
        assert minutes.plus == ("Tight timeboxes", "Everyone spoke")
        assert minutes.delta == ("Start on time",)
