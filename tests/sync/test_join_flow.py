"""Invite → join → confirm into an encrypted circle, through the real exchange (in
process): the joiner waits, a convener's device confirms on its next sync, the joiner
reads from its joining on (and the handed-over records), nothing said before."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import text

from sync.commands import invite_code
from sync.e2e import UNKNOWN_SIGNER
from sync.engine import require_credentials
from sync.engine import sync as run_sync
from sync.joins import join_bundle
from sync.protocol import SyncError
from xcircle import crypto
from xcircle.keystore import keystore_of

from .conftest import MakeDevice
from .helpers import NOW, Device, Exchange


def encrypted_circle(make_device: MakeDevice) -> tuple[Device, str]:
    ada = make_device("ada", "Acme")
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)  # encrypted from the start
    assert keystore_of(ada.store).epochs(cid) == [1]
    return ada, cid


def test_join_waits_then_is_confirmed(
    make_device: MakeDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada, cid = encrypted_circle(make_device)
    ada_member = ada.store.meta(cid)["me"]
    before = ada.services.goals.add(cid, "said before Bea", owner=ada_member)["id"]
    group = ada.services.goals.add(cid, "our group goal")["id"]
    upcoming = ada.services.meetings.plan(cid, NOW + timedelta(days=7))["id"]
    called_off = ada.services.meetings.plan(cid, NOW + timedelta(days=14))["id"]
    ada.services.meetings.cancel(cid, called_off)
    ada.sync()
    bea = make_device("bea", "Beta")
    code = ada.invite(cid)
    assert code.startswith("xcs_")
    with bea.client() as c:
        from sync.commands import accept_invite
        from sync.engine import require_credentials

        value = accept_invite(bea.services, c, code, require_credentials(bea.store).device_id)
    assert value["status"] == "pending"
    report = bea.sync()
    assert report.circles[cid].waiting and not report.circles[cid].denied
    confirm = ada.sync()
    fp = keystore_of(bea.store).device_keys().public.fingerprint
    assert f"bea (Beta) joined · fingerprint {fp}" in confirm.notices, confirm
    opened: list[int] = []  # the epochs of what Bea's device decrypts
    real_open = crypto.Verifier.open

    def counting(self: crypto.Verifier, key: crypto.EpochKey, *args: Any) -> crypto.Opened:
        opened.append(key.epoch)
        return real_open(self, key, *args)

    monkeypatch.setattr(crypto.Verifier, "open", counting)
    joined = bea.sync()
    monkeypatch.undo()
    assert opened and set(opened) == {2}  # nothing of epoch 1, said before she joined
    assert joined.circles[cid].pulled > len(opened)  # epoch 1's ops were passed over
    assert joined.circles[cid].quarantined == [], joined
    assert any("You joined Leaders" in n for n in joined.notices), joined
    assert bea.store.get(cid, "goal", before) is None
    assert bea.store.get(cid, "goal", group)["title"] == "our group goal"
    assert bea.store.get(cid, "meeting", upcoming)["status"] == "planned"
    assert bea.store.get(cid, "meeting", called_off) is None  # not upcoming: not handed over
    assert bea.store.get(cid, "circle", cid)["name"] == "Leaders"
    assert {m["name"] for m in bea.store.records(cid, "member")} == {"ada", "bea"}
    after = ada.services.goals.add(cid, "said after Bea")["id"]
    ada.sync()
    bea.sync()
    assert bea.store.get(cid, "goal", after)["title"] == "said after Bea"
    said = bea.services.goals.add(cid, "Bea speaks")["id"]
    bea.sync()
    r = ada.sync()
    assert r.circles[cid].quarantined == []
    assert ada.store.get(cid, "goal", said)["title"] == "Bea speaks"


def pending_bea(make_device: MakeDevice) -> tuple[Device, Device, str]:
    ada, cid = encrypted_circle(make_device)
    bea = make_device("bea", "Beta")
    bea.accept(ada.invite(cid))
    return ada, bea, cid


def test_a_tampered_bundle_is_refused_and_reported(
    make_device: MakeDevice, exchange: Exchange
) -> None:
    """The exchange (or anyone on the way) flips one byte of Bea's bundle: Ada's device
    refuses it, says so, and Bea stays outside, waiting."""
    ada, bea, cid = pending_bea(make_device)
    with exchange.engine.begin() as conn:
        raw = conn.execute(text("SELECT bundle FROM joins")).scalar_one()
        bundle = orjson.loads(raw)
        sealed = bytearray(base64.b64decode(bundle["sealed"]))
        sealed[3] ^= 1
        bundle["sealed"] = base64.b64encode(bytes(sealed)).decode()
        conn.execute(text("UPDATE joins SET bundle = :b"), {"b": orjson.dumps(bundle)})
    report = ada.sync()
    assert any("does not open with any invite" in w for w in report.warnings), report
    assert report.notices == []
    assert keystore_of(ada.store).epochs(cid) == [1]
    assert len(ada.store.records(cid, "member")) == 1
    assert bea.sync().circles[cid].waiting


def test_a_bundle_sealed_with_another_invite_key_is_refused(make_device: MakeDevice) -> None:
    """A joiner who does not hold the invite's secret cannot make a bundle that opens."""
    ada, cid = encrypted_circle(make_device)
    mallory = make_device("mallory", "Beta")
    code = ada.invite(cid)
    real = crypto.Invite.parse(code.partition("@")[0])
    forged = join_bundle(mallory.store, crypto.Invite.new(), _device(mallory))
    with mallory.client() as c:
        assert c.redeem(real.token, bundle=forged)["status"] == "pending"
    report = ada.sync()
    assert any("does not open with any invite" in w for w in report.warnings), report
    assert len(ada.store.records(cid, "member")) == 1


def _device(dev: Device) -> str:
    return require_credentials(dev.store).device_id


@pytest.mark.parametrize("lie", ["member_id", "keys"])
def test_an_exchange_relabelling_a_join_is_refused(make_device: MakeDevice, lie: str) -> None:
    """A hostile exchange gives Bea Ada's member id (or other keys): Ada's device sees
    the bundle does not match and confirms nothing."""
    ada, bea, cid = pending_bea(make_device)
    ada_member = ada.store.meta(cid)["me"]
    other = crypto.DeviceKeys.generate().public.to_json()
    with ada.client() as c:
        real = c.circle

        def lying(circle: str) -> dict[str, Any]:
            info = real(circle)
            for j in info["joins"]:
                if lie == "member_id":
                    j["member_id"] = ada_member
                else:
                    j.update(other)
            return info

        c.circle = lying  # type: ignore[method-assign]
        report = run_sync(ada.store, c)
    want = "claims member id" if lie == "member_id" else "keys differ"
    assert any(want in w for w in report.warnings), report.warnings
    assert keystore_of(ada.store).epochs(cid) == [1]
    assert bea.sync().circles[cid].waiting


def test_a_joiner_cannot_take_another_members_id(make_device: MakeDevice) -> None:
    """The exchange refuses a redeem that proposes someone else's id (409), and the
    invite still works for its own id afterwards."""
    ada, cid = encrypted_circle(make_device)
    bea = make_device("bea", "Beta")
    code = ada.invite(cid)
    invite = crypto.Invite.parse(code.partition("@")[0])
    bundle = join_bundle(bea.store, invite, _device(bea))
    with bea.client() as c, pytest.raises(SyncError, match="belongs to someone else"):
        c.redeem(invite.token, member_id=ada.store.meta(cid)["me"], bundle=bundle)
    bea.accept(code)
    ada.sync()
    bea.sync()
    me = bea.store.meta(cid)["me"]
    assert me != ada.store.meta(cid)["me"]
    assert bea.store.get(cid, "member", me)["name"] == "bea"


def test_a_second_device_of_a_member_joins_with_device_invite(make_device: MakeDevice) -> None:
    ada, cid = encrypted_circle(make_device)
    laptop = make_device("ada-laptop", "Acme")
    with ada.client() as c:
        code = invite_code(ada.store, c, cid, 3600, device=True)["code"]
    laptop.accept(code)
    report = ada.sync()
    assert any("joined · fingerprint" in n for n in report.notices)
    laptop.sync()
    me = ada.store.meta(cid)["me"]
    assert laptop.store.meta(cid)["me"] == me
    assert len(laptop.store.records(cid, "member")) == 1
    assert len(laptop.store.records(cid, "device")) == 2
    goal = laptop.services.goals.add(cid, "from the laptop", owner=me)["id"]
    laptop.sync()
    assert ada.sync().circles[cid].quarantined == []
    assert ada.store.get(cid, "goal", goal)["title"] == "from the laptop"


def test_any_convener_device_confirms_a_members_invite(make_device: MakeDevice) -> None:
    """Bea (a member) invites Cai; Bea's device cannot confirm, Ada's (a convener's)
    does, from the sealed invite record in the circle."""
    ada, bea, cid = pending_bea(make_device)
    ada.sync()
    bea.sync()
    cai = make_device("cai", "Beta")
    cai.accept(bea.invite(cid))
    assert bea.sync().notices == []
    report = ada.sync()
    assert any(n.startswith("cai (Beta) joined") for n in report.notices), report
    cai.sync()
    assert {m["name"] for m in cai.store.records(cid, "member")} == {"ada", "bea", "cai"}
    assert bea.sync().circles[cid].quarantined == []


def lose_pushes_after_the_rekey(device: Device) -> list[bool]:
    """From `device`'s next rekey on, its pushes are lost on the way (the hand-over's
    among them); the list says whether the rekey went through."""
    rekeyed: list[bool] = []

    def plan(_i: int, request: httpx.Request) -> str | None:
        if request.method == "POST" and request.url.path.endswith("/epochs"):
            rekeyed.append(True)
        elif rekeyed and request.url.path.endswith("/ops"):
            return "request"
        return None

    device.faults.plan = plan
    return rekeyed


def test_a_lost_hand_over_is_pushed_by_the_next_sync(make_device: MakeDevice) -> None:
    """The hand-over's push is lost after the rekey confirmed Bea: Ada's next sync
    pushes it before anything else, and Bea reads the circle with nothing quarantined."""
    ada, bea, cid = pending_bea(make_device)
    rekeyed = lose_pushes_after_the_rekey(ada)
    report = ada.sync()
    ada.faults.plan = lambda _i, _r: None
    assert any("cannot reach" in w for w in report.warnings), report.warnings
    assert rekeyed and ada.store.meta(cid).get("handover_due") == 2
    bea.sync()  # let in, nothing to read yet
    ada.sync()
    assert ada.store.meta(cid).get("handover_due") is None
    report = bea.sync()
    assert report.circles[cid].quarantined == [] and bea.store.quarantine(cid) == []
    assert {m["name"] for m in bea.store.records(cid, "member")} == {"ada", "bea"}


def test_an_op_pushed_between_a_rekey_and_its_hand_over_reaches_the_joiner(
    make_device: MakeDevice,
) -> None:
    """Cai, already a member, pushes under the new epoch in the instant between the
    rekey that lets Bea in and its hand-over (lost here, pushed by Ada's next sync). Bea
    sets Cai's op aside (she does not know his device yet) and takes it in once the
    hand-over brings his device record: nothing said after her joining is lost to her."""
    ada, cid = encrypted_circle(make_device)
    cai = make_device("cai", "Beta")
    cai.accept(ada.invite(cid))
    ada.sync()
    cai.sync()
    bea = make_device("bea", "Beta")
    bea.accept(ada.invite(cid))
    rekeyed = lose_pushes_after_the_rekey(ada)
    ada.sync()  # Bea confirmed and let in; the hand-over's push is lost
    assert rekeyed
    ada.faults.plan = lambda _i, _r: None
    assert ada.store.meta(cid).get("handover_due")
    cai.sync()  # picks up the new epoch
    goal = cai.services.goals.add(cid, "said after Bea joined")["id"]
    cai.sync()
    early = bea.sync()
    assert [r for _, r in early.circles[cid].quarantined] == [UNKNOWN_SIGNER]
    ada.sync()  # the hand-over, with Cai's device record
    later = bea.sync()
    assert bea.store.get(cid, "goal", goal)["title"] == "said after Bea joined"
    assert bea.store.quarantine(cid) == [] and later.circles[cid].quarantined == []
    assert bea.sync().circles[cid].quarantined == []


def test_a_confirmation_whose_rekey_failed_is_completed_later(make_device: MakeDevice) -> None:
    """Ada's device adds Bea's records, then its rekey is lost: the next sync confirms
    her all the same (the records it added are not taken for someone else's)."""
    ada, bea, cid = pending_bea(make_device)

    def plan(_i: int, request: httpx.Request) -> str | None:
        lost = request.method == "POST" and request.url.path.endswith("/epochs")
        return "request" if lost else None

    ada.faults.plan = plan
    report = ada.sync()
    ada.faults.plan = lambda _i, _r: None
    assert any("cannot reach" in w for w in report.warnings), report.warnings
    assert keystore_of(ada.store).epochs(cid) == [1]
    report = ada.sync()
    assert any(n.startswith("bea (Beta) joined") for n in report.notices), report
    assert keystore_of(ada.store).epochs(cid) == [1, 2]
    assert bea.sync().circles[cid].quarantined == []
    assert {m["name"] for m in bea.store.records(cid, "member")} == {"ada", "bea"}
