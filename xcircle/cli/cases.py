"""`xcircle case …`: written rounds between meetings (a case, peers' answers, its close)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import click

from xcircle.cli.common import echo, emit_json, json_option, out, session, short, table, when

if TYPE_CHECKING:
    from xcircle.services.cases import CaseView


@click.group()
def case() -> None:
    """Open a case between meetings, answer one, close yours with a commitment."""


@case.command("open")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("title")
@click.option("--text", default="", help="The situation and your question.")
@click.option("--protocol", default="", metavar="NAME", help="The protocol answers follow.")
@json_option
def case_open(circle_ref: str, title: str, text: str, protocol: str, as_json: bool) -> None:
    """Open a case as its presenter; peers answer it offline."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        view = svc.cases.open(cid, title, text=text, protocol=protocol)
    kinds = ", ".join(view.kinds)
    out(as_json, view.as_dict(), f"Case {short(view.id)} opened; answers may be: {kinds}.")


@case.command("reply")
@click.argument("case_ref", metavar="CASE")
@click.argument("text")
@click.option("--kind", required=True, help="A kind the case's protocol allows.")
@click.option(
    "--giver", "giver_ref", default=None, metavar="MEMBER", help="Who answers (default: you)."
)
@json_option
def case_reply(case_ref: str, text: str, kind: str, giver_ref: str | None, as_json: bool) -> None:
    """Answer a case (CASE: id prefix or title prefix)."""
    with session() as svc:
        cid, key = svc.cases.find(case_ref)
        giver = svc.members.resolve(cid, giver_ref) if giver_ref else None
        reply = svc.cases.reply(cid, key, kind, text, giver=giver)
    value = {**asdict(reply), "case": key, "circle": cid}
    out(as_json, value, f"{reply.kind.capitalize()} from {reply.giver_name} saved.")


@case.command("close")
@click.argument("case_ref", metavar="CASE")
@click.option("--reflection", required=True, help="What you take from the answers.")
@click.option("--commitment", required=True, help="What you commit to (reviewed next meeting).")
@click.option("--due", default=None, help="The commitment's due date (YYYY-MM-DD).")
@json_option
def case_close(
    case_ref: str, reflection: str, commitment: str, due: str | None, as_json: bool
) -> None:
    """Close your case with a reflection and a commitment the next meeting reviews."""
    with session() as svc:
        cid, key = svc.cases.find(case_ref)
        view = svc.cases.close(cid, key, reflection=reflection, commitment=commitment, due=due)
    line = f"Case {short(view.id)} closed; commitment {short(view.commitment or '')} saved."
    out(as_json, view.as_dict(), line)


@case.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def case_list(circle_ref: str, as_json: bool) -> None:
    """A circle's cases, open ones first."""
    with session(read_only=True) as svc:
        views = svc.cases.all(svc.circles.resolve(circle_ref))
    if as_json:
        emit_json([v.as_dict() for v in views])
        return
    rows = [
        (short(v.id), v.status, v.presenter_name, len(v.replies), v.opened[:10], v.title)
        for v in views
    ]
    table(("ID", "STATUS", "PRESENTER", "ANSWERS", "OPENED", "TITLE"), rows)


@case.command("show")
@click.argument("case_ref", metavar="CASE")
@json_option
def case_show(case_ref: str, as_json: bool) -> None:
    """A case with every answer, and its close."""
    with session(read_only=True) as svc:
        view = svc.cases.get(*svc.cases.find(case_ref))
    if as_json:
        emit_json(view.as_dict())
        return
    show(view)


def show(view: CaseView) -> None:
    echo(f"{view.title} ({view.status}) — {view.presenter_name}, opened {when(view.opened)}")
    if view.protocol:
        echo(f"Protocol: {view.protocol}")
    if view.text:
        echo(view.text)
    echo("")
    if not view.replies:
        echo("No answers yet.")
    for r in view.replies:
        echo(f"[{r.kind}] {r.giver_name}: {r.text}")
    if view.status == "closed":
        echo("")
        echo(f"Reflection: {view.reflection}")
        echo(f"Commitment: {view.commitment_text}")
