"""Re-pushing a circle's whole history from a convener's device (`xcircle circle reseed`).

Two uses, one command:

- **Upgrade** (the exchange holds the circle in plaintext, epoch 0): start epoch 1 (plain
  pushes are refused from then on), pull the whole log once, re-seal every plaintext op
  under the new epoch and re-push it in place of its plaintext (same seq, same op id, so
  no device pulls anything twice), then have the exchange empty whatever is still plain.
- **Rebuild** (the exchange does not know the circle: its database was lost): create the
  circle again, continue its epoch numbering with the same epoch secret this device
  holds (so every member's device still reads the old ops with the keys it has), and
  re-push this device's copy of the log (`sync/archive.py`) in order. With a complete
  copy the rebuilt log is the old one: same seqs, same bytes, same signatures.

Ops from before encryption were never signed: nobody can sign them as their authors
now. This device re-seals them *vouched* (`crypto.seal_batch(vouched=True)`: signed as
"the history I hold", never as "I wrote this"). A receiver takes vouched ops only as
the circle's leading history (`History`): all vouched by one device, a convener's where
it knows that device, and only before the first op signed by its author. They are as
trustworthy as the plaintext they replace; everything said after the upgrade is signed
by whoever said it. Ops that were sealed are re-pushed byte for byte: their authors'
signatures travel unchanged.
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import click

from sync.archive import FIELDS, Archive
from sync.e2e import (
    OPEN_FAILURES,
    SEALED_FROM,
    envelope,
    open_envelope,
    sharer,
    start_epoch,
)
from sync.history import AUTHORED_FROM, VOUCHED_BY
from sync.protocol import PLAIN_EPOCH, AuthFailed, NotMember, SyncError, sized_groups
from sync.state import Credentials, Gate, direct, require_credentials, shared_circles
from xcircle import crypto, safetext
from xcircle.errors import InvalidInput
from xcircle.keystore import keystore_of
from xcircle.store import Store

if TYPE_CHECKING:
    from sync.client import ExchangeClient
    from sync.e2e import E2E

log = logging.getLogger(__name__)

BATCH = 500  # ops per reseed request (the exchange's push limit)
BATCH_BYTES = 512 * 1024
PULL_LIMIT = 5000


PLAINTEXT_GONE = "plaintext_gone"  # local meta: this circle's plain history was re-sealed


def has_plain_history(meta: dict[str, Any], encrypted: bool) -> bool:
    """An encrypted circle whose log began in plaintext (this device pulled plain ops
    before its first sealed one, or none sealed yet), that no reseed from this device
    has re-sealed yet."""
    if not encrypted or meta.get(PLAINTEXT_GONE) or not meta.get("cursor"):
        return False
    first = meta.get(SEALED_FROM)
    return not isinstance(first, int) or first > 1


@dataclass
class ReseedResult:
    """What a reseed did: `mode` is "upgrade", "rebuild" or "refill"."""

    circle: str
    mode: str
    epoch: int
    pushed: int = 0
    vouched: int = 0
    purged: int = 0
    unrecoverable: list[int] = field(default_factory=list)  # seqs nobody can re-push

    def to_dict(self) -> dict[str, Any]:
        return {
            "circle": self.circle,
            "mode": self.mode,
            "epoch": self.epoch,
            "pushed": self.pushed,
            "vouched": self.vouched,
            "purged": self.purged,
            "unrecoverable": self.unrecoverable,
        }


# -- re-pushing -----------------------------------------------------------------------------


def reseed_circle(
    store: Store, client: ExchangeClient, cid: str, *, on_store: Gate = direct
) -> ReseedResult:
    """Upgrade a plaintext circle, or rebuild it on an exchange that lost it (see the
    module docstring). A convener's action; safe to run again."""
    me, convener = sharer(store, cid, on_store)
    if me is None:
        raise InvalidInput("this circle is not shared from this device: nothing to reseed")
    if not convener:
        raise InvalidInput("only a convener can reseed a circle")
    device = on_store(partial(require_credentials, store)).device_id
    try:
        epoch = client.circle(cid).get("epoch")
    except NotMember:
        return _rebuild(store, client, cid, me, device, on_store)
    if epoch == PLAIN_EPOCH:
        return upgrade(store, client, cid, device=device, on_store=on_store)
    if not isinstance(epoch, int):
        raise SyncError("the exchange did not say the circle's epoch")
    ks = on_store(partial(keystore_of, store))
    if has_plain_history(
        on_store(partial(store.meta, cid)), bool(on_store(partial(ks.epochs, cid)))
    ):
        return upgrade(store, client, cid, device=device, on_store=on_store)
    result = ReseedResult(cid, "refill", epoch)
    _repush(store, client, cid, on_store, result)
    return result


def upgrade(
    store: Store, client: ExchangeClient, cid: str, *, device: str, on_store: Gate
) -> ReseedResult:
    """Move a plaintext circle to epoch ≥ 1 (unless it is there already: encrypted by
    `circle encrypt`, its history still plain) and leave no plaintext on the exchange."""
    ks = on_store(partial(keystore_of, store))
    if not on_store(partial(ks.epochs, cid)) or client.circle(cid).get("epoch") == PLAIN_EPOCH:
        start_epoch(store, client, cid, device_id=device, on_store=on_store)
    # The oldest epoch this device holds: whoever joined after it (and reads only from
    # their joining on) never gets the key to what was said before.
    epoch = on_store(partial(ks.epochs, cid))[0]
    result = ReseedResult(cid, "upgrade", epoch)
    archive = Archive(store.home, cid)
    log_now = _pull_all(client, cid)  # after the rekey: no plaintext can join it any more
    archive.keep(log_now)
    legacy = [e for e in log_now if e.get("epoch") == PLAIN_EPOCH and e.get("payload")]
    key = _key(store, cid, epoch, on_store)
    keys = on_store(ks.device_keys)
    for group in _chunks([(e["op_id"], _b64(e["payload"])) for e in legacy]):
        sealed = crypto.seal_batch(key, keys, group, vouched=True)
        envs = [envelope(s) for s in sealed]
        archive.keep(_reseed(client, cid, envs))
        result.vouched += len(envs)
        result.pushed += len(envs)
    result.purged = client.purge_plaintext(cid)
    on_store(partial(store.set_meta, cid, **{PLAINTEXT_GONE: True}))
    log.info("circle %s upgraded to epoch %d: %d op(s) re-sealed", cid[:8], epoch, result.pushed)
    return result


def _rebuild(
    store: Store, client: ExchangeClient, cid: str, me: str, device: str, on_store: Gate
) -> ReseedResult:
    """The exchange does not know the circle: create it again at its old epoch, re-push
    this device's copy of the log."""
    client.create_circle(cid, me)  # 409 if it exists without this device: not ours to rebuild
    ks = on_store(partial(keystore_of, store))
    keys = on_store(ks.device_keys)
    held = on_store(partial(ks.epochs, cid))
    if held:
        epoch = held[-1]
        secret = on_store(partial(ks.epoch_secret, cid, epoch))
        assert secret is not None  # listed by the keystore
        wraps = crypto.wrap_epoch(keys, cid, epoch, secret, {device: keys.public})
        client.rekey(cid, 0, {d: crypto.b64(w) for d, w in wraps.items()}, epoch=epoch)
    else:  # a plaintext circle: rebuilt encrypted at once
        epoch = start_epoch(store, client, cid, device_id=device, on_store=on_store)
    result = ReseedResult(cid, "rebuild", epoch)
    _repush(store, client, cid, on_store, result)
    return result


def _repush(
    store: Store, client: ExchangeClient, cid: str, on_store: Gate, result: ReseedResult
) -> None:
    """Re-push the archived log in seq order: the leading history from before
    encryption re-vouched by this device, every sealed op after it byte for byte. The
    archive is rewritten with the seqs the exchange gave."""
    archive = Archive(store.home, cid)
    # After enrolling again (`rejoined`) the log was set aside: it is what to re-push.
    entries = {**archive.set_aside_entries(), **archive.entries()}
    result.unrecoverable = [s for s in range(1, max(entries, default=0) + 1) if s not in entries]
    ks = on_store(partial(keystore_of, store))
    keys = on_store(ks.device_keys)
    verifier = crypto.Verifier()
    epochs = on_store(partial(ks.epochs, cid))
    if not epochs:
        raise SyncError("this device holds no key of the circle: it cannot re-seal its history")
    vouch_key = _key(store, cid, epochs[0], on_store)
    plan: list[tuple[str, Any]] = []  # ("vouch", (op_id, op json)) or ("as is", envelope)
    history = True
    for seq in sorted(entries):
        e = entries[seq]
        epoch, payload = e.get("epoch"), e.get("payload")
        if epoch == PLAIN_EPOCH:
            if payload and history:
                plan.append(("vouch", (e["op_id"], _b64(payload))))
            else:
                result.unrecoverable.append(seq)  # purged, or plaintext slipped in later
            continue
        if history and isinstance(epoch, int):
            opened = _open(store, cid, epoch, e, verifier, on_store)
            if opened is not None and opened.vouched:
                plan.append(("vouch", (e["op_id"], opened.op_json)))
                continue
        history = False
        plan.append(("as is", {k: e[k] for k in FIELDS}))
    new_seqs: list[dict[str, Any]] = []
    for kind, group in _runs(plan):
        if kind == "vouch":
            envs = [envelope(s) for s in crypto.seal_batch(vouch_key, keys, group, vouched=True)]
            result.vouched += len(envs)
        else:
            envs = group
        new_seqs.extend(_reseed(client, cid, envs))
        result.pushed += len(envs)
    result.unrecoverable.sort()
    archive.set_aside()  # the log as the exchange now numbers it
    archive.keep(new_seqs)
    # This device holds all it re-pushed: no need to pull it back.
    last = max((e["seq"] for e in new_seqs if isinstance(e["seq"], int)), default=0)
    on_store(partial(store.set_meta, cid, cursor=last))


def _reseed(client: ExchangeClient, cid: str, envs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Re-push `envs`; returns them with the seq the exchange gave each (for the archive)."""
    answer = client.reseed(cid, envs)
    seqs = {r["op_id"]: r["seq"] for r in answer.get("results") or []}
    return [{**env, "seq": seqs.get(env["op_id"])} for env in envs]


def _open(
    store: Store, cid: str, epoch: int, e: dict[str, Any], verifier: crypto.Verifier, gate: Gate
) -> crypto.Opened | None:
    key = _maybe_key(store, cid, epoch, gate)
    if key is None:
        return None
    try:
        return open_envelope(verifier, key, str(e.get("op_id")), e)
    except OPEN_FAILURES:
        return None


# -- after a rebuild: devices enrol again ---------------------------------------------------

REINVITE_TTL_S = 7 * 24 * 3600  # the exchange's longest: people re-enroll at their pace


def reinvite(
    store: Store, client: ExchangeClient, cid: str, *, on_store: Gate = direct
) -> list[dict[str, Any]]:
    """After a rebuild: an invite for every other member of the circle, each for the
    member id they had (the rebuilt exchange holds none of them), so their devices come
    back as themselves: `[{member, name, org, code}]`. This device confirms them on its
    next syncs like any join: the bundle must open with the invite's key and carry the
    keys the exchange registered; the circle's records already know those keys."""
    from sync.protocol import make_invite_code
    from xcircle.ops import new_id

    me = on_store(partial(store.meta, cid)).get("me")
    ks = on_store(partial(keystore_of, store))
    out = []
    for member in sorted(on_store(partial(store.records, cid, "member")), key=lambda m: m["id"]):
        if member["id"] == me:
            continue
        invite = crypto.Invite.new()
        answer = client.invite(cid, REINVITE_TTL_S, token=invite.token, member_id=member["id"])
        record = {
            "member": member["id"],
            "join_key": crypto.b64(invite.join_key),
            "expires": answer.get("expires_at"),
            # For `sync.joins`: the invite is for a member the circle already has.
            "device": True,
        }
        on_store(partial(ks.save_invite, cid, new_id(), record))
        code = make_invite_code(invite.code, client.base_url)
        name, org = member.get("name", ""), member.get("org", "")
        out.append({"member": member["id"], "name": name, "code": code, "org": org})
    return out


def lost_by_exchange(creds: Credentials, url: str, **options: Any) -> bool:
    """True when the exchange at `url` (this device's own) no longer knows this device's
    token: its database was lost and rebuilt, so enrolling again is the way back in."""
    from sync.client import ExchangeClient

    if creds.url != url:
        return False
    try:
        with ExchangeClient(url, creds.token, **options) as client:
            client.me()
    except AuthFailed:
        return True
    return False


def rejoined(store: Store) -> None:
    """This device enrolled again with a rebuilt exchange: each shared circle is pulled
    again from the start once a convener has reseeded it and let this device back in
    (merging is idempotent, nothing applies twice); the log it kept is set aside, so
    what the rebuilt exchange lacks of it can be pushed again (`restore`)."""
    for cid in shared_circles(store):
        archive = Archive(store.home, cid)
        archive.set_aside()
        fresh = {"cursor": 0, VOUCHED_BY: None, AUTHORED_FROM: None, SEALED_FROM: None}
        store.set_meta(cid, **fresh)


def restore(e2e: E2E, cid: str, exchange_epoch: int) -> int | None:
    """After a rebuild, once this device is back in the circle and has pulled it all:
    push again every op of its old log that the rebuilt exchange lacks (those that
    reached the old exchange after the reseeding device last pulled). A sealed op is
    re-encrypted under the current epoch with its author's signature unchanged (a batch
    record like an op, before the ops that name it), so any member's device may carry
    anyone's op. Returns how many were pushed (None: not yet,
    this device holds no key of the current epoch yet)."""
    store, client, on_store = e2e.store, e2e.client, e2e.gate
    archive = Archive(store.home, cid)
    old = archive.set_aside_entries()
    current = _maybe_key(store, cid, exchange_epoch, on_store)
    if current is None:
        e2e.fetch_wraps(cid)  # let back in by a new epoch no op has used yet
        current = _maybe_key(store, cid, exchange_epoch, on_store)
    if current is None:
        return None
    have = {e.get("op_id") for e in archive.entries().values()}
    verifier = crypto.Verifier()
    envs: list[dict[str, Any]] = []
    count = 0  # ops (their records not counted)
    for seq in sorted(old):
        e = old[seq]
        epoch = e.get("epoch")
        if not isinstance(epoch, int) or epoch == PLAIN_EPOCH:
            continue  # plaintext: re-vouched by the reseed, if anyone
        # Opened even when on the exchange: a batch record gives the verifier the
        # signature of the ops after it (and goes first, if it is missing too).
        opened = _open(store, cid, epoch, e, verifier, on_store)
        if e.get("op_id") in have:
            continue
        if opened is None or opened.vouched:
            log.info("circle %s: op %s of the old log cannot be pushed again", cid[:8], seq)
            continue
        envs.append(envelope(crypto.reseal(current, e["op_id"], opened.plain)))
        count += not opened.record
    for _, group in _runs([("as is", env) for env in envs]):
        client.push(cid, group)
    archive.old_path.unlink(missing_ok=True)
    return count


# -- helpers --------------------------------------------------------------------------------


def _maybe_key(store: Store, cid: str, epoch: int, gate: Gate) -> crypto.EpochKey | None:
    ks = gate(partial(keystore_of, store))
    secret = gate(partial(ks.epoch_secret, cid, epoch))
    return None if secret is None else crypto.EpochKey(cid, epoch, secret)


def _key(store: Store, cid: str, epoch: int, gate: Gate) -> crypto.EpochKey:
    key = _maybe_key(store, cid, epoch, gate)
    if key is None:
        raise SyncError(f"this device has no key for epoch {epoch} of the circle")
    return key


def _b64(text: Any) -> bytes:
    return binascii.a2b_base64(text if isinstance(text, str) else "", strict_mode=True)


def _chunks(pairs: list[tuple[str, bytes]]) -> Iterator[list[tuple[str, bytes]]]:
    """Ops to re-seal, in request-sized groups (sealed, in base64, with path and JSON)."""
    return sized_groups(pairs, lambda pair: len(pair[1]) * 4 // 3 + 1000, BATCH, BATCH_BYTES)


def _runs(plan: list[tuple[str, Any]]) -> Iterator[tuple[str, list[Any]]]:
    """The plan in request-sized runs of one kind, in order."""
    for kind, run in groupby(plan, key=itemgetter(0)):
        items = [item for _, item in run]
        if kind == "vouch":
            yield from ((kind, g) for g in _chunks(items))
        else:
            envs = sized_groups(items, lambda env: len(env["payload"]) + 200, BATCH, BATCH_BYTES)
            yield from ((kind, g) for g in envs)


def _pull_all(client: ExchangeClient, cid: str) -> list[dict[str, Any]]:
    """The circle's whole log as the exchange holds it now (the store's cursor stays)."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        batch = (client.pull({cid: after}, PULL_LIMIT).get("circles") or {}).get(cid)
        if not isinstance(batch, dict):
            raise NotMember("the exchange no longer lets this device into the circle")
        ops = [e for e in batch.get("ops") or [] if isinstance(e, dict)]
        out.extend(ops)
        nxt = batch.get("next")
        if batch.get("more") is not True or not isinstance(nxt, int) or nxt == after:
            return out
        after = nxt


# -- the command ------------------------------------------------------------------------------


@click.command("reseed")
@click.argument("circle_ref", metavar="CIRCLE")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON value instead of text.")
def reseed_command(circle_ref: str, as_json: bool) -> None:
    """Re-push a circle's whole history from this device (conveners): encrypt what the
    exchange still holds in plaintext, or rebuild the circle on an exchange that lost it."""
    from sync.engine import connect
    from sync.engine import sync as run_sync
    from xcircle.cli.common import out, session, warn

    with session() as svc:
        cid = svc.circles.resolve(circle_ref)
        with connect(svc.store) as client:
            try:
                if svc.store.meta(cid).get("shared"):
                    run_sync(svc.store, client, circles=[cid])  # push what waits first
                result = reseed_circle(svc.store, client, cid)
            except AuthFailed as exc:
                raise AuthFailed(
                    f"{exc}; if the exchange lost its data, enroll this device again "
                    "(xcircle join URL NEW-TOKEN), then reseed"
                ) from None
            invites = reinvite(svc.store, client, cid) if result.mode == "rebuild" else []
            run_sync(svc.store, client, circles=[cid])
    if result.unrecoverable:
        warn(
            f"{len(result.unrecoverable)} op(s) of the old log were never on this device or "
            "were emptied: the devices that have them push them again when they sync"
        )
    text = {
        "upgrade": f"Encrypted from epoch {result.epoch}; re-sealed {result.pushed} op(s), "
        f"{result.purged} left in plaintext emptied.",
        "rebuild": f"Rebuilt on the exchange at epoch {result.epoch}: re-pushed "
        f"{result.pushed} op(s). Send each member their code (they run `xcircle join` "
        "again with a new enrollment token, then `xcircle accept CODE`):"
        + "".join(
            f"\n  {safetext.line(i['name'])} ({safetext.line(i['org'])}): {i['code']}"
            for i in invites
        ),
        "refill": f"Re-pushed {result.pushed} op(s) at epoch {result.epoch}.",
    }[result.mode]
    out(as_json, {**result.to_dict(), "invites": invites}, text)
