"""Every form places a refused input's error by the error's `field` alone: under the
input it belongs to (focused), or on the form's own line when it has no field or its
field is not in the form. The message's words never choose the place."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static, TextArea

from screens.cardforms import CardForm
from screens.correctforms import EditCommitmentForm, EditFeedbackForm, RenegotiateForm
from screens.forms import AgreementForm, CircleForm, FormScreen, MemberForm, ProfileForm
from screens.goalforms import CheckinForm, GoalForm
from screens.journal import JournalForm
from screens.meetingforms import (
    CloseMeetingForm,
    CommitmentForm,
    FacilitatorForm,
    FeedbackForm,
    PlanMeetingScreen,
    ReorderForm,
    TurnTextForm,
)
from screens.syncforms import AcceptModal, JoinModal
from tests.tui.conftest import SIZE, make_test_app, next_meeting, settle
from xcircle.errors import InvalidInput
from xcircle.services import Services

Make = Callable[[Services], FormScreen[object]]


def errors_shown(form: FormScreen[object]) -> dict[str, str]:
    """The error lines with text: their field ('form' for the form's own) -> text."""
    out = {}
    for error in form.query(".error"):
        assert isinstance(error, Static)
        text = str(error.render()).strip()
        if text:
            out[(error.id or "").removeprefix("error-")] = text
    return out


async def submit(home: Path, make: Make, values: dict[str, str]) -> FormScreen[object]:
    """Open the form `make` builds, fill `values` in (by input id), save; the form."""
    app = make_test_app(home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        form = make(app.services)
        await app.push_screen(form)
        await settle(pilot)
        for name, value in values.items():
            widget = form.query_one(f"#{name}")
            if isinstance(widget, TextArea):
                widget.text = value
            elif isinstance(widget, Select):
                widget.value = value
            else:
                assert isinstance(widget, Input)
                widget.value = value
        form.action_save()
        await pilot.pause()
        assert app.screen is form, "the refused form stays open"
        form.shown = errors_shown(form)  # type: ignore[attr-defined]
        form.focused_id = app.focused.id if app.focused else None  # type: ignore[attr-defined]
    return form


def circle_of(svc: Services) -> str:
    return svc.circles.resolve("Leading")


def meeting_of(svc: Services) -> tuple[str, str]:
    return next_meeting(svc, "Leading")


def running(svc: Services) -> tuple[str, str]:
    """The next meeting, started, its round in the rotation's order."""
    circle, meeting = meeting_of(svc)
    svc.meetings.start(circle, meeting)
    svc.rounds.start(circle, meeting)
    return circle, meeting


def members_of(svc: Services) -> list[str]:
    return [m["id"] for m in svc.members.all(circle_of(svc))]


def a_goal(svc: Services) -> tuple[str, str]:
    circle = circle_of(svc)
    return circle, svc.goals.all(circle)[0]["id"]


def a_commitment(svc: Services) -> tuple[str, str, str]:
    circle, meeting = meeting_of(svc)
    owner = members_of(svc)[0]
    rec = svc.commitments.add(circle, owner, "write the guide", meeting=meeting)
    return circle, meeting, rec["id"]


def a_feedback(svc: Services) -> EditFeedbackForm:
    circle, meeting = meeting_of(svc)
    presenter, giver = members_of(svc)[:2]
    rec = svc.rounds.feedback(circle, meeting, presenter, giver, "question", "why?")
    return EditFeedbackForm(circle, rec["id"], rec["text"], rec["kind"])


TOO_LONG = "x" * 20001

CASES: list[tuple[str, Make, dict[str, str], str, str]] = [
    ("circle", lambda s: CircleForm(), {"name": "C", "duration": "5"}, "duration", "between"),
    (
        "circle-agreements",
        lambda s: CircleForm(),
        {"name": "C", "agreements": ": no title"},
        "agreements",
        "needs a title",
    ),
    ("circle-edit", lambda s: CircleForm(circle_of(s)), {"name": " "}, "name", "cannot be empty"),
    (
        "agreement",
        lambda s: AgreementForm(circle_of(s)),
        {"title": "T", "body": TOO_LONG},
        "body",
        "longer than",
    ),
    (
        "member",
        lambda s: MemberForm(circle_of(s)),
        {"name": "Bo", "org": ""},
        "org",
        "cannot be empty",
    ),
    ("plan", lambda s: PlanMeetingScreen(circle_of(s)), {"time": "25:99"}, "time", "not a time"),
    (
        "plan-date",
        lambda s: PlanMeetingScreen(circle_of(s)),
        {"date": "soon"},
        "date",
        "not a date",
    ),
    (
        "plan-zone",
        lambda s: PlanMeetingScreen(circle_of(s)),
        {"zone": "Mars/Base"},
        "zone",
        "unknown time zone",
    ),
    ("close", lambda s: CloseMeetingForm(*running(s)), {"notes": TOO_LONG}, "notes", "longer than"),
    (
        "commitment",
        lambda s: CommitmentForm(*meeting_of(s)),
        {"text": "do it", "due": "later"},
        "due",
        "not a date",
    ),
    (
        "feedback",
        lambda s: FeedbackForm(*meeting_of(s), members_of(s)[0], "advice", members_of(s)[1]),
        {"text": ""},
        "text",
        "cannot be empty",
    ),
    (
        "turn",
        lambda s: TurnTextForm(*meeting_of(s), members_of(s)[0], "challenge"),
        {"text": "y" * 2001},
        "text",
        "longer than",
    ),
    (
        "reorder",
        lambda s: ReorderForm(*running(s), members_of(s)[::-1]),
        {"reason": ""},
        "reason",
        "needs a reason",
    ),
    (
        "goal",
        lambda s: GoalForm(circle_of(s)),
        {"title": "G", "due": "next week"},
        "due",
        "not a date",
    ),
    ("checkin", lambda s: CheckinForm(*a_goal(s)), {"confidence": "9"}, "confidence", "between"),
    (
        "join-url",
        lambda s: JoinModal(),
        {"url": "ftp://x", "token": "xce_a"},
        "url",
        "not an exchange URL",
    ),
    (
        "join-token",
        lambda s: JoinModal(),
        {"url": "https://x.org", "token": "abc"},
        "token",
        "starts with xce_",
    ),
    ("accept", lambda s: AcceptModal(), {"code": "hello"}, "code", "starts with xci_"),
    (
        "renegotiate",
        lambda s: RenegotiateForm(*a_commitment(s)),
        {"due": ""},
        "due",
        "new due date",
    ),
    (
        "edit-commitment",
        lambda s: EditCommitmentForm(*a_commitment(s)[::2]),
        {"text": ""},
        "text",
        "cannot be empty",
    ),
    ("edit-feedback", a_feedback, {"text": ""}, "text", "cannot be empty"),
    ("journal", lambda s: JournalForm(), {"text": ""}, "text", "cannot be empty"),
    (
        "card",
        lambda s: CardForm(circle_of(s)),
        {"situation": " ", "question": "How do I choose?"},
        "situation",
        "cannot be empty",
    ),
    (
        "card-question",
        lambda s: CardForm(circle_of(s)),
        {"situation": "Two leads, one role.", "question": "q" * 501},
        "question",
        "longer than",
    ),
]


@pytest.mark.parametrize(
    ("make", "values", "where", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_each_form_shows_an_error_under_its_field(
    demo_home: Path, make: Make, values: dict[str, str], where: str, words: str
) -> None:
    form = await submit(demo_home, make, values)
    shown = form.shown  # type: ignore[attr-defined]
    assert list(shown) == [where], shown
    assert words in shown[where]
    assert form.focused_id == where  # type: ignore[attr-defined]


async def test_profile_form_shows_an_error_under_its_field(tmp_path: Path) -> None:
    form = await submit(tmp_path / "new", lambda s: ProfileForm(), {"name": "Ada", "org": " "})
    assert form.shown == {"org": "your organization cannot be empty"}  # type: ignore[attr-defined]


async def test_an_error_of_the_meeting_goes_to_the_forms_own_line(demo_home: Path) -> None:
    """A closed meeting refuses the facilitator: no input of the form is to blame."""

    def closed(svc: Services) -> FacilitatorForm:
        circle, meeting = meeting_of(svc)
        svc.meetings.start(circle, meeting)
        svc.meetings.close(circle, meeting)
        return FacilitatorForm(circle, meeting, None)

    form = await submit(demo_home, closed, {})
    assert list(form.shown) == ["form"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("error", "where"),
    [
        # The message speaks of a date, a commitment and a member: it is the text's.
        (InvalidInput("the date this commitment names is not a member's", field="text"), "text"),
        # Speaks of the commitment, belongs to the due date.
        (InvalidInput("a commitment cannot be due before it is made", field="due"), "due"),
        # No field: the form's line, whatever words it has ("date", "commitment").
        (InvalidInput("the commitment's date could not be read"), "form"),
        # A field this form does not have (the owner is fixed): the form's line.
        (InvalidInput("this member has left the circle", field="owner"), "form"),
    ],
    ids=["words-of-other-fields", "due", "no-field", "field-not-in-form"],
)
async def test_the_field_alone_places_the_error(
    demo_home: Path, error: InvalidInput, where: str
) -> None:
    def make(svc: Services) -> CommitmentForm:
        """A commitment form whose save raises `error`, as a service would."""
        form = CommitmentForm(*meeting_of(svc), owner=members_of(svc)[0])

        def save() -> str | None:
            raise error

        form.save = save  # type: ignore[method-assign]
        return form

    form = await submit(demo_home, make, {})
    assert form.shown == {where: str(error)}  # type: ignore[attr-defined]


async def test_an_error_without_field_is_not_placed_by_its_words(demo_home: Path) -> None:
    """'choose the member who gave the feedback' once landed by its word 'feedback'
    under the text; it is the giver's."""

    def no_giver(svc: Services) -> FeedbackForm:
        return FeedbackForm(*meeting_of(svc), members_of(svc)[0], "advice", None)

    form = await submit(demo_home, no_giver, {"text": "good point"})
    assert list(form.shown) == ["giver"]  # type: ignore[attr-defined]
