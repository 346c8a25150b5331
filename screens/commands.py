"""Command palette providers (ctrl+p), one per domain: circles, meetings, goals,
exports and themes. Each lists its main actions by name, so every action of the
app is reachable without knowing its key.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from screens.widgets import services_of, sync_of
from xcircle.errors import XCircleError

if TYPE_CHECKING:
    from textual.app import App
    from textual.notifications import SeverityLevel
    from textual.screen import Screen

    from xcircle.merge import Record
    from xcircle.services import Services

Action = tuple[str, str, Callable[[], object]]  # (name, help, callback)

log = logging.getLogger(__name__)


class DomainCommands(Provider):
    """A provider whose `actions()` are offered on discovery and fuzzy-matched on search."""

    @property
    def services(self) -> Services:
        return services_of(self.app)

    def actions(self) -> Iterator[Action]:
        """(name, help, callback) of this domain's actions: every provider lists its own."""
        raise NotImplementedError

    def circles(self) -> list[Record]:
        return self.services.circles.all(include_archived=False)

    async def discover(self) -> Hits:
        for name, help_text, callback in self.actions():
            yield DiscoveryHit(Content(name), callback, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self.actions():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, highlight(matcher, name), callback, text=name, help=help_text)


def highlight(matcher: Matcher, name: str) -> Content:
    """The matched letters of `name` highlighted; `name` itself is never parsed as markup
    (Matcher.highlight would parse a circle named `[link=…]` as a link)."""
    content = Content(name)
    _, offsets = matcher.fuzzy_search.match(matcher.query, name)
    for offset in offsets:
        content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


def push(app: App[object], make: Callable[[], Screen[Any]]) -> Callable[[], object]:
    """A callback pushing the screen `make()` builds (screens import on use)."""
    return lambda: app.push_screen(make())


class CircleCommands(DomainCommands):
    """New circle, open or edit any circle, my goals."""

    def actions(self) -> Iterator[Action]:
        app = self.app

        def circle_form(circle: str | None = None) -> Screen[Any]:
            from screens.forms import CircleForm

            return CircleForm(circle)

        def circle_screen(circle: str) -> Screen[Any]:
            from screens.circle import CircleScreen

            return CircleScreen(circle)

        yield "New circle", "Create a circle with default agreements", push(app, circle_form)
        yield "My goals", "My goals across circles", partial(app.switch_mode, "goals")
        yield "Circles", "Back to the list of circles", partial(app.switch_mode, "circles")
        for c in self.circles():
            cid = c["id"]
            yield (
                f"Open circle: {c['name']}",
                "Overview, members, meetings, goals, insights",
                push(app, partial(circle_screen, cid)),
            )
            yield (
                f"Edit circle: {c['name']}",
                "Name, purpose, cadence",
                push(app, partial(circle_form, cid)),
            )


class MeetingCommands(DomainCommands):
    """Plan a meeting in a circle, start a circle's next meeting, or open its issue cards."""

    def actions(self) -> Iterator[Action]:
        app = self.app

        def plan(circle: str) -> Screen[Any]:
            from screens.meeting import PlanMeetingScreen

            return PlanMeetingScreen(circle)

        def run(circle: str, meeting: str) -> Screen[Any]:
            from screens.meeting import MeetingScreen

            return MeetingScreen(circle, meeting)

        def cards(circle: str) -> Screen[Any]:
            from screens.cards import CardsScreen

            return CardsScreen(circle)

        for c in self.circles():
            cid = c["id"]
            yield (
                f"Issue cards: {c['name']}",
                "Prepare what you bring to a round, see the open cards, withdraw yours",
                push(app, partial(cards, cid)),
            )
            yield (
                f"Plan meeting: {c['name']}",
                "Plan the next meeting",
                push(app, partial(plan, cid)),
            )
            if nxt := self.services.meetings.next(cid):
                yield (
                    f"Run meeting: {c['name']}",
                    "The next meeting: s starts it, then check-in, round, commitments, pulse",
                    push(app, partial(run, cid, nxt["id"])),
                )


class GoalCommands(DomainCommands):
    """Check in on any of my goals; set a new goal."""

    def actions(self) -> Iterator[Action]:
        app = self.app

        def goal_form() -> Screen[Any]:
            from screens.goalforms import GoalForm

            return GoalForm()

        def checkin(circle: str, goal: str) -> Screen[Any]:
            from screens.goalforms import CheckinForm

            return CheckinForm(circle, goal)

        yield "New goal", "Set a goal in one of your circles", push(app, goal_form)
        for g in self.services.goals.mine():
            if g["status"] == "active":
                yield (
                    f"Check in: {g['title']}",
                    f"Record progress ({g['progress']}% so far)",
                    push(app, partial(checkin, g["circle"], g["id"])),
                )


class ProgrammeCommands(DomainCommands):
    """Edit any of this device's programmes (their staged circles, before publishing)."""

    def actions(self) -> Iterator[Action]:
        app = self.app

        def edit(programme: str) -> Screen[Any]:
            from screens.programme import ProgrammeScreen

            return ProgrammeScreen(programme)

        for p in self.services.programmes.list():
            yield (
                f"Edit programme: {p.name}",
                "Staged circles side by side: move people, lock circles, re-form the rest",
                push(app, partial(edit, p.id)),
            )


EXPORTS = (
    ("markdown", "goals", "md", "Markdown report"),
    ("csv", "goals", "goals.csv", "Goals CSV"),
    ("csv", "attendance", "attendance.csv", "Attendance CSV"),
    ("ics", "goals", "ics", "Meetings iCalendar"),
)


def export_dir(services: Services) -> Path:
    """Where exports go: the `export_dir` setting, else `<home>/exports`."""
    configured = services.store.setting("export_dir")
    return Path(configured).expanduser() if configured else services.store.home / "exports"


def export_circle(app: App[object], circle: str, fmt: str, table: str, suffix: str) -> None:
    """Render an export of `circle` in a thread and write it (0600), then say where."""
    services = services_of(app)

    def work() -> None:
        from xcircle.export import render, write_private

        folder = export_dir(services)
        try:
            detail = services.detail(circle)
            data = render(detail, fmt, table=table, now=services.now())
            name = detail["circle"]["name"].lower()
            slug = re.sub(r"[^a-z0-9]+", "-", name).strip("-") or "circle"
            path = folder / f"{slug}-{services.now():%Y%m%d}.{suffix}"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_private(path, data)
        except OSError as exc:
            say(f"cannot create {folder}: {exc.strerror}", "Export failed", "error")
        except XCircleError as exc:
            say(str(exc), "Export failed", "error")
        except Exception as exc:  # a worker's error is otherwise silent: always say it
            log.exception("export of circle %s failed", circle[:8])
            say(f"could not export this circle ({type(exc).__name__})", "Export failed", "error")
        else:
            say(f"Exported to {path}", "Export", "information")

    def say(message: str, title: str, severity: SeverityLevel) -> None:
        app.call_from_thread(app.notify, message, title=title, severity=severity, markup=False)

    app.run_worker(work, thread=True, group="export", exit_on_error=False)


class ExportCommands(DomainCommands):
    """Export a circle: Markdown report, goals or attendance CSV, meetings iCalendar."""

    def actions(self) -> Iterator[Action]:
        for c in self.circles():
            for fmt, table, suffix, label in EXPORTS:
                callback = partial(export_circle, self.app, c["id"], fmt, table, suffix)
                yield (
                    f"Export {label}: {c['name']}",
                    f"Write a {label} to the exports folder",
                    callback,
                )


class ThemeCommands(DomainCommands):
    """Switch the theme by name; the choice is saved for the next start."""

    def actions(self) -> Iterator[Action]:
        app = self.app
        for name in sorted(app.available_themes):
            if name != app.theme:
                yield f"Theme: {name}", "Switch theme (saved)", partial(setattr, app, "theme", name)


class SyncCommands(DomainCommands):
    """Join an exchange, share or invite to a circle, accept an invite, sync now."""

    def actions(self) -> Iterator[Action]:
        controller = sync_of(self.app)
        if controller is None:
            return
        from sync.state import credentials  # local reads only: no network code

        if credentials(self.services.store) is None:
            yield (
                "Join an exchange",
                "Enroll this device with an enrollment token",
                controller.prompt_join,
            )
            return
        yield "Sync now", "Push what you did, pull what others did", controller.sync_now
        yield (
            "Accept an invite",
            "Join a shared circle with an invite code",
            controller.prompt_accept,
        )
        for circle in self.circles():
            name, cid = circle["name"], circle["id"]
            if self.services.circles.is_shared(cid):
                yield (
                    f"Invite to {name}",
                    "A single-use invite code for this circle",
                    partial(controller.prompt_invite, cid),
                )
            else:
                yield (
                    f"Share {name}",
                    "Put this circle on the exchange",
                    partial(controller.prompt_share, cid, name),
                )
