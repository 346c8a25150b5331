"""`xcircle programme edit PROGRAMME`: the programme's staged circles in the app."""

from __future__ import annotations

import click

from xcircle.cli.common import Settings, session
from xcircle.cli.tui import open_tui


@click.command("edit")
@click.argument("programme_ref", metavar="PROGRAMME")
@click.pass_context
def edit(ctx: click.Context, programme_ref: str) -> None:
    """Open PROGRAMME's staged circles in the app: move people, lock, re-form."""
    with session(need_profile=False, read_only=True) as svc:
        programme = svc.programmes.get(programme_ref).id
    settings = ctx.find_object(Settings) or Settings(None)
    ctx.exit(open_tui(settings.home, demo=False, programme=programme))
