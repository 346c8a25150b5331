"""Invite → join → confirm into an encrypted circle, through the real exchange (in
process): the joiner waits, a convener's device confirms on its next sync, the joiner
reads from its joining on (and the handed-over records), nothing said before."""

from __future__ import annotations

from sync.e2e import encrypt_circle
from xcircle.keystore import keystore_of

from .conftest import MakeDevice
from .helpers import Device


def encrypted_circle(make_device: MakeDevice) -> tuple[Device, str]:
    ada = make_device("ada", "Acme")
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    with ada.client() as c:
        encrypt_circle(ada.store, c, cid, on_store=lambda f: f())
    return ada, cid


def test_join_waits_then_is_confirmed(make_device: MakeDevice) -> None:
    ada, cid = encrypted_circle(make_device)
    ada_member = ada.store.meta(cid)["me"]
    before = ada.services.goals.add(cid, "said before Bea", owner=ada_member)["id"]
    group = ada.services.goals.add(cid, "our group goal")["id"]
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
    joined = bea.sync()
    assert joined.circles[cid].quarantined == [], joined
    assert any("You joined Leaders" in n for n in joined.notices), joined
    assert bea.store.get(cid, "goal", before) is None
    assert bea.store.get(cid, "goal", group)["title"] == "our group goal"
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
