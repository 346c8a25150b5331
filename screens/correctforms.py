"""Corrections in a meeting: renegotiate a commitment (new wording, new due date),
correct one's own commitment or feedback. Forms like the others (`FormScreen`): one
service call on save, errors under the field the service names."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Input, Select, Static

from screens.forms import field, form_error
from screens.meetingforms import KIND_TITLES, MeetingForm
from screens.widgets import MISSING, styled
from xcircle.domain import FEEDBACK_KINDS


class RenegotiateForm(MeetingForm[str | None]):
    """Renegotiate a commitment at a review: the old one closes as renegotiated and the
    new wording, due on the new date, is reviewed at the next meeting."""

    TITLE_TEXT = "Renegotiate the commitment"
    AUTO_FOCUS = "#text"

    def __init__(self, circle: str, meeting: str, commitment: str) -> None:
        super().__init__()
        self.circle, self.meeting, self.commitment = circle, meeting, commitment

    def fields(self) -> ComposeResult:
        rec = self.services.commitments.get(self.circle, self.commitment)
        who = self.services.members.names(self.circle).get(rec["owner"], MISSING)
        yield Static(styled("[b]$who[/b] committed to: $text", who=who, text=rec["text"]), id="for")
        yield field("New wording", Input(rec["text"], id="text", compact=True))
        due = Input(id="due", compact=True, placeholder="YYYY-MM-DD")
        yield field("New due date", due, "Reviewed again at the next meeting")
        yield form_error()

    def save(self) -> str | None:
        rec = self.services.commitments.review(
            self.circle,
            self.commitment,
            "renegotiated",
            meeting=self.meeting,
            text=self.text("text"),
            due=self.text("due"),
        )
        return str(rec.get("renegotiated_as") or rec["id"])


class EditCommitmentForm(MeetingForm[str | None]):
    """Correct one's own commitment: its wording or due date (empty clears the date)."""

    TITLE_TEXT = "Correct the commitment"
    AUTO_FOCUS = "#text"

    def __init__(self, circle: str, commitment: str) -> None:
        super().__init__()
        self.circle, self.commitment = circle, commitment

    def fields(self) -> ComposeResult:
        rec = self.services.commitments.get(self.circle, self.commitment)
        yield field("Commitment", Input(rec["text"], id="text", compact=True))
        due = Input(rec.get("due") or "", id="due", compact=True, placeholder="YYYY-MM-DD")
        yield field("Due (optional)", due)
        yield form_error()

    def save(self) -> str | None:
        rec = self.services.commitments.edit(
            self.circle, self.commitment, text=self.text("text"), due=self.text("due")
        )
        return str(rec["id"])


class EditFeedbackForm(MeetingForm[str | None]):
    """Correct one's own feedback: its words or its kind (typed into the wrong one)."""

    TITLE_TEXT = "Correct the feedback"
    AUTO_FOCUS = "#text"

    def __init__(self, circle: str, feedback: str, text: str, kind: str) -> None:
        super().__init__()
        self.circle, self.feedback, self.old_text, self.kind = circle, feedback, text, kind

    def fields(self) -> ComposeResult:
        kinds = [(KIND_TITLES[k], k) for k in FEEDBACK_KINDS]
        yield field(
            "Kind", Select(kinds, value=self.kind, allow_blank=False, compact=True, id="kind")
        )
        yield field("What they said", Input(self.old_text, id="text", compact=True))
        yield form_error()

    def save(self) -> str | None:
        rec = self.services.rounds.edit_feedback(
            self.circle, self.feedback, text=self.text("text"), kind=self.text("kind")
        )
        return str(rec["id"])
