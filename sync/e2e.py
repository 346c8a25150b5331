"""End-to-end encryption in sync: sealing pushed ops, checking pulled ones, epochs.

A circle is encrypted from the epoch (≥ 1) a convener's device starts for it
(`start_epoch`); from then on every op travels as an envelope of `xcircle.crypto`,
sealed under the circle's current epoch and batch-signed by this device. A pulled
envelope passes, in order: the AEAD (circle, epoch, op id, every byte), the batch
signature, that the op inside is the envelope's (same id and circle), that the signing
device belongs to the op's author (device records, themselves signed ops of the
circle), and that the author may make that change (`Trust`). Anything else is
quarantined with its reason and the sync goes on.

Epoch secrets come only as wraps for this device (`GET /circles/{c}/epoch`), checked
against the rekeyer's signature, and are kept in the keystore; a wrap is fetched when
a pulled op needs an epoch this device lacks, or when the exchange refuses a push as
under a retired epoch (the outbox is then sealed again under the current one).
"""

from __future__ import annotations

import binascii
import logging
from collections.abc import Callable, Collection, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson

from sync.history import History
from sync.protocol import (
    BATCH_RECORD,
    BEFORE_JOINING,
    PLAIN_EPOCH,
    Decoded,
    SyncError,
    decode_envelope,
)
from sync.state import Gate, cursor_of, members_by_join, require_credentials
from xcircle import crypto
from xcircle.domain import CONVENER, PROGRAMME_FIELDS
from xcircle.errors import InvalidOp
from xcircle.hlc import Stamp
from xcircle.keystore import Keystore, keystore_of
from xcircle.ops import Op, new_id
from xcircle.services.members import is_convener
from xcircle.store import Store

if TYPE_CHECKING:
    from sync.client import ExchangeClient

log = logging.getLogger(__name__)

REKEY_TRIES = 5
SEALED_FROM = "sealed_from"  # local meta: seq of the first sealed op pulled
# local meta: a removal was made here and its new epoch is still to be started (a lost
# request or answer); the next sync starts it before it pushes anything
REKEY_DUE = "rekey_due"
UNKNOWN_SIGNER = "signed by a device that is not in this circle"
# local meta: how many device records the circle had when this device last opened again
# the ops it had set aside as signed by an unknown device (`E2E.reconsider`)
RECONSIDERED = "reconsidered_at_devices"
REMOVED_AT = "removed_at"  # local meta: member → seq of this device's removal of them
# Records whose change `Trust._may` checks (roles, devices, agreements and their
# amendments, consents, the circle record's programme fields); the rest is content, which
# only needs its author's device.
_GUARDED = frozenset({"member", "device", "agreement", "amendment", "consent", "circle"})


class Trust:
    """Who may sign what in one circle: its members (roles, removals) and devices,
    read from the store once and updated as checked ops pass, in log order (the same
    order on every receiver, so every receiver decides alike)."""

    def __init__(self, store: Store, circle: str) -> None:
        meta = store.meta(circle)
        # A removal counts from its place in the log, like every other op: this device's
        # own removal of someone counts once the pull has brought it back (its seq is
        # then kept in REMOVED_AT), not while it is only in the local store, or the ops
        # that member pushed before it (still to be pulled here) would be refused here
        # and accepted everywhere else.
        self._cursor = cursor_of(meta)
        self._removed_at: dict[str, int] = dict(meta.get(REMOVED_AT) or {})
        self._node = (store.profile or {}).get("node")
        live = store.records(circle, "member")
        self.members: dict[str, dict[str, Any]] = {
            m["id"]: {"id": m["id"], "joined": m.get("joined", ""), "role": m.get("role")}
            for m in live
        }
        self.removed: set[str] = set()
        self._unknown: set[str] = set()
        self._store, self._circle = store, circle
        # Ed25519 key (base64) → (member id, node: the `author` its ops carry)
        self.devices: dict[str, tuple[str, str]] = {}
        for d in store.records(circle, "device"):
            self.devices[d["ed25519"]] = (d["member"], d.get("node", ""))

    def _is_removed(self, member: str) -> bool:
        if member in self.removed:
            return True
        if member in self.members or member in self._unknown:
            return False
        raw = self._store.raw(self._circle, "member", member)
        if raw is not None and raw.get("_d") and self._pulled(member, str(raw["_d"])):
            self.removed.add(member)
            return True
        self._unknown.add(member)  # no record (yet): asked once per batch
        return False

    def _pulled(self, member: str, stamp: str) -> bool:
        """Is the removal stamped `stamp` before this batch in the log? Another device's
        ops reach this store only by pulls; this device's own, once pulled back."""
        if Stamp.parse(stamp).node != self._node:
            return True
        at = self._removed_at.get(member)
        return at is not None and at <= self._cursor

    def plain_content(self, signer: str, author: str, entity: str) -> bool:
        """The common case, without building an Op: content (not a member, device or
        agreement record) signed by a known device of its author, who was not removed.
        True means `check` would accept it and change nothing in the trust state."""
        owner = self.devices.get(signer)
        return (
            owner is not None
            and owner[1] == author
            and entity not in _GUARDED
            and not self._is_removed(owner[0])
        )

    def convener(self, member: str) -> bool:
        ordered = sorted(self.members.values(), key=lambda m: (m["joined"], m["id"]))
        return is_convener(ordered, member)

    def check(self, signer: str, op: Op, seq: int | None = None) -> str | None:
        """Why `op`, signed by the device key `signer`, is refused; None if accepted
        (and then the trust state takes it in). `seq`: its place in the log."""
        owner = self.devices.get(signer)
        if owner is None:
            member = self._introduces_itself(signer, op)
            if member is None:
                return UNKNOWN_SIGNER
        else:
            member, node = owner
            if node != op.author:
                return "signed by a device of another author"
        if self._is_removed(member):
            return "its author was removed from the circle"
        reason = self._may(member, op)
        if reason is None:
            self._take(op, seq)
        return reason

    def _introduces_itself(self, signer: str, op: Op) -> str | None:
        """A member's first device may sign its own record (trust on first use; its
        fingerprint is what people compare); returns that member. Any later device
        needs a device the circle already knows."""
        f = op.fields
        member = f.get("member")
        if op.entity != "device" or f.get("ed25519") != signer or f.get("node") != op.author:
            return None
        if not isinstance(member, str) or any(m == member for m, _ in self.devices.values()):
            return None
        return member

    def _may(self, member: str, op: Op) -> str | None:
        """`member` (the author, as its device says) may make this change?"""
        entity, f = op.entity, op.fields
        if entity in ("agreement", "amendment") and not self.convener(member):
            return "only a convener may amend agreements"
        if entity == "consent" and f.get("member") != member:
            return "a member consents or objects only for themselves"
        if entity == "device" and f.get("member", member) != member and not self.convener(member):
            return "only a convener may add another member's device"
        if entity == "circle" and PROGRAMME_FIELDS & f.keys() and not self.convener(member):
            return "only a convener may change what the circle reports to its programme"
        if entity != "member":
            return None
        target = op.key
        if op.is_delete:
            if target != member and not self.convener(member):
                return "only a convener may remove another member"
            return None
        if "role" in f and not self.convener(member):
            nobody = not any(m["role"] == CONVENER for m in self.members.values())
            if not (target == member and nobody and f["role"] == CONVENER):
                return "only a convener may change roles"
        if target != member and not self.convener(member):
            return "only a convener may add or edit another member"
        return None

    def knows_a_convener_device(self) -> bool:
        return any(self.convener(member) for member, _ in self.devices.values())

    def accept(self, op: Op, seq: int | None = None) -> None:
        """Take an op in without the checks (vouched history, see `sync.reseed`)."""
        self._take(op, seq)

    def _take(self, op: Op, seq: int | None) -> None:
        f = op.fields
        if op.entity == "device" and isinstance(f.get("ed25519"), str):
            self.devices[f["ed25519"]] = (str(f.get("member")), str(f.get("node")))
        elif op.entity == "member":
            if op.is_delete:
                self.removed.add(op.key)
                self.members.pop(op.key, None)
                if seq is not None and op.author == self._node:
                    self._removed_at[op.key] = seq
                    removed_at = dict(self._removed_at)
                    self._store.set_meta(self._circle, **{REMOVED_AT: removed_at})
                return
            m = self.members.setdefault(op.key, {"id": op.key, "joined": "", "role": None})
            if "joined" in f:
                m["joined"] = f["joined"]
            if "role" in f:
                m["role"] = f["role"]


class E2E:
    """This device's end of the encryption for one sync (see the module docstring)."""

    def __init__(self, store: Store, client: ExchangeClient, gate: Gate, device_id: str) -> None:
        self.store, self.client, self.gate, self.device_id = store, client, gate, device_id
        self.keystore: Keystore = gate(partial(keystore_of, store))
        self.keys = gate(self.keystore.device_keys)
        self.verifier = crypto.Verifier()
        self._fetched: set[str] = set()
        self._signers: dict[bytes, str] = {}  # Ed25519 key → its base64 (Trust's key)
        self._pushed: dict[str, dict[str, Op]] = {}  # circle → op id → op sealed by this sync
        self._records: dict[str, set[str]] = {}  # circle → batch records this sync pushed
        # circle → its archived envelopes by op id (read once, when a record is missing)
        self._archived: dict[str, dict[str, Any]] = {}
        self._sought: set[tuple[str, str]] = set()  # (circle, record id) looked up

    # -- epochs --------------------------------------------------------------------------

    def current(self, cid: str) -> crypto.EpochKey | None:
        """The newest epoch this device holds for a circle (None: a plain circle)."""
        epochs = self.gate(partial(self.keystore.epochs, cid))
        return self.epoch_key(cid, epochs[-1]) if epochs else None

    def epoch_key(self, cid: str, epoch: int) -> crypto.EpochKey | None:
        secret = self.gate(partial(self.keystore.epoch_secret, cid, epoch))
        return crypto.EpochKey(cid, epoch, secret) if secret else None

    def fetch_wraps(self, cid: str) -> int:
        """Ask the exchange for this device's wraps of a circle (once per sync) and
        keep the secrets whose rekeyer's signature checks out; returns the current
        epoch as the exchange says."""
        answer = self.client.epoch(cid)
        self._fetched.add(cid)
        devices = self.gate(partial(_device_keys, self.store, cid))
        for item in answer.get("wraps") or []:
            if not isinstance(item, dict) or not isinstance(item.get("epoch"), int):
                continue
            epoch = item["epoch"]
            try:
                wrap = crypto.unb64(item.get("wrap"), None, "wrap")
                statement = crypto.unwrap_epoch(self.keys, cid, epoch, self.device_id, wrap)
            except crypto.CryptoError as exc:
                log.warning("circle %s epoch %d: %s", cid[:8], epoch, exc)
                continue
            signer = crypto.b64(statement.signer)
            if devices and signer not in devices and statement.signer != self.keys.public.ed25519:
                log.warning("circle %s epoch %d: rekeyed by an unknown device", cid[:8], epoch)
                continue
            self.gate(partial(self.keystore.save_epoch, cid, epoch, statement.secret))
        current = answer.get("epoch")
        return current if isinstance(current, int) else PLAIN_EPOCH

    # -- push ----------------------------------------------------------------------------

    def seal(
        self, key: crypto.EpochKey, ops: list[Op], encoded: dict[str, bytes] | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Envelopes for a push batch, sealed under the epoch: its batch record (one
        signature, a new id) and each op's. `encoded`: op id → `op.to_bytes()`, when
        the caller already has them."""
        raw = encoded or {}
        pairs = [(op.id, raw.get(op.id) or op.to_bytes()) for op in ops]
        record, *sealed = crypto.seal_push(key, self.keys, new_id(), pairs)
        return envelope(record), [envelope(s) for s in sealed]

    def pushed(self, cid: str, ops: Iterable[Op], records: Iterable[str] = ()) -> None:
        """Sealed ops and batch records this sync pushed and the exchange holds: when
        the pull brings them back, they are taken from here instead of opened (the same
        op, already applied here; whatever bytes the exchange sends under our op id,
        ours stand)."""
        self._pushed.setdefault(cid, {}).update((op.id, op) for op in ops)
        self._records.setdefault(cid, set()).update(records)

    # -- pull ----------------------------------------------------------------------------

    def reconsider(self, cid: str) -> list[tuple[str, Op]]:
        """The ops set aside as signed by a device the circle did not know, opened again
        (from this device's copy of the log, `sync.archive`) once the circle knows more
        devices; returns those that now pass every check. The race this closes: another
        member's device pushes under a new epoch in the instant between a convener's
        rekey that admits a joiner and its hand-over, which brings the joiner that
        device's record. Tried again only when a device record arrived since the last
        try, so a forged op costs one look, not one per sync."""

        waiting = {
            q["id"]
            for q in self.gate(partial(self.store.quarantine, cid))
            if q.get("reason") == UNKNOWN_SIGNER
        }
        if not waiting:
            return []
        known = self.gate(partial(self.store.count, cid, "device"))
        if known <= self.gate(partial(self.store.meta, cid)).get(RECONSIDERED, 0):
            return []
        self.gate(partial(self.store.set_meta, cid, **{RECONSIDERED: known}))
        kept = self._read_log(cid)
        decode = self.decoder(cid)
        released: list[tuple[str, Op]] = []
        for _, env in sorted(kept.items()):
            if env.get("op_id") not in waiting:
                continue
            d = decode(env)
            if d.op is not None and d.payload:
                released.append((d.op_id, d.op))
        return released

    def decoder(self, cid: str) -> Callable[[Any], Decoded]:
        """A `decode_envelope` for one circle's pulled batch, with the trust checks;
        the circle's trust state is read once and follows the batch."""
        trust = self.gate(partial(Trust, self.store, cid))
        history = History(self.store, cid, self.gate)
        # The seq of the circle's first sealed op: the exchange refuses plain pushes once a
        # circle has an epoch, so a plain op after it was slipped in (quarantined).
        sealed_from: list[int | None] = [self.gate(partial(self.store.meta, cid)).get(SEALED_FROM)]
        keys: dict[int, crypto.EpochKey | None] = {}
        mine = self._pushed.get(cid, {})
        my_records = self._records.get(cid, set())
        me = crypto.b64(self.keys.public.ed25519)
        before: dict[int, bool] = {}  # epochs without a key here: from before my joining?

        def decode(env: Any) -> Decoded:
            # The hot path of an encrypted pull (100k ops): plain lookups, no copies.
            epoch = env.get("epoch") if type(env) is dict else None
            if epoch == PLAIN_EPOCH or type(epoch) is not int:
                d = decode_envelope(env)
                first = sealed_from[0]
                if d.payload is not None and first is not None and d.seq > first:
                    return Decoded(d.seq, d.op_id, None, "plain op in an encrypted circle")
                return d
            seq, op_id = env.get("seq"), env.get("op_id")
            if type(seq) is not int or type(op_id) is not str:
                seq, op_id = _shape(env)  # or ProtocolError
            if sealed_from[0] is None:
                sealed_from[0] = seq
                self.gate(partial(self.store.set_meta, cid, **{SEALED_FROM: seq}))
            key = keys.get(epoch)
            if key is None:
                if epoch not in keys:
                    keys[epoch] = key = self.epoch_key(cid, epoch)
                    if key is None and cid not in self._fetched:
                        self.fetch_wraps(cid)
                        keys[epoch] = key = self.epoch_key(cid, epoch)
                    if key is None:  # before this device was given any key?
                        held = self.gate(partial(self.keystore.epochs, cid))
                        before[epoch] = bool(held) and epoch < held[0]
                if key is None:
                    if before[epoch]:  # said before this device joined: not meant for it
                        return Decoded(seq, op_id, None, BEFORE_JOINING)
                    return Decoded(seq, op_id, None, f"no key for epoch {epoch} on this device")
            own = mine.pop(op_id, None)
            if own is None and op_id in my_records:
                my_records.discard(op_id)
                return Decoded(seq, op_id, None, BATCH_RECORD)
            if own is not None:  # pushed by this sync: checked like any op, not opened
                if not trust.plain_content(me, own.author, own.entity):
                    reason = trust.check(me, own, seq)
                    if reason is not None:
                        return Decoded(seq, op_id, None, reason)
                history.authored(seq)
                return Decoded(seq, op_id, b"", None, own)
            return self._open(trust, history, key, seq, op_id, env)

        return decode

    def _open(
        self,
        trust: Trust,
        history: History,
        key: crypto.EpochKey,
        seq: int,
        op_id: str,
        env: dict[str, Any],
    ) -> Decoded:
        try:
            nonce = binascii.a2b_base64(env.get("nonce", ""), strict_mode=True)
            payload = binascii.a2b_base64(env.get("payload", ""), strict_mode=True)
            try:
                opened = self.verifier.open(key, op_id, nonce, payload)
            except crypto.MissingRecord as missing:  # pulled by an earlier sync
                self._find_record(key.circle, missing.record_id)
                opened = self.verifier.open(key, op_id, nonce, payload)
            if opened.record:
                return Decoded(seq, op_id, None, BATCH_RECORD)
            data = orjson.loads(opened.op_json)
        except OPEN_FAILURES as exc:
            return Decoded(seq, op_id, None, str(exc) or "envelope does not open")
        try:  # parsed once: the store takes this Op (and checks its fields' schema)
            op = Op.from_dict(data, json_keys=True)
        except InvalidOp as exc:
            return Decoded(seq, op_id, None, f"op inside is invalid: {exc}")
        if op.id != op_id or op.circle != key.circle:
            return Decoded(seq, op_id, None, "op inside is not the envelope's (replayed)")
        signer = self._signers.get(opened.signer)
        if signer is None:
            signer = self._signers[opened.signer] = crypto.b64(opened.signer)
        if opened.vouched:  # history from before encryption, re-sealed by a convener
            reason = history.check(trust, seq, signer, op)
            if reason is not None:
                return Decoded(seq, op_id, None, reason)
            return Decoded(seq, op_id, opened.op_json, None, op)
        if not trust.plain_content(signer, op.author, op.entity):
            reason = trust.check(signer, op, seq)
            if reason is not None:
                return Decoded(seq, op_id, None, reason)
        history.authored(seq)
        return Decoded(seq, op_id, opened.op_json, None, op)

    def _read_log(self, cid: str) -> dict[int, dict[str, Any]]:
        """This device's copy of a circle's log (`sync.archive`), by seq; kept by op id
        for `_find_record`."""
        from sync.archive import Archive

        kept = self.gate(Archive(self.store.home, cid).entries)
        self._archived[cid] = {str(e.get("op_id")): e for e in kept.values()}
        return kept

    def _find_record(self, cid: str, record_id: str) -> None:
        """Take in a batch record pulled by an earlier sync, from this device's copy of
        the log (read once per circle and sync, and each record sought once: an op
        naming a record nobody pushed costs a lookup, not a read of the log)."""
        if (cid, record_id) in self._sought:
            return
        self._sought.add((cid, record_id))
        if cid not in self._archived:
            self._read_log(cid)
        env = self._archived[cid].get(record_id)
        epoch = env.get("epoch") if env is not None else None
        key = self.epoch_key(cid, epoch) if type(epoch) is int and epoch > 0 else None
        if env is None or key is None:
            return
        try:
            open_envelope(self.verifier, key, record_id, env)
        except OPEN_FAILURES as exc:
            log.warning("circle %s: batch record %s: %s", cid[:8], record_id[:8], exc)


# What opening a pulled or kept envelope can raise: bad base64, or a CryptoError.
OPEN_FAILURES = (binascii.Error, ValueError, TypeError, crypto.CryptoError)


def open_envelope(
    verifier: crypto.Verifier, key: crypto.EpochKey, op_id: str, env: dict[str, Any]
) -> crypto.Opened:
    """Open an envelope as the exchange sends it (base64 nonce and payload) under `key`:
    its op, or a batch record taken in; raises one of `OPEN_FAILURES`. (`E2E._open`
    does the same steps inline: it runs for every op of a pull.)"""
    nonce = binascii.a2b_base64(env.get("nonce", ""), strict_mode=True)
    payload = binascii.a2b_base64(env.get("payload", ""), strict_mode=True)
    return verifier.open(key, op_id, nonce, payload)


def envelope(sealed: crypto.Sealed) -> dict[str, Any]:
    """A sealed op's (or batch record's) push envelope."""
    return {
        "op_id": sealed.op_id,
        "epoch": sealed.epoch,
        "nonce": crypto.b64(sealed.nonce),
        "payload": crypto.b64(sealed.payload),
    }


def _shape(env: dict[str, Any]) -> tuple[int, str]:
    """An envelope's seq and op id, or ProtocolError (what `decode_envelope` checks first)."""
    d = decode_envelope({**env, "epoch": PLAIN_EPOCH, "payload": ""})
    return d.seq, d.op_id


def _device_keys(store: Store, cid: str) -> dict[str, str]:
    """A circle's device records: Ed25519 key (base64) → member id."""
    return {d["ed25519"]: d["member"] for d in store.records(cid, "device")}


# -- starting an epoch (encrypting a circle, rekeying after a removal or join) -----------


def start_epoch(
    store: Store,
    client: ExchangeClient,
    cid: str,
    *,
    device_id: str,
    on_store: Gate,
    confirm: Collection[str] = (),
) -> int:
    """Start a new epoch of `cid`, wrapped for exactly the circle's member devices as
    the exchange lists them, each checked against the circle's signed device records
    (a device the exchange lists without one is refused: the exchange cannot slip in a
    reader). `confirm`: device ids of pending joiners to wrap for too (the exchange
    admits them with this rekey; their device records must be here already).
    Compare-and-swap on the epoch; a lost race re-reads and tries again.
    Returns the new epoch."""
    ks: Keystore = on_store(partial(keystore_of, store))
    keys = on_store(ks.device_keys)
    for _ in range(REKEY_TRIES):
        info = client.circle(cid)
        expected = info.get("epoch")
        if not isinstance(expected, int):
            raise SyncError("the exchange did not say the circle's epoch")
        records = on_store(partial(_device_keys, store, cid))
        listed = list(info.get("members") or [])
        listed += [
            j
            for j in info.get("joins") or []
            if isinstance(j, dict) and j.get("device_id") in confirm
        ]
        recipients = _recipients(listed, records)
        epoch = expected + 1
        secret = crypto.new_epoch_secret()
        wraps = crypto.wrap_epoch(keys, cid, epoch, secret, recipients)
        body = {d: crypto.b64(w) for d, w in wraps.items()}
        try:
            client.rekey(cid, expected, body)
        except SyncError as exc:
            if getattr(exc, "code", None) == "epoch_conflict":
                continue  # another device rekeyed first: read again
            raise
        on_store(partial(ks.save_epoch, cid, epoch, secret))
        return epoch
    raise SyncError(f"circle {cid[:8]}: other devices kept rekeying; try again")


def _recipients(members: Iterable[Any], records: dict[str, str]) -> dict[str, crypto.PublicKeys]:
    out: dict[str, crypto.PublicKeys] = {}
    for m in members:
        if not isinstance(m, dict):
            continue
        device, member = m.get("device_id"), m.get("member_id")
        try:
            public = crypto.PublicKeys.from_json(m)
        except crypto.CryptoError:
            raise SyncError(
                f"a device of member {str(member)[:8]} has no keys yet: it must sync once "
                "after the update before the circle can be encrypted"
            ) from None
        if records.get(crypto.b64(public.ed25519)) != member or not isinstance(device, str):
            raise SyncError(
                f"the exchange lists a device of member {str(member)[:8]} that the circle's "
                "signed records do not know: not wrapping the circle key for it"
            )
        out[device] = public
    return out


def publish_device(store: Store, cid: str) -> bool:
    """Put this device's record (its public keys) in a shared circle if it is not there
    yet, as a local op that the next push carries; True if one was added."""
    me = store.meta(cid).get("me")
    if not isinstance(me, str) or store.get(cid, "member", me) is None:
        return False
    public = keystore_of(store).device_keys().public
    if store.get(cid, "device", public.key_id) is not None:
        return False
    node = store.require_profile()["node"]
    fields = {"member": me, "node": node, **public.to_json(), "name": ""}
    store.apply([store.op(cid, "device", public.key_id, fields)])
    return True


def sharer(store: Store, cid: str, on_store: Gate) -> tuple[str | None, bool]:
    """This device's member id in a circle it shares (None: not shared from here), and
    whether that member is a convener (the role rule on the members in join order)."""
    meta = on_store(partial(store.meta, cid))
    me = meta.get("me")
    if not meta.get("shared") or not isinstance(me, str):
        return None, False
    return me, is_convener(on_store(partial(members_by_join, store, cid)), me)


def encrypt_circle(store: Store, client: ExchangeClient, cid: str, *, on_store: Gate) -> int:
    """Encrypt a shared circle from now on (a convener's action): push this device's
    record, start a new epoch for every member device, push under it. Returns the epoch."""
    from sync.engine import sync as run_sync

    me, convener = sharer(store, cid, on_store)
    if me is None:
        raise SyncError("share the circle first: xcircle circle share CIRCLE")
    if not convener:
        raise SyncError("only a convener can encrypt the circle")
    device = on_store(partial(require_credentials, store)).device_id
    run_sync(store, client, circles=[cid], on_store=on_store)  # my device record first
    epoch = start_epoch(store, client, cid, device_id=device, on_store=on_store)
    run_sync(store, client, circles=[cid], on_store=on_store)
    return epoch


def rekey_if_encrypted(
    store: Store, client: ExchangeClient, cid: str, *, on_store: Gate
) -> int | None:
    """After a removal (or leave of someone else): a new epoch for exactly the remaining
    devices, if the circle is encrypted; returns it (None: a plain circle)."""
    ks: Keystore = on_store(partial(keystore_of, store))
    if not on_store(partial(ks.epochs, cid)):
        return None
    device = on_store(partial(require_credentials, store)).device_id
    return start_epoch(store, client, cid, device_id=device, on_store=on_store)
