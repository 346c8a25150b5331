"""Joining an encrypted circle, both ends, as a step of every sync (after the pull).

The inviter's device makes a random invite secret (`xcircle.crypto.Invite`), registers
the token derived from it with the exchange for the member id the joiner will get, and
keeps the *join key* derived from it: in its keystore, and, in an encrypted circle, in
an `invite` record of the circle (sealed like every op: members read it, the exchange
cannot), so that any convener's device can confirm the join. The code carries the secret.

The joiner redeems the token with its *join bundle*: its device id and public keys, and
its name, organization and node sealed under the join key (the exchange sees no name).
In an encrypted circle the exchange keeps it pending; the joiner's syncs say it waits
for a convener's device to confirm (`CircleReport.waiting`), and, once confirmed, pull
the circle from where its key starts.

A convener's device, when a pull says joins are pending (`CircleReport.joins`), opens
each bundle with the circle's invite keys. A bundle that opens with no invite, whose
keys or device are not those the exchange registered, or whose member id is not the
invite's, is refused and reported (never confirmed). For the others it adds the joiner's
member record (a new member) and device record, signed by this convener's device,
starts a new epoch wrapped for every device including the joiners' (the exchange admits
them on that rekey), and hands the circle's current records over into it (`handover`):
the joiner reads from its joining on, and nothing said before.
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from sync.protocol import NotMember, SyncError
from sync.state import members_by_join
from xcircle.domain import validate_fields
from xcircle.errors import XCircleError
from xcircle.ops import DELETED, Op, new_id
from xcircle.services.members import is_convener
from xcircle.store import Store

if TYPE_CHECKING:
    from sync.client import ExchangeClient
    from sync.engine import _Run
    from sync.state import Gate
    from xcircle import crypto

log = logging.getLogger(__name__)

JOINING = "joining"  # local meta of a circle this device waits to be confirmed in
HANDOVER = "handover_due"  # local meta: the epoch whose hand-over is still to push
# What a joiner needs to take part: the circle as it stands now. Past rounds, feedback,
# pulses, check-ins, commitments and individual goals stay with those who were there.
UPCOMING = ("planned", "running")


# -- inviting ------------------------------------------------------------------------------


def make_invite(
    store: Store,
    client: ExchangeClient,
    circle: str,
    ttl_seconds: int,
    *,
    device: bool = False,
    on_store: Gate,
) -> dict[str, Any]:
    """Register a new invite with the exchange (its token only) and keep its join key:
    `{code (the secret part), member, expires_at}`. `device`: the invite is for another
    device of my own member, else for a new member (a fresh id)."""
    from xcircle import crypto
    from xcircle.keystore import keystore_of

    meta = on_store(partial(store.meta, circle))
    me = meta.get("me")
    if not isinstance(me, str):
        raise SyncError("you are not a member of this circle on this device")
    invite = crypto.Invite.new()
    member = me if device else new_id()
    answer = client.invite(circle, ttl_seconds, token=invite.token, member_id=member)
    expires = answer.get("expires_at")
    if not isinstance(expires, int):
        raise SyncError("the exchange answered the invite without an expiry")
    invite_id = new_id()
    join_key = crypto.b64(invite.join_key)
    ks = on_store(partial(keystore_of, store))
    record = {"member": member, "join_key": join_key, "expires": expires, "device": device}
    on_store(partial(ks.save_invite, circle, invite_id, record))
    if on_store(partial(ks.epochs, circle)):  # sealed: only members ever read it
        fields = {"member": member, "join_key": join_key, "by": me, "expires": _iso(expires)}
        on_store(partial(_apply, store, [store.op(circle, "invite", invite_id, fields)]))
    return {"code": invite.code, "member": member, "expires_at": expires}


def join_bundle(store: Store, invite: crypto.Invite, device_id: str) -> str:
    """This device's join bundle for an invite, as the base64 the exchange keeps."""
    from xcircle import crypto
    from xcircle.keystore import keystore_of

    profile = store.require_profile()
    public = keystore_of(store).device_keys().public
    fields = {
        "device_id": device_id,
        "name": str(profile["name"]),
        "org": str(profile["org"]),
        "node": str(profile["node"]),
        **public.to_json(),
    }
    raw = orjson.dumps(crypto.make_join_bundle(invite, fields), option=orjson.OPT_SORT_KEYS)
    return base64.b64encode(raw).decode("ascii")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _apply(store: Store, ops: list[Op]) -> None:
    store.apply(ops)


# -- the sync step -------------------------------------------------------------------------


def before_push(run: _Run, metas: dict[str, dict[str, Any]]) -> None:
    """Finish a hand-over a previous sync could not push (lost connection, crash), before
    anything else is pushed: a joiner must read the hand-over (this device's record
    first) before what this device signs after it."""
    for cid, meta in metas.items():
        due = meta.get(HANDOVER)
        if isinstance(due, int) and run.e2e is not None:
            try:
                _handover(run, cid, due)
            except SyncError as exc:
                rep = run.report.circle(cid)
                rep.error = f"hand-over: {exc}"
                run.report.warnings.append(f"circle {cid[:8]}: {rep.error}")


def after_pull(run: _Run, metas: dict[str, dict[str, Any]]) -> None:
    """The join step of a sync (see the module docstring), circle by circle; a failure
    is reported for its circle and never stops the sync."""
    pending: list[str] | None = None
    for cid, meta in metas.items():
        rep = run.report.circles.get(cid)
        if rep is None:
            continue
        try:
            if meta.get(JOINING):
                if rep.denied and pending is None:
                    pending = _pending_circles(run.client)
                _joiner(run, cid, meta, pending or [])
            elif not rep.denied and run.e2e is not None and rep.joins:
                _convener(run, cid, meta)
        except SyncError as exc:
            rep.error = f"join: {exc}"
            run.report.warnings.append(f"circle {cid[:8]}: {rep.error}")


def _pending_circles(client: ExchangeClient) -> list[str]:
    found = client.me().get("pending")
    return [c for c in found if isinstance(c, str)] if isinstance(found, list) else []


def _joiner(run: _Run, cid: str, meta: dict[str, Any], pending: list[str]) -> None:
    """This device waits to be let into `cid`: say so, or, once in, say it joined."""
    rep, store, gate = run.report.circles[cid], run.store, run.gate
    if rep.denied:
        if cid in pending:
            rep.denied, rep.waiting = False, True
            run.report.notices.append(
                f"circle {cid[:8]}: waiting for a convener's device to confirm your joining "
                f"(your fingerprint {_my_fingerprint(run)}: compare it with them)"
            )
        else:
            run.report.warnings.append(
                f"circle {cid[:8]}: your joining was not confirmed (the invite was withdrawn "
                "or its maker left); ask for a new invite"
            )
        return
    me = meta.get("me")
    if not isinstance(me, str) or gate(partial(store.get, cid, "member", me)) is None:
        rep.waiting = True  # let in; the circle's records are on their way
        return
    gate(partial(store.set_meta, cid, **{JOINING: None}))
    circle = gate(partial(store.get, cid, "circle", cid))
    name = circle["name"] if circle else cid[:8]
    run.report.notices.append(
        f"You joined {name} · this device's fingerprint {_my_fingerprint(run)}"
    )


def _my_fingerprint(run: _Run) -> str:
    return run.e2e.keys.public.fingerprint if run.e2e else "unknown"


# -- confirming ------------------------------------------------------------------------------


class _Invites:
    """The join keys this device can open bundles with, for one circle: its own invites
    (keystore) and the circle's invite records (any member's invites, sealed)."""

    def __init__(self, store: Store, cid: str, own: dict[str, dict[str, Any]]) -> None:
        from xcircle import crypto

        self.keys: list[tuple[str, str, bytes, bool]] = []  # (id, member, key, own device?)
        seen: set[str] = set()
        for invite_id, rec in own.items():
            try:
                key = crypto.unb64(rec.get("join_key"), crypto.KEY_BYTES, "join key")
            except crypto.CryptoError:
                continue
            self.keys.append((invite_id, str(rec.get("member")), key, bool(rec.get("device"))))
            seen.add(invite_id)
        for rec in store.records(cid, "invite"):
            if rec["id"] in seen:
                continue
            key = crypto.unb64(rec["join_key"], crypto.KEY_BYTES, "join key")
            device = rec.get("by") == rec.get("member")
            self.keys.append((rec["id"], str(rec.get("member")), key, device))

    def open(self, raw: bytes) -> tuple[str, str, bool, crypto.JoinBundle] | None:
        """(invite id, its member id, for a second device?, the opened bundle), or None."""
        from xcircle import crypto

        try:
            bundle = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        for invite_id, member, key, device in self.keys:
            try:
                return invite_id, member, device, crypto.verify_join_bundle(key, bundle)
            except crypto.CryptoError:
                continue
        return None


def _convener(run: _Run, cid: str, meta: dict[str, Any]) -> None:
    """Confirm the circle's pending joins this device can vouch for (a convener's
    device of an encrypted circle)."""
    from sync.e2e import start_epoch
    from xcircle.keystore import keystore_of

    store, gate, client, e2e = run.store, run.gate, run.client, run.e2e
    assert e2e is not None
    me = meta.get("me")
    ks = gate(partial(keystore_of, store))
    if not isinstance(me, str) or not gate(partial(ks.epochs, cid)):
        return  # a plain circle: the exchange lets joiners in at once
    if not gate(partial(_is_convener, store, cid, me)):
        return  # a member's invite waits for a convener's device
    info = client.circle(cid)
    invites = gate(partial(_Invites, store, cid, gate(partial(ks.invites, cid))))
    confirmed: list[tuple[dict[str, Any], str, crypto.JoinBundle]] = []
    for join in info.get("joins") or []:
        verdict = _check(gate, store, cid, invites, join)
        if isinstance(verdict, str):
            run.report.warnings.append(f"circle {cid[:8]}: {verdict}: not confirmed")
            continue
        confirmed.append((join, *verdict))
    if not confirmed:
        return
    ops = gate(partial(_join_ops, store, cid, me, confirmed))
    gate(partial(_apply, store, ops))
    devices = {str(j["device_id"]) for j, _, _ in confirmed}
    epoch = start_epoch(store, client, cid, device_id="", on_store=gate, confirm=devices)
    used = [invite_id for _, invite_id, _ in confirmed]
    gate(partial(_apply, store, gate(partial(_used_invites, store, cid, used))))
    for invite_id in used:
        gate(partial(ks.forget_invite, cid, invite_id))
    _handover(run, cid, epoch)
    for _, _, bundle in confirmed:
        run.report.notices.append(
            f"{bundle.name} ({bundle.org}) joined · fingerprint {bundle.keys.fingerprint}"
        )
    run._push_circle(cid, gate(partial(store.meta, cid)))  # their records, under the new epoch


def _is_convener(store: Store, cid: str, member: str) -> bool:
    return is_convener(members_by_join(store, cid), member)


def _check(
    gate: Gate, store: Store, cid: str, invites: _Invites, join: Any
) -> tuple[str, crypto.JoinBundle] | str:
    """The invite id and opened bundle of a pending join, or why it is refused."""
    from xcircle import crypto

    if not isinstance(join, dict):
        return "a pending join is malformed"
    device, member = str(join.get("device_id", ""))[:64], str(join.get("member_id", ""))[:64]
    who = f"the join of device {device[:8]}"
    try:
        raw = base64.b64decode(str(join.get("bundle") or ""), validate=True)
    except (binascii.Error, ValueError):
        return f"{who} has no readable bundle"
    opened = invites.open(raw)
    if opened is None:
        return f"{who} does not open with any invite of this circle (tampered or forged)"
    invite_id, invited, second_device, bundle = opened
    if bundle.device_id != device:
        return f"{who} carries another device's bundle"
    try:
        registered = crypto.PublicKeys.from_json(join)
    except crypto.CryptoError:
        return f"{who} has no keys on the exchange"
    if registered != bundle.keys:
        return f"{who}: its keys differ from those the exchange registered"
    if member != invited:
        return f"{who} claims member id {member[:8]}, but the invite was for {invited[:8]}"
    try:
        validate_fields("member", {"name": bundle.name, "org": bundle.org})
        validate_fields("device", {"member": member, "node": bundle.node})
    except XCircleError:
        return f"{who} names its person, organization or node with characters not allowed"
    exists = gate(partial(store.get, cid, "member", member)) is not None
    known = gate(partial(store.get, cid, "device", bundle.keys.key_id))
    if known is not None and known.get("member") == member:
        return invite_id, bundle  # confirmed before, but its rekey did not go through
    if exists and not second_device:
        return f"{who} claims the id of an existing member"
    if not exists and second_device:
        return f"{who} is for a device of a member who is no longer here"
    return invite_id, bundle


def _join_ops(
    store: Store, cid: str, me: str, confirmed: list[tuple[dict[str, Any], str, crypto.JoinBundle]]
) -> list[Op]:
    """The joiners' member records (new members) and device records, signed by this
    device."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    ops = []
    for join, _, bundle in confirmed:
        member = str(join["member_id"])
        if store.get(cid, "member", member) is None:
            fields = {"name": bundle.name, "org": bundle.org, "joined": now, "role": "member"}
            ops.append(store.op(cid, "member", member, fields))
        device = {"member": member, "node": bundle.node, **bundle.keys.to_json(), "name": ""}
        if store.get(cid, "device", bundle.keys.key_id) is None:
            ops.append(store.op(cid, "device", bundle.keys.key_id, device))
    return ops


def _used_invites(store: Store, cid: str, invite_ids: list[str]) -> list[Op]:
    """Deletions of the invite records a confirmation used (once its rekey went through:
    until then another convener's device may need them to try again)."""
    return [
        store.op(cid, "invite", i, {DELETED: True})
        for i in invite_ids
        if store.get(cid, "invite", i) is not None
    ]


# -- the hand-over -------------------------------------------------------------------------


def _handover(run: _Run, cid: str, epoch: int) -> None:
    """Push the circle's current records into `epoch` as hand-over ops, so its joiners
    can take part (see the architecture page, "Hand-over"). The intent is kept in the
    circle's meta first: a sync that dies half-way finishes it next time."""
    store, gate, e2e = run.store, run.gate, run.e2e
    assert e2e is not None
    gate(partial(store.set_meta, cid, **{HANDOVER: epoch}))
    key = e2e.epoch_key(cid, epoch)
    current = e2e.current(cid)
    if key is None or current is None or current.epoch != epoch:
        gate(partial(store.set_meta, cid, **{HANDOVER: None}))  # a later epoch took over
        return
    ops = gate(partial(handover_ops, store, cid, e2e.keys.public.key_id))
    try:
        for batch in run._batches(ops, key):
            run._push_batch(cid, batch)
    except NotMember:
        run.report.circles[cid].denied = True
        return
    gate(partial(store.set_meta, cid, **{HANDOVER: None}))


def handover_ops(store: Store, cid: str, my_device: str) -> list[Op]:
    """The circle's current charter, agreements, members, devices, upcoming meetings
    and group goals as ops of this device: new op ids, each field's own stamp (so a
    replica that has it already changes nothing), this device's node as author. This
    device's own record comes first, then its member record: a joiner's device trusts
    the signer on first use of that record, as it would any member's first device."""
    node = str(store.require_profile()["node"])
    me = store.meta(cid).get("me")
    members = {m["id"] for m in store.records(cid, "member")}
    order: list[tuple[str, str]] = [("device", my_device), ("member", str(me))]
    for d in store.records(cid, "device"):
        if d["member"] in members:
            order.append(("device", d["id"]))
    for m in sorted(members):
        order.append(("member", m))
    order.append(("circle", cid))
    order += [("agreement", a["id"]) for a in store.records(cid, "agreement")]
    order += [
        ("meeting", m["id"])
        for m in store.records(cid, "meeting")
        if m.get("status", "planned") in UPCOMING
    ]
    order += [("goal", g["id"]) for g in store.records(cid, "goal") if not g.get("owner")]
    # Invites, open or used (tombstones too): conveners confirm from them, and a used
    # one's record then reads the same on every replica.
    invites = store.raw_records(cid, "invite")
    order += [("invite", key) for key in sorted(invites)]
    ops: list[Op] = []
    done: set[tuple[str, str]] = set()
    for entity, key in order:
        if (entity, key) in done:
            continue
        done.add((entity, key))
        raw = store.raw(cid, entity, key)
        if raw is None or ("_d" in raw and entity != "invite"):
            continue
        by_stamp: dict[str, dict[str, Any]] = {}
        for name, stamp in (raw.get("_h") or {}).items():
            if name in raw:
                by_stamp.setdefault(stamp, {})[name] = raw[name]
        for stamp in sorted(by_stamp):
            ops.append(Op(new_id(), cid, entity, key, stamp, node, by_stamp[stamp]))
        if "_d" in raw:
            ops.append(Op(new_id(), cid, entity, key, raw["_d"], node, {DELETED: True}))
    return ops
