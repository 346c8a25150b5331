"""Vouched history: how a receiver takes ops from before encryption (see `sync.reseed`).

Ops from before encryption were never signed, and nobody can sign them as their authors
now: the convener's device that upgrades (or rebuilds) a circle re-seals them *vouched*
(signed as "the history I hold", never as "I wrote this"). A receiver takes vouched ops
only as the circle's leading history: all vouched by one device (the first pins it), a
convener's where the circle's records already say whose it is (an unknown device only
while they name no convener's device at all), and only before the first op signed by
its author (`authored_from`). Both facts live in the circle's local meta.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from sync.state import Gate
from xcircle.ops import Op
from xcircle.store import Store

if TYPE_CHECKING:
    from sync.e2e import Trust

VOUCHED_BY = "vouched_by"  # local meta: the device key that vouched the circle's history
AUTHORED_FROM = "authored_from"  # local meta: seq of the first op signed by its author


class History:
    """The vouched-history rule of one circle on this device (see the module docstring),
    its two facts kept in the circle's local meta."""

    def __init__(self, store: Store, circle: str, gate: Gate) -> None:
        meta = gate(partial(store.meta, circle))
        self._store, self._circle, self._gate = store, circle, gate
        self.vouched_by: str | None = meta.get(VOUCHED_BY)
        self.authored_from: int | None = meta.get(AUTHORED_FROM)

    def authored(self, seq: int) -> None:
        """An op signed by its author was accepted at `seq`: vouching ends there."""
        if self.authored_from is None or seq < self.authored_from:
            self.authored_from = seq
            self._save(**{AUTHORED_FROM: seq})

    def check(self, trust: Trust, seq: int, signer: str, op: Op) -> str | None:
        """Why a vouched op is refused (None: taken into the trust state)."""
        if self.authored_from is not None and seq > self.authored_from:
            return "vouched history after ops signed by their authors"
        if self.vouched_by is not None and signer != self.vouched_by:
            return "history vouched by a second device"
        owner = trust.devices.get(signer)
        if owner is not None and not trust.convener(owner[0]):
            return "history vouched by a device that is not a convener's"
        # An unknown vouching key is taken only where the log has told this device of no
        # convener's device yet (a device reading the circle from its start, whose
        # records come later in that very history); elsewhere it is a stranger's.
        if owner is None and self.vouched_by is None and trust.knows_a_convener_device():
            return "history vouched by a device the circle does not know"
        if self.vouched_by is None:
            self.vouched_by = signer
            self._save(**{VOUCHED_BY: signer})
        trust.accept(op, seq)
        return None

    def _save(self, **fields: Any) -> None:
        self._gate(partial(self._store.set_meta, self._circle, **fields))
