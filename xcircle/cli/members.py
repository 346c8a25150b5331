"""`xcircle member …`: add, list and remove a circle's members."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from xcircle.cli.common import UserError, emit_json, json_option, out, session, short, table, warn
from xcircle.domain import ROLES, SENIORITIES
from xcircle.errors import XCircleError

if TYPE_CHECKING:
    from xcircle.services import Services


@click.group()
def member() -> None:
    """Add, list and remove a circle's members."""


@member.command("add")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("name")
@click.option("--org", required=True, help="The member's organization.")
@click.option("--seniority", type=click.Choice(SENIORITIES), help="The member's seniority.")
@click.option("--topic", "topics", multiple=True, help="A topic they bring (repeatable).")
@json_option
def member_add(
    circle_ref: str,
    name: str,
    org: str,
    seniority: str | None,
    topics: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add a member to a circle."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        rec = svc.members.add(cid, name, org=org, seniority=seniority, topics=topics)
    out(as_json, rec, f"Added {rec['name']} ({rec['org']}) as {short(rec['id'])}.")


@member.command("list")
@click.argument("circle_ref", metavar="CIRCLE")
@json_option
def member_list(circle_ref: str, as_json: bool) -> None:
    """List a circle's members in the order they joined."""
    with session(read_only=True) as svc:
        cid = svc.circles.resolve(circle_ref)
        devices = svc.members.devices(cid)
        members = [
            {**m, "role": svc.members.role(cid, m["id"]), "devices": devices.get(m["id"], [])}
            for m in svc.members.all(cid)
        ]
        me = svc.ctx.me(cid)
    if as_json:
        emit_json(members)
        return
    rows = [
        (
            short(m["id"]),
            m["name"] + (" (you)" if m["id"] == me else ""),
            m["org"],
            m["role"],
            m.get("seniority") or "-",
            ", ".join(d["fingerprint"] for d in m["devices"]) or "-",
        )
        for m in members
    ]
    table(("ID", "NAME", "ORGANIZATION", "ROLE", "SENIORITY", "FINGERPRINTS"), rows)


@member.command("role")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("member_ref", metavar="MEMBER")
@click.argument("role", type=click.Choice(ROLES))
@json_option
def member_role(circle_ref: str, member_ref: str, role: str, as_json: bool) -> None:
    """Make a member a convener, or a member again (conveners only)."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        mid = svc.members.resolve(cid, member_ref)
        rec = svc.members.set_role(cid, mid, role)
        exchange = "not shared"
        if svc.circles.is_shared(cid):
            exchange = tell_exchange_role(svc, cid, mid, role)
    value = {**rec, "role": role, "exchange": exchange}
    out(as_json, value, f"{rec['name']} is now a {role}.")


def tell_exchange_role(svc: Services, circle: str, member: str, role: str) -> str:
    """Tell the exchange a member's new role (it checks removals against it)."""
    try:
        from sync.commands import set_role_remote
    except ImportError:
        warn("the exchange was not told (sync is not available in this build)")
        return "not told"
    try:
        told = set_role_remote(svc.store, circle, member, role)
    except XCircleError as exc:
        raise UserError(f"changed on this device, but the exchange was not told: {exc}") from None
    return "told" if told else "not on the exchange"


@member.command("remove")
@click.argument("circle_ref", metavar="CIRCLE")
@click.argument("member_ref", metavar="MEMBER")
@json_option
def member_remove(circle_ref: str, member_ref: str, as_json: bool) -> None:
    """Remove a member (for good); a shared circle also tells the exchange."""
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        mid = svc.members.resolve(cid, member_ref)
        name = svc.members.names(cid)[mid]
        svc.members.remove(cid, mid)
        exchange = "not shared"
        if svc.circles.is_shared(cid):
            exchange = tell_exchange(svc, cid, mid)
    removed = {"circle": cid, "removed": mid, "name": name, "exchange": exchange}
    out(as_json, removed, f"Removed {name} from the circle.")


def tell_exchange(svc: Services, circle: str, member: str) -> str:
    """Tell the exchange a member left a shared circle (new epoch without them)."""
    try:
        from sync.commands import remove_member_remote
    except ImportError:
        warn("the exchange was not told (sync is not available in this build); run it later")
        return "not told"
    try:
        remove_member_remote(svc.store, circle, member)
    except XCircleError as exc:
        raise UserError(f"removed on this device, but the exchange was not told: {exc}") from None
    return "told"
