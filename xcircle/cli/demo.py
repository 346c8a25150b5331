"""`xcircle demo`: seed a demo home of its own and open the TUI on it."""

from __future__ import annotations

import click

from xcircle.cli.common import Settings, emit_json, fail, json_option, session
from xcircle.cli.tui import open_tui


@click.command()
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
