"""`xcircle agreement …`: a circle's ground rules (e.g. "Feedback in minutes")."""

from __future__ import annotations

import click

from xcircle.cli.common import echo, emit_json, json_option, out, session, short, table


@click.group()
def agreement() -> None:
    """List, add and remove a circle's agreements."""


@agreement.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def agreement_list(circle_ref: str, as_json: bool) -> None:
    """A circle's agreements, in order."""
    with session(read_only=True) as svc:
        items = svc.circles.agreements(svc.circles.resolve(circle_ref))
    if as_json:
        emit_json(items)
        return
    table(("ID", "TITLE", "TEXT"), [(short(a["id"]), a["title"], a["text"]) for a in items])


@agreement.command("add")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("title")
@click.argument("text", default="")
@json_option
def agreement_add(circle_ref: str, title: str, text: str, as_json: bool) -> None:
    """Add an agreement. Titled "Feedback in minutes", it lets minutes carry feedback."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        rec = svc.circles.set_agreement(cid, title, text)
    out(as_json, {**rec, "circle": cid}, f"Agreement {short(rec['id'])} added.")


@agreement.command("remove")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("agreement_ref", metavar="AGREEMENT")
@json_option
def agreement_remove(circle_ref: str, agreement_ref: str, as_json: bool) -> None:
    """Remove an agreement (AGREEMENT: id prefix or title prefix)."""
    from xcircle.services.context import pick

    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        low = agreement_ref.strip().lower()
        hits = [
            a
            for a in svc.circles.agreements(cid)
            if a["id"].startswith(low) or a["title"].lower().startswith(low)
        ]
        found = pick(hits, agreement_ref, "agreement", "title")
        svc.circles.remove_agreement(cid, found["id"])
    out(as_json, {**found, "circle": cid, "removed": True}, f"Removed {found['title']}.")


# -- agreements that evolve: amendments decided by consent --------------------------------


@agreement.command("amend")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("agreement_ref", metavar="AGREEMENT")
@click.option("--text", default=None, help="The new wording.")
@click.option("--title", default=None, help="A new title.")
@click.option("--reason", default="", help="Why the circle should change it.")
@json_option
def agreement_amend(
    circle_ref: str,
    agreement_ref: str,
    text: str | None,
    title: str | None,
    reason: str,
    as_json: bool,
) -> None:
    """Propose an amendment (conveners); every member then consents or objects."""
    if text is None and title is None:
        raise click.UsageError("give the new --text, a new --title, or both")
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        key = svc.amendments.resolve_agreement(cid, agreement_ref)
        view = svc.amendments.propose(cid, key, title=title, text=text, reason=reason)
    waiting = ", ".join(view.waiting) or "nobody"
    out(as_json, view.as_dict(), f"Amendment {short(view.id)} proposed; waiting for {waiting}.")


def _vote(amendment_ref: str, consent: bool, note: str, member_ref: str | None) -> None:
    as_json = bool(click.get_current_context().params.get("as_json"))
    with session() as svc:
        cid, key = svc.amendments.find(amendment_ref)
        member = svc.members.resolve(cid, member_ref) if member_ref else None
        view = svc.amendments.vote(cid, key, consent, note=note, member=member)
    if view.status == "agreed":
        line = "Agreed by everyone: the agreement has a new version; please acknowledge it."
    elif view.status == "objected":
        line = "Objection recorded: the amendment is not agreed."
    else:
        line = f"Recorded; waiting for {', '.join(view.waiting)}."
    out(as_json, view.as_dict(), line)


@agreement.command("consent")
@click.argument("amendment_ref", metavar="AMENDMENT")
@click.option("--note", default="", help="A word with your consent.")
@click.option(
    "--member",
    "member_ref",
    default=None,
    metavar="MEMBER",
    help="Record another member's answer (a circle kept on this home only).",
)
@json_option
def agreement_consent(amendment_ref: str, note: str, member_ref: str | None, as_json: bool) -> None:
    """Consent to an amendment (AMENDMENT: id prefix or title prefix)."""
    _vote(amendment_ref, True, note, member_ref)


@agreement.command("object")
@click.argument("amendment_ref", metavar="AMENDMENT")
@click.option("--note", required=True, help="What you object to.")
@click.option(
    "--member",
    "member_ref",
    default=None,
    metavar="MEMBER",
    help="Record another member's answer (a circle kept on this home only).",
)
@json_option
def agreement_object(amendment_ref: str, note: str, member_ref: str | None, as_json: bool) -> None:
    """Object to an amendment, saying why: one objection blocks it."""
    _vote(amendment_ref, False, note, member_ref)


@agreement.command("history")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("agreement_ref", metavar="AGREEMENT")
@json_option
def agreement_history(circle_ref: str, agreement_ref: str, as_json: bool) -> None:
    """An agreement's versions and the amendments proposed to it."""
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref)
        hist = svc.amendments.history(cid, svc.amendments.resolve_agreement(cid, agreement_ref))
    if as_json:
        emit_json(hist.as_dict())
        return
    for v in hist.versions:
        since = f" (agreed {v.since[:10]})" if v.since else ""
        echo(f"v{v.version}{since}: {v.title} — {v.text}")
    for a in hist.amendments:
        votes = ", ".join(f"{v.name} {'consents' if v.consent else 'objects'}" for v in a.votes)
        echo(f"amendment {short(a.id)} ({a.status}) by {a.proposer_name}: {votes}")
        if a.waiting:
            echo(f"  waiting for {', '.join(a.waiting)}")


@agreement.command("ack")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option(
    "--member",
    "member_ref",
    default=None,
    metavar="MEMBER",
    help="Who acknowledges (default: you).",
)
@json_option
def agreement_ack(circle_ref: str, member_ref: str | None, as_json: bool) -> None:
    """Acknowledge the circle's agreements as they stand (asked again after an amendment)."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        member = svc.members.resolve(cid, member_ref) if member_ref else svc.ctx.me(cid)
        if member is None:
            raise click.UsageError("name the --member who acknowledges")
        svc.meetings.acknowledge(cid, member)
        pending = [
            m["name"] for m in svc.members.all(cid) if m["id"] not in svc.meetings.acknowledged(cid)
        ]
    value = {"circle": cid, "member": member, "pending": pending}
    out(as_json, value, "Acknowledged." + (f" Not yet: {', '.join(pending)}." if pending else ""))
