"""End-to-end encryption through the real exchange (in process): what the exchange
stores is ciphertext, every device reads the circle, and a modified client's ops are
quarantined by every receiver (SEC-03, SEC-05, parts of SEC-10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from sync.e2e import E2E, encrypt_circle, start_epoch
from sync.engine import sync as run_sync
from sync.protocol import SyncError
from sync.state import mark_shared
from xcircle import crypto
from xcircle.keystore import keystore_of

from .conftest import MakeDevice
from .helpers import Device, Exchange, pair

CANARY = "canary-7f1e0c"


def encrypted_pair(make_device: MakeDevice) -> tuple[Device, Device, str]:
    """`pair`: shared encrypted (epoch 1), Bob confirmed into epoch 2."""
    ada, bob, cid = pair(make_device)
    assert keystore_of(ada.store).epochs(cid) == [1, 2]
    assert keystore_of(bob.store).epochs(cid) == [2]
    return ada, bob, cid


def test_a_circle_shared_in_plaintext_can_be_encrypted_later(make_device: MakeDevice) -> None:
    """A circle from before default encryption (created plain with the lower-level API):
    `encrypt_circle` starts epoch 1 for every member device."""
    ada, bob = make_device("ada", "Acme"), make_device("bob", "Beta")
    cid = ada.services.circles.create("Old circle")["id"]
    with ada.client() as c:
        c.create_circle(cid, ada.store.meta(cid)["me"])
        mark_shared(ada.store, cid, ada.store.meta(cid)["me"])
        run_sync(ada.store, c)
    bob.accept(ada.invite(cid))  # a plain circle: a member at once
    ada.sync()
    with ada.client() as c:
        assert encrypt_circle(ada.store, c, cid, on_store=lambda f: f()) == 1
    goal = ada.services.goals.add(cid, f"Goal {CANARY}")["id"]
    ada.sync()
    assert bob.sync().circles[cid].quarantined == []
    assert bob.store.get(cid, "goal", goal)["title"] == f"Goal {CANARY}"


def stored_payloads(exchange: Exchange, cid: str) -> list[tuple[int, bytes]]:
    with exchange.engine.connect() as conn:
        rows = conn.execute(text("SELECT epoch, payload FROM ops WHERE circle_id = :c"), {"c": cid})
        return [(r[0], bytes(r[1])) for r in rows]


def test_an_encrypted_circle_syncs_and_the_exchange_holds_ciphertext(
    make_device: MakeDevice, exchange: Exchange, tmp_path: Path
) -> None:
    ada, bob, cid = encrypted_pair(make_device)
    goal = ada.services.goals.add(cid, f"Goal {CANARY}")["id"]
    ada.sync()
    report = bob.sync()
    assert bob.store.get(cid, "goal", goal)["title"] == f"Goal {CANARY}"
    assert report.circles[cid].quarantined == []
    rows = stored_payloads(exchange, cid)
    encrypted = [p for e, p in rows if e >= 1]
    assert encrypted and all(CANARY.encode() not in p for _, p in rows if _ >= 1)
    # The whole SQLite file (and its WAL) holds no canary of an op pushed encrypted.
    exchange.engine.dispose()
    for path in tmp_path.glob("exchange.db*"):
        assert CANARY.encode() not in path.read_bytes()


def test_a_member_signing_as_another_author_is_quarantined(make_device: MakeDevice) -> None:
    """SEC-03: Bob's modified client stamps Ada's node as the author of his op."""
    ada, bob, cid = encrypted_pair(make_device)
    ada_node = ada.store.require_profile()["node"]
    forged = bob.store.op(cid, "goal", None, {"title": "forged", "status": "active"})
    forged = type(forged)(forged.id, cid, "goal", forged.key, forged.hlc, ada_node, forged.fields)
    bob.store.apply([forged])
    bob.sync()
    report = ada.sync()
    assert (forged.id, "signed by a device of another author") in report.circles[cid].quarantined
    assert ada.store.get(cid, "goal", forged.key) is None


def test_a_key_swapped_in_by_a_member_is_quarantined(make_device: MakeDevice) -> None:
    """SEC-03: Bob signs with a fresh key that no device record of the circle names."""
    ada, bob, cid = encrypted_pair(make_device)
    ks = keystore_of(bob.store)
    old = ks.device_keys()  # a modified client: its own wrapping key, another signing key
    swapped = crypto.DeviceKeys(old.x25519_private, crypto.DeviceKeys.generate().ed25519_private)
    ks._data["device"] = swapped.to_json()
    bob.services.goals.add(cid, "with another key")
    bob.sync()
    report = ada.sync()
    reasons = {r for _, r in report.circles[cid].quarantined}
    assert reasons == {"signed by a device that is not in this circle"}


def test_a_non_convener_removal_is_refused_by_receivers(make_device: MakeDevice) -> None:
    """Bob (a member) removes Ada with a modified client: the exchange refuses it where
    it sees it, and Ada's device ignores the signed op."""
    ada, bob, cid = encrypted_pair(make_device)
    ada_member = ada.store.meta(cid)["me"]
    op = bob.store.op(cid, "member", ada_member, {"_deleted": True})
    bob.store.apply([op])  # past the service's own check
    bob.sync()
    report = ada.sync()
    assert (op.id, "only a convener may remove another member") in report.circles[cid].quarantined
    assert ada.store.get(cid, "member", ada_member) is not None


def test_a_removed_member_reads_nothing_new(make_device: MakeDevice) -> None:
    """SEC-05: after Ada removes Bob, a new epoch excludes his device; he is denied and
    cannot open what is said after."""
    ada, bob, cid = encrypted_pair(make_device)
    bob_member = bob.store.meta(cid)["me"]
    from sync.commands import remove_member_remote

    ada.services.members.remove(cid, bob_member)
    with ada.client() as c:
        assert remove_member_remote(ada.store, cid, bob_member, client=c)
    assert keystore_of(ada.store).epochs(cid) == [1, 2, 3]
    secret = ada.services.goals.add(cid, f"after {CANARY}")["id"]
    ada.sync()
    report = bob.sync()
    assert report.circles[cid].denied
    assert bob.store.get(cid, "goal", secret) is None
    assert 3 not in keystore_of(bob.store).epochs(cid)
    with bob.client() as c, pytest.raises(SyncError):
        E2E(bob.store, c, lambda f: f(), "x").fetch_wraps(cid)


def test_a_rekey_refuses_a_device_the_circle_does_not_know(make_device: MakeDevice) -> None:
    """SEC-07 on the client: a hostile exchange lists one more device (its own keys) for
    a member; no signed device record names it, so Ada wraps the circle key for nobody."""
    ada, _bob, cid = pair(make_device)
    before = keystore_of(ada.store).epochs(cid)
    intruder = crypto.DeviceKeys.generate().public
    with ada.client() as c:
        real = c.circle

        def with_intruder(circle: str) -> dict[str, Any]:
            info = real(circle)
            bob_member = info["members"][-1]["member_id"]
            extra = {"member_id": bob_member, "device_id": "intruder", **intruder.to_json()}
            info["members"].append(extra)
            return info

        c.circle = with_intruder  # type: ignore[method-assign]
        with pytest.raises(SyncError, match="signed records do not know"):
            start_epoch(ada.store, c, cid, device_id="", on_store=lambda f: f())
    assert keystore_of(ada.store).epochs(cid) == before


def test_tampered_ciphertext_on_the_exchange_is_quarantined(
    make_device: MakeDevice, exchange: Exchange, tmp_path: Path
) -> None:
    ada, bob, cid = encrypted_pair(make_device)
    goal = ada.services.goals.add(cid, "tamper me")["id"]
    ada.sync()
    with exchange.engine.begin() as conn:
        row = conn.execute(
            text("SELECT seq, payload FROM ops WHERE circle_id = :c ORDER BY seq DESC LIMIT 1"),
            {"c": cid},
        ).one()
        bad = bytearray(row[1])
        bad[5] ^= 1
        conn.execute(
            text("UPDATE ops SET payload = :p WHERE circle_id = :c AND seq = :s"),
            {"p": bytes(bad), "c": cid, "s": row[0]},
        )
    report = bob.sync()
    assert [r for _, r in report.circles[cid].quarantined] == [
        "envelope does not decrypt (wrong key, circle, epoch or op id)"
    ]
    assert bob.store.get(cid, "goal", goal) is None


def test_a_promotion_reaches_the_exchange_and_lets_the_new_convener_remove(
    make_device: MakeDevice,
) -> None:
    """`member role` tells the exchange, which then lets Bob remove as a convener."""
    from sync.commands import remove_member_remote, set_role_remote

    ada, bob, cid = pair(make_device)
    bob.sync()
    bob_member = bob.store.meta(cid)["me"]
    ada.services.members.set_role(cid, bob_member, "convener")
    with ada.client() as c:
        assert set_role_remote(ada.store, cid, bob_member, "convener", client=c)
        roles = {m["member_id"]: m["role"] for m in c.circle(cid)["members"]}
    assert roles[bob_member] == "convener"
    ada.sync()
    bob.sync()
    ada_member = ada.store.meta(cid)["me"]
    bob.services.members.remove(cid, ada_member)
    with bob.client() as c:
        assert remove_member_remote(bob.store, cid, ada_member, client=c)
    assert ada.sync().circles[cid].denied
