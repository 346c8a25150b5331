"""What a convener's device does for its circles at the end of each sync, unasked.

- **Upgrade**: a circle the exchange still holds in plaintext, shared before this
  version (its local meta lacks `shared_with_e2e`), is upgraded (`sync.reseed.upgrade`):
  epoch 1, every op re-sealed in place, no plaintext left. It waits, and says why in
  the log, while a member device has not yet published its keys (every device does on
  its first sync after the update).
- **Rotation**: an epoch this device has known for more than 30 days is replaced by a
  new one, wrapped for exactly the current member devices.

- **Restore** (any device, after the exchange was rebuilt and this device let back in):
  ops of its old log that the rebuilt exchange lacks are pushed again (`sync.reseed`).

Devices of members (not conveners) neither upgrade nor rotate: they keep syncing, fetch
the new epoch's wrap when its first op arrives, and re-seal what waits in their outbox.

The exchange's epoch comes with every pull (no extra request); a sync with nothing to do
here makes no request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from sync.archive import Archive
from sync.e2e import sharer, start_epoch
from sync.protocol import PLAIN_EPOCH, SyncError
from sync.reseed import has_plain_history, restore, upgrade
from sync.state import SHARED_WITH_E2E, SyncReport, credentials
from xcircle.keystore import keystore_of

if TYPE_CHECKING:
    from sync.e2e import E2E

log = logging.getLogger(__name__)

ROTATE_MS = 30 * 24 * 60 * 60 * 1000  # an epoch's lifetime
EPOCH_SINCE = "epoch_since"  # local meta: [epoch, when this device first held it (ms)]


def maintain(
    e2e: E2E,
    report: SyncReport,
    exchange_epochs: Mapping[str, int],
    *,
    now_ms: Callable[[], int],
) -> None:
    """Upgrade or rotate the circles this sync pulled, where this device is a convener's;
    restore what a rebuilt exchange lacks. `exchange_epochs`: each circle's current
    epoch, as its last pull page said."""
    store, client, gate = e2e.store, e2e.client, e2e.gate
    creds = gate(partial(credentials, store))
    if creds is None:
        return
    ks = gate(partial(keystore_of, store))
    for cid, epoch in exchange_epochs.items():
        rep = report.circles.get(cid)
        if rep is None or rep.denied or rep.gap:
            continue
        try:
            if Archive(store.home, cid).old_path.exists() and epoch != PLAIN_EPOCH:
                pushed = restore(e2e, cid, epoch)
                if pushed:
                    report.warnings.append(
                        f"circle {cid[:8]}: {pushed} op(s) the rebuilt exchange lacked "
                        "were pushed again from this device"
                    )
            if not sharer(store, cid, gate)[1]:
                continue  # not a convener's device
            meta = gate(partial(store.meta, cid))
            if epoch == PLAIN_EPOCH:
                if meta.get(SHARED_WITH_E2E):
                    continue  # shared in plaintext by this version: a choice, not a leftover
                done = upgrade(store, client, cid, device=creds.device_id, on_store=gate)
                report.warnings.append(
                    f"circle {cid[:8]} is now encrypted end to end (epoch {done.epoch}); "
                    f"{done.pushed} op(s) re-sealed, none left in plaintext on the exchange"
                )
                gate(partial(store.set_meta, cid, **{EPOCH_SINCE: [done.epoch, now_ms()]}))
                continue
            held = gate(partial(ks.epochs, cid))
            if has_plain_history(meta, bool(held)):  # encrypted later: its history plain
                done = upgrade(store, client, cid, device=creds.device_id, on_store=gate)
                report.warnings.append(
                    f"circle {cid[:8]}: {done.pushed} op(s) from before its encryption "
                    "re-sealed; none left in plaintext on the exchange"
                )
                continue
            if not held or held[-1] != epoch:
                continue  # behind the exchange: the next pull fetches the wrap
            since = meta.get(EPOCH_SINCE)
            if not (isinstance(since, list) and len(since) == 2 and since[0] == epoch):
                gate(partial(store.set_meta, cid, **{EPOCH_SINCE: [epoch, now_ms()]}))
                continue
            if now_ms() - since[1] < ROTATE_MS:
                continue
            new = start_epoch(store, client, cid, device_id=creds.device_id, on_store=gate)
            gate(partial(store.set_meta, cid, **{EPOCH_SINCE: [new, now_ms()]}))
            log.info("circle %s: epoch %d is 30 days old; rotated to %d", cid[:8], epoch, new)
        except SyncError as exc:
            # E.g. a member device without published keys yet: tried again next sync.
            log.info("circle %s: not upgraded or rotated yet: %s", cid[:8], exc)
