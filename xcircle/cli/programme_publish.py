"""`xcircle programme publish|view|handover|reporting`: a programme on the exchange.

`publish` makes the staged circles real (shared, encrypted, the coordinator's device as
convener) and one invite per participant, written as a CSV for mail merge; `handover`
gives a circle to one of its members at kick-off (the coordinator then leaves it);
`view` shows each circle's reported aggregates, never its content; `reporting` is a
convener's choice of what the circle reports. Loaded only when run (they use the sync
client); the work is in `sync.programmes`.
"""

from __future__ import annotations

from pathlib import Path

import click

from xcircle.cli.common import UserError, echo, emit_json, json_option, out, session, table
from xcircle.domain import FREQUENCIES, METRICS
from xcircle.export import safe_cell, write_private

CSV_COLUMNS = ("name", "email", "circle", "code", "expires")
DEFAULT_TTL = "7d"  # the longest the exchange keeps an invite: time for a mail merge


def invites_csv(rows: list[tuple[str, str, str, str, str]]) -> bytes:
    """The mail-merge file: RFC 4180, user text defused like every CSV export."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows([tuple(safe_cell(cell) for cell in row) for row in rows])
    return buf.getvalue().encode()


@click.command("publish")
@click.argument("ref", metavar="PROGRAMME")
@click.option(
    "--out",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("invites.csv"),
    show_default=True,
    help="The CSV for mail merge (written 0600: it holds the invite codes).",
)
@click.option("--ttl", default=DEFAULT_TTL, show_default=True, help="Invites valid for: 12h, 7d…")
@click.option("--reinvite", is_flag=True, help="New invites even for unexpired ones.")
@click.option("--purpose", default="", help="Each circle's purpose.")
@click.option(
    "--cadence",
    type=click.Choice(FREQUENCIES),
    default="biweekly",
    show_default=True,
    help="How often the circles meet.",
)
@json_option
def publish(
    ref: str,
    output: Path,
    ttl: str,
    reinvite: bool,
    purpose: str,
    cadence: str,
    as_json: bool,
) -> None:
    """Create PROGRAMME's staged circles on the exchange and invite every participant.

    Run it again at any time: circles already made are kept, participants with an
    unexpired invite (or who joined) are not invited again; the CSV lists every
    invite still open."""
    from sync.commands import parse_ttl
    from sync.engine import connect
    from sync.programmes import publish as run_publish

    seconds = parse_ttl(ttl)
    with session() as svc:
        programme = svc.programmes.get(ref)
        with connect(svc.store) as client:
            done = run_publish(
                svc,
                client,
                programme,
                ttl_seconds=seconds,
                reinvite=reinvite,
                purpose=purpose,
                frequency=cadence,
            )
    rows = [(r.name, r.email, r.circle, r.code, r.expires) for r in done.rows]
    write_private(output, invites_csv(rows))
    value = {
        "programme": programme.id,
        "circles": done.circles,
        "created": done.created,
        "invited": done.invited,
        "open_invites": len(rows),
        "file": str(output),
    }
    text = (
        f"Published {len(done.circles)} circle(s) ({len(done.created)} new); "
        f"{done.invited} new invite(s), {len(rows)} open, written to {output}."
    )
    out(as_json, value, text)


@click.command("view")
@click.argument("ref", metavar="PROGRAMME")
@json_option
def view(ref: str, as_json: bool) -> None:
    """Each circle's progress as it reports it: aggregates over 3 people or more only."""
    from sync.engine import connect
    from sync.programmes import fetch_reports

    with session(read_only=True) as svc:  # reads only: works while the app is open
        programme = svc.programmes.get(ref)
        # The circles in their programme's order (publish named them "… · circle N").
        order = [
            str(programme.published[c.id]["circle"])
            for c in programme.staged
            if c.id in programme.published
        ]
        rest = [str(e["circle"]) for e in programme.published.values()]
        order += [cid for cid in rest if cid not in order]
        names = {
            cid: _name(svc.store, cid, f"{programme.name} · circle {i}")
            for i, cid in enumerate(order, start=1)
        }
        with connect(svc.store) as client:
            progress = fetch_reports(svc.store, client, programme.id, names)
    rank = {cid: i for i, cid in enumerate(order)}
    progress.sort(key=lambda p: (rank.get(p.circle, len(rank)), p.name))
    if as_json:
        emit_json(
            {
                "programme": programme.id,
                "circles": [
                    {
                        "circle": p.circle,
                        "name": p.name,
                        "reported_at": p.reported_at,
                        "problem": p.problem or None,
                        "verified": p.verified,
                        "metrics": p.metrics,
                    }
                    for p in progress
                ],
            }
        )
        return
    if not progress:
        echo("No circle published yet: xcircle programme publish PROGRAMME")
        return
    table(
        ("CIRCLE", *(m.upper() for m in METRICS)),
        [
            (p.name if p.verified else f"{p.name} (sender unverified)", *map(p.shown, METRICS))
            for p in progress
        ],
    )


def _name(store: object, cid: str, default: str = "") -> str:
    """The circle's name on this device, else `default` (or its short id): after the
    hand-over this device may no longer hold it."""
    from xcircle.store import Store

    assert isinstance(store, Store)
    record = store.get(cid, "circle", cid) if store.has_circle(cid) else None
    return str(record["name"]) if record else default or cid[:8]


@click.command("handover")
@click.argument("ref", metavar="PROGRAMME")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("member_ref", metavar="MEMBER")
@json_option
def handover(ref: str, circle_ref: str, member_ref: str, as_json: bool) -> None:
    """At kick-off: make MEMBER the convener of CIRCLE and leave it.

    The member's device removes the coordinator on its next sync, with a new key the
    coordinator never holds; the programme view keeps showing the circle's reports."""
    from sync.engine import connect
    from sync.programmes import handover as run_handover

    with session() as svc:
        programme = svc.programmes.get(ref)
        cid = _circle_of(svc, programme, circle_ref)
        member = svc.members.resolve(cid, member_ref)
        name = svc.members.names(cid)[member]
        with connect(svc.store) as client:
            run_handover(svc, client, cid, member)
    value = {"circle": cid, "convener": member, "name": name}
    out(as_json, value, f"{name} now convenes the circle; their next sync removes you from it.")


def _circle_of(svc: object, programme: object, ref: str) -> str:
    """A published circle of the programme by staged id, circle id (or prefix) or name."""
    from xcircle.programmes.model import Programme
    from xcircle.services import Services

    assert isinstance(svc, Services) and isinstance(programme, Programme)
    ref = ref.strip()
    entry = programme.published.get(ref)
    if entry is not None:
        return str(entry["circle"])
    mine = [str(e["circle"]) for e in programme.published.values()]
    hits = [c for c in mine if c.startswith(ref.lower()) or _name(svc.store, c) == ref]
    if len(hits) != 1:
        raise UserError(f"no single published circle of this programme matches {ref!r}")
    return hits[0]


@click.command("reporting")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option(
    "--set",
    "chosen",
    default=None,
    help=f"Comma-separated metrics to report ({', '.join(METRICS)}; '' for none). Conveners.",
)
@json_option
def reporting(circle_ref: str, chosen: str | None, as_json: bool) -> None:
    """Show (or, with --set, change) what CIRCLE reports to its programme."""
    from xcircle.services import programme_reports as pr

    read_only = chosen is None
    with session(read_only=read_only) as svc:
        cid = svc.circles.resolve(circle_ref)
        if chosen is not None:
            metrics = [m.strip() for m in chosen.split(",") if m.strip()]
            pr.set_reported(svc.ctx, cid, metrics)
        info = pr.programme_of(svc.ctx, cid)
    if info is None:
        raise UserError("this circle belongs to no programme")
    value = {
        "circle": cid,
        "programme": info["programme"],
        "reports": info["reports"],
        "coordinator_fingerprint": info["coordinator_fp"],
    }
    text = (
        f"Reports to its programme: {', '.join(info['reports']) or 'nothing'} "
        f"(aggregates over 3 people or more, sealed to the coordinator's device "
        f"{info['coordinator_fp']})."
    )
    out(as_json, value, text)
