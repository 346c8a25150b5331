"""Commands that live in `sync/`, registered by name and imported only when run.

`--help` lists them with `LAZY_HELP` instead of importing their modules, so it never
loads the sync client (httpx) or the exchange (fastapi).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

import click

from xcircle.cli.common import UserError

# Commands that live in `sync/`, loaded only when run: name -> "module:attribute".
LAZY_COMMANDS = {
    "exchange": "sync.exchange.cli:exchange",
    "join": "sync.commands:join",
    "invite": "sync.commands:invite",
    "accept": "sync.commands:accept",
    "sync": "sync.commands:sync",
    "status": "sync.commands:status",
    "rotate-token": "sync.commands:rotate_token_command",
}
LAZY_CIRCLE_COMMANDS = {
    "share": "sync.commands:share",
    "encrypt": "sync.commands:encrypt",
    "reseed": "sync.reseed:reseed_command",
}
# `xcircle circle invite|accept` are the same commands as `xcircle invite|accept`.
LAZY_CIRCLE_COMMANDS.update(invite="sync.commands:invite", accept="sync.commands:accept")
# `--help` lists lazy commands with these lines instead of importing their modules.
LAZY_HELP = {
    "exchange": "Serve and administer the exchange server.",
    "join": "Enroll this device with an exchange.",
    "invite": "Invite someone into a shared circle.",
    "accept": "Accept an invite code and join its circle.",
    "sync": "Push and pull changes with the exchange.",
    "status": "Show what is waiting to sync.",
    "rotate-token": "Replace this device's exchange token.",
    "share": "Share a circle through the exchange.",
    "encrypt": "Encrypt a shared circle end to end (conveners).",
    "reseed": "Re-push a circle's history: encrypt it, or rebuild it (conveners).",
    "publish": "Create a programme's circles on the exchange and invite everyone.",
    "view": "Each circle's reported progress (aggregates only).",
    "handover": "Hand a programme circle to its convener at kick-off.",
    "reporting": "What a programme circle reports to its coordinator.",
}


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
