"""`xcircle card …`: issue cards a member prepares to bring to a round."""

from __future__ import annotations

import click

from xcircle.cli.common import emit_json, json_option, out, session, short, table


@click.group()
def card() -> None:
    """Issue cards: what you want to bring to the circle, prepared offline."""


@card.command("add")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--situation", required=True, help="The situation, in a few sentences.")
@click.option("--question", required=True, help="Your key question for the circle.")
@click.option("--want", default="", help="The help you want.")
@click.option("--not-want", "not_want", default="", help="The help you do not want.")
@click.option("--urgency", required=True, help="A: now, B: soon, C: some day.")
@click.option("--member", "member_ref", metavar="MEMBER", help="Whose card (default: yours).")
@json_option
def card_add(
    circle_ref: str,
    situation: str,
    question: str,
    want: str,
    not_want: str,
    urgency: str,
    member_ref: str | None,
    as_json: bool,
) -> None:
    """Prepare an issue card: the round proposes presenters from the cards' urgency."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        member = svc.members.resolve(cid, member_ref) if member_ref else None
        rec = svc.cards.add(
            cid, situation, question, urgency, want=want, not_want=not_want, member=member
        )
    out(as_json, {**rec, "circle": cid}, f"Card {short(rec['id'])} ({rec['urgency']}) added.")


@card.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--all", "include_closed", is_flag=True, help="Withdrawn and presented too.")
@json_option
def card_list(circle_ref: str, include_closed: bool, as_json: bool) -> None:
    """A circle's issue cards, most urgent and oldest first."""
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref)
        cards = svc.cards.all(cid, include_closed=include_closed)
        names = svc.members.names(cid)
    if as_json:
        emit_json(cards)
        return
    if not cards:
        click.echo("No open cards: xcircle card add CIRCLE --situation … --question … --urgency B")
        return
    rows = [
        (short(c["id"]), c["urgency"], names.get(c["member"], "?"), c["status"], c["question"])
        for c in cards
    ]
    table(("ID", "URGENCY", "MEMBER", "STATUS", "KEY QUESTION"), rows)


@card.command("withdraw")
@click.argument("card_ref", metavar="CARD")
@json_option
def card_withdraw(card_ref: str, as_json: bool) -> None:
    """Withdraw one of your cards (an id or id prefix): it is no longer proposed."""
    with session() as svc:
        found = svc.cards.find(card_ref)
        rec = svc.cards.withdraw(found["circle"], found["id"])
    out(as_json, {**rec, "circle": found["circle"]}, f"Card {short(rec['id'])} withdrawn.")
