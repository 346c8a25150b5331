"""Epochs, wraps, pending joins and the epoch rules of push (issue 8), on SQLite and
PostgreSQL: SEC-06 (concurrent rekeys), SEC-07 (wrap set), SEC-08 (parallel redeems)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from sqlalchemy import select

from sync.exchange.db import wraps

from .helpers import Api, Device, envelope

KEY = base64.b64encode(bytes(range(32))).decode()


def wrap(tag: str) -> str:
    """Opaque wrap bytes that say who made them for whom (the exchange never looks)."""
    return base64.b64encode(f"wrap:{tag}".encode()).decode()


async def _keys(api: Api, dev: Device) -> None:
    r = await api.call(
        "PUT", "/v1/devices/me/keys", dev.token, json={"x25519": KEY, "ed25519": KEY}
    )
    assert r.status_code == 200, r.text


async def _rekey(
    api: Api, dev: Device, cid: str, expected: int, devs: list[str], tag: str = ""
) -> Any:
    body = {"expected": expected, "wraps": {d: wrap(f"{tag}{d}") for d in devs}}
    return await api.call("POST", f"/v1/circles/{cid}/epochs", dev.token, json=body)


async def _encrypted(api: Api, n: int) -> tuple[str, list[Device]]:
    """A circle of n devices (m0 convener, m1… members, all with keys) at epoch 1."""
    _, admin_token = api.org()
    devs = [await api.device(admin_token) for _ in range(n)]
    for dev in devs:
        await _keys(api, dev)
    cid = await api.circle(devs[0], "m0")
    for i, dev in enumerate(devs[1:], start=1):
        await api.join(devs[0], cid, dev, f"m{i}")
    r = await _rekey(api, devs[0], cid, 0, [d.id for d in devs])
    assert r.status_code == 200 and r.json()["epoch"] == 1, r.text
    return cid, devs


async def _epoch(api: Api, dev: Device, cid: str) -> Any:
    r = await api.call("GET", f"/v1/circles/{cid}/epoch", dev.token)
    assert r.status_code == 200, r.text
    return r.json()


# -- rekey ------------------------------------------------------------------------------


async def test_a_device_reads_only_its_own_wraps(api: Api) -> None:
    cid, (ada, bob) = await _encrypted(api, 2)
    assert (await _rekey(api, bob, cid, 1, [ada.id, bob.id], "2:")).status_code == 200
    mine = await _epoch(api, bob, cid)
    assert mine["epoch"] == 2 and mine["wrap"] == wrap(f"2:{bob.id}")
    assert mine["wraps"] == [
        {"epoch": 1, "wrap": wrap(bob.id)},
        {"epoch": 2, "wrap": wrap(f"2:{bob.id}")},
    ]
    assert (await _epoch(api, ada, cid))["wrap"] == wrap(f"2:{ada.id}")


async def test_a_rekey_at_a_stale_epoch_is_409_and_stores_nothing(api: Api) -> None:
    cid, (ada, bob) = await _encrypted(api, 2)
    r = await _rekey(api, bob, cid, 0, [ada.id, bob.id], "stale:")
    assert r.status_code == 409 and r.json()["error"] == "epoch_conflict"
    assert (await _epoch(api, bob, cid))["wraps"] == [{"epoch": 1, "wrap": wrap(bob.id)}]


async def test_the_wrap_set_must_be_exactly_the_member_devices(api: Api) -> None:
    cid, (ada, bob, cy) = await _encrypted(api, 3)
    outsider = await api.device(api.org()[1])
    for devs in (
        [ada.id, bob.id],
        [ada.id, bob.id, cy.id, outsider.id],
        [ada.id, bob.id, outsider.id],
    ):
        r = await _rekey(api, ada, cid, 1, devs)
        assert r.status_code == 422 and r.json()["error"] == "wrap_set_mismatch", devs
    assert (await _epoch(api, ada, cid))["epoch"] == 1
    # After a removal the remaining devices are the set, and the removed one is refused.
    assert (await api.call("DELETE", f"/v1/circles/{cid}/members/m2", ada.token)).status_code == 204
    assert (await _rekey(api, ada, cid, 1, [ada.id, bob.id, cy.id])).status_code == 422
    assert (await _rekey(api, ada, cid, 1, [ada.id, bob.id])).status_code == 200
    assert (await api.call("GET", f"/v1/circles/{cid}/epoch", cy.token)).status_code == 404


async def test_a_revoked_device_is_not_a_member_device(api: Api) -> None:
    _, admin_token = api.org()
    ada, bob = await api.device(admin_token), await api.device(admin_token)
    cid = await api.circle(ada, "m0")
    await api.join(ada, cid, bob, "m1")
    assert (await api.call("DELETE", f"/v1/devices/{bob.id}", admin_token)).status_code == 204
    assert (await _rekey(api, ada, cid, 0, [ada.id, bob.id])).status_code == 422
    assert (await _rekey(api, ada, cid, 0, [ada.id])).status_code == 200


async def test_ten_concurrent_rekeys_one_wins_and_no_wrap_is_lost(api: Api) -> None:
    """SEC-06: ten rekeys at the same expected epoch, at once."""
    cid, devs = await _encrypted(api, 3)
    ids = [d.id for d in devs]
    answers = await asyncio.gather(
        *(_rekey(api, devs[i % 3], cid, 1, ids, f"r{i}:") for i in range(10))
    )
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] + [409] * 9
    assert all(r.json()["error"] == "epoch_conflict" for r in answers if r.status_code == 409)
    winner = next(i for i, r in enumerate(answers) if r.status_code == 200)
    with api.engine.connect() as conn:
        stored = conn.execute(
            select(wraps.c.device_id, wraps.c.wrap).where(
                wraps.c.circle_id == cid, wraps.c.epoch == 2
            )
        ).all()
    assert {d: bytes(w) for d, w in stored} == {
        d: base64.b64decode(wrap(f"r{winner}:{d}")) for d in ids
    }
    for dev in devs:
        assert (await _epoch(api, dev, cid))["wrap"] == wrap(f"r{winner}:{dev.id}")


# -- pending joins ------------------------------------------------------------------------


async def _invite(api: Api, dev: Device, cid: str, member_id: str) -> str:
    r = await api.call(
        "POST", f"/v1/circles/{cid}/invites", dev.token, json={"member_id": member_id}
    )
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


async def test_a_joiner_waits_until_a_rekey_confirms_it(api: Api) -> None:
    cid, (ada, bob, cy) = await _encrypted(api, 3)
    bea = await api.device(api.org()[1])
    code = await _invite(api, bob, cid, "bea")
    r = await api.call(
        "POST", "/v1/invites/redeem", bea.token, json={"code": code, "bundle": "AAAA"}
    )
    assert r.status_code == 422 and r.json()["error"] == "keys_required"
    await _keys(api, bea)
    too_big = base64.b64encode(bytes(2052)).decode()
    r = await api.call(
        "POST", "/v1/invites/redeem", bea.token, json={"code": code, "bundle": too_big}
    )
    assert r.status_code == 422  # a bundle is at most 2 KiB
    bundle = base64.b64encode(b'{"v":1,"member_id":"bea","mac":"signed"}').decode()
    r = await api.call(
        "POST", "/v1/invites/redeem", bea.token, json={"code": code, "bundle": bundle}
    )
    assert (
        r.status_code == 200 and r.json()["status"] == "pending" and r.json()["member_id"] == "bea"
    )
    # Pending: not a member yet, nothing to read; the members see the join and its bundle.
    assert (await api.call("GET", f"/v1/circles/{cid}", bea.token)).status_code == 404
    assert (await api.pull(bea, {cid: 0})).json()["denied"] == [cid]
    assert (await api.call("GET", "/v1/me", bea.token)).json()["pending"] == [cid]
    seen = (await api.call("GET", f"/v1/circles/{cid}", cy.token)).json()
    assert [
        (j["device_id"], j["member_id"], j["invited_by"], j["bundle"], j["x25519"])
        for j in seen["joins"]
    ] == [(bea.id, "bea", bob.id, bundle, KEY)]
    assert (await api.pull(cy, {cid: 0})).json()["circles"][cid]["joins"] == 1
    members = [ada.id, bob.id, cy.id]
    # A member who neither made the invite nor convenes may not confirm it.
    r = await _rekey(api, cy, cid, 1, [*members, bea.id])
    assert r.status_code == 403
    # The inviter confirms: she is a member from this epoch on, with her wrap.
    assert (await _rekey(api, bob, cid, 1, [*members, bea.id])).status_code == 200
    mine = await _epoch(api, bea, cid)
    assert mine["epoch"] == 2 and mine["wraps"] == [{"epoch": 2, "wrap": wrap(bea.id)}]
    info = (await api.call("GET", f"/v1/circles/{cid}", ada.token)).json()
    assert info["joins"] == [] and ("bea", "member") in {
        (m["member_id"], m["role"]) for m in info["members"]
    }
    assert (await api.call("GET", "/v1/me", bea.token)).json()["pending"] == []


async def test_a_rekey_may_leave_a_pending_joiner_out(api: Api) -> None:
    cid, (ada, bob) = await _encrypted(api, 2)
    bea = await api.device(api.org()[1])
    await _keys(api, bea)
    code = await _invite(api, ada, cid, "bea")
    await api.call("POST", "/v1/invites/redeem", bea.token, json={"code": code})
    assert (await _rekey(api, bob, cid, 1, [ada.id, bob.id])).status_code == 200
    assert (await api.call("GET", "/v1/me", bea.token)).json()["pending"] == [cid]
    # A convener may confirm any join.
    assert (await _rekey(api, ada, cid, 2, [ada.id, bob.id, bea.id])).status_code == 200
    assert (await _epoch(api, bea, cid))["epoch"] == 3


# -- push under epochs --------------------------------------------------------------------


async def test_a_push_under_a_retired_epoch_is_refused_clearly(api: Api) -> None:
    cid, (ada, bob) = await _encrypted(api, 2)
    r = await api.push(ada, cid, [envelope("a", epoch=1)])
    assert r.status_code == 200
    assert (await _rekey(api, bob, cid, 1, [ada.id, bob.id])).status_code == 200
    for epoch, code in ((1, "epoch_retired"), (0, "epoch_retired"), (3, "epoch_unknown")):
        r = await api.push(ada, cid, [envelope("n", epoch=2), envelope("b", epoch=epoch)])
        assert r.status_code == 409 and r.json()["error"] == code
    # Nothing of a refused push was stored; the re-sealed op goes through.
    r = await api.push(ada, cid, [envelope("b", b"resealed", epoch=2)])
    assert r.json()["results"] == [{"op_id": "b", "seq": 2}]


async def test_a_known_op_keeps_its_seq_whatever_its_new_seal(api: Api) -> None:
    """SEC-20 with encryption: a retry re-sealed with a new nonce or a new epoch is the
    same op; the first write wins and it is stored once."""
    cid, (ada, bob) = await _encrypted(api, 2)
    assert (await api.push(ada, cid, [envelope("a", b"one", epoch=1)])).json()["results"][0][
        "seq"
    ] == 1
    r = await api.push(ada, cid, [envelope("a", b"two", epoch=1, nonce="AAAA")])
    assert r.status_code == 200 and r.json()["results"] == [{"op_id": "a", "seq": 1}]
    assert (await _rekey(api, bob, cid, 1, [ada.id, bob.id])).status_code == 200
    r = await api.push(ada, cid, [envelope("a", b"three", epoch=2), envelope("c", epoch=2)])
    assert r.json()["results"] == [{"op_id": "a", "seq": 1}, {"op_id": "c", "seq": 2}]
    ops = (await api.pull(bob, {cid: 0})).json()["circles"][cid]["ops"]
    assert [(o["op_id"], o["epoch"], base64.b64decode(o["payload"])) for o in ops] == [
        ("a", 1, b"one"),
        ("c", 2, b"hello"),
    ]


async def test_pull_names_the_pushing_device_and_a_push_cannot_name_another(api: Api) -> None:
    cid, (ada, bob) = await _encrypted(api, 2)
    r = await api.push(ada, cid, [{**envelope("x", epoch=1), "device_id": bob.id}])
    assert r.status_code == 403 and r.json()["error"] == "device_mismatch"
    assert (
        await api.push(ada, cid, [{**envelope("x", epoch=1), "device_id": ada.id}])
    ).status_code == 200
    assert (await api.push(bob, cid, [envelope("y", epoch=1)])).status_code == 200
    pulled = (await api.pull(bob, {cid: 0})).json()["circles"][cid]
    assert [(o["op_id"], o["device_id"]) for o in pulled["ops"]] == [("x", ada.id), ("y", bob.id)]
    assert pulled["epoch"] == 1


async def test_after_a_removal_the_removed_device_gets_nothing_new(api: Api) -> None:
    """SEC-05, the exchange's part: the removed device gets 404, no wrap of the next
    epoch, its late ops are refused, and every op accepted after the rekey is at the new
    epoch."""
    cid, (ada, bob, cy) = await _encrypted(api, 3)
    assert (await api.push(bob, cid, [envelope("before", epoch=1)])).status_code == 200
    assert (await api.call("DELETE", f"/v1/circles/{cid}/members/m1", ada.token)).status_code == 204
    assert (await api.push(bob, cid, [envelope("late", epoch=1)])).status_code == 404
    assert (await _rekey(api, ada, cid, 1, [ada.id, cy.id], "2:")).status_code == 200
    assert (await api.call("GET", f"/v1/circles/{cid}/epoch", bob.token)).status_code == 404
    with api.engine.connect() as conn:
        epochs = conn.execute(select(wraps.c.epoch).where(wraps.c.device_id == bob.id)).scalars()
        assert list(epochs) == [1]
    assert (await api.push(cy, cid, [envelope("stale", epoch=1)])).status_code == 409
    assert (await api.push(cy, cid, [envelope("after", epoch=2)])).status_code == 200
    pulled = (await api.pull(ada, {cid: 0})).json()["circles"][cid]["ops"]
    assert [(o["op_id"], o["epoch"]) for o in pulled] == [("before", 1), ("after", 2)]
    assert (await api.pull(bob, {cid: 0})).json()["denied"] == [cid]
