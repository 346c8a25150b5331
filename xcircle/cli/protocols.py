"""`xcircle protocol …`: the round protocols (built-in and a circle's own TOML templates)."""

from __future__ import annotations

from pathlib import Path

import click

from xcircle.cli.common import echo, emit_json, fail, json_option, out, session, table
from xcircle.protocols import find


@click.group()
def protocol() -> None:
    """Round protocols: list them, show one, add a circle's own from TOML."""


@protocol.command("list")
@click.argument("circle_ref", metavar="[CIRCLE]", required=False)
@json_option
def protocol_list(circle_ref: str | None, as_json: bool) -> None:
    """The built-in protocols, and CIRCLE's own templates when a circle is named."""
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref) if circle_ref else None
        found = svc.protocols.all(cid)
    if as_json:
        emit_json([p.as_dict() for p in found])
        return
    rows = [
        (p.name, p.title, len(p.phases), f"{p.turn_seconds(4) // 60}m", p.source) for p in found
    ]
    table(("NAME", "TITLE", "PHASES", "TURN (5 PEOPLE)", "FROM"), rows)


@protocol.command("show")
@click.argument("name")
@click.option("--circle", "circle_ref", metavar="CIRCLE", help="To show one of its own.")
@json_option
def protocol_show(name: str, circle_ref: str | None, as_json: bool) -> None:
    """One protocol: its phases, timeboxes, who speaks, the feedback each takes."""
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref) if circle_ref else None
        if cid is None:
            found = [p for c in svc.circles.ids() for p in svc.protocols.custom(c)]
            proto = find(name, found)
        else:
            proto = svc.protocols.get(cid, name)
    if as_json:
        emit_json(proto.as_dict())
        return
    echo(f"{proto.title} ({proto.name}, {proto.source})")
    if proto.purpose:
        echo(proto.purpose)
    if proto.roles:
        echo(f"Roles: {', '.join(proto.roles)}")
    for n, phase in enumerate(proto.phases, 1):
        minutes, seconds = divmod(phase.timebox, 60)
        each = " per peer" if phase.per_peer else ""
        echo(f"{n}. {phase.title} [{phase.id}] {minutes}:{seconds:02d}{each}")
        echo(f"   Speaks: {phase.who()}")
        echo(f"   Takes: {', '.join(phase.kinds) or 'no feedback'}")
        if phase.methods:
            echo(f"   Methods: {', '.join(phase.methods)}")
        echo(f"   Say: {phase.prompt}")


@protocol.command("add")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def protocol_add(circle_ref: str, file: Path, as_json: bool) -> None:
    """Add (or replace) CIRCLE's own protocol from a TOML file; it syncs with the circle."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text")
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        proto = svc.protocols.add(cid, text)
    out(
        as_json,
        {"circle": cid, **proto.as_dict()},
        f"Added the protocol {proto.name} ({proto.title}, {len(proto.phases)} phases).",
    )
