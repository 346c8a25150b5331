"""One circle, in tabs: overview, members, meetings, goals, insights and cases.

The circle is read in a worker thread into a `CircleView`; tables are filled only when
their tab is first shown and are capped, so a circle with thousands of records opens
without blocking the UI. Keys are contextual: `a` adds what the current tab lists.
"""

from __future__ import annotations

import asyncio

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Label, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from screens.circle_view import CircleView, meeting_order, read_circle
from screens.follow import Follows
from screens.goals import GOAL_COLUMNS, GoalDetailScreen, goal_cells
from screens.widgets import (
    MISSING,
    Footer,
    LabelledSparkline,
    Table,
    TopBar,
    WrappedList,
    attempt,
    bar,
    cell,
    counts_text,
    notify_saved,
    services_of,
    styled,
    sync_of,
    when_text,
    zone_of,
)
from xcircle.domain import HELD_STATUSES
from xcircle.errors import XCircleError
from xcircle.services import Services

TABS = ("overview", "members", "meetings", "goals", "insights", "cases")
PERCENT, RATING = (0, 100), (1, 5)  # the absolute scales of the trends
ROW_LIMIT = 200  # DataTable measures every row on the event loop (~0.17 ms each)


def key(
    keys: str, action: str, description: str, tooltip: str, name: str = "", show: bool = True
) -> Binding:
    """A circle-screen binding with its id (`circle.<name>`, for the keymap setting)."""
    return Binding(
        keys, action, description, show=show, tooltip=tooltip, id=f"circle.{name or action}"
    )


class CircleScreen(Follows):
    """A circle's purpose, people, meetings, goals and trends."""

    CSS_PATH = "circle.tcss"
    AUTO_FOCUS = ""  # the visible tab's table takes the focus once it is built
    # Which tab each contextual action belongs to (`check_action` hides it elsewhere).
    TAB_ACTIONS = {
        "add_agreement": "overview",
        "agreement_history": "overview",
        "remove_agreement": "overview",
        "add_member": "members",
        "remove_member": "members",
        "plan_meeting": "meetings",
        "run_meeting": "meetings",
        "reschedule": "meetings",
        "cards": "meetings",
        "new_goal": "goals",
        "checkin": "goals",
        "airtime": "insights",
    }
    BINDINGS = [
        key("escape", "app.pop_screen", "Back", "Back to the circles", "back"),
        key("e", "edit_circle", "Edit circle", "Edit name, purpose, cadence"),
        key("a", "add_agreement", "Add agreement", "Add an agreement to the circle"),
        key("d", "remove_agreement", "Remove", "Remove the highlighted agreement"),
        key("h", "agreement_history", "History", "Versions and amendments of the agreement"),
        key("a", "add_member", "Add member", "Add a member to the circle"),
        key("d", "remove_member", "Remove", "Remove the highlighted member from the circle"),
        key("p", "plan_meeting", "Plan meeting", "Plan the next meeting"),
        key("r", "run_meeting", "Run", "Run or open the highlighted meeting"),
        key("s", "reschedule", "Reschedule", "Move the highlighted planned meeting"),
        key("i", "cards", "Issue cards", "Prepare what you bring to a round; see open cards"),
        key("a", "new_goal", "New goal", "Set a goal, yours or the circle's"),
        key("c", "checkin", "Check in", "Record progress on the highlighted goal"),
        key("t", "airtime", "Airtime", "Who presented and gave feedback, and for how long"),
        *(
            key(str(n), f"tab('{tab}')", tab.capitalize(), f"Show {tab}", f"tab_{tab}", False)
            for n, tab in enumerate(TABS, 1)
        ),
    ]

    def __init__(self, circle: str, *, tab: str = "overview") -> None:
        super().__init__()
        self.circle = circle
        self.initial_tab = tab if tab in TABS else "overview"
        self.view: CircleView | None = None
        self.filled: set[str] = set()
        self.built: set[str] = set()
        self.building = asyncio.Lock()
        self.loaded = asyncio.Event()
        """Set once the data is shown (tests and the bench wait on it)."""

    @property
    def services(self) -> Services:
        return services_of(self)

    def compose(self) -> ComposeResult:
        # Panes start empty and are built on first view: fewer widgets to mount and
        # style when the circle opens (see `build`).
        yield TopBar()
        with TabbedContent(initial=self.initial_tab, id="tabs"):
            for tab in TABS:
                yield TabPane(tab.capitalize(), id=tab)
        yield Footer()

    def build(self, tab: str) -> list[Widget]:
        """The widgets of one tab's pane."""
        if tab == "overview":
            return [
                VerticalScroll(
                    Static(id="purpose"),
                    Static(id="outcomes"),
                    Label("Agreements", classes="section"),
                    WrappedList(id="agreements"),
                    Static(id="acks"),
                )
            ]
        if tab == "members":
            table = Table(id="member-table")
            table.add_columns(
                "Name", "Organization", "Role", "Seniority", "Agreements", "Fingerprint", "Topics"
            )
            return [Static(id="mix"), table]
        if tab == "meetings":
            table = Table(id="meeting-table")
            table.add_columns("When", "Status", "Facilitator", "Present", "Themes")
            return [Static(id="facilitator"), table]
        if tab == "cases":
            from screens.cases import CasesPane

            return [CasesPane(self.circle, id="cases-pane")]
        if tab == "goals":
            table = Table(id="goal-table")
            table.add_columns(*GOAL_COLUMNS)
            return [table, Static(id="goals-more", classes="more")]
        return [
            VerticalScroll(
                Label("Trends per meeting held", classes="section"),
                LabelledSparkline("Attendance", scale=PERCENT, unit="%", id="attendance"),
                LabelledSparkline("Support", scale=RATING, unit="/5", id="support"),
                LabelledSparkline("Confidence", scale=RATING, unit="/5", id="confidence"),
                LabelledSparkline("Learning", scale=RATING, unit="/5", id="learning"),
                Label("Commitments", classes="section"),
                Static(id="commitments"),
            )
        ]

    def on_mount(self) -> None:
        record = self.services.store.get(self.circle, "circle", self.circle) or {}
        self.query_one(TopBar).show(str(record.get("name", "")), "loading…")
        self.reload()

    def on_screen_resume(self) -> None:
        if self.view is not None:
            self.reload()

    @work(thread=True, exclusive=True, group="circle")
    def reload(self) -> None:
        """Read the circle again in a thread; `show` fills the screen from it."""
        worker = get_current_worker()
        try:
            view = read_circle(self.services, self.circle)
        except XCircleError as exc:  # the circle was deleted or never synced whole
            if not worker.is_cancelled:
                self.app.call_from_thread(self.gone, str(exc))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show, view)

    def refresh_data(self) -> None:
        if self.view is not None:  # the first read is on its way otherwise
            self.reload()

    def gone(self, reason: str) -> None:
        """The circle cannot be shown (any more): say why and go back."""
        if not self.showing:  # a read that finished after the screen began to close
            return
        self.notify(reason, severity="warning")
        if self.is_current:
            self.dismiss()

    def show(self, view: CircleView) -> None:
        """Show a freshly read view: the header, the overview and the visible tab."""
        if not self.showing:  # a read that finished after the screen began to close
            return
        self.view, self.filled = view, set()
        c = view.circle
        detail = (
            f"{c['frequency']} · {c['duration']} min · {c['mode']} · {len(view.members)} members"
        )
        self.query_one(TopBar).show(
            c["name"], detail + (" · archived" if c.get("archived") else "")
        )
        self.run_worker(self.open_tab(self.query_one(TabbedContent).active or "overview"))

    @on(TabbedContent.TabActivated)
    async def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id:
            await self.open_tab(event.pane.id)  # moving the focus refreshes the footer

    async def open_tab(self, tab: str) -> None:
        """Build the tab's pane on first view, fill it from the view, focus its table."""
        async with self.building:  # the first view and the data may both ask at once
            if tab not in self.built:
                await self.query_one(f"TabPane#{tab}", TabPane).mount_all(self.build(tab))
                self.built.add(tab)
        if self.view is not None and self.showing:
            self.fill(tab)
            self.focus_tab()
            self.call_after_refresh(self.loaded.set)  # set once the data is painted

    def focus_tab(self) -> None:
        """Focus the visible tab's table, so Enter and arrows act on what is shown."""
        pane = self.query_one(TabbedContent).active_pane
        widgets = [*pane.query(Table), *pane.query(WrappedList), *pane.query("*")] if pane else []
        target = next((w for w in widgets if w.focusable), None)
        if target is None or target.has_focus:
            self.refresh_bindings()  # the footer follows the tab even without a focus move
        else:
            target.focus()

    def fill(self, tab: str) -> None:
        """Fill one tab's widgets from the view, once per view."""
        view = self.view
        if view is None or tab in self.filled:
            return
        self.filled.add(tab)
        getattr(self, f"fill_{tab}")(view)

    def fill_overview(self, view: CircleView) -> None:
        c = view.circle
        self.query_one("#purpose", Static).update(
            styled(
                "[b]Purpose[/b]\n$purpose\n\n[b]Cadence[/b] $frequency, $duration minutes, $mode",
                purpose=c.get("purpose") or MISSING,
                frequency=c["frequency"],
                duration=c["duration"],
                mode=c["mode"].replace("-", " "),
            )
        )
        outcomes = "\n".join(f"• {o}" for o in c.get("outcomes", [])) or MISSING
        self.query_one("#outcomes", Static).update(
            styled("[b]Intended outcomes[/b]\n$outcomes", outcomes=outcomes)
        )
        self.query_one("#agreements", WrappedList).fill(
            (
                a["id"],
                styled(
                    "[b]$title[/b] — $text$version",
                    title=a["title"],
                    text=a["text"],
                    version=f" (v{a['version']})" if a.get("version", 1) > 1 else "",
                ),
            )
            for a in view.agreements
        )
        names = view.names
        acked = [names[m] for m in names if m in view.acknowledged]
        missing = [names[m] for m in names if m not in view.acknowledged]
        text = styled(
            "[b]Acknowledged by[/b] $n of $total: $who"
            + ("\n[b]Not yet:[/b] $missing" if missing else ""),
            n=len(acked),
            total=len(names),
            who=", ".join(acked)
            or (
                "nobody yet since the agreements changed (h, then k)"
                if any(a.get("version", 1) > 1 for a in view.agreements)
                else "nobody yet (at the kick-off)"
            ),
            missing=", ".join(missing),
        )
        for a in view.amendments:
            text += styled(
                "\n[b]Amendment proposed[/b] to $title (h): waiting for $who",
                title=a.title,
                who=", ".join(a.waiting),
            )
        self.query_one("#acks", Static).update(text)

    def fill_members(self, view: CircleView) -> None:
        mix = view.mix
        self.query_one("#mix", Static).update(
            styled(
                "[b]Organizations[/b] $orgs\n[b]Seniority[/b] $levels",
                orgs=counts_text(mix["organizations"]),
                levels=counts_text(mix["seniority"]),
            )
        )
        rows = []
        for m in view.members:
            name = cell(m["name"], "bold" if m["id"] == view.me else "")
            if m["id"] == view.me:
                name.append(" (me)", style="dim")
            acked = "✓ acknowledged" if m["id"] in view.acknowledged else MISSING
            topics = ", ".join(m.get("topics", []))
            role = view.roles.get(m["id"], "member")
            fingerprint = view.fingerprints.get(m["id"]) or MISSING
            seniority = m.get("seniority") or MISSING
            row = (name, cell(m["org"]), role, seniority, acked, fingerprint, cell(topics))
            rows.append((m["id"], row))
        self.query_one("#member-table", Table).fill(rows)

    def fill_meetings(self, view: CircleView) -> None:
        names, zone = view.names, zone_of(self)
        nxt = names.get(view.next_facilitator or "", MISSING)
        mine = sum(1 for c in view.cards if c["member"] == view.me)
        self.query_one("#facilitator", Static).update(
            styled(
                "[b]Next facilitator[/b] $name  [$text-muted](the rotation: least recently "
                "served first)[/]\n[b]Issue cards[/b] $open open$mine  [$text-muted](i: "
                "prepare what you bring to a round, or withdraw it)[/]",
                name=nxt,
                open=len(view.cards),
                mine=f", {mine} yours" if mine else "",
            )
        )
        ordered = meeting_order(view.meetings, self.services.now())[:ROW_LIMIT]
        self.query_one("#meeting-table", Table).fill(
            (
                m["id"],
                (
                    when_text(m["at"], zone, year=True),
                    ("kick-off · " if m.get("kickoff") else "") + m["status"],
                    cell(names.get(m.get("facilitator") or "", MISSING)),
                    f"{m['present']}/{len(names)}" if m["status"] in HELD_STATUSES else MISSING,
                    cell(", ".join(m.get("themes", []))),
                ),
            )
            for m in ordered
        )

    def fill_goals(self, view: CircleView) -> None:
        goals = view.goals[:ROW_LIMIT]
        names = view.names
        self.query_one("#goal-table", Table).fill(
            (g["id"], goal_cells(g, names, view.me)) for g in goals
        )
        more = self.query_one("#goals-more", Static)
        more.display = len(view.goals) > len(goals)
        more.update(f"Showing {len(goals)} of {len(view.goals)} goals (active first).")

    def fill_insights(self, view: CircleView) -> None:
        self.query_one("#attendance", LabelledSparkline).set_data(view.attendance)
        for aspect in ("support", "confidence", "learning"):
            self.query_one(f"#{aspect}", LabelledSparkline).set_data(view.pulse.get(aspect, []))
        kept = view.kept  # of those reviewed: an open one is neither kept nor missed yet
        self.query_one("#commitments", Static).update(
            styled(
                "[$success]$bar[/] $pct kept of $reviewed reviewed\n$counts",
                bar=bar(kept.percent or 0, 20),
                pct=MISSING if kept.percent is None else f"{kept.percent}%",
                reviewed=kept.reviewed,
                counts=counts_text(view.commitments),
            )
        )

    def fill_cases(self, view: CircleView) -> None:
        from screens.cases import CasesPane

        self.query_one(CasesPane).reload()

    # -- actions -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        tab = self.TAB_ACTIONS.get(action)
        if tab is None:
            return True
        return self.query_one(TabbedContent).active == tab

    def action_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def key_of(self, table: str) -> str | None:
        widget = self.query_one(f"#{table}")
        assert isinstance(widget, Table | WrappedList)
        return widget.current_key

    def action_airtime(self) -> None:
        from screens.airtime import AirtimeScreen

        self.app.push_screen(AirtimeScreen(self.circle))

    def action_edit_circle(self) -> None:
        from screens.forms import CircleForm

        self.app.push_screen(CircleForm(self.circle), notify_saved(self))

    def action_add_agreement(self, agreement: str | None = None) -> None:
        from screens.forms import AgreementForm

        self.app.push_screen(AgreementForm(self.circle, agreement), notify_saved(self))

    def action_agreement_history(self) -> None:
        from screens.amendments import AgreementScreen

        if agreement := self.key_of("agreements"):
            self.app.push_screen(AgreementScreen(self.circle, agreement))

    def action_add_member(self, member: str | None = None) -> None:
        from screens.forms import MemberForm

        self.app.push_screen(MemberForm(self.circle, member), notify_saved(self))

    def action_remove_agreement(self) -> None:
        from screens.forms import ConfirmScreen

        agreement = self.key_of("agreements")
        titles = {a["id"]: a["title"] for a in self.view.agreements} if self.view else {}
        if agreement is None or agreement not in titles:
            return
        question = styled(
            "Remove the agreement [b]$title[/b]?\n\nIt leaves the circle's agreements for "
            "good (on every member's device, once synced).",
            title=titles[agreement],
        )

        def answer(yes: bool | None) -> None:
            circles = self.services.circles
            if yes and attempt(self, lambda: circles.remove_agreement(self.circle, agreement)):
                self.notify("Agreement removed", timeout=2)
            self.reload()

        self.app.push_screen(ConfirmScreen(question, yes="Remove"), answer)

    def action_remove_member(self) -> None:
        from screens.forms import ConfirmScreen

        member, view = self.key_of("member-table"), self.view
        names = view.names if view else {}
        if view is None or member is None or member not in names:
            return
        shared = self.services.circles.is_shared(self.circle)
        question = styled(
            "Remove [b]$name[/b] from the circle, for good?\n\nThey leave the rotation and "
            "the member list; what they said and committed to stays in the history."
            + (
                "\n\nThe exchange is told, so their devices stop receiving this circle."
                if shared
                else ""
            )
            + ("\n\n[b]This is you:[/b] you leave the circle." if member == view.me else ""),
            name=names[member],
        )

        def answer(yes: bool | None) -> None:
            members = self.services.members
            if yes and attempt(self, lambda: members.remove(self.circle, member)):
                self.notify(f"{names[member]} removed", timeout=2, markup=False)
                if shared and (controller := sync_of(self)):
                    controller.remove_member(self.circle, member)
            self.reload()

        self.app.push_screen(ConfirmScreen(question, yes="Remove"), answer)

    def action_plan_meeting(self, meeting: str | None = None) -> None:
        from screens.meeting import PlanMeetingScreen

        self.app.push_screen(PlanMeetingScreen(self.circle, meeting), notify_saved(self))

    def action_reschedule(self) -> None:
        meeting = self.key_of("meeting-table")
        status = {m["id"]: m["status"] for m in self.view.meetings} if self.view else {}
        if meeting and status.get(meeting) == "planned":
            self.action_plan_meeting(meeting)
        elif meeting:
            self.notify("Only a planned meeting can be rescheduled", severity="warning")

    def action_run_meeting(self, meeting: str | None = None) -> None:
        from screens.meeting import MeetingScreen

        meeting = meeting or self.key_of("meeting-table")
        if meeting:
            self.app.push_screen(MeetingScreen(self.circle, meeting))

    def action_cards(self) -> None:
        from screens.cards import CardsScreen

        self.app.push_screen(CardsScreen(self.circle))

    def action_new_goal(self) -> None:
        from screens.goalforms import GoalForm

        self.app.push_screen(GoalForm(self.circle), notify_saved(self))

    def action_checkin(self) -> None:
        from screens.goalforms import CheckinForm

        if goal := self.key_of("goal-table"):
            self.app.push_screen(CheckinForm(self.circle, goal), notify_saved(self))

    @on(WrappedList.OptionSelected, "#agreements")
    def _agreement_opened(self, event: WrappedList.OptionSelected) -> None:
        if event.option.id:
            self.action_add_agreement(event.option.id)

    @on(Table.RowSelected)
    def _row_opened(self, event: Table.RowSelected) -> None:
        key = str(event.row_key.value)
        table = event.data_table.id
        if table == "member-table":
            self.action_add_member(key)
        elif table == "meeting-table":
            self.action_run_meeting(key)
        elif table == "goal-table":
            self.app.push_screen(GoalDetailScreen(self.circle, key))
