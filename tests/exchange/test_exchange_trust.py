"""Roles, removal, invites and device keys on the exchange (issue 8), on SQLite and
PostgreSQL: what the exchange enforces without reading any content."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from sync.exchange.db import invites

from .conftest import PG_ADMIN_DSN
from .helpers import T0, Api, Device, FakeClock, uid

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_B = base64.b64encode(bytes(range(1, 33))).decode()


async def _keys(api: Api, dev: Device, key: str = KEY_A) -> None:
    r = await api.call(
        "PUT", "/v1/devices/me/keys", dev.token, json={"x25519": key, "ed25519": key}
    )
    assert r.status_code == 200, r.text


async def _circle(api: Api, n: int) -> tuple[str, list[Device]]:
    """A circle made by devs[0] (m0, convener) with devs[1..n-1] joined as m1…"""
    _, admin_token = api.org()
    devs = [await api.device(admin_token) for _ in range(n)]
    cid = await api.circle(devs[0], "m0")
    for i, dev in enumerate(devs[1:], start=1):
        await api.join(devs[0], cid, dev, f"m{i}")
    return cid, devs


async def _members(api: Api, dev: Device, cid: str) -> dict[str, Any]:
    r = await api.call("GET", f"/v1/circles/{cid}", dev.token)
    assert r.status_code == 200, r.text
    return {m["member_id"]: m for m in r.json()["members"]}


async def _remove(api: Api, dev: Device, cid: str, member_id: str) -> int:
    r = await api.call("DELETE", f"/v1/circles/{cid}/members/{member_id}", dev.token)
    return r.status_code


async def _role(api: Api, dev: Device, cid: str, member_id: str, role: str) -> Any:
    return await api.call(
        "PUT", f"/v1/circles/{cid}/members/{member_id}/role", dev.token, json={"role": role}
    )


# -- roles and removal --------------------------------------------------------------------


async def test_creator_is_convener_and_only_conveners_change_roles(api: Api) -> None:
    cid, (ada, bob, cy) = await _circle(api, 3)
    roles = {m: v["role"] for m, v in (await _members(api, ada, cid)).items()}
    assert roles == {"m0": "convener", "m1": "member", "m2": "member"}
    r = await _role(api, bob, cid, "m1", "convener")  # a member cannot promote itself
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    r = await _role(api, ada, cid, "m1", "convener")
    assert r.status_code == 200 and r.json()["role"] == "convener"
    assert (await _members(api, cy, cid))["m1"]["role"] == "convener"
    assert (await _role(api, ada, cid, "nobody", "member")).status_code == 404
    r = await api.call(
        "PUT", f"/v1/circles/{cid}/members/m1/role", ada.token, json={"role": "admin"}
    )
    assert r.status_code == 422


async def test_the_last_convener_cannot_be_demoted_nor_leave_others_behind(api: Api) -> None:
    cid, (ada, bob) = await _circle(api, 2)
    r = await _role(api, ada, cid, "m0", "member")
    assert r.status_code == 409 and r.json()["error"] == "last_convener"
    assert await _remove(api, ada, cid, "m0") == 409
    assert (await _role(api, ada, cid, "m1", "convener")).status_code == 200
    assert (await _role(api, bob, cid, "m0", "member")).status_code == 200  # two: fine
    assert await _remove(api, ada, cid, "m0") == 204  # a member may leave
    assert await _remove(api, bob, cid, "m1") == 204  # the last one leaves an empty circle


async def test_only_a_convener_removes_others_and_anyone_may_leave(api: Api) -> None:
    cid, (ada, bob, cy) = await _circle(api, 3)
    # A guest removing the circle's creator, or another guest: refused.
    assert await _remove(api, bob, cid, "m0") == 403
    assert await _remove(api, bob, cid, "m2") == 403
    assert set(await _members(api, ada, cid)) == {"m0", "m1", "m2"}
    assert await _remove(api, ada, cid, "m404") == 404
    assert await _remove(api, cy, cid, "m2") == 204  # leaving
    assert await _remove(api, ada, cid, "m1") == 204
    assert set(await _members(api, ada, cid)) == {"m0"}


async def test_a_removed_device_gets_404_everywhere(api: Api) -> None:
    cid, (ada, bob) = await _circle(api, 2)
    assert await _remove(api, ada, cid, "m1") == 204
    for method, path, body in [
        ("GET", f"/v1/circles/{cid}", None),
        ("GET", f"/v1/circles/{cid}/epoch", None),
        ("POST", f"/v1/circles/{cid}/invites", {}),
        ("POST", f"/v1/circles/{cid}/epochs", {"expected": 0, "wraps": {ada.id: KEY_A}}),
        ("PUT", f"/v1/circles/{cid}/members/m1/role", {"role": "convener"}),
        ("DELETE", f"/v1/circles/{cid}/members/m0", None),
        (
            "POST",
            f"/v1/circles/{cid}/ops",
            {"ops": [{"op_id": "x", "epoch": 0, "nonce": "", "payload": ""}]},
        ),
    ]:
        r = await api.call(method, path, bob.token, **({} if body is None else {"json": body}))
        assert r.status_code == 404, (method, path, r.text)
    r = await api.pull(bob, {cid: 0})
    assert r.json()["denied"] == [cid]
    me = (await api.call("GET", "/v1/me", bob.token)).json()
    assert cid not in me["circles"] and cid not in me["pending"]


# -- member ids ---------------------------------------------------------------------------


async def test_a_joiner_cannot_take_another_members_id(api: Api) -> None:
    cid, (ada, bob) = await _circle(api, 2)
    _, admin_b = api.org()
    mallory = await api.device(admin_b)
    code = (await api.call("POST", f"/v1/circles/{cid}/invites", ada.token, json={})).json()
    for taken in ("m0", "m1"):
        r = await api.call(
            "POST",
            "/v1/invites/redeem",
            mallory.token,
            json={"code": code["code"], "member_id": taken},
        )
        assert r.status_code == 409 and r.json()["error"] == "member_id_taken"
    # The refused attempts left the invite usable for a fresh id.
    r = await api.call(
        "POST", "/v1/invites/redeem", mallory.token, json={"code": code["code"], "member_id": "m9"}
    )
    assert r.status_code == 200 and r.json()["member_id"] == "m9"
    members = await _members(api, ada, cid)
    assert members["m1"]["device_id"] == bob.id and members["m9"]["device_id"] == mallory.id


async def test_a_removed_members_id_is_never_given_to_someone_else(api: Api) -> None:
    cid, (ada, _bob) = await _circle(api, 2)
    assert await _remove(api, ada, cid, "m1") == 204
    newcomer = await api.device(api.org()[1])
    code = (await api.call("POST", f"/v1/circles/{cid}/invites", ada.token, json={})).json()["code"]
    r = await api.call(
        "POST", "/v1/invites/redeem", newcomer.token, json={"code": code, "member_id": "m1"}
    )
    assert r.status_code == 409
    r = await api.call("POST", f"/v1/circles/{cid}/invites", ada.token, json={"member_id": "m1"})
    assert r.status_code == 409 and r.json()["error"] == "member_id_taken"


async def test_an_invite_made_for_a_member_id_gives_that_id(api: Api) -> None:
    cid, (ada, bob) = await _circle(api, 2)
    joiner = await api.device(api.org()[1])
    r = await api.call("POST", f"/v1/circles/{cid}/invites", bob.token, json={"member_id": "m7"})
    assert r.status_code == 201 and r.json()["member_id"] == "m7"
    code = r.json()["code"]
    # A second invite promising the same id is refused while the first is open.
    r = await api.call("POST", f"/v1/circles/{cid}/invites", ada.token, json={"member_id": "m7"})
    assert r.status_code == 409
    r = await api.call(
        "POST", "/v1/invites/redeem", joiner.token, json={"code": code, "member_id": "m0"}
    )
    assert r.status_code == 409 and r.json()["error"] == "member_id_taken"
    r = await api.call("POST", "/v1/invites/redeem", joiner.token, json={"code": code})
    assert r.status_code == 200 and r.json() == {
        "circle_id": cid,
        "member_id": "m7",
        "status": "member",
        "time": T0,
    }


async def test_a_member_invites_its_own_second_device(api: Api) -> None:
    cid, (ada, bob) = await _circle(api, 2)
    _, admin_token = api.org()
    bob2 = await api.device(admin_token)
    r = await api.call("POST", f"/v1/circles/{cid}/invites", bob.token, json={"member_id": "m1"})
    assert r.status_code == 201
    r = await api.call("POST", "/v1/invites/redeem", bob2.token, json={"code": r.json()["code"]})
    assert r.json()["member_id"] == "m1"
    r = await api.call("GET", f"/v1/circles/{cid}", ada.token)
    assert sorted(m["device_id"] for m in r.json()["members"] if m["member_id"] == "m1") == sorted(
        [bob.id, bob2.id]
    )


# -- invites: who may redeem, how long ---------------------------------------------------


async def test_an_invite_dies_when_its_maker_is_removed(api: Api) -> None:
    cid, (ada, bob) = await _circle(api, 2)
    joiner = await api.device(api.org()[1])
    r = await api.call("POST", f"/v1/circles/{cid}/invites", bob.token, json={})
    code = r.json()["code"]
    assert await _remove(api, ada, cid, "m1") == 204
    r = await api.call(
        "POST", "/v1/invites/redeem", joiner.token, json={"code": code, "member_id": "mj"}
    )
    assert r.status_code == 404 and r.json()["error"] == "invite_not_found"


async def test_a_removed_member_cannot_redeem_her_own_old_invite(api: Api) -> None:
    cid, (ada, bob) = await _circle(api, 2)
    r = await api.call("POST", f"/v1/circles/{cid}/invites", bob.token, json={})
    code = r.json()["code"]
    assert await _remove(api, ada, cid, "m1") == 204
    for member_id in ("m1", "mx"):
        r = await api.call(
            "POST", "/v1/invites/redeem", bob.token, json={"code": code, "member_id": member_id}
        )
        assert r.status_code == 404
    assert (await api.pull(bob, {cid: 0})).json()["denied"] == [cid]


async def test_an_invite_dies_when_its_makers_device_is_revoked(api: Api) -> None:
    _, admin_token = api.org()
    ada, bob = await api.device(admin_token), await api.device(admin_token)
    cid = await api.circle(ada, "m0")
    await api.join(ada, cid, bob, "m1")
    joiner = await api.device(api.org()[1])
    code = (await api.call("POST", f"/v1/circles/{cid}/invites", bob.token, json={})).json()["code"]
    assert (await api.call("DELETE", f"/v1/devices/{bob.id}", admin_token)).status_code == 204
    r = await api.call(
        "POST", "/v1/invites/redeem", joiner.token, json={"code": code, "member_id": "mj"}
    )
    assert r.status_code == 404


async def test_an_invite_lives_72_hours_by_default(api: Api, clock: FakeClock) -> None:
    cid, (ada,) = await _circle(api, 1)
    joiner = await api.device(api.org()[1])
    r = await api.call("POST", f"/v1/circles/{cid}/invites", ada.token, json={})
    assert r.json()["expires_at"] == T0 + 72 * 3600 * 1000
    clock.advance(72 * 3600)
    r = await api.call(
        "POST",
        "/v1/invites/redeem",
        joiner.token,
        json={"code": r.json()["code"], "member_id": "mj"},
    )
    assert r.status_code == 404


async def test_a_client_token_invite_stores_only_its_hash(api: Api) -> None:
    cid, (ada,) = await _circle(api, 1)
    joiner = await api.device(api.org()[1])
    token = "xci_" + uid() + uid() + uid()
    r = await api.call("POST", f"/v1/circles/{cid}/invites", ada.token, json={"token": token})
    assert r.status_code == 201 and r.json()["code"] is None
    with api.engine.connect() as conn:
        stored = conn.execute(select(invites.c.hash).where(invites.c.circle_id == cid)).scalars()
        assert list(stored) == [hashlib.sha256(token.encode()).hexdigest()]
    r = await api.call("POST", f"/v1/circles/{cid}/invites", ada.token, json={"token": "xci_short"})
    assert r.status_code == 422
    r = await api.call(
        "POST", "/v1/invites/redeem", joiner.token, json={"code": token, "member_id": "mj"}
    )
    assert r.status_code == 200 and r.json()["circle_id"] == cid


# -- device keys --------------------------------------------------------------------------


async def test_device_keys_are_set_once_and_shown_to_circle_members(api: Api) -> None:
    cid, (ada, bob) = await _circle(api, 2)
    await _keys(api, bob)
    await _keys(api, bob)  # the same keys again: fine
    r = await api.call(
        "PUT", "/v1/devices/me/keys", bob.token, json={"x25519": KEY_B, "ed25519": KEY_B}
    )
    assert r.status_code == 409 and r.json()["error"] == "keys_already_set"
    r = await api.call(
        "PUT", "/v1/devices/me/keys", bob.token, json={"x25519": "AAAA", "ed25519": KEY_A}
    )
    assert r.status_code == 422
    members = await _members(api, ada, cid)
    assert members["m1"]["x25519"] == KEY_A and members["m1"]["ed25519"] == KEY_A
    assert members["m0"]["x25519"] is None


async def test_a_device_may_bring_its_keys_to_enrollment(api: Api) -> None:
    _, admin_token = api.org()
    enroll = (await api.call("POST", "/v1/enrollments", admin_token, json={})).json()["token"]
    body = {"name": "laptop", "keys": {"x25519": KEY_A, "ed25519": KEY_B}}
    r = await api.call("POST", "/v1/devices", enroll, json=body)
    assert r.status_code == 201
    dev = Device(r.json()["device_id"], r.json()["token"], r.json()["org_id"])
    cid = await api.circle(dev, "m0")
    me = (await _members(api, dev, cid))["m0"]
    assert (me["x25519"], me["ed25519"]) == (KEY_A, KEY_B)


# -- upgrading an exchange -----------------------------------------------------------------


@pytest.fixture
def empty_db_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own, empty: a fresh SQLite file, or a new PostgreSQL database
    (the session's shared one already holds the current schema)."""
    if not db_url.startswith("postgresql"):
        yield db_url
        return
    name = "xc_upgrade_" + uid()
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield db_url.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_an_existing_exchange_upgrades_with_creators_as_conveners(empty_db_url: str) -> None:
    """A v1 database (made by the frozen v1 DDL, as an exchange of the previous release
    left it) migrates: the creator's member, on all its devices, becomes convener; the
    circle stays at epoch 0 (plaintext, until a member's device upgrades it)."""
    from sqlalchemy import insert, text

    from sync.exchange import db, schema_v1

    db_url = empty_db_url
    engine = db.make_engine(db_url)
    org, cid = uid("org-"), uid()
    dev = [uid() for _ in range(3)]
    with db.write_tx(engine) as conn:
        schema_v1.create_v1(conn)
        db.schema_version.create(conn)
        conn.execute(insert(db.schema_version).values(version=1, applied=T0))
        conn.execute(text("INSERT INTO organizations VALUES (:o, :o, 0)"), {"o": org})
        for d in dev:
            conn.execute(
                text("INSERT INTO devices VALUES (:d, :o, 'x', 0, NULL)"), {"d": d, "o": org}
            )
        conn.execute(text("INSERT INTO circles VALUES (:c, :d, 1, 0)"), {"c": cid, "d": dev[0]})
        for d, m in zip(dev, ["ada", "ada", "bob"], strict=True):
            conn.execute(
                text("INSERT INTO circle_members VALUES (:c, :d, :m, 0, NULL)"),
                {"c": cid, "d": d, "m": m},
            )
    engine.dispose()
    engine = db.open_db(db_url, T0)
    try:
        with engine.connect() as conn:
            roles = dict(
                conn.execute(select(db.circle_members.c.device_id, db.circle_members.c.role)).all()
            )
            epoch = conn.execute(select(db.circles.c.epoch)).scalar_one()
            version = (
                conn.execute(
                    select(db.schema_version.c.version).order_by(db.schema_version.c.version.desc())
                )
                .scalars()
                .first()
            )
    finally:
        engine.dispose()
    assert roles == {dev[0]: "convener", dev[1]: "convener", dev[2]: "member"}
    assert epoch == 0 and version == db.SCHEMA_VERSION
