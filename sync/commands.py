"""The sync use cases, and the click commands `xcircle` mounts lazily for them.

`join`, `invite`, `accept`, `sync`, `status` and `circle share` are thin click wrappers
over plain functions (`enroll`, `share_circle`, `invite_code`, `accept_invite`,
`remove_member_remote`) that tests and the TUI call with their own client. Every error
is an `XCircleError`: `xcircle` prints it as one line on stderr and exits 1.

Invite codes look like `xci_…@https://exchange`: the `xci_…` part alone works on any
device joined to the same exchange (the normal case, since a device joins one exchange);
the URL only lets `accept` explain a code meant for another exchange.
"""

from __future__ import annotations

import logging
import platform
import re
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import click

from sync.e2e import REKEY_DUE, encrypt_circle, rekey_if_encrypted
from sync.engine import connect, my_member_id
from sync.engine import sync as run_sync
from sync.protocol import (
    ENROLL_PREFIX,
    SECRET_PREFIX,
    AuthFailed,
    ExchangeUnreachable,
    InvalidRequest,
    NotMember,
    ProtocolError,
    SyncError,
    make_invite_code,
    normalize_url,
    parse_invite_code,
)
from sync.reseed import lost_by_exchange, rejoined
from sync.state import (
    Credentials,
    Gate,
    SyncReport,
    credentials,
    direct,
    mark_shared,
    move_exchange,
    queue_removal,
    require_credentials,
    save_credentials,
)
from sync.state import status as sync_status
from xcircle import safetext
from xcircle.errors import InvalidInput
from xcircle.ops import new_id
from xcircle.store import Store

if TYPE_CHECKING:
    from sync.client import ExchangeClient
    from xcircle.services import Services

log = logging.getLogger(__name__)

DEFAULT_INVITE_TTL = "72h"  # the exchange accepts at most 7 days
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# -- use cases -----------------------------------------------------------------------------


def enroll(
    store: Store,
    url: str,
    token: str,
    *,
    name: str = "",
    on_store: Gate = direct,
    **options: Any,
) -> Credentials:
    """Enrol this device with an exchange and keep its credentials in the profile DB.

    `on_store` runs each store call where the store lives (see `sync.engine.Gate`)."""
    from sync.client import ExchangeClient

    current = on_store(partial(credentials, store))
    if current is not None and not lost_by_exchange(current, normalize_url(url), **options):
        raise SyncError(f"this device already joined {current.url} (organization {current.org})")
    token = token.strip()
    if not token.startswith(ENROLL_PREFIX):
        raise InvalidRequest("an enrollment token starts with xce_ (ask your organization)")
    url = normalize_url(url)
    device = _device_name(name)
    insecure = options.get("insecure_http") is True
    if "ca_file" not in options:
        ca_file = on_store(partial(store.setting, "ca_file"))
        options["ca_file"] = ca_file if isinstance(ca_file, str) and ca_file else None
    public = on_store(partial(_public_keys, store))
    with ExchangeClient(url, token, **options) as client:
        try:
            answer = client.enroll(device, public)
        except AuthFailed:
            raise AuthFailed(
                "the exchange did not accept this enrollment token: it was already used, "
                "has expired or was revoked; ask your organization for a new one"
            ) from None
    try:
        creds = Credentials(url, answer["token"], answer["device_id"], answer["org_name"], insecure)
    except KeyError:
        raise ProtocolError("the exchange answered the enrollment without a token") from None
    on_store(partial(save_credentials, store, creds))
    if current is not None:
        on_store(partial(rejoined, store))  # a rebuilt exchange: pull every circle afresh
    return creds


def _public_keys(store: Store) -> dict[str, str]:
    from xcircle.keystore import keystore_of

    return keystore_of(store).device_keys().public.to_json()


def device_secrets(store: Store) -> dict[str, Any]:
    """This device's keys (made on first use, at `join` as at `init`), where secrets
    are kept, and the first run's notice saying so (None after it)."""
    from xcircle.keystore import keystore_of

    ks = keystore_of(store)
    keys = ks.device_keys()
    return {**ks.info(), "fingerprint": keys.public.fingerprint, "notice": ks.first_run_notice()}


def share_circle(
    store: Store, client: ExchangeClient, circle: str, *, on_store: Gate = direct
) -> SyncReport:
    """Create `circle` on the exchange with me as its member, encrypted from the start
    (epoch 1, wrapped for this device), then push all of it, sealed.

    Local ops stay in the outbox until acked, so the first sync pushes everything this
    device ever did in the circle. Sharing again is harmless (the exchange answers 200).
    """
    from sync.e2e import publish_device, start_epoch
    from xcircle.keystore import keystore_of

    meta = on_store(partial(store.meta, circle))
    me = meta.get("me")
    if not isinstance(me, str):
        raise InvalidInput("you are not a member of this circle on this device")
    client.create_circle(circle, me)
    on_store(partial(mark_shared, store, circle, me))
    ks = on_store(partial(keystore_of, store))
    if not on_store(partial(ks.epochs, circle)) and client.circle(circle).get("epoch") == 0:
        on_store(partial(publish_device, store, circle))  # what the epoch is checked against
        device = on_store(partial(require_credentials, store)).device_id
        start_epoch(store, client, circle, device_id=device, on_store=on_store)
    return run_sync(store, client, circles=[circle], on_store=on_store)


def invite_code(
    store: Store,
    client: ExchangeClient,
    circle: str,
    ttl_seconds: int,
    *,
    device: bool = False,
    on_store: Gate = direct,
) -> dict[str, Any]:
    """A single-use invite code for a shared circle: `{code, circle, member,
    expires_at}`. The code carries a random secret (never a key); the exchange gets only
    a token derived from it. `device`: for another device of my own member."""
    from sync.joins import make_invite

    if not on_store(partial(store.meta, circle)).get("shared"):
        raise InvalidInput("share the circle first: xcircle circle share CIRCLE")
    made = make_invite(store, client, circle, ttl_seconds, device=device, on_store=on_store)
    if on_store(partial(store.pending, circle)):
        # The sealed invite record reaches the circle now: any convener can confirm.
        run_sync(store, client, circles=[circle], on_store=on_store)
    return {
        "code": make_invite_code(made["code"], client.base_url),
        "circle": circle,
        "member": made["member"],
        "expires_at": made["expires_at"],
    }


def accept_invite(
    services: Services,
    client: ExchangeClient,
    text: str,
    device_id: str,
    *,
    on_store: Gate = direct,
) -> dict[str, Any]:
    """Join the invite's circle: redeem with this device's join bundle, then pull.

    In an encrypted circle the join waits (`status` "pending") until a convener's
    device confirms it on its next sync; this device's syncs then bring the circle in.
    In a plain circle (shared before encryption) it is a member at once, pulls
    everything and adds itself as a member. The member id is the one the invite was
    made for, so an accept run again never makes a second me.
    """
    from sync.joins import JOINING, join_bundle
    from xcircle import crypto

    store = services.store
    profile = on_store(store.require_profile)
    code, url = parse_invite_code(text)
    if url is not None and url != client.base_url:
        raise InvalidRequest(
            f"this invite is for the exchange {url}, but this device joined {client.base_url}"
        )
    if code.startswith(SECRET_PREFIX):
        try:
            invite = crypto.Invite.parse(code)
        except crypto.CryptoError as exc:
            raise InvalidRequest(f"{exc} (ask the inviter to copy it whole)") from None
        bundle = on_store(partial(join_bundle, store, invite, device_id))
        answer = client.redeem(invite.token, bundle=bundle)
    else:  # an older code the exchange minted
        answer = client.redeem(code, new_id())
    cid = answer.get("circle_id")
    if not isinstance(cid, str):
        raise ProtocolError("the exchange answered the redeem without a circle id")
    if answer.get("status") == "pending":
        waiting = str(answer.get("member_id"))
        on_store(partial(mark_shared, store, cid, waiting))
        on_store(partial(store.set_meta, cid, **{JOINING: True}))
        report = run_sync(store, client, circles=[cid], on_store=on_store)
        return {
            "circle": cid,
            "name": "",
            "member": waiting,
            "added": False,
            "status": "pending",
            "fingerprint": on_store(partial(device_secrets, store))["fingerprint"],
            "report": report.to_dict(),
        }
    me = my_member_id(client, cid, device_id)
    if me is None:
        raise ProtocolError("the exchange does not list this device in the circle")
    on_store(partial(mark_shared, store, cid, me))
    report = run_sync(store, client, circles=[cid], on_store=on_store)
    added = False
    if on_store(partial(store.get, cid, "member", me)) is None:
        add = partial(
            services.members.add,
            cid,
            profile["name"],
            org=profile["org"],
            seniority=profile.get("seniority"),
            key=me,
        )
        on_store(add)
        added = True
        second = run_sync(store, client, circles=[cid], on_store=on_store)
        report.circles[cid].pushed += second.circles[cid].pushed
        report.warnings.extend(second.warnings)
    record = on_store(partial(store.get, cid, "circle", cid))
    return {
        "circle": cid,
        "name": record["name"] if record else "",
        "member": me,
        "added": added,
        "status": "member",
        "report": report.to_dict(),
    }


def remove_member_remote(
    store: Store,
    circle: str,
    member_id: str,
    *,
    client: ExchangeClient | None = None,
    on_store: Gate = direct,
) -> bool:
    """Tell the exchange `member_id` left a shared circle (the CLI and the app call this
    after a local member removal). The intent is saved first: when the exchange cannot be
    reached it stays queued and the next sync tells it. True if told now."""
    meta = on_store(partial(store.meta, circle))
    if not meta.get("shared") or on_store(partial(credentials, store)) is None:
        return False
    on_store(partial(queue_removal, store, circle, member_id, queued=True))
    # Until the new epoch is made, this device pushes nothing more (sync rekeys first).
    on_store(partial(store.set_meta, circle, **{REKEY_DUE: True}))
    try:
        with nullcontext(client) if client else connect(store) as link:
            try:
                link.remove_member(circle, member_id)
            except NotMember:
                pass  # never on the exchange (a member added by hand), or already removed
            on_store(partial(queue_removal, store, circle, member_id, queued=False))
            # An encrypted circle: what is said from now on is for the remaining devices.
            rekey_if_encrypted(store, link, circle, on_store=on_store)
            on_store(partial(store.set_meta, circle, **{REKEY_DUE: False}))
    except ExchangeUnreachable as exc:
        log.warning("member removal queued for the next sync: %s", exc)
        return False
    return True


def set_role_remote(
    store: Store,
    circle: str,
    member_id: str,
    role: str,
    *,
    client: ExchangeClient | None = None,
    on_store: Gate = direct,
) -> bool:
    """Tell the exchange a member's new role in a shared circle (it enforces who may
    remove whom from it); True if told. A member the exchange does not know (added by
    hand, never joined) is fine: receivers check roles from the signed ops anyway."""
    meta = on_store(partial(store.meta, circle))
    if not meta.get("shared") or on_store(partial(credentials, store)) is None:
        return False
    with nullcontext(client) if client else connect(store) as link:
        try:
            link.set_role(circle, member_id, role)
        except NotMember:
            return False
    return True


def rotate_token(store: Store, client: ExchangeClient, *, on_store: Gate = direct) -> Credentials:
    """Get a new token for this device and keep it; the old one stops working at once."""
    creds = on_store(partial(require_credentials, store))
    token = client.rotate_token()
    new = replace(creds, token=token)  # kept where the token lives: the keystore
    on_store(partial(save_credentials, store, new))
    return new


def set_exchange_url(store: Store, url: str) -> Credentials:
    """`xcircle setting exchange_url URL`: the exchange moved; keep the token."""
    return move_exchange(store, normalize_url(url))


def _device_name(name: str) -> str:
    name = re.sub(r"[\x00-\x1f\x7f]", "", name or platform.node() or "device").strip()
    return name[:100] or "device"


def parse_ttl(text: str) -> int:
    """`90m`, `12h`, `7d`, `3600` → seconds (the exchange accepts 60 s … 7 days)."""
    m = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text)
    if not m:
        raise InvalidInput(f"invalid duration {text!r} (use e.g. 90m, 12h, 7d)")
    seconds = int(m.group(1)) * _TTL_UNITS[m.group(2)]
    if not 60 <= seconds <= 7 * 86400:
        raise InvalidInput("an invite is valid between 60s and 7d")
    return seconds


# -- click commands --------------------------------------------------------------------------

# `xcircle.cli.json_option`, not imported: that would load every CLI module into the TUI's
# sync worker, which imports this module too.
_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON value instead of text."
)


def _out(as_json: bool, value: Any, text: str) -> None:
    from xcircle.cli.common import out

    out(as_json, value, text)


def _warn_report(report: SyncReport) -> None:
    from xcircle.cli import warn

    for line in report.warnings:
        warn(line)
    for cid, rep in report.circles.items():
        if rep.denied:
            warn(f"circle {cid[:8]}: the exchange no longer lets this device in (removed?)")
        for op_id, reason in rep.quarantined:
            warn(f"circle {cid[:8]}: op {op_id[:8]} quarantined: {reason}")
        if rep.error:
            warn(f"circle {cid[:8]}: {rep.error}")


def _when(ms: int | None) -> str:
    if not ms:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@click.command()
@click.argument("url")
@click.argument("token", metavar="ENROLLMENT-TOKEN")
@click.option("--name", default="", help="This device's name (default: the host name).")
@click.option(
    "--insecure-http",
    is_flag=True,
    hidden=True,
    help="Allow a plain http:// exchange that is not on this machine (tests only).",
)
@_json_option
def join(url: str, token: str, name: str, insecure_http: bool, as_json: bool) -> None:
    """Enroll this device with the exchange at URL (token from your organization)."""
    from xcircle.cli import session

    with session(need_profile=False) as svc:
        secrets = device_secrets(svc.store)
        creds = enroll(svc.store, url, token, name=name, insecure_http=insecure_http)
    value = {
        "exchange": creds.url,
        "org": creds.org,
        "device_id": creds.device_id,
        "fingerprint": secrets["fingerprint"],
        "secrets": secrets["where"],
    }
    text = f"Joined {creds.url} as a device of {creds.org}."
    if secrets["notice"]:
        text += "\n" + secrets["notice"]
    _out(as_json, value, text + f"\nThis device's fingerprint: {secrets['fingerprint']}")


@click.command()
@click.argument("circle_ref", metavar="CIRCLE")
@_json_option
def share(circle_ref: str, as_json: bool) -> None:
    """Share a circle through the exchange and push everything in it."""
    from xcircle.cli import session

    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        with connect(svc.store) as client:
            report = share_circle(svc.store, client, cid)
    _warn_report(report)
    pushed = report.circles[cid].pushed
    _out(as_json, {"circle": cid, **report.to_dict()}, f"Shared; pushed {pushed} change(s).")


@click.command()
@click.argument("circle_ref", metavar="CIRCLE")
@_json_option
def encrypt(circle_ref: str, as_json: bool) -> None:
    """Encrypt a shared circle end to end from now on (conveners)."""
    from xcircle.cli import session

    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        with connect(svc.store) as client:
            epoch = encrypt_circle(svc.store, client, cid, on_store=direct)
    _out(as_json, {"circle": cid, "epoch": epoch}, f"Encrypted from epoch {epoch} on.")


@click.command()
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--ttl", default=DEFAULT_INVITE_TTL, show_default=True, help="Valid for: 90m, 12h…")
@click.option("--device", is_flag=True, help="For another device of yours, not a new member.")
@_json_option
def invite(circle_ref: str, ttl: str, device: bool, as_json: bool) -> None:
    """Print a single-use invite code for a shared circle.

    The code looks like `xcs_…@https://exchange`: it carries a random secret (the
    exchange never sees it). The invitee runs `xcircle accept CODE` on a device joined
    to the same exchange; a convener's device confirms the join on its next sync."""
    from xcircle.cli import session

    seconds = parse_ttl(ttl)
    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        with connect(svc.store) as client:
            value = invite_code(svc.store, client, cid, seconds, device=device)
    _out(as_json, value, value["code"])


@click.command()
@click.argument("code")
@_json_option
def accept(code: str, as_json: bool) -> None:
    """Accept an invite code: join its circle and download it."""
    from xcircle.cli import session

    with session() as svc:
        creds = require_credentials(svc.store)
        with connect(svc.store) as client:
            value = accept_invite(svc, client, code, creds.device_id)
    if value["status"] == "pending":
        text = (
            f"Waiting for a convener's device to confirm your joining of circle "
            f"{value['circle'][:8]}; `xcircle sync` brings it in once confirmed.\n"
            f"This device's fingerprint: {value['fingerprint']} (compare it with the "
            "one the convener sees)"
        )
    else:
        text = f"Joined circle {value['name'] or value['circle'][:8]}."
    _out(as_json, value, text)


@click.command()
@click.option(
    "--watch",
    is_flag=True,
    help="Keep following the exchange: sync whenever others push (live), one line per "
    "applied batch, until Ctrl-C.",
)
@click.option(
    "--interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(1, 86400),
    help="With --watch: seconds between syncs when the exchange has no live sync.",
)
@_json_option
def sync(watch: bool, interval: float, as_json: bool) -> None:
    """Push local changes and pull everyone else's, for every shared circle."""
    from xcircle.cli import session

    if watch:
        from sync.watch import watch as follow

        try:
            with session() as svc, connect(svc.store) as client:
                follow(svc.store, client, as_json=as_json, interval_s=interval)
        except KeyboardInterrupt:  # a second Ctrl-C during a sync: the store is closed
            pass
        return
    with session() as svc, connect(svc.store) as client:
        report = run_sync(svc.store, client)
    _warn_report(report)
    text = "".join(f"{safetext.line(n)}\n" for n in report.notices)
    text += (
        f"Synced {len(report.circles)} circle(s): pushed {report.pushed}, "
        f"merged {report.merged}, pending {report.pending}."
    )
    _out(as_json, report.to_dict(), text)


@click.command("rotate-token")
@_json_option
def rotate_token_command(as_json: bool) -> None:
    """Replace this device's exchange token with a new one (the old one stops working)."""
    from xcircle.cli import session

    with session(need_profile=False) as svc, connect(svc.store) as client:
        creds = rotate_token(svc.store, client)
    value = {"exchange": creds.url, "device_id": creds.device_id}
    _out(as_json, value, f"New token saved for {creds.url}; the old one no longer works.")


@click.command()
@_json_option
def status(as_json: bool) -> None:
    """Show the exchange, the last sync and what waits to sync (no network)."""
    from xcircle.cli.common import echo, session, table

    with session(need_profile=False, read_only=True) as svc:
        value = sync_status(svc.store)
    if as_json:
        _out(True, value, "")
        return
    if value["secrets"]:
        echo(f"Secrets: kept {value['secrets']['detail']}")
        echo(f"Fingerprint: {value['fingerprint'] or 'no keys yet (xcircle init)'}")
    else:
        echo("Secrets: none yet (xcircle init makes this device's keys)")
    if not value["joined"]:
        echo("Not joined to an exchange (xcircle join URL TOKEN).")
        return
    echo(f"Exchange: {value['exchange']} ({value['org']})")
    echo(f"Last sync: {_when(value['last_sync'])}")
    if value["last_error"]:
        echo(f"Last error: {safetext.line(value['last_error'])}")
    rows = [
        (
            c["id"][:8],
            c["name"],
            c["pending"],
            c["held"],
            c["quarantined"],
            "removed" if c["denied"] else "waiting" if c["waiting"] else "ok",
        )
        for c in value["circles"]
    ]
    if rows:
        table(("CIRCLE", "NAME", "PENDING", "HELD", "QUARANTINED", "STATE"), rows)
