"""The circle's Cases tab: written rounds between meetings.

A table of the circle's cases (open ones first) and, under it, the highlighted case
whole: the situation, every answer, and once closed the reflection and commitment.
`a` opens a case, `r` answers the highlighted one (a peer's), `c` closes it (yours);
Enter does whichever fits. The cases are read in a worker thread.
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static
from textual.worker import get_current_worker

from screens.caseforms import CaseForm, CloseCaseForm, ReplyForm
from screens.widgets import MISSING, Table, cell, date_text, notify_saved, services_of, styled
from xcircle.errors import XCircleError
from xcircle.services.cases import CaseView

COLUMNS = ("Status", "Title", "Presenter", "Answers", "Opened", "Protocol")


def case_key(keys: str, action: str, description: str, tooltip: str) -> Binding:
    return Binding(keys, action, description, tooltip=tooltip, id=f"cases.{action}")


class CasesPane(Vertical):
    """A circle's written rounds, with the forms to open, answer and close them."""

    BINDINGS = [
        case_key("a", "open_case", "Open case", "Bring a challenge to the circle in writing"),
        case_key("r", "reply", "Answer", "Answer the highlighted case"),
        case_key("c", "close_case", "Close case", "Close your case: reflection, commitment"),
    ]

    def __init__(self, circle: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.circle = circle
        self.cases: dict[str, CaseView] = {}
        self.me: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            styled(
                "[$text-muted]Work between meetings: open a case, peers answer offline; "
                "close it with a commitment the next meeting reviews.[/]"
            ),
            id="cases-intro",
        )
        table = Table(id="case-table")
        table.add_columns(*COLUMNS)
        yield table
        with VerticalScroll(id="case-detail-box", can_focus=False):
            yield Static(id="case-detail")

    @work(thread=True, exclusive=True, group="cases")
    def reload(self) -> None:
        """Read the circle's cases again in a thread, then show them."""
        worker = get_current_worker()
        services = services_of(self)
        try:
            views = services.cases.all(self.circle)
            me = services.ctx.me(self.circle)
        except XCircleError:
            return  # the circle screen says why and leaves
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show, views, me)

    def show(self, views: list[CaseView], me: str | None) -> None:
        self.cases, self.me = {v.id: v for v in views}, me
        self.query_one("#case-table", Table).fill(
            (
                v.id,
                (
                    v.status,
                    cell(v.title, "bold" if v.status == "open" else ""),
                    cell(v.presenter_name + (" (me)" if v.presenter == me else "")),
                    str(len(v.replies)),
                    date_text(v.opened),
                    v.protocol or MISSING,
                ),
            )
            for v in views
        )
        self.show_detail()

    def current(self) -> CaseView | None:
        key = self.query_one("#case-table", Table).current_key
        return self.cases.get(key or "")

    def show_detail(self) -> None:
        view = self.current()
        detail = self.query_one("#case-detail", Static)
        if view is None:
            detail.update(styled("[$text-muted]No cases yet: [b]a[/b] opens one.[/]"))
            return
        parts = [styled("[b]$title[/b] — $who", title=view.title, who=view.presenter_name)]
        if view.text:
            parts.append(styled("$text", text=view.text))
        parts.append(styled("[$text-muted]Answers may be: $kinds[/]", kinds=", ".join(view.kinds)))
        for r in view.replies:
            parts.append(
                styled(
                    "[b]$kind[/b] from $who: $text",
                    kind=r.kind.capitalize(),
                    who=r.giver_name,
                    text=r.text,
                )
            )
        if not view.replies:
            parts.append(styled("[$text-muted]No answers yet.[/]"))
        if view.status == "closed":
            parts.append(
                styled(
                    "[b]Reflection[/b] $r\n[b]Commitment[/b] $c",
                    r=view.reflection,
                    c=view.commitment_text or MISSING,
                )
            )
        detail.update(Content("\n").join(parts))

    @on(Table.RowHighlighted, "#case-table")
    def _highlighted(self) -> None:
        self.show_detail()

    @on(Table.RowSelected, "#case-table")
    def _selected(self, event: Table.RowSelected) -> None:
        event.stop()
        view = self.current()
        if view is not None and view.status == "open":
            if view.presenter == self.me:
                self.action_close_case()
            else:
                self.action_reply()

    # -- actions -------------------------------------------------------------------------

    def after_form(self, result: object) -> None:
        notify_saved(self)(result)
        if result:
            self.reload()

    def action_open_case(self) -> None:
        self.app.push_screen(CaseForm(self.circle), self.after_form)

    def action_reply(self) -> None:
        view = self.current()
        if view is None:
            return
        if view.status != "open":
            self.notify("This case is closed.", severity="warning")
        elif view.presenter == self.me:
            self.notify("Your own case: peers answer it; c closes it.", severity="warning")
        else:
            self.app.push_screen(ReplyForm(self.circle, view.id), self.after_form)

    def action_close_case(self) -> None:
        view = self.current()
        if view is None:
            return
        if view.status != "open":
            self.notify("This case is closed already.", severity="warning")
        elif view.presenter != self.me:
            self.notify("Only its presenter closes a case.", severity="warning")
        else:
            self.app.push_screen(CloseCaseForm(self.circle, view.id), self.after_form)
