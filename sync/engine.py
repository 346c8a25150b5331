"""Sync orchestration: push each shared circle's outbox, then pull every circle at once.

`sync(store, client)` is safe to interrupt anywhere (lost request, lost response,
killed process) and to run again:

- push is idempotent by op id, and the outbox is acked only after the exchange answered
  with the op's seq, so an op is pushed at least once and stored exactly once;
- a pulled batch and the cursor that covers it are one store write (`apply_pulled`), so
  an op is merged at least once, and merging is idempotent;
- pulled seqs must be exactly `cursor+1 … next`: on a gap the circle stops at the last
  contiguous op and the report says so. Nothing is ever skipped.

Circles are independent: a denied circle (removed, unknown) or a bad op is reported and
never blocks the others. Failures of the exchange itself (unreachable, bad token) raise
a `SyncError` after recording it for `status`.

This module imports no httpx (the client is passed in, or built by `connect`). What
sync keeps between runs (credentials, state, reports) lives in `sync.state`, re-exported
here so callers need one import.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeGuard

from sync.archive import keep_log
from sync.joins import after_pull, before_push
from sync.protocol import (
    BATCH_RECORD,
    PASSED_OVER,
    Conflict,
    NotMember,
    ProtocolError,
    SyncError,
    TooLarge,
    contiguous,
    decode_envelope,
    encode_op,
    envelope_size,
    sized_groups,
)
from sync.state import (
    EXCHANGE_SETTING,
    STATE_SETTING,
    CircleReport,
    Credentials,
    Gate,
    SyncReport,
    credentials,
    cursor_of,
    direct,
    mark_shared,
    queue_removal,
    require_credentials,
    save_credentials,
    shared_circles,
    status,
    sync_state,
)
from xcircle.hlc import Stamp, wall_ms
from xcircle.ops import Op
from xcircle.storage import gc_paused
from xcircle.store import MAX_AHEAD_MS, REMOVED, Store

if TYPE_CHECKING:
    from sync.client import ExchangeClient
    from sync.e2e import E2E
    from xcircle.crypto import EpochKey

# The exchange's codes for a push under an epoch that is not the circle's current one.
EPOCH_CODES = ("epoch_retired", "epoch_unknown")
# What sealing adds to an op's JSON, at most: its record's id, the AEAD tag, its leaf
# hash in the batch record, before base64 (format 2).
SEALED_OVERHEAD = 120
# What a batch record adds to a push besides its leaves: signer, signature, count, tag,
# nonce and its envelope's JSON, in base64.
RECORD_OVERHEAD = 256

__all__ = [
    "EXCHANGE_SETTING",
    "STATE_SETTING",
    "CircleReport",
    "Credentials",
    "Gate",
    "SyncReport",
    "connect",
    "credentials",
    "direct",
    "my_member_id",
    "require_credentials",
    "save_credentials",
    "shared_circles",
    "status",
    "sync",
    "sync_state",
]

log = logging.getLogger(__name__)

MAX_PUSH_OPS = 500  # the exchange's default limit per push
MAX_PUSH_BYTES = 512 * 1024  # half the exchange's default body limit: room for JSON
PULL_LIMIT = 5000  # the exchange's maximum per pull: fewest round trips (pulls are rate limited)
SKEW_WARN_MS = 2 * 60 * 1000
SKEW_FRESH_MS = 2 * 60 * 1000  # a skew measured this recently is used, not asked again
JUST_CHANGED_MS = 10 * 60 * 1000  # a field set this recently and overwritten is reported


def connect(store: Store, **client_options: Any) -> ExchangeClient:
    """A client for this device's exchange (imports httpx: call it where sync runs)."""
    from sync.client import ExchangeClient

    creds = require_credentials(store)
    ca_file = store.setting("ca_file")
    options: dict[str, Any] = {
        "insecure_http": creds.insecure_http,
        "ca_file": ca_file if isinstance(ca_file, str) and ca_file else None,
        **client_options,
    }
    return ExchangeClient(creds.url, creds.token, **options)


def my_member_id(client: ExchangeClient, circle: str, device_id: str) -> str | None:
    """This device's member id in `circle` as the exchange lists it (None: not listed).
    Raises NotMember when the circle is not visible to this device."""
    for member in client.circle(circle).get("members", []):
        if member.get("device_id") == device_id:
            return str(member["member_id"])
    return None


# -- the sync ------------------------------------------------------------------------------


def sync(
    store: Store,
    client: ExchangeClient,
    *,
    circles: Iterable[str] | None = None,
    on_store: Gate = direct,
    push_ops: int = MAX_PUSH_OPS,
    push_bytes: int = MAX_PUSH_BYTES,
    pull_limit: int = PULL_LIMIT,
    now_ms: Callable[[], int] = wall_ms,
) -> SyncReport:
    """Push, then pull, every shared circle (or just `circles`); see the module docstring.

    Every store call goes through `on_store`, so a worker thread can do the network I/O
    while the store is only ever touched from the thread that owns it.
    """
    run = _Run(store, client, on_store, push_ops, push_bytes, pull_limit, now_ms)
    try:
        run.go(circles)
    except SyncError as exc:
        on_store(partial(_save_state, store, run.report, now_ms(), error=str(exc)))
        raise
    on_store(partial(_save_state, store, run.report, now_ms(), error=None))
    return run.report


def _save_state(store: Store, report: SyncReport, now: int, *, error: str | None) -> None:
    state = sync_state(store)
    state.update(last_attempt=now, last_error=error, skew_ms=report.skew_ms, skew_at=now)
    if error is None:
        state["last_sync"] = now
        denied = {c for c, r in report.circles.items() if r.denied}
        # Circles not in this run keep their previous verdict.
        state["denied"] = sorted((set(state.get("denied", [])) - set(report.circles)) | denied)
        # A circle the exchange shuts this device out of is read-only here (its edits
        # would reach nobody); one it lets in again is writable again.
        for cid, rep in report.circles.items():
            if store.has_circle(cid) and bool(store.meta(cid).get(REMOVED)) != rep.denied:
                store.set_meta(cid, **{REMOVED: rep.denied})
    store.save_setting(STATE_SETTING, state)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _fresh(now: int, measured_at: int) -> bool:
    """A skew measured at `measured_at` (this device's clock) still holds: since then
    this clock moved forward by at most `SKEW_FRESH_MS`. A clock that jumped further, or
    back, fails this, so a stale skew is never more than that much off."""
    return 0 <= now - measured_at <= SKEW_FRESH_MS


def _outstanding(store: Store, cid: str) -> tuple[int, int]:
    """(pending, held) of a circle after a sync: one call through the gate."""
    return store.pending(cid), store.held(cid)


def _release_held(store: Store, cid: str) -> int:
    """Merge the circle's held ops that are due by now (the cursor stays); returns how
    many changed the state. A store call of its own, so the cursor is read where it is
    written."""
    if not store.held(cid):
        return 0
    return store.apply_pulled(cid, [], cursor_of(store.meta(cid))).merged


class _Run:
    """One sync's working state; `go` does the work."""

    def __init__(
        self,
        store: Store,
        client: ExchangeClient,
        gate: Gate,
        push_ops: int,
        push_bytes: int,
        pull_limit: int,
        now_ms: Callable[[], int],
    ) -> None:
        self.store, self.client, self.gate = store, client, gate
        self.push_ops, self.push_bytes, self.pull_limit = push_ops, push_bytes, pull_limit
        self.now_ms = now_ms
        self.report = SyncReport(started=now_ms())
        self._first_request = client.requests
        self._written: set[str] = set()  # circles that got an `apply_pulled` this run
        self.e2e: E2E | None = None
        self.epochs: dict[str, int] = {}  # each circle's epoch, as the exchange last said
        self._asked_time = False  # `/health` asked in this run (see `_push_circle`)
        # A field this device set since its last sync (or in the last minutes) and that
        # a pulled op overwrites is reported: the member hears whose change won.
        last = gate(partial(sync_state, store)).get("last_sync")
        recent = self.report.started - JUST_CHANGED_MS
        self.mine_since = min(last, recent) if isinstance(last, int) else 0

    def go(self, only: Iterable[str] | None) -> None:
        store, gate = self.store, self.gate
        for cid in gate(store.damaged_circles):
            self._rebuild(cid)
        metas = gate(partial(shared_circles, store))
        if only is not None:
            wanted = set(only)
            metas = {cid: meta for cid, meta in metas.items() if cid in wanted}
        self.e2e = self._encryption(metas)
        before_push(self, metas)  # a hand-over still due goes first (sync.joins)
        for cid, meta in metas.items():
            self._push_circle(cid, meta)
        # Pushing moves no cursor: the metas read above still hold them.
        self._pull({c: cursor_of(m) for c, m in metas.items() if not self.report.circles[c].denied})
        after_pull(self, metas)  # joins: wait for confirmation, or confirm others' (sync.joins)
        from sync.programmes import after_pull as programme_step  # imports sync.commands

        programme_step(self, metas)  # hand-over, reports to the coordinator (sync.programmes)
        for cid in metas:
            rep = self.report.circles[cid]
            rep.pending, rep.held = gate(partial(_outstanding, store, cid))
            if rep.held:
                self.report.warnings.append(
                    f"{rep.held} op(s) in circle {cid[:8]} are stamped more than 5 minutes "
                    "ahead of this device's clock: held until it catches up"
                )
        if self.e2e is not None:  # a convener's device upgrades and rotates (sync/upgrade.py)
            from sync.upgrade import maintain

            maintain(self.e2e, self.report, self.epochs, now_ms=self.now_ms)
        self._check_skew()
        self.report.requests = self.client.requests - self._first_request
        self.report.finished = self.now_ms()

    def _encryption(self, metas: dict[str, dict[str, Any]]) -> E2E | None:
        """This device's end of the encryption (its keys, the circles' epochs), and its
        device record in every shared circle, so others can check what it signs."""
        from sync.e2e import E2E, publish_device

        creds = self.gate(partial(credentials, self.store))
        if creds is None:
            return None
        for cid in metas:
            self.gate(partial(publish_device, self.store, cid))
        return E2E(self.store, self.client, self.gate, creds.device_id)

    def _rebuild(self, cid: str) -> None:
        """A circle whose local files were damaged (and moved aside): if this device is
        still a member on the exchange, start it afresh from cursor 0, so this sync's
        pull brings the whole circle back. Only a sync that has one asks the exchange."""
        store, gate = self.store, self.gate
        device = gate(partial(require_credentials, store)).device_id
        try:
            me = my_member_id(self.client, cid, device)
        except NotMember:
            me = None  # never shared, or no longer ours: nothing to rebuild from
        if me is not None and not gate(partial(store.has_circle, cid)):
            gate(partial(mark_shared, store, cid, me))  # a new circle: cursor 0
            self.report.warnings.append(
                f"circle {cid[:8]} was damaged on this device: rebuilt from the exchange"
            )
        gate(partial(store.forget_damaged, cid))

    # -- push ------------------------------------------------------------------------------

    def _exchange_now(self) -> int:
        """The exchange's clock by the skew of the client's last answer or, on a fresh
        client, the skew the last sync saved; `/health` is asked only when neither was
        measured within `SKEW_FRESH_MS` by this device's clock (a clock that jumped by
        more than that, forward or back, is measured afresh: see `_fresh`)."""
        now = self.now_ms()
        client, server = self.client, self.client.server_time
        if client.skew_ms is not None and isinstance(server, int):
            if _fresh(now, server - client.skew_ms):
                return now + client.skew_ms
        state = self.gate(partial(sync_state, self.store))
        saved, at = state.get("skew_ms"), state.get("skew_at")
        if _is_int(saved) and _is_int(at) and _fresh(now, at):
            return now + saved
        client.health()
        self._asked_time = True
        return self.now_ms() + (client.skew_ms or 0)

    def _push_circle(self, cid: str, meta: dict[str, Any]) -> None:
        store, rep = self.store, self.report.circle(cid)
        if meta.get("remove_pending"):
            self._push_removals(cid, list(meta["remove_pending"]))
            if rep.denied:
                return
        if meta.get("rekey_due"):  # after a removal: a new epoch before anything is pushed
            self._rekey_due(cid)
        ops = self.gate(partial(store.outbox, cid))
        if not ops:
            return
        # Clock-skew rule: an op stamped more than 5 minutes ahead of the *exchange's*
        # clock would be held by every receiver with a correct clock and would win every
        # last-writer-wins race until real time caught up. So when this device's clock
        # runs ahead, its future ops stay in the outbox (visible as pending, with a
        # warning) and leave once the exchange's clock reaches them: they are never lost
        # and never re-stamped (re-stamping would change their meaning silently).
        horizon = self._exchange_now() + MAX_AHEAD_MS
        ready = [op for op in ops if Stamp.parse(op.hlc).wall <= horizon]
        if len(ready) < len(ops) and not self._asked_time:
            # Held back by a skew measured earlier: the exchange's clock may have moved
            # on since, so ask it now before keeping anything back.
            self.client.health()
            self._asked_time = True
            horizon = self._exchange_now() + MAX_AHEAD_MS
            ready = [op for op in ops if Stamp.parse(op.hlc).wall <= horizon]
        rep.held_back = len(ops) - len(ready)
        if rep.held_back:
            self.report.warnings.append(
                f"{rep.held_back} op(s) in circle {cid[:8]} are stamped in the future "
                "(this device's clock is ahead): not pushed until the exchange's clock "
                "reaches them"
            )
        try:
            self._push_ops(cid, ready)
        except NotMember:
            rep.denied = True
        except Conflict as exc:
            rep.error = f"push refused: {exc}"
            self.report.warnings.append(f"circle {cid[:8]}: {rep.error}")

    def _push_ops(self, cid: str, ops: list[Op]) -> None:
        """Push under the circle's current epoch (plain if it has none); when the
        exchange says the epoch moved on, fetch the new wraps and seal what is left of
        the outbox again (nothing lost)."""
        e2e = self.e2e
        key = e2e.current(cid) if e2e else None
        try:
            for batch in self._batches(ops, key):
                self._push_batch(cid, batch)
        except Conflict as exc:
            if e2e is None or exc.code not in EPOCH_CODES:
                raise
            e2e.fetch_wraps(cid)
            fresh = e2e.current(cid)
            if fresh is None or (key is not None and fresh.epoch == key.epoch):
                raise Conflict(f"no key for the circle's current epoch: {exc}") from None
            left = {op.id for op in self.gate(partial(self.store.outbox, cid))}
            for batch in self._batches([op for op in ops if op.id in left], fresh):
                self._push_batch(cid, batch)

    def _batches(
        self, ops: list[Op], key: EpochKey | None = None
    ) -> Iterable[Sequence[tuple[Op | None, dict[str, Any]]]]:
        """Push batches under the exchange's limits: plain envelopes, or, with an epoch
        key, sealed ones after their batch record (`(None, record)`: one signature per
        batch)."""
        e2e = self.e2e
        if key is not None and e2e is not None:
            raw = {op.id: op.to_bytes() for op in ops}  # encoded once: sized, then sealed

            def sealed_size(op: Op) -> int:  # in base64, with the JSON around it
                return (len(raw[op.id]) + SEALED_OVERHEAD) * 4 // 3 + 64

            most = max(1, self.push_ops - 1)  # and the record
            for group in sized_groups(ops, sealed_size, most, self.push_bytes - RECORD_OVERHEAD):
                record, envelopes = e2e.seal(key, group, raw)
                yield [(None, record), *zip(group, envelopes, strict=True)]
            return
        plain = ((op, encode_op(op)) for op in ops)
        yield from sized_groups(
            plain, lambda pair: envelope_size(pair[1]), self.push_ops, self.push_bytes
        )

    def _push_batch(self, cid: str, batch: Sequence[tuple[Op | None, dict[str, Any]]]) -> None:
        try:
            answer = self.client.push(cid, [env for _, env in batch])
        except TooLarge:
            if len(batch) == 1:
                op_id = batch[0][1]["op_id"]
                raise Conflict(f"op {op_id[:8]} is over the exchange's limit") from None
            half = len(batch) // 2  # the exchange's limit is lower than ours: split
            self._push_batch(cid, batch[:half])
            self._push_batch(cid, batch[half:])
            return
        results = answer.get("results")
        if not isinstance(results, list):
            raise ProtocolError("the exchange answered a push without results")
        # Ack only what the exchange says it holds (with a seq), never the whole batch.
        held = {r.get("op_id") for r in results if isinstance(r, dict)}
        acked = [op for op, _ in batch if op is not None and op.id in held]
        self.gate(partial(self.store.ack, cid, [op.id for op in acked]))
        self.report.circle(cid).pushed += len(acked)
        if self.e2e is not None:  # this sync's pull brings them back: no need to open them
            sealed = [
                (op, env["op_id"]) for op, env in batch if env["epoch"] and env["op_id"] in held
            ]
            ops = [op for op, _ in sealed if op is not None]
            self.e2e.pushed(cid, ops, [op_id for op, op_id in sealed if op is None])

    def _push_removals(self, cid: str, members: list[str]) -> None:
        """Removals done offline (see `commands.remove_member_remote`), retried here."""
        for member in members:
            try:
                self.client.remove_member(cid, member)
            except NotMember:
                if not self._still_member(cid):
                    self.report.circle(cid).denied = True
                    return
            self.gate(partial(queue_removal, self.store, cid, member, queued=False))

    def _rekey_due(self, cid: str) -> None:
        from sync.e2e import REKEY_DUE, rekey_if_encrypted

        rekey_if_encrypted(self.store, self.client, cid, on_store=self.gate)
        self.gate(partial(self.store.set_meta, cid, **{REKEY_DUE: False}))

    def _still_member(self, cid: str) -> bool:
        try:
            self.client.circle(cid)
        except NotMember:
            return False
        return True

    # -- pull ------------------------------------------------------------------------------

    def _pull(self, cursors: dict[str, int]) -> None:
        if cursors:
            with (
                gc_paused(),
                ThreadPoolExecutor(1, thread_name_prefix="xcircle-pull") as pool,
                ThreadPoolExecutor(1, thread_name_prefix="xcircle-archive") as archiver,
            ):
                self._pull_pages(pool, archiver, cursors)
        if self.e2e is not None:
            for cid in sorted(self._written & set(cursors)):
                self._reconsider(cid)
        for cid in cursors:
            if cid not in self._written and not self.report.circles[cid].denied:
                # Nothing new, but ops held for being in the future may be due by now.
                merged = self.gate(partial(_release_held, self.store, cid))
                self.report.circles[cid].merged += merged

    def _reconsider(self, cid: str) -> None:
        """Merge the ops set aside for an unknown signer that its device record, since
        pulled, now vouches for (`E2E.reconsider`), and take them out of the quarantine."""
        assert self.e2e is not None
        released = self.e2e.reconsider(cid)
        if not released:
            return
        cursor = cursor_of(self.gate(partial(self.store.meta, cid)))
        ids = {i for i, _ in released}
        result = self.gate(partial(self.store.apply_pulled, cid, released, cursor, released=ids))
        rep = self.report.circle(cid)
        rep.merged += result.merged
        rep.quarantined = [q for q in rep.quarantined if q[0] not in ids]

    def _pull_pages(
        self, pool: ThreadPoolExecutor, archiver: ThreadPoolExecutor, cursors: dict[str, int]
    ) -> None:
        """Pull until no circle has more. Pipelined: the next page is requested (by the
        exchange's own `next`) while this one is checked and applied, so the exchange's
        work and ours overlap; a circle whose page fails the check is dropped from the
        loop, and whatever the prefetch brought for it is ignored."""
        pending: Future[dict[str, Any]] | None = pool.submit(
            self.client.pull, cursors, self.pull_limit
        )
        while pending is not None:
            answer = pending.result()
            got, denied = answer.get("circles"), answer.get("denied", [])
            if not isinstance(got, dict) or not isinstance(denied, list):
                raise ProtocolError("the exchange answered a pull without circles")
            for cid in denied:
                if cid in cursors:
                    self.report.circle(cid).denied = True
            claimed: dict[str, int] = {}
            for cid in cursors:
                batch = got.get(cid)
                if isinstance(batch, dict) and batch.get("more") is True:
                    nxt = batch.get("next")
                    if isinstance(nxt, int) and not isinstance(nxt, bool):
                        # A circle that got nothing (the page's budget went to others)
                        # asks again from where it is.
                        claimed[cid] = nxt
            if claimed and all(claimed[c] == cursors[c] for c in claimed):
                self.report.warnings.append("the exchange said more but sent nothing; stopping")
                claimed = {}
            # A copy: `claimed` shrinks below while the request may still be on its way.
            pending = (
                pool.submit(self.client.pull, dict(claimed), self.pull_limit) if claimed else None
            )
            for cid, after in cursors.items():
                batch = got.get(cid)
                if isinstance(batch, dict) and not self._apply(cid, after, batch, archiver):
                    claimed.pop(cid, None)  # stop this circle here; its prefetched page is ignored
            cursors = claimed

    def _apply(
        self, cid: str, after: int, batch: dict[str, Any], archiver: ThreadPoolExecutor
    ) -> bool:
        """Check and apply one circle's batch; True if it was contiguous up to its `next`
        (the circle's cursor is then that `next`)."""
        rep = self.report.circle(cid)
        envelopes, nxt = batch.get("ops"), batch.get("next")
        if type(batch.get("epoch")) is int:
            self.epochs[cid] = batch["epoch"]
        rep.joins = batch["joins"] if type(batch.get("joins")) is int else 0
        if not isinstance(envelopes, list) or not isinstance(nxt, int):
            rep.gap = "the exchange sent a malformed batch"
            self._stopped(cid, rep.gap, after)
            return False
        payloads: list[tuple[str, bytes | Op]] = []
        rejected: list[tuple[str, str]] = []
        last, records = after, 0
        decode = self.e2e.decoder(cid) if self.e2e else decode_envelope
        # The log itself, kept to rebuild a lost exchange (sync/archive.py): written by
        # another thread while this one decodes (a sealed page is ~5 MB: the write was a
        # sixth of an encrypted pull), and done before the merge, so the archive is never
        # behind the cursor. It keeps what the decoding below will pass: the envelopes
        # whose shape and seq hold up, the same rule that ends the loop.
        kept = contiguous(envelopes, after)
        archived = (
            archiver.submit(keep_log, self.store.home, cid, envelopes[:kept]) if kept else None
        )
        try:
            for env in envelopes:
                d = decode(env)
                if d.seq != last + 1:
                    rep.gap = f"expected seq {last + 1}, got {d.seq}"
                    break
                last = d.seq
                if d.payload is None:
                    if d.reason not in PASSED_OVER:  # a record, or not meant for this device
                        rejected.append((d.op_id, d.reason or "bad envelope"))
                    elif d.reason == BATCH_RECORD:
                        records += 1  # its ops' signature: not an op of its own
                else:
                    payloads.append((d.op_id, d.payload if d.op is None else d.op))
        except ProtocolError as exc:
            rep.gap = str(exc)
        if rep.gap is None and last != nxt:
            rep.gap = f"ops end at seq {last} but the exchange said next is {nxt}"
        if archived is not None:
            archived.result()
        if last != after or rejected:
            result = self.gate(
                partial(
                    self.store.apply_pulled,
                    cid,
                    payloads,
                    last,
                    rejected=rejected,
                    more=batch.get("more") is True and rep.gap is None,
                    mine_since=self.mine_since,
                )
            )
            self._written.add(cid)
            rep.pulled += last - after - records
            rep.merged += result.merged
            rep.quarantined.extend(result.quarantined)
            rep.overwritten.extend(
                {"entity": o.entity, "key": o.key, "field": o.field, "author": o.author}
                for o in result.overwritten
            )
        if rep.gap:
            self._stopped(cid, rep.gap, last)
        return rep.gap is None

    def _stopped(self, cid: str, why: str, last: int) -> None:
        """Say that the circle stopped at `last` (the exchange's page did not hold up)."""
        log.warning("circle %s: %s; stopped at seq %d", cid[:8], why, last)
        self.report.warnings.append(
            f"circle {cid[:8]}: {why}; stopped at seq {last}, will retry next sync"
        )

    def _check_skew(self) -> None:
        skew = self.client.skew_ms
        self.report.skew_ms = skew
        if skew is None or abs(skew) <= SKEW_WARN_MS:
            return
        minutes = abs(skew) / 60_000
        where = "behind" if skew > 0 else "ahead of"
        self.report.warnings.append(
            f"this device's clock is {minutes:.0f} min {where} the exchange's: "
            "fix the system clock (ops from the future are held, not merged)"
        )
