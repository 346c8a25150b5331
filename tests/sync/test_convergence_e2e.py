"""The convergence state machine of `test_convergence`, with both circles encrypted end to
end, plus rekeys by a convener at random moments (guests' removals rekey too). Once
everyone syncs to quiescence, every replica agrees, nothing is quarantined, and the
exchange holds only sealed ops from the encryption on."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import rule
from sqlalchemy import select

from sync.e2e import encrypt_circle, start_epoch
from sync.exchange.db import ops as ops_table
from sync.protocol import SyncError
from sync.state import require_credentials

from .test_convergence import FATES, SyncMachine


class EncryptedSyncMachine(SyncMachine):
    def __init__(self) -> None:
        super().__init__()
        for dev in self.devices:  # every device's record reaches the conveners
            dev.sync()
        self.conveners = {}
        for cid, members in self.members.items():
            convener = self.devices[members[0]]
            with convener.client() as c:
                assert encrypt_circle(convener.store, c, cid, on_store=lambda f: f()) >= 1
            self.conveners[cid] = members[0]
        with self.ex.engine.connect() as conn:
            self.plain = {
                cid: conn.execute(
                    select(ops_table.c.seq)
                    .where(ops_table.c.circle_id == cid)
                    .order_by(ops_table.c.seq.desc())
                ).first()[0]
                for cid in self.circles
            }

    @rule(which=st.integers(0, 1), fates=FATES)
    def rekey(self, which: int, fates: list[str | None]) -> None:
        cid = self.circles[which]
        dev = self.devices[self.conveners[cid]]
        dev.faults.count = 0
        dev.faults.plan = lambda i, _r: fates[i] if i < len(fates) else None
        device = require_credentials(dev.store).device_id
        try:
            with dev.client() as c:
                start_epoch(dev.store, c, cid, device_id=device, on_store=lambda f: f())
        except SyncError:
            pass  # lost on the way: its own wrap brings the secret back later
        finally:
            dev.faults.plan = lambda _i, _r: None

    def _check(self, cid: str) -> None:
        super()._check(cid)
        with self.ex.engine.connect() as conn:
            rows = conn.execute(
                select(ops_table.c.seq, ops_table.c.epoch).where(ops_table.c.circle_id == cid)
            ).all()
        assert all(epoch >= 1 for seq, epoch in rows if seq > self.plain[cid])


TestEncryptedConvergence = EncryptedSyncMachine.TestCase
TestEncryptedConvergence.settings = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
