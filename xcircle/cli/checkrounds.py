"""`xcircle checkround …` and `xcircle topic …`: the opening and closing rounds, and an
open agenda's topics and votes."""

from __future__ import annotations

import click

from xcircle.cli.common import echo, emit_json, json_option, out, session, table

KIND = click.option(
    "--out", "closing", is_flag=True, help="The check-out round (default: the check-in)."
)


@click.group()
def checkround() -> None:
    """Check-in and check-out rounds (optional per circle)."""


@checkround.command("setup")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--in/--no-in", "checkin", default=None, help="Open meetings with a check-in.")
@click.option("--out/--no-out", "checkout", default=None, help="Close them with a check-out.")
@json_option
def checkround_setup(
    circle_ref: str, checkin: bool | None, checkout: bool | None, as_json: bool
) -> None:
    """Turn a circle's check-in and check-out rounds on or off."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        state = svc.checkrounds.configure(cid, checkin=checkin, checkout=checkout)
    words = [f"check-{k} {'on' if v else 'off'}" for k, v in state.items()]
    out(as_json, {"circle": cid, **state}, f"{', '.join(words).capitalize()}.")


@checkround.command("say")
@click.argument("meeting_ref", metavar="MEETING")
@KIND
@click.option("--member", "member_ref", metavar="MEMBER", required=True)
@click.option("--score", type=int, help="Check-in: how you arrive, 1 to 10.")
@click.option("--sentence", default="", help="Check-in: a sentence.")
@click.option("--word", default="", help="Check-out: one word.")
@click.option("--takeaway", default="", help="Check-out: one take-away.")
@json_option
def checkround_say(
    meeting_ref: str,
    closing: bool,
    member_ref: str,
    score: int | None,
    sentence: str,
    word: str,
    takeaway: str,
    as_json: bool,
) -> None:
    """Record what a member says in the check-in (or --out: check-out) round."""
    kind = "out" if closing else "in"
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        member = svc.members.resolve(cid, member_ref)
        rec = svc.checkrounds.say(
            cid, mid, kind, member, score=score, sentence=sentence, word=word, takeaway=takeaway
        )
    out(as_json, {**rec, "circle": cid}, "Recorded.")


@checkround.command("show")
@click.argument("meeting_ref", metavar="MEETING")
@KIND
@json_option
def checkround_show(meeting_ref: str, closing: bool, as_json: bool) -> None:
    """The check-in (or --out: check-out) round: its order and what was said."""
    kind = "out" if closing else "in"
    with session(read_only=True) as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        svc.checkrounds.enabled(cid)
        view = svc.checkrounds.view(cid, mid, kind)
        names = svc.members.names(cid)
    if as_json:
        emit_json(view.as_dict())
        return
    echo(f"{view.title}: {view.prompt}")
    said = {c["member"]: c for c in view.said}
    rows = []
    for member in view.order:
        c = said.get(member)
        if kind == "in":
            words = f"{c['score']}/10 {c['sentence']}" if c else "-"
        else:
            words = f"{c['word']}: {c['takeaway']}" if c else "-"
        rows.append((names.get(member, "?"), words))
    table(("MEMBER", "SAID"), rows)


@click.group()
def topic() -> None:
    """Open agenda: propose topics, vote, see the board."""


@topic.command("propose")
@click.argument("meeting_ref", metavar="MEETING")
@click.argument("title")
@click.option("--member", "member_ref", metavar="MEMBER", help="Default: you.")
@json_option
def topic_propose(meeting_ref: str, title: str, member_ref: str | None, as_json: bool) -> None:
    """Propose a topic (one per member; proposing again renames it)."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        member = svc.members.resolve(cid, member_ref) if member_ref else None
        found = svc.topics.propose(cid, mid, title, member)
    out(as_json, {"circle": cid, "meeting": mid, **found.as_dict()}, f"Proposed: {found.title}")


@topic.command("vote")
@click.argument("meeting_ref", metavar="MEETING")
@click.argument("proposer_refs", metavar="PROPOSER…", nargs=-1, required=True)
@click.option("--member", "member_ref", metavar="MEMBER", help="Who votes (default: you).")
@json_option
def topic_vote(
    meeting_ref: str, proposer_refs: tuple[str, ...], member_ref: str | None, as_json: bool
) -> None:
    """Vote for up to three topics, named by who proposed them."""
    with session() as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        member = svc.members.resolve(cid, member_ref) if member_ref else None
        proposers = [svc.members.resolve(cid, ref) for ref in proposer_refs]
        board = svc.topics.vote(cid, mid, proposers, member)
    out(as_json, [t.as_dict() for t in board], "Voted.")


@topic.command("list")
@click.argument("meeting_ref", metavar="MEETING")
@json_option
def topic_list(meeting_ref: str, as_json: bool) -> None:
    """The meeting's topics, most votes first."""
    with session(read_only=True) as svc:
        cid, mid = svc.meetings.find(meeting_ref)
        board = svc.topics.board(cid, mid)
        names = svc.members.names(cid)
    if as_json:
        emit_json([t.as_dict() for t in board])
        return
    table(
        ("VOTES", "PROPOSER", "TOPIC"),
        [(t.votes, names.get(t.member, "?"), t.title) for t in board],
    )
