"""`xcircle programme …`: a coordinator's programmes, formed into circles on this device.

`create`, `list`, `import` (a CSV of participants), `form` (staged circles with scores and
reasons), `show`, and the edits before publishing: `move`, `lock`, `unlock`, `reform`.
Publishing and the programme view are registered on the same group from
`xcircle.cli.programme_publish` (lazily, by `LAZY_PROGRAMME_COMMANDS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from xcircle.cli.common import echo, emit_json, json_option, session, table
from xcircle.cli.lazy import LazyGroup

if TYPE_CHECKING:
    from xcircle.programmes.model import Programme

# Commands of this group that live in other modules: name -> "module:attribute".
LAZY_PROGRAMME_COMMANDS: dict[str, str] = {
    "edit": "xcircle.cli.programme_edit:edit",
    "publish": "xcircle.cli.programme_publish:publish",
    "view": "xcircle.cli.programme_publish:view",
    "handover": "xcircle.cli.programme_publish:handover",
    "reporting": "xcircle.cli.programme_publish:reporting",
}


@click.group(cls=LazyGroup, lazy=LAZY_PROGRAMME_COMMANDS)
def programme() -> None:
    """Programmes: a pool of participants from several organizations, formed into circles."""


@programme.command("create")
@click.argument("name")
@json_option
def programme_create(name: str, as_json: bool) -> None:
    """Create an empty programme named NAME."""
    with session(need_profile=False) as svc:
        made = svc.programmes.create(name)
    if as_json:
        emit_json({"id": made.id, "name": made.name})
    else:
        echo(f"Programme {made.name} created ({made.id}); next: xcircle programme import.")


@programme.command("list")
@json_option
def programme_list(as_json: bool) -> None:
    """List the programmes on this device."""
    with session(need_profile=False, read_only=True) as svc:
        found = svc.programmes.list()
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "participants": len(p.participants),
            "organizations": len(p.organizations),
            "circles": len(p.staged),
            "unplaced": len(p.unplaced),
            "published": len(p.published),
        }
        for p in found
    ]
    if as_json:
        emit_json(rows)
    elif not rows:
        echo("No programmes yet: xcircle programme create NAME.")
    else:
        keys = ["id", "name", "participants", "organizations", "circles", "unplaced", "published"]
        table(keys, [[r[k] for k in keys] for r in rows])


@programme.command("import")
@click.argument("ref", metavar="PROGRAMME")
@click.argument("path", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def programme_import(ref: str, path: Path, as_json: bool) -> None:
    """Replace PROGRAMME's participants with FILE.csv's (all rows or none; see README)."""
    with session(need_profile=False) as svc:
        done = svc.programmes.import_csv(ref, path)
    value = {
        "id": done.id,
        "participants": len(done.participants),
        "organizations": list(done.organizations),
        "not_with": len(done.not_with),
        "manages": len(done.manages),
    }
    if as_json:
        emit_json(value)
    else:
        echo(
            f"{done.name}: {len(done.participants)} participants from "
            f"{len(done.organizations)} organizations imported; next: xcircle programme form."
        )


@programme.command("form")
@click.argument("ref", metavar="PROGRAMME")
@click.option("--size", type=int, default=None, help="Circle size to aim for (4–8; default 6).")
@click.option(
    "--max-per-org", type=int, default=None, metavar="K", help="At most K per organization."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Another seed, other circles.")
@json_option
def programme_form(
    ref: str, size: int | None, max_per_org: int | None, seed: int, as_json: bool
) -> None:
    """Form PROGRAMME's circles (locked circles are kept) and show them."""
    with session(need_profile=False) as svc:
        formed = svc.programmes.form(ref, size=size, max_per_org=max_per_org, seed=seed)
    show(formed, as_json)


@programme.command("reform")
@click.argument("ref", metavar="PROGRAMME")
@click.option("--seed", type=int, default=0, show_default=True, help="Another seed, other circles.")
@json_option
def programme_reform(ref: str, seed: int, as_json: bool) -> None:
    """Form again every circle of PROGRAMME that is not locked."""
    with session(need_profile=False) as svc:
        formed = svc.programmes.reform(ref, seed=seed)
    show(formed, as_json)


@programme.command("show")
@click.argument("ref", metavar="PROGRAMME")
@json_option
def programme_show(ref: str, as_json: bool) -> None:
    """Show PROGRAMME's staged circles and who is unplaced."""
    with session(need_profile=False, read_only=True) as svc:
        found = svc.programmes.get(ref)
    show(found, as_json)


@programme.command("move")
@click.argument("ref", metavar="PROGRAMME")
@click.argument("participant")
@click.argument("circle")
@json_option
def programme_move(ref: str, participant: str, circle: str, as_json: bool) -> None:
    """Move PARTICIPANT (email, name or id) into staged CIRCLE ("-": out of any circle)."""
    with session(need_profile=False) as svc:
        moved = svc.programmes.move(ref, participant, circle)
    show(moved, as_json)


@programme.command("lock")
@click.argument("ref", metavar="PROGRAMME")
@click.argument("circle")
def programme_lock(ref: str, circle: str) -> None:
    """Lock staged CIRCLE: re-forming keeps it as it is."""
    with session(need_profile=False) as svc:
        svc.programmes.lock(ref, circle)
    echo(f"Circle {circle} locked.")


@programme.command("unlock")
@click.argument("ref", metavar="PROGRAMME")
@click.argument("circle")
def programme_unlock(ref: str, circle: str) -> None:
    """Unlock staged CIRCLE: re-forming may change it."""
    with session(need_profile=False) as svc:
        svc.programmes.unlock(ref, circle)
    echo(f"Circle {circle} unlocked.")


def show(p: Programme, as_json: bool) -> None:
    """A programme's staging: each circle with score, slot and reasons; then the unplaced."""
    from xcircle.services.programmes import as_json as programme_json

    if as_json:
        emit_json(programme_json(p))
        return
    people = p.participants
    r = p.rules
    echo(
        f"{p.name}: {len(people)} participants, {_plural(len(p.staged), 'circle')}, "
        f"{len(p.unplaced)} unplaced (size {r.size}, at most {r.max_per_org} per organization)"
    )
    for c in p.staged:
        flags = "  [locked]" if c.locked else ""
        echo(f"\n{c.id}  score {c.score:.2f}  {c.slot or 'no shared hour'}{flags}")
        echo(f"  {', '.join(c.reasons)}")
        for v in c.violations:
            echo(f"  ! {v}")
        for m in c.members:
            person = people.get(m)
            if person is not None:
                echo(f"  - {person.name} ({person.organization}, {person.seniority}, {person.tz})")
    if p.unplaced:
        echo("\nNot placed:")
        for u in p.unplaced:
            person = people.get(u.participant)
            who = f"{person.name} ({person.organization})" if person else u.participant
            echo(f"  - {who}: {u.reason}")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
