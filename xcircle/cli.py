"""`xcircle`: the TUI when run bare, and a scriptable CLI mirroring the main actions.

Every command opens the home's store for exactly its own duration (the lock is released
on every path), prints store notices as warnings, and turns an error the user can cause
(`XCircleError`) into one line on stderr with exit code 1. With `--json` a command prints
exactly one JSON value on stdout.

Start-up stays light: the TUI (textual), the sync client (httpx) and the exchange
(fastapi) are imported only when their command runs; the services when a command opens
the store. Sync commands live in `sync/` and are registered lazily by name.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from xcircle.domain import FREQUENCIES, MODES, SENIORITIES
from xcircle.errors import InvalidInput, XCircleError

if TYPE_CHECKING:
    from xcircle.services import Services

F = TypeVar("F", bound=Callable[..., Any])

TUI_MISSING = "the TUI is not available in this build"

# Commands that live in `sync/`, loaded only when run: name -> "module:attribute".
LAZY_COMMANDS = {
    "exchange": "sync.exchange.cli:exchange",
    "join": "sync.commands:join",
    "invite": "sync.commands:invite",
    "accept": "sync.commands:accept",
    "sync": "sync.commands:sync",
    "status": "sync.commands:status",
}
LAZY_CIRCLE_COMMANDS = {"share": "sync.commands:share"}
# `--help` lists lazy commands with these lines instead of importing their modules.
LAZY_HELP = {
    "exchange": "Serve and administer the exchange server.",
    "join": "Enroll this device with an exchange.",
    "invite": "Invite someone into a shared circle.",
    "accept": "Accept an invite code and join its circle.",
    "sync": "Push and pull changes with the exchange.",
    "status": "Show what is waiting to sync.",
    "share": "Share a circle through the exchange.",
}


# -- errors and output -------------------------------------------------------------------


class UserError(click.ClickException):
    """An error the user can fix: one line `xcircle: error: …` on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"xcircle: error: {self.format_message()}", err=True)


def fail(message: str) -> NoReturn:
    raise UserError(message)


def warn(message: str) -> None:
    click.echo(f"xcircle: warning: {message}", err=True)


def emit_json(value: Any) -> None:
    """Exactly one JSON value on stdout."""
    import orjson

    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Aligned columns for people; the last column is never padded."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        click.echo(click.style(line, bold=True) if i == 0 else line)


def when(at: str | None) -> str:
    """An ISO date-time in this machine's zone, for people."""
    if not at:
        return "-"
    return datetime.fromisoformat(at).astimezone().strftime("%a %d %b %Y %H:%M %Z").strip()


def short(record_id: str) -> str:
    return record_id[:8]


def json_option(f: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON value instead of text."
    )(f)


# -- the home, opened per command --------------------------------------------------------


@dataclass
class Settings:
    """What the top-level options decided, passed to every command via the context."""

    home_option: Path | None

    @property
    def home(self) -> Path:
        from xcircle.paths import home_dir

        return home_dir(self.home_option)


@contextmanager
def session(*, need_profile: bool = True, home: Path | None = None) -> Iterator[Services]:
    """Open the store for one command: notices become warnings, the lock always released."""
    from xcircle.services import Services
    from xcircle.store import open_store

    settings = click.get_current_context().find_object(Settings)
    store = open_store(home or (settings.home if settings else Settings(None).home))
    try:
        for notice in store.notices:
            warn(notice.message)
        if need_profile:
            store.require_profile()
        yield Services(store)
    finally:
        store.close()


def check_zone(zone: str | None) -> str:
    """An IANA zone name the machine knows, or a clear error ("" when not given)."""
    if not zone:
        return ""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"unknown time zone {zone!r}: use an IANA name like Europe/Paris"
        ) from None
    return zone


# -- lazily registered commands ----------------------------------------------------------


class LazyGroup(click.Group):
    """A group whose extra commands are imported only when used (click's "lazy loading").

    A command whose module is not importable in this build is simply not listed; help
    uses `LAZY_HELP`, so `xcircle --help` never imports the sync client or the exchange.
    """

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def _available(self, name: str) -> bool:
        module = self.lazy[name].partition(":")[0]
        try:
            return importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a missing parent package, a spec-less module
            return False

    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = [n for n in self.lazy if n not in self.commands and self._available(n)]
        return sorted([*super().list_commands(ctx), *lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy:
            return super().get_command(ctx, cmd_name)
        if not self._available(cmd_name):
            return None
        module_name, _, attr = self.lazy[cmd_name].partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UserError(f"the {cmd_name} command cannot load: {exc}") from None
        command = getattr(module, attr, None)
        return command if isinstance(command, click.Command) else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                cmd = self.commands[name]
                if cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(formatter.width - 6 - len(name))))
            else:
                rows.append((name, LAZY_HELP.get(name, "")))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class RootGroup(LazyGroup):
    """The `xcircle` group: errors the user can cause become one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except XCircleError as exc:
            raise UserError(str(exc)) from None


# -- xcircle -----------------------------------------------------------------------------


@click.group(
    cls=RootGroup,
    lazy=LAZY_COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Home directory (default: $XCIRCLE_HOME, else the user data dir).",
)
@click.version_option(package_name="xcircle", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, home: Path | None) -> None:
    """Peer mentoring circles in the terminal. Without a command, open the TUI."""
    ctx.obj = Settings(home)
    if ctx.invoked_subcommand is None:
        ctx.exit(open_tui(ctx.obj.home, demo=False))


def open_tui(home: Path, *, demo: bool) -> int:
    """Run the TUI (imported only now: textual costs start-up time)."""
    try:
        from screens.app import run_tui
    except ImportError:
        click.echo(f"xcircle: error: {TUI_MISSING}", err=True)
        return 1
    return run_tui(home, demo=demo)


@cli.command()
@click.option("--name", required=True, help="Your name as your circles see it.")
@click.option("--org", required=True, help="Your organization.")
@click.option("--seniority", type=click.Choice(SENIORITIES), help="Your seniority.")
@click.option("--tz", "zone", default="", help="Your IANA time zone (default: this machine's).")
@json_option
def init(name: str, org: str, seniority: str | None, zone: str, as_json: bool) -> None:
    """Create or update your profile in this home."""
    zone = check_zone(zone)
    with session(need_profile=False) as svc:
        profile = svc.init_profile(name, org, seniority=seniority, zone=zone)
        home = str(svc.store.home)
    if as_json:
        emit_json({**profile, "home": home})
    else:
        click.echo(f"Profile saved: {profile['name']} ({profile['org']}) in {home}")


# -- circle ------------------------------------------------------------------------------


@cli.group(cls=LazyGroup, lazy=LAZY_CIRCLE_COMMANDS)
def circle() -> None:
    """Create, list, show, edit and archive circles."""


def circle_options(f: F) -> F:
    """The settings `circle create` and `circle edit` share (None: not given)."""
    for option in reversed(
        [
            click.option("--purpose", help="Why the circle exists."),
            click.option(
                "--outcome",
                "outcomes",
                multiple=True,
                help="An intended outcome (repeat for several; replaces them on edit).",
            ),
            click.option("--cadence", type=click.Choice(FREQUENCIES), help="How often it meets."),
            click.option("--duration", type=int, help="Minutes per meeting (15–480)."),
            click.option("--mode", type=click.Choice(MODES), help="How it meets."),
        ]
    ):
        f = option(f)
    return f


@circle.command("create")
@click.argument("name")
@circle_options
@json_option
def circle_create(
    name: str,
    purpose: str | None,
    outcomes: tuple[str, ...],
    cadence: str | None,
    duration: int | None,
    mode: str | None,
    as_json: bool,
) -> None:
    """Create a circle with you as its first member."""
    with session() as svc:
        rec = svc.circles.create(
            name,
            purpose=purpose or "",
            outcomes=outcomes,
            frequency=cadence or "biweekly",
            duration=90 if duration is None else duration,
            mode=mode or "online",
        )
    if as_json:
        emit_json(rec)
    else:
        click.echo(f"Created circle {rec['name']} ({short(rec['id'])}).")
        click.echo(f"Next: xcircle member add {short(rec['id'])} NAME --org ORG")


@circle.command("list")
@click.option("--all", "include_archived", is_flag=True, help="Include archived circles.")
@json_option
def circle_list(include_archived: bool, as_json: bool) -> None:
    """List your circles with their next meeting."""
    with session() as svc:
        circles = svc.overview(include_archived=include_archived)
    if as_json:
        emit_json(circles)
        return
    if not circles:
        click.echo("No circles yet: xcircle circle create NAME")
        return
    rows = [
        (
            short(c["id"]),
            c["name"] + (" (archived)" if c.get("archived") else ""),
            c["members"],
            len(c["organizations"]),
            c["open_goals"],
            when(c["next_meeting"]["at"]) if c.get("next_meeting") else "-",
        )
        for c in circles
    ]
    table(("ID", "NAME", "MEMBERS", "ORGS", "GOALS", "NEXT MEETING"), rows)


@circle.command("show")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def circle_show(circle_ref: str, as_json: bool) -> None:
    """Show a circle: settings, members, meetings, goals, commitments."""
    with session() as svc:
        detail = svc.detail(svc.circles.resolve(circle_ref))
        next_meeting = svc.meetings.next(detail["circle"]["id"])
    if as_json:
        emit_json(detail)
        return
    print_circle(detail, next_meeting)


def print_circle(detail: Mapping[str, Any], next_meeting: Mapping[str, Any] | None) -> None:
    """The human view of `circle show`."""
    c = detail["circle"]
    names = {m["id"]: m["name"] for m in detail["members"]}
    click.secho(c["name"] + (" (archived)" if c.get("archived") else ""), bold=True)
    if c.get("purpose"):
        click.echo(c["purpose"])
    click.echo(f"{c['frequency']}, {c['duration']} minutes, {c['mode']}  ·  id {c['id']}")
    for outcome in c.get("outcomes", []):
        click.echo(f"  outcome: {outcome}")
    click.echo()
    acked = set(detail["acknowledged"])
    table(
        ("MEMBER", "ORGANIZATION", "SENIORITY", "AGREEMENTS"),
        [
            (m["name"], m["org"], m.get("seniority") or "-", "ok" if m["id"] in acked else "-")
            for m in detail["members"]
        ],
    )
    click.echo()
    held = [m for m in detail["meetings"] if m["status"] in ("running", "closed")]
    click.echo(f"Meetings held: {len(held)}")
    if next_meeting:
        click.echo(f"Next meeting: {when(next_meeting['at'])}")
    if detail.get("next_facilitator"):
        click.echo(f"Next facilitator: {names.get(detail['next_facilitator'], '?')}")
    if detail["goals"]:
        click.echo()
        table(
            ("GOAL", "OWNER", "PROGRESS", "STATUS"),
            [
                (
                    g["title"],
                    names.get(g["owner"], "?") if g.get("owner") else "group",
                    f"{g['progress']}%",
                    g["status"],
                )
                for g in detail["goals"]
            ],
        )
    open_items = [x for x in detail["commitments"] if x["status"] == "open"]
    if open_items:
        click.echo()
        table(
            ("OPEN COMMITMENT", "OWNER", "DUE"),
            [(x["text"], names.get(x["owner"], "?"), x.get("due") or "-") for x in open_items],
        )


@circle.command("edit")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--name", help="A new name.")
@circle_options
@json_option
def circle_edit(
    circle_ref: str,
    name: str | None,
    purpose: str | None,
    outcomes: tuple[str, ...],
    cadence: str | None,
    duration: int | None,
    mode: str | None,
    as_json: bool,
) -> None:
    """Change a circle's settings (only the options given)."""
    given = {
        "name": name,
        "purpose": purpose,
        "outcomes": list(outcomes) if outcomes else None,
        "frequency": cadence,
        "duration": duration,
        "mode": mode,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    with session() as svc:
        rec = svc.circles.update(svc.circles.resolve(circle_ref), **changes)
    if as_json:
        emit_json(rec)
    else:
        click.echo(f"Updated circle {rec['name']} ({short(rec['id'])}).")


@circle.command("archive")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--undo", is_flag=True, help="Bring an archived circle back.")
@json_option
def circle_archive(circle_ref: str, undo: bool, as_json: bool) -> None:
    """Archive a circle (hidden from lists, history kept)."""
    with session() as svc:
        rec = svc.circles.archive(svc.circles.resolve(circle_ref), archived=not undo)
    if as_json:
        emit_json(rec)
    else:
        click.echo(f"{'Restored' if undo else 'Archived'} circle {rec['name']}.")


# -- member ------------------------------------------------------------------------------


@cli.group()
def member() -> None:
    """Add, list and remove a circle's members."""


@member.command("add")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("name")
@click.option("--org", required=True, help="The member's organization.")
@click.option("--seniority", type=click.Choice(SENIORITIES), help="The member's seniority.")
@click.option("--topic", "topics", multiple=True, help="A topic they bring (repeatable).")
@json_option
def member_add(
    circle_ref: str,
    name: str,
    org: str,
    seniority: str | None,
    topics: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add a member to a circle."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        rec = svc.members.add(cid, name, org=org, seniority=seniority, topics=topics)
    if as_json:
        emit_json(rec)
    else:
        click.echo(f"Added {rec['name']} ({rec['org']}) as {short(rec['id'])}.")


@member.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def member_list(circle_ref: str, as_json: bool) -> None:
    """List a circle's members in the order they joined."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        members = svc.members.all(cid)
        me = svc.ctx.me(cid)
    if as_json:
        emit_json(members)
        return
    rows = [
        (
            short(m["id"]),
            m["name"] + (" (you)" if m["id"] == me else ""),
            m["org"],
            m.get("seniority") or "-",
            ", ".join(m.get("topics", [])) or "-",
        )
        for m in members
    ]
    table(("ID", "NAME", "ORGANIZATION", "SENIORITY", "TOPICS"), rows)


@member.command("remove")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("member_ref", metavar="MEMBER")
@json_option
def member_remove(circle_ref: str, member_ref: str, as_json: bool) -> None:
    """Remove a member (for good); a shared circle also tells the exchange."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        mid = svc.members.resolve(cid, member_ref)
        name = svc.members.names(cid)[mid]
        svc.members.remove(cid, mid)
        exchange = "not shared"
        if svc.store.meta(cid).get("shared"):
            exchange = tell_exchange(svc, cid, mid)
    if as_json:
        emit_json({"circle": cid, "removed": mid, "name": name, "exchange": exchange})
    else:
        click.echo(f"Removed {name} from the circle.")


def tell_exchange(svc: Services, circle: str, member: str) -> str:
    """Tell the exchange a member left a shared circle (new epoch without them)."""
    try:
        from sync.commands import remove_member_remote
    except ImportError:
        warn("the exchange was not told (sync is not available in this build); run it later")
        return "not told"
    try:
        remove_member_remote(svc.store, circle, member)
    except XCircleError as exc:
        raise UserError(f"removed on this device, but the exchange was not told: {exc}") from None
    return "told"


# -- meeting -----------------------------------------------------------------------------


@cli.group()
def meeting() -> None:
    """Plan and list a circle's meetings."""


@meeting.command("plan")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--at", "at", required=True, help="Start, ISO 8601: 2026-12-01T18:00[+01:00].")
@click.option("--theme", "themes", multiple=True, help="A theme to discuss (repeatable).")
@click.option("--duration", type=int, help="Minutes (default: the circle's).")
@click.option("--tz", "zone", default=None, help="IANA zone of the meeting (default: yours).")
@json_option
def meeting_plan(
    circle_ref: str,
    at: str,
    themes: tuple[str, ...],
    duration: int | None,
    zone: str | None,
    as_json: bool,
) -> None:
    """Plan a meeting; a circle's first meeting is its kick-off."""
    from xcircle.services import parse_when

    with session() as svc:
        zone = check_zone(zone if zone is not None else svc.store.require_profile().get("tz"))
        start = parse_when(at, zone or None)
        if zone:
            from zoneinfo import ZoneInfo

            start = start.astimezone(ZoneInfo(zone))
        cid = svc.circles.resolve(circle_ref)
        rec = svc.meetings.plan(cid, start, themes=themes, duration=duration, zone=zone)
    if as_json:
        emit_json(rec)
    else:
        kickoff = " (kick-off)" if rec.get("kickoff") else ""
        click.echo(f"Planned {when(rec['at'])}{kickoff}, {rec['duration']} minutes.")


@meeting.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def meeting_list(circle_ref: str, as_json: bool) -> None:
    """List a circle's meetings, oldest first."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        meetings = [
            {**m, "attendance": svc.meetings.attendance(cid, m["id"])}
            for m in svc.meetings.all(cid)
        ]
        names = svc.members.names(cid)
    if as_json:
        emit_json(meetings)
        return
    if not meetings:
        click.echo("No meetings yet: xcircle meeting plan CIRCLE --at 2026-12-01T18:00")
        return
    rows = [
        (
            short(m["id"]),
            when(m["at"]),
            f"{m['duration']}m",
            m["status"] + (" kick-off" if m.get("kickoff") else ""),
            names.get(m.get("facilitator") or "", "-"),
            f"{sum(m['attendance'].values())}/{len(names)}" if m["attendance"] else "-",
            ", ".join(m.get("themes", [])) or "-",
        )
        for m in meetings
    ]
    table(("ID", "WHEN", "LENGTH", "STATUS", "FACILITATOR", "PRESENT", "THEMES"), rows)


# -- goal --------------------------------------------------------------------------------


@cli.group()
def goal() -> None:
    """Set goals and check in on them."""


@goal.command("add")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("title")
@click.option("--owner", help="The member who owns it (default: you).")
@click.option("--group", "group", is_flag=True, help="A group goal, owned by the circle.")
@click.option("--due", help="Due date, YYYY-MM-DD.")
@click.option("--why", default="", help="Why it matters.")
@click.option("--measure", default="", help="How success is measured.")
@json_option
def goal_add(
    circle_ref: str,
    title: str,
    owner: str | None,
    group: bool,
    due: str | None,
    why: str,
    measure: str,
    as_json: bool,
) -> None:
    """Add an individual goal (yours unless --owner) or a group goal (--group)."""
    if owner and group:
        raise click.UsageError("--owner and --group exclude each other")
    from xcircle.services import parse_date

    with session() as svc:
        due = parse_date(due)
        cid = svc.circles.resolve(circle_ref)
        owner_id = None
        if owner:
            owner_id = svc.members.resolve(cid, owner)
        elif not group:
            owner_id = svc.ctx.me(cid)
        rec = svc.goals.add(cid, title, owner=owner_id, due=due, why=why, measure=measure)
    if as_json:
        emit_json({**rec, "circle": cid})
    else:
        click.echo(f"Added goal {rec['title']} ({short(rec['id'])}).")


@goal.command("list")
@click.argument("circle_ref", metavar="[CIRCLE]", required=False)
@click.option("--all", "include_archived", is_flag=True, help="Include archived circles.")
@json_option
def goal_list(circle_ref: str | None, include_archived: bool, as_json: bool) -> None:
    """List goals with their latest progress: one circle's, or all circles'."""
    with session() as svc:
        if circle_ref:
            cids = [svc.circles.resolve(circle_ref)]
        else:
            cids = svc.circles.ids(include_archived=include_archived)
        goals: list[dict[str, Any]] = []
        labels: dict[str, str] = {}
        for cid in cids:
            names = svc.members.names(cid)
            labels[cid] = svc.circles.get(cid)["name"]
            for g in svc.goals.with_checkins(cid):
                owner = names.get(g["owner"], "?") if g.get("owner") else "group"
                goals.append({**g, "circle": cid, "owner_name": owner})
    if as_json:
        emit_json(goals)
        return
    if not goals:
        click.echo("No goals yet: xcircle goal add CIRCLE TITLE")
        return
    rows = [
        (
            short(g["id"]),
            g["title"],
            g["owner_name"],
            f"{g['progress']}%",
            g["status"],
            g.get("due") or "-",
            labels[g["circle"]],
        )
        for g in goals
    ]
    table(("ID", "GOAL", "OWNER", "PROGRESS", "STATUS", "DUE", "CIRCLE"), rows)


@goal.command("checkin")
@click.argument("goal_ref", metavar="GOAL")
@click.option("--progress", type=int, required=True, help="Progress so far, 0–100 (%).")
@click.option("--confidence", type=int, help="Confidence to reach it, 1–5.")
@click.option("--note", default="", help="What happened since the last check-in.")
@json_option
def goal_checkin(
    goal_ref: str, progress: int, confidence: int | None, note: str, as_json: bool
) -> None:
    """Record progress on a goal (GOAL: id, id prefix or unique title prefix)."""
    with session() as svc:
        found = svc.ctx.find_record("goal", goal_ref, "goal")
        rec = svc.goals.checkin(
            found["circle"], found["id"], progress=progress, confidence=confidence, note=note
        )
    if as_json:
        emit_json({**rec, "circle": found["circle"]})
    else:
        click.echo(f"Checked in on {found['title']}: {rec['progress']}%.")


# -- export ------------------------------------------------------------------------------


@cli.command()
@click.argument("circle_ref", metavar="CIRCLE")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("markdown", "csv", "ics", "json")),  # xcircle.export.FORMATS
    required=True,
    help="markdown report, csv tables, ics calendar, json detail.",
)
@click.option(
    "--what",
    type=click.Choice(("all", "goals", "attendance")),
    default="all",
    show_default=True,
    help="CSV only: which table.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE (private, 0600) instead of stdout.",
)
@json_option
def export(circle_ref: str, fmt: str, what: str, output: Path | None, as_json: bool) -> None:
    """Export a circle: Markdown report, CSV, iCalendar or JSON.

    \b
    CSV holds two tables, goals (one row per goal, latest progress) and attendance
    (one row per held meeting and member). With -o FILE and --what all, both are
    written next to FILE as STEM-goals.csv and STEM-attendance.csv; with --what
    goals|attendance, that one table goes to FILE or stdout. On stdout, CSV needs
    --what goals or --what attendance (one table per stream).
    """
    from xcircle.export import CSV_TABLES, render

    if fmt == "csv" and what == "all" and output is None and not as_json:
        raise click.UsageError("CSV on stdout is one table: add --what goals|attendance or -o")
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        detail = svc.detail(cid)
        now = svc.now()
    tables = (CSV_TABLES if what == "all" else (what,)) if fmt == "csv" else ("",)
    outputs = {t: render(detail, fmt, table=t or "goals", now=now) for t in tables}
    if output is None:
        if as_json:
            contents = {t: b.decode() for t, b in outputs.items()}
            content = contents if fmt == "csv" and what == "all" else next(iter(contents.values()))
            emit_json({"circle": cid, "format": fmt, "content": content})
        else:
            click.echo(next(iter(outputs.values())), nl=False)
        return
    written = []
    for name, data in outputs.items():
        path = output if len(outputs) == 1 else csv_path(output, name)
        write_private(path, data)
        written.append(str(path))
    if as_json:
        emit_json({"circle": cid, "format": fmt, "files": written})
    else:
        for path_text in written:
            click.echo(f"Wrote {path_text}")


def csv_path(output: Path, table_name: str) -> Path:
    """`report.csv` -> `report-goals.csv` (the one FILE names both tables)."""
    stem = output.stem if output.suffix.lower() == ".csv" else output.name
    return output.with_name(f"{stem}-{table_name}.csv")


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, readable by its owner only (0600)."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        fail(f"cannot write {path}: {exc.strerror}")


# -- demo --------------------------------------------------------------------------------


@cli.command()
@click.option("--no-tui", is_flag=True, help="Only seed the demo home; don't open the TUI.")
@json_option
@click.pass_obj
def demo(settings: Settings, no_tui: bool, as_json: bool) -> None:
    """Seed a demo home and open the TUI.

    The demo has three circles from two organizations, with meetings, goals and pulses.

    The demo lives in --home when given, else in a data folder of its own
    (`xcircle-demo`), so it never fills your real circles with invented ones.
    --json implies --no-tui.
    """
    from xcircle.demo import seed_demo
    from xcircle.paths import demo_home_dir

    home = demo_home_dir(settings.home_option)
    with session(need_profile=False, home=home) as svc:
        seeded = not svc.store.circle_ids()
        if seeded and svc.store.profile is not None:
            fail(f"{home} already has a profile: the demo only seeds an empty home")
        seed_demo(svc.store)
        circles = svc.overview()
    if as_json:
        emit_json({"home": str(home), "seeded": seeded, "circles": circles})
        return
    if no_tui:
        if seeded:
            click.echo(f"Seeded {len(circles)} demo circles in {home}")
        else:
            click.echo(f"Left as it was: {home} already has {len(circles)} circles")
        click.echo(f"Open it with: xcircle --home {home}")
        return
    click.get_current_context().exit(open_tui(home, demo=True))


def main(argv: Sequence[str] | None = None) -> None:
    """The console script `xcircle`."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="xcircle")
