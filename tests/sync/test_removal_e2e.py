"""A removal in an encrypted circle, when its requests are lost: the removed member's ops
pushed before the removal reached the exchange are kept by everyone (a removal counts from
its place in the log, also on the device that made it), and the new epoch is started by
the remover's next sync before it pushes anything, so the removed device reads nothing
said after; what he says after his removal never reaches the log (SEC-05)."""

from __future__ import annotations

from sqlalchemy import text

from sync.commands import remove_member_remote
from sync.e2e import REKEY_DUE
from xcircle.keystore import keystore_of

from .conftest import MakeDevice
from .helpers import Exchange
from .test_e2e import encrypted_pair


def test_a_removal_whose_requests_were_lost_counts_from_its_place_in_the_log(
    make_device: MakeDevice, exchange: Exchange
) -> None:
    ada, bob, cid = encrypted_pair(make_device)
    epoch = max(keystore_of(ada.store).epochs(cid))
    bob_member = bob.store.meta(cid)["me"]
    ada.services.members.remove(cid, bob_member)
    ada.faults.plan = lambda _i, _r: "request"  # offline: the removal is queued
    with ada.client() as c:
        assert remove_member_remote(ada.store, cid, bob_member, client=c) is False
    ada.faults.plan = lambda _i, _r: None
    assert ada.store.meta(cid)[REKEY_DUE] is True

    goal = bob.services.goals.add(cid, "said before the removal reached the exchange")["id"]
    assert bob.sync().circles[cid].pushed >= 1

    report = ada.sync()  # tells the exchange, rekeys, pushes, pulls Bob's goal
    assert report.circles[cid].quarantined == []
    assert ada.store.get(cid, "goal", goal) is not None
    assert not ada.store.meta(cid)[REKEY_DUE]
    new = max(keystore_of(ada.store).epochs(cid))
    assert new > epoch

    ada.services.goals.add(cid, "said after the removal")
    ada.sync()
    with exchange.engine.connect() as conn:
        after = conn.execute(
            text("SELECT epoch FROM ops WHERE circle_id = :c AND seq > 0 ORDER BY seq"),
            {"c": cid},
        ).all()
    assert after[-1][0] == new  # Ada's ops after the removal: sealed under the new epoch
    assert max(keystore_of(bob.store).epochs(cid)) < new  # Bob holds no key for it
    bob.services.goals.add(cid, "said by Bob after his removal")
    (late,) = [op.id for op in bob.store.outbox(cid)]
    report = bob.sync()
    assert report.circles[cid].denied and report.circles[cid].pushed == 0
    assert [op.id for op in bob.store.outbox(cid)] == [late]  # kept on his device, not sent
    with exchange.engine.connect() as conn:
        ids = conn.execute(text("SELECT op_id FROM ops WHERE circle_id = :c"), {"c": cid})
        assert late not in {r[0] for r in ids}
    assert ada.sync().circles[cid].quarantined == []
