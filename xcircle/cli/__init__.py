"""`xcircle`: the TUI when run bare, and a scriptable CLI mirroring the main actions.

Every command opens the home's store for exactly its own duration (the lock is released
on every path), prints store notices as warnings, and turns an error the user can cause
(`XCircleError`) into one line on stderr with exit code 1. With `--json` a command prints
exactly one JSON value on stdout.

Start-up stays light: the TUI (textual), the sync client (httpx) and the exchange
(fastapi) are imported only when their command runs; the services when a command opens
the store. Sync commands live in `sync/` and are registered lazily by name (`lazy.py`).

One module per command group (`circles`, `agreements`, `members`, `meetings`, `feedback`,
`commitments`, `pulses`, `journal`, `goals`, `export`, `demo`, `profile`, `cases`,
`plusdelta`, `programmes`), the shared
helpers in `common`; this module assembles the `cli` group and re-exports the helpers
other packages use (`sync/commands.py`, the tests).

Commands that only read open the home read-only (no lock), so they work while the app
has it open; a command that writes then says why it cannot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from xcircle.cli import (
    agreements,
    airtime,
    cards,
    cases,
    checkrounds,
    circles,
    commitments,
    demo,
    export,
    feedback,
    goals,
    journal,
    meetings,
    members,
    plusdelta,
    profile,
    programmes,
    protocols,
    pulses,
)
from xcircle.cli.common import Settings, UserError, emit_json, session, table, warn
from xcircle.cli.lazy import LAZY_COMMANDS, LazyGroup
from xcircle.cli.tui import TUI_MISSING, open_tui
from xcircle.errors import XCircleError

__all__ = ["TUI_MISSING", "cli", "emit_json", "main", "session", "table", "warn"]


class RootGroup(LazyGroup):
    """The `xcircle` group: errors the user can cause become one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except XCircleError as exc:
            raise UserError(str(exc)) from None


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


cli.add_command(profile.init)
cli.add_command(profile.setting)
cli.add_command(circles.circle)
cli.add_command(agreements.agreement)
cli.add_command(members.member)
cli.add_command(meetings.meeting)
cli.add_command(feedback.feedback)
cli.add_command(commitments.commitment)
cli.add_command(pulses.pulse)
cli.add_command(journal.journal)
cli.add_command(goals.goal)
cli.add_command(export.export)
cli.add_command(demo.demo)
cli.add_command(cases.case)
cli.add_command(plusdelta.plusdelta)
cli.add_command(protocols.protocol)
cli.add_command(cards.card)
cli.add_command(airtime.airtime)
cli.add_command(checkrounds.checkround)
cli.add_command(checkrounds.topic)
cli.add_command(programmes.programme)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script `xcircle`."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="xcircle")
