"""Protocol tests, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from .helpers import T0, Api, FakeClock, envelope, uid


async def test_health_needs_no_token_and_carries_time(api: Api) -> None:
    r = await api.call("GET", "/v1/health")
    assert r.status_code == 200
    assert r.json() == {"ok": True, "time": T0}
    assert r.headers["x-exchange-time"] == str(T0)


async def test_enroll_device_and_me(api: Api) -> None:
    org_id, admin_token = api.org()
    dev = await api.device(admin_token, name="Ada's laptop")
    assert dev.org_id == org_id and dev.token.startswith("xcd_")
    r = await api.call("GET", "/v1/me", dev.token)
    assert r.status_code == 200
    assert r.json()["device_id"] == dev.id and r.json()["circles"] == []
    assert r.json()["time"] == T0


async def test_enrollment_token_is_single_use_and_expires(api: Api, clock: FakeClock) -> None:
    _, admin_token = api.org()
    r = await api.call("POST", "/v1/enrollments", admin_token, json={"ttl_seconds": 60})
    assert r.status_code == 201 and r.json()["expires_at"] == T0 + 60_000
    token = r.json()["token"]
    assert token.startswith("xce_")
    assert (await api.call("POST", "/v1/devices", token, json={"name": "a"})).status_code == 201
    again = await api.call("POST", "/v1/devices", token, json={"name": "b"})
    assert again.status_code == 401 and again.json()["error"] == "unauthorized"
    r = await api.call("POST", "/v1/enrollments", admin_token, json={"ttl_seconds": 60})
    clock.advance(61)
    late = await api.call("POST", "/v1/devices", r.json()["token"], json={"name": "c"})
    assert late.status_code == 401


async def test_circle_create_is_idempotent_and_collision_is_409(api: Api) -> None:
    _, admin_token = api.org()
    a, b = await api.device(admin_token), await api.device(admin_token)
    circle_id = await api.circle(a)
    body = {"circle_id": circle_id, "member_id": "m1"}
    assert (await api.call("POST", "/v1/circles", a.token, json=body)).status_code == 200
    r = await api.call("POST", "/v1/circles", b.token, json=body)
    assert r.status_code == 409 and r.json()["error"] == "circle_exists"
    me = await api.call("GET", "/v1/me", a.token)
    assert me.json()["circles"] == [circle_id]


async def test_invite_redeem_single_use_and_expiry(api: Api, clock: FakeClock) -> None:
    _, admin_token = api.org()
    a = await api.device(admin_token)
    b = await api.device(admin_token)
    c = await api.device(admin_token)
    circle_id = await api.circle(a)
    r = await api.call("POST", f"/v1/circles/{circle_id}/invites", a.token, json={})
    code = r.json()["code"]
    assert r.status_code == 201 and code.startswith("xci_")
    redeem = {"code": code, "member_id": "m2"}
    r = await api.call("POST", "/v1/invites/redeem", b.token, json=redeem)
    assert r.status_code == 200 and r.json()["circle_id"] == circle_id
    r = await api.call("POST", "/v1/invites/redeem", c.token, json=redeem)
    assert r.status_code == 404 and r.json()["error"] == "invite_not_found"
    r = await api.call(
        "POST", f"/v1/circles/{circle_id}/invites", a.token, json={"ttl_seconds": 60}
    )
    clock.advance(60)
    r = await api.call(
        "POST", "/v1/invites/redeem", c.token, json={"code": r.json()["code"], "member_id": "m3"}
    )
    assert r.status_code == 404
    info = await api.call("GET", f"/v1/circles/{circle_id}", b.token)
    assert info.status_code == 200
    members = {(m["member_id"], m["device_id"]) for m in info.json()["members"]}
    assert members == {("m1", a.id), ("m2", b.id)}


async def test_push_is_idempotent_and_conflicts_roll_back(api: Api) -> None:
    _, admin_token = api.org()
    a = await api.device(admin_token)
    circle_id = await api.circle(a)
    r = await api.push(a, circle_id, [envelope("x"), envelope("y", b"\x00\xff")])
    assert r.status_code == 200
    assert r.json()["results"] == [{"op_id": "x", "seq": 1}, {"op_id": "y", "seq": 2}]
    assert r.json()["next_seq"] == 3
    # Re-push (a retry after a lost answer) returns the original seqs, adds nothing.
    r = await api.push(a, circle_id, [envelope("y", b"\x00\xff"), envelope("z")])
    assert r.json()["results"] == [{"op_id": "y", "seq": 2}, {"op_id": "z", "seq": 3}]
    # Same id, different bytes: 409, and the whole push (incl. the new op "w") rolls back.
    r = await api.push(a, circle_id, [envelope("w"), envelope("x", b"other")])
    assert r.status_code == 409 and r.json()["error"] == "op_conflict"
    r = await api.push(a, circle_id, [envelope("v"), envelope("v", b"other")])
    assert r.status_code == 409
    pulled = (await api.pull(a, {circle_id: 0})).json()["circles"][circle_id]
    assert [op["op_id"] for op in pulled["ops"]] == ["x", "y", "z"]
    assert pulled["ops"][1] == {
        "seq": 2,
        "op_id": "y",
        "epoch": 0,
        "nonce": "",
        "payload": "AP8=",
        "device_id": a.id,
    }


async def test_pull_is_contiguous_with_limit_shared_across_circles(api: Api) -> None:
    _, admin_token = api.org()
    a = await api.device(admin_token)
    c1, c2 = await api.circle(a), await api.circle(a)
    await api.push(a, c1, [envelope(f"a{i}") for i in range(5)])
    await api.push(a, c2, [envelope(f"b{i}") for i in range(3)])
    r = await api.pull(a, {c1: 0, c2: 0}, limit=4)
    body = r.json()
    assert body["circles"][c1]["next"] == 4 and body["circles"][c1]["more"] is True
    assert body["circles"][c2] == {"ops": [], "next": 0, "more": True, "epoch": 0, "joins": 0}
    r = await api.pull(a, {c1: 4, c2: 0}, limit=4)
    body = r.json()
    assert [op["seq"] for op in body["circles"][c1]["ops"]] == [5]
    assert [op["seq"] for op in body["circles"][c2]["ops"]] == [1, 2, 3]
    assert body["circles"][c1]["more"] is False and body["circles"][c2]["more"] is False
    # Nothing new: one round trip, empty lists, more false.
    r = await api.pull(a, {c1: 5, c2: 3})
    assert r.json()["circles"] == {
        c1: {"ops": [], "next": 5, "more": False, "epoch": 0, "joins": 0},
        c2: {"ops": [], "next": 3, "more": False, "epoch": 0, "joins": 0},
    }
    assert r.json()["denied"] == []


async def test_removed_member_is_denied_and_gets_404(api: Api) -> None:
    _, admin_token = api.org()
    a, b = await api.device(admin_token), await api.device(admin_token)
    c1, c2 = await api.circle(a), await api.circle(b)
    await api.join(a, c1, b, "m2")
    await api.push(a, c1, [envelope("x")])
    r = await api.call("DELETE", f"/v1/circles/{c1}/members/m2", a.token)
    assert r.status_code == 204
    assert (await api.call("GET", f"/v1/circles/{c1}", b.token)).status_code == 404
    unknown = uid()
    r = await api.pull(b, {c1: 0, c2: 0, unknown: 0})
    assert r.status_code == 200
    assert r.json()["denied"] == [c1, unknown]
    assert r.json()["circles"] == {
        c2: {"ops": [], "next": 0, "more": False, "epoch": 0, "joins": 0}
    }
    assert (await api.push(b, c1, [envelope("y")])).status_code == 404
    # Leaving: a member may remove itself.
    assert (await api.call("DELETE", f"/v1/circles/{c1}/members/m1", a.token)).status_code == 204
    assert (await api.call("GET", f"/v1/circles/{c1}", a.token)).status_code == 404


async def test_revoked_device_gets_401(api: Api) -> None:
    _, admin_token = api.org()
    a, b = await api.device(admin_token), await api.device(admin_token)
    assert (await api.call("DELETE", f"/v1/devices/{a.id}", admin_token)).status_code == 204
    r = await api.call("GET", "/v1/me", a.token)
    assert r.status_code == 401 and r.json() == {
        "error": "unauthorized",
        "message": "missing or invalid token",
    }
    assert (await api.call("DELETE", f"/v1/devices/{b.id}", b.token)).status_code == 204
    assert (await api.call("GET", "/v1/me", b.token)).status_code == 401


async def test_every_response_has_exchange_time(api: Api) -> None:
    _, admin_token = api.org()
    a = await api.device(admin_token)
    responses = [
        await api.call("GET", "/v1/me"),  # 401
        await api.call("GET", "/v1/me", admin_token),  # 403
        await api.call("GET", f"/v1/circles/{uid()}", a.token),  # 404
        await api.call("POST", "/v1/pull", a.token, content=b"{not json"),  # 422
        await api.call("GET", "/nowhere"),  # framework 404
        await api.call("PUT", "/v1/me", a.token),  # 405
        await api.call("GET", "/v1/me", a.token),  # 200
    ]
    assert [r.status_code for r in responses] == [401, 403, 404, 422, 404, 405, 200]
    for r in responses:
        assert r.headers["x-exchange-time"] == str(T0)
        if r.status_code >= 400:
            assert set(r.json()) == {"error", "message"}


async def test_errors_never_echo_tokens_or_payloads(api: Api) -> None:
    _, admin_token = api.org()
    a = await api.device(admin_token)
    circle_id = await api.circle(a)
    secret = "xcd_" + "S" * 43
    r = await api.push(a, circle_id, [{"op_id": "x", "epoch": 0, "nonce": secret, "payload": 7}])
    assert r.status_code == 422 and secret not in r.text and "7" not in r.json()["message"]
    r = await api.call("GET", "/v1/me", secret)
    assert r.status_code == 401 and secret not in r.text


async def test_schema_is_migrated_once_and_reopens(make_app: Callable[..., FastAPI]) -> None:
    from sqlalchemy import select

    from sync.exchange.db import SCHEMA_VERSION, schema_version

    make_app()
    app = make_app()  # a second start (another worker) finds the schema in place
    with app.state.ctx.engine.connect() as conn:
        versions = conn.execute(select(schema_version.c.version)).scalars().all()
    assert versions == list(range(1, SCHEMA_VERSION + 1))
