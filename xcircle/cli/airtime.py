"""`xcircle airtime CIRCLE`: who presented, who gave feedback, and for how long."""

from __future__ import annotations

import click

from xcircle.cli.common import echo, emit_json, json_option, session, table


def minutes(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


@click.command("airtime")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def airtime(circle_ref: str, as_json: bool) -> None:
    """The fairness view: turns and time in the hot seat, feedback given, per member."""
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref)
        view = svc.airtime.view(cid)
    if as_json:
        emit_json(view.as_dict())
        return
    echo(f"{view.rounds} rounds; a fair share is {view.fair_turns} turns each.")
    rows = [
        (
            r.name,
            r.turns,
            f"{r.balance:+.1f}",
            minutes(r.presenting),
            f"{r.share}%",
            r.feedback,
            minutes(r.giving),
        )
        for r in view.rows
    ]
    table(("MEMBER", "TURNS", "VS FAIR", "HOT SEAT", "SHARE", "FEEDBACK", "GIVING"), rows)
