"""Kill-at-every-step: a sync that loses any one request or response, then restarts its
process and syncs again, loses nothing and duplicates nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sync.exchange.db import ops as ops_table
from sync.protocol import ExchangeUnreachable

from .helpers import Device, Exchange, pair


@contextmanager
def _world(root: Path) -> Iterator[tuple[Exchange, Device, Device, str, int]]:
    """Ada and Bob share a circle with a goal; Ada has 7 unsynced check-ins (3 pushes in
    batches of 3), Bob pushed 5 (Ada's pull takes several pages of 4). Closed on exit."""
    ex = Exchange(root / "exchange.db")
    devices: list[Device] = []

    def make(name: str, org: str) -> Device:
        dev = Device(root / name, name, org, ex)
        devices.append(dev)
        dev.join()
        return dev

    try:
        ada, bob, cid = pair(make)
        goal = ada.services.goals.add(cid, "Delegate")["id"]
        ada.sync()
        bob.sync()
        for i in range(7):
            ada.services.goals.checkin(cid, goal, progress=i * 10)
        for i in range(5):
            bob.services.goals.checkin(cid, goal, progress=i)
        bob.sync()
        yield ex, ada, bob, cid, 7 + 5
    finally:
        for dev in devices:
            dev.close()
        ex.close()


def _requests_of_a_clean_sync(root: Path) -> list[str]:
    with _world(root) as (_ex, ada, _bob, _cid, _n):
        ada.faults.log.clear()
        ada.sync(push_ops=3, pull_limit=4)
        return list(ada.faults.log)


def test_clean_sync_shape(tmp_path: Path) -> None:
    log = _requests_of_a_clean_sync(tmp_path)
    paths = [line.split()[1] for line in log]
    # The exchange's clock as the previous sync saved it: no request before pushing.
    assert paths.count("/v1/health") == 0
    # 7 ops in pushes of 3: 2 ops and their batch record each
    assert sum(p.endswith("/ops") for p in paths) == 4
    assert paths.count("/v1/pull") >= 2


@pytest.mark.parametrize("fate", ["request", "response"])
def test_losing_any_one_exchange_loses_nothing(tmp_path: Path, fate: str) -> None:
    steps = len(_requests_of_a_clean_sync(tmp_path / "clean"))
    for index in range(steps):
        with _world(tmp_path / f"{fate}-{index}") as (ex, ada, bob, cid, created):
            ada.faults.plan = lambda i, _r, index=index: fate if i == index else None
            ada.faults.count = 0
            with pytest.raises(ExchangeUnreachable):
                ada.sync(push_ops=3, pull_limit=4)
            ada.restart()  # the process died with the failed request
            ada.faults.plan = lambda _i, _r: None
            ada.sync(push_ops=3, pull_limit=4)
            bob.sync()
            assert ada.store.outbox(cid) == [] and bob.store.outbox(cid) == []
            assert ada.store.canonical(cid) == bob.store.canonical(cid), (fate, index)
            assert len(ada.services.goals.checkins(cid)) == created
            with ex.engine.connect() as conn:
                on_exchange = conn.execute(
                    select(func.count(), func.count(func.distinct(ops_table.c.op_id))).where(
                        ops_table.c.circle_id == cid
                    )
                ).one()
            assert on_exchange[0] == on_exchange[1]  # no op stored twice
            # Every op the exchange holds was merged on both sides, and cursors are at the end.
            assert ada.store.meta(cid)["cursor"] == on_exchange[0]
            assert bob.store.meta(cid)["cursor"] == on_exchange[0]
