"""Edges of sync: removed members, quarantined ops, ops from the future, skewed clocks."""

from __future__ import annotations

import base64
from dataclasses import replace

from sync.commands import remove_member_remote
from sync.engine import status
from xcircle.ops import Op, new_id

from .conftest import MakeDevice
from .helpers import Exchange, FakeClock, pair, plain_pair


def test_removed_member_is_denied_and_other_circles_still_sync(make_device: MakeDevice) -> None:
    ada, bob, cid = pair(make_device)
    own = bob.services.circles.create("Bob's own")["id"]
    bob.share(own)
    bob_me = bob.store.meta(cid)["me"]
    ada.services.members.remove(cid, bob_me)
    # The exchange is unreachable: the removal is queued, and the next sync delivers it.
    ada.faults.plan = lambda _i, _r: "request"
    with ada.client() as c:
        assert remove_member_remote(ada.store, cid, bob_me, client=c) is False
    assert ada.store.meta(cid)["remove_pending"] == [bob_me]
    ada.faults.plan = lambda _i, _r: None
    ada.sync()
    assert ada.store.meta(cid)["remove_pending"] == []
    bob.services.goals.add(own, "Still mine")
    report = bob.sync()
    assert report.circles[cid].denied and not report.circles[own].denied
    assert report.circles[own].pushed == 1
    assert {c["id"]: c["denied"] for c in status(bob.store)["circles"]} == {cid: True, own: False}


def _raw(cid: str, entity: str, fields: dict[str, object], author: str = "evil") -> Op:
    return Op(new_id(), cid, entity, new_id(), f"{1:013d}-000000-{author}", author, fields)


def _env(op_id: str, blob: bytes, epoch: int = 0) -> dict[str, object]:
    return {"op_id": op_id, "epoch": epoch, "nonce": "", "payload": base64.b64encode(blob).decode()}


def test_bad_ops_are_quarantined_with_reasons_and_never_block(
    make_device: MakeDevice, exchange: Exchange
) -> None:
    # An exchange that, unlike a default one, stores ops over the client's 64 KiB cap.
    ctx = exchange.app.state.ctx
    ctx.settings = replace(ctx.settings, max_op_bytes=100_000)
    # Plain envelopes: a legacy plaintext circle (sealed ones: tests/sync/test_e2e*.py).
    ada, bob, cid = plain_pair(make_device)
    other = ada.services.circles.create("Other")["id"]
    ada.share_plain(other)
    bob.accept(ada.invite(other))
    good = _raw(cid, "goal", {"title": "Good one", "status": "active"})
    ops = [
        _raw(cid, "spaceship", {"x": 1}),  # unknown entity
        _raw(other, "goal", {"title": "Lost"}),  # says it belongs to another circle
        _raw(cid, "reflection", {"text": "secret"}),  # private: never travels
    ]
    blobs = [(new_id(), b"{nope"), *((op.id, op.to_bytes()) for op in ops)]
    envs = [_env(op_id, blob) for op_id, blob in blobs]
    # (An op under an epoch the circle does not have is refused by the exchange itself:
    # tests/exchange/test_exchange_epochs.py.)
    envs.append(_env(new_id(), b"x" * 70_000))
    envs.append(_env(good.id, good.to_bytes()))
    with ada.client() as c:
        c.push(cid, envs)
    ada.services.goals.add(other, "Other circle goal")
    ada.sync()
    report = bob.sync()
    reasons = [r for _, r in report.circles[cid].quarantined]
    assert len(reasons) == 5
    for expected in (
        "not JSON",
        "unknown entity",
        "another circle",
        "private",
        "larger",
    ):
        assert any(expected in r for r in reasons), (expected, reasons)
    assert {q["reason"] for q in bob.store.quarantine(cid)} == set(reasons)
    assert bob.store.get(cid, "goal", good.key) is not None
    assert [g["title"] for g in bob.services.goals.all(other)] == ["Other circle goal"]
    assert bob.sync().requests == 1  # the cursor passed the bad ops: nothing left to pull
    assert {c["id"]: c["quarantined"] for c in status(bob.store)["circles"]} == {cid: 5, other: 0}


def test_ops_from_the_future_are_held_then_merged(
    make_device: MakeDevice, exchange_clock: FakeClock
) -> None:
    ada_clock, bob_clock = FakeClock(exchange_clock.now), FakeClock(exchange_clock.now)
    ada = make_device("ada", "Acme", now_ms=ada_clock)
    bob = make_device("bob", "Beta", now_ms=bob_clock)
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    bob.accept(ada.invite(cid))
    ada.sync()  # Ada's device confirms Bob's joining
    bob.sync()
    # Ada and the exchange move 10 minutes ahead of Bob (Bob's clock is late).
    ada_clock.advance(600)
    exchange_clock.advance(600)
    goal = ada.services.goals.add(cid, "From the future")["id"]
    assert ada.sync().circles[cid].pushed == 1
    report = bob.sync()
    assert report.circles[cid].held == 1
    assert any("clock" in w and "behind" in w for w in report.warnings)
    assert bob.store.get(cid, "goal", goal) is None
    assert status(bob.store)["circles"][0]["held"] == 1
    bob_clock.advance(600)  # Bob's clock catches up; nothing new on the exchange
    report = bob.sync()
    assert report.requests == 1 and report.circles[cid].held == 0
    assert bob.store.get(cid, "goal", goal) is not None
    assert status(bob.store)["circles"][0]["held"] == 0


def test_a_clock_running_ahead_does_not_push_future_ops(
    make_device: MakeDevice, exchange_clock: FakeClock
) -> None:
    clock = FakeClock(exchange_clock.now)
    ada = make_device("ada", "Acme", now_ms=clock)
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    clock.advance(600)
    ada.services.goals.add(cid, "Stamped ahead")
    report = ada.sync()
    rep = report.circles[cid]
    assert rep.held_back == 1 and rep.pushed == 0 and rep.pending == 1
    assert any("ahead of" in w for w in report.warnings)
    assert any("stamped in the future" in w for w in report.warnings)
    exchange_clock.advance(600)  # the exchange's time reaches the op
    rep = ada.sync().circles[cid]
    assert rep.pushed == 1 and rep.pending == 0 and rep.held_back == 0


def test_small_skew_gives_no_warning(make_device: MakeDevice, exchange: Exchange) -> None:
    ada = make_device("ada")
    cid = ada.services.circles.create("Leaders")["id"]
    assert ada.share(cid).warnings == []
