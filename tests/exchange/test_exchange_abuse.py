"""Hostile use of the exchange (SEC-08, SEC-17 in process, SEC-18): single-use invites
under concurrency, races that must answer 409 instead of 500, op and pull sizes, quotas
and shared rate limits. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from collections.abc import Callable

import pytest
from fastapi import FastAPI

from .helpers import Api, Device, FakeClock, envelope, uid

HOUR = 3600


async def _members(api: Api, n: int, admin_token: str) -> list[Device]:
    return [await api.device(admin_token) for _ in range(n)]


async def test_an_invite_admits_exactly_one_of_20_parallel_redeems(
    make_app: Callable[..., FastAPI],
) -> None:
    """SEC-08: single use under parallel redeems (fresh member ids: the owner's `m1` would
    be refused as taken)."""
    api = Api(make_app(db_pool_size=25))
    _, admin_token = api.org()
    owner = await api.device(admin_token)
    circle_id = await api.circle(owner)
    devices = await _members(api, 20, admin_token)
    code = (
        await api.call("POST", f"/v1/circles/{circle_id}/invites", owner.token, json={})
    ).json()["code"]
    answers = await asyncio.gather(
        *(
            api.call(
                "POST", "/v1/invites/redeem", d.token, json={"code": code, "member_id": f"j{i}"}
            )
            for i, d in enumerate(devices)
        )
    )
    assert Counter(r.status_code for r in answers) == {200: 1, 404: 19}
    members = (await api.call("GET", f"/v1/circles/{circle_id}", owner.token)).json()["members"]
    assert len(members) == 2


async def test_an_expired_invite_is_refused(
    make_app: Callable[..., FastAPI], clock: FakeClock
) -> None:
    api = Api(make_app())
    _, admin_token = api.org()
    owner, guest = await _members(api, 2, admin_token)
    circle_id = await api.circle(owner)
    r = await api.call("POST", f"/v1/circles/{circle_id}/invites", owner.token, json={})
    assert r.json()["expires_at"] == clock.now + 72 * HOUR * 1000  # the default: 72 hours
    clock.advance(72 * HOUR)
    r = await api.call(
        "POST", "/v1/invites/redeem", guest.token, json={"code": r.json()["code"], "member_id": "g"}
    )
    assert r.status_code == 404 and r.json()["error"] == "invite_not_found"


async def test_lifetimes_of_enrollment_tokens_and_invites_are_bounded(
    make_app: Callable[..., FastAPI], clock: FakeClock
) -> None:
    api = Api(make_app())
    _, admin_token = api.org()
    owner = await api.device(admin_token)
    circle_id = await api.circle(owner)
    r = await api.call("POST", "/v1/enrollments", admin_token, json={})
    assert r.json()["expires_at"] == clock.now + 7 * 24 * HOUR * 1000
    week = 7 * 24 * HOUR
    for path, token in (
        ("/v1/enrollments", admin_token),
        (f"/v1/circles/{circle_id}/invites", owner.token),
    ):
        over = await api.call("POST", path, token, json={"ttl_seconds": week + 1})
        assert over.status_code == 422, path
        assert (await api.call("POST", path, token, json={"ttl_seconds": week})).status_code == 201


async def test_concurrent_redeems_by_one_device_never_fail_with_500(
    make_app: Callable[..., FastAPI],
) -> None:
    api = Api(make_app(db_pool_size=25))
    _, admin_token = api.org()
    owner, guest = await _members(api, 2, admin_token)
    circle_id = await api.circle(owner)
    codes = [
        (await api.call("POST", f"/v1/circles/{circle_id}/invites", owner.token, json={})).json()[
            "code"
        ]
        for _ in range(5)
    ]
    # The same code ten times and five different codes at once, from one device.
    answers = await asyncio.gather(
        *(
            api.call("POST", "/v1/invites/redeem", guest.token, json={"code": c, "member_id": "g"})
            for c in [codes[0]] * 10 + codes
        )
    )
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {200, 409} and statuses[200] >= 1, statuses
    members = (await api.call("GET", f"/v1/circles/{circle_id}", owner.token)).json()["members"]
    assert sorted(m["member_id"] for m in members) == ["g", "m1"]


async def test_concurrent_creates_of_one_circle_id_answer_409(
    make_app: Callable[..., FastAPI],
) -> None:
    api = Api(make_app(db_pool_size=25))
    _, admin_token = api.org()
    devices = await _members(api, 10, admin_token)
    circle_id = uid()
    answers = await asyncio.gather(
        *(
            api.call(
                "POST", "/v1/circles", d.token, json={"circle_id": circle_id, "member_id": "m"}
            )
            for d in devices
        )
    )
    assert Counter(r.status_code for r in answers) == {201: 1, 409: 9}
    # One device racing itself: created once, the retries see it as theirs.
    other = uid()
    answers = await asyncio.gather(
        *(
            api.call(
                "POST", "/v1/circles", devices[0].token, json={"circle_id": other, "member_id": "m"}
            )
            for _ in range(10)
        )
    )
    statuses = Counter(r.status_code for r in answers)
    assert statuses[201] == 1 and set(statuses) <= {200, 201, 409}, statuses


async def test_an_op_over_the_clients_cap_is_refused(make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app(max_body_bytes=4 * 1024 * 1024))
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    circle_id = await api.circle(dev)
    cap = 65 * 1024  # the default: the client's 64 KiB plus room for the envelope
    r = await api.push(dev, circle_id, [envelope("big", b"x" * (cap + 1))])
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert str(cap) in r.json()["message"]
    r = await api.push(dev, circle_id, [envelope("fits", b"x" * cap)])
    assert r.status_code == 200


async def test_a_pull_page_is_bounded_in_bytes(make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app(max_pull_bytes=100_000))
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    circle_id = await api.circle(dev)
    for i in range(10):
        assert (
            await api.push(dev, circle_id, [envelope(f"o{i}", b"y" * 40_000)])
        ).status_code == 200
    cursor, pages = 0, []
    while True:
        body = (await api.pull(dev, {circle_id: cursor})).json()["circles"][circle_id]
        page = body["ops"]
        pages.append(len(page))
        assert sum(len(base64.b64decode(op["payload"])) for op in page) <= 100_000
        cursor = body["next"]
        if not body["more"]:
            break
    assert pages == [2, 2, 2, 2, 2] and cursor == 10
    # An op larger than the whole budget still comes, alone: a client always moves on.
    api2 = Api(make_app(max_pull_bytes=10_000))
    body = (await api2.pull(dev, {circle_id: 0})).json()["circles"][circle_id]
    assert len(body["ops"]) == 1 and body["more"]


async def test_circles_per_device_quota(make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app(circles_per_device=2))
    _, admin_token = api.org()
    a, b = await _members(api, 2, admin_token)
    await api.circle(a)
    await api.circle(a)
    r = await api.call("POST", "/v1/circles", a.token, json={"circle_id": uid(), "member_id": "m"})
    assert r.status_code == 409 and r.json()["error"] == "quota_exceeded"
    third = await api.circle(b)
    code = (await api.call("POST", f"/v1/circles/{third}/invites", b.token, json={})).json()["code"]
    r = await api.call("POST", "/v1/invites/redeem", a.token, json={"code": code, "member_id": "a"})
    assert r.status_code == 409 and r.json()["error"] == "quota_exceeded"


async def test_members_per_circle_quota_keeps_the_invite(make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app(members_per_circle=2))
    _, admin_token = api.org()
    owner, second, third = await _members(api, 3, admin_token)
    circle_id = await api.circle(owner)
    await api.join(owner, circle_id, second, "m2")
    code = (
        await api.call("POST", f"/v1/circles/{circle_id}/invites", owner.token, json={})
    ).json()["code"]
    body = {"code": code, "member_id": "m3"}
    r = await api.call("POST", "/v1/invites/redeem", third.token, json=body)
    assert r.status_code == 409 and r.json()["error"] == "quota_exceeded"
    await api.call("DELETE", f"/v1/circles/{circle_id}/members/m2", owner.token)
    r = await api.call("POST", "/v1/invites/redeem", third.token, json=body)
    assert r.status_code == 200  # the refused redeem did not use the code up


async def test_open_invites_per_circle_quota(
    make_app: Callable[..., FastAPI], clock: FakeClock
) -> None:
    api = Api(make_app(open_invites_per_circle=2))
    _, admin_token = api.org()
    owner = await api.device(admin_token)
    circle_id = await api.circle(owner)
    path = f"/v1/circles/{circle_id}/invites"
    assert (await api.call("POST", path, owner.token, json={"ttl_seconds": 60})).status_code == 201
    assert (await api.call("POST", path, owner.token, json={})).status_code == 201
    r = await api.call("POST", path, owner.token, json={})
    assert r.status_code == 409 and r.json()["error"] == "quota_exceeded"
    clock.advance(61)  # an expired invite is no longer open
    assert (await api.call("POST", path, owner.token, json={})).status_code == 201


async def test_ops_per_device_per_day(make_app: Callable[..., FastAPI], clock: FakeClock) -> None:
    api = Api(make_app(ops_per_device_per_day=5))
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    circle_id = await api.circle(dev)
    assert (
        await api.push(dev, circle_id, [envelope(f"a{i}") for i in range(3)])
    ).status_code == 200
    r = await api.push(dev, circle_id, [envelope(f"b{i}") for i in range(3)])
    assert r.status_code == 429 and r.json()["error"] == "rate_limited"
    until_midnight = 86_400 - (clock.now // 1000) % 86_400
    assert int(r.headers["retry-after"]) == until_midnight
    assert (await api.push(dev, circle_id, [envelope("c0"), envelope("c1")])).status_code == 200
    clock.advance(until_midnight)
    assert (
        await api.push(dev, circle_id, [envelope(f"b{i}") for i in range(3)])
    ).status_code == 200


async def test_pushes_are_rate_limited_per_device(
    make_app: Callable[..., FastAPI], clock: FakeClock
) -> None:
    api = Api(make_app(push_limit_per_minute=3))
    _, admin_token = api.org()
    a, b = await _members(api, 2, admin_token)
    circle_id = await api.circle(a)
    await api.join(a, circle_id, b, "m2")
    codes = [(await api.push(a, circle_id, [envelope(uid())])).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert (await api.push(b, circle_id, [envelope(uid())])).status_code == 200  # per device
    clock.advance(60)
    assert (await api.push(a, circle_id, [envelope(uid())])).status_code == 200


async def test_address_limits_are_shared_by_every_worker(
    make_app: Callable[..., FastAPI], clock: FakeClock
) -> None:
    """Two apps on one database stand for two workers: requests alternate between them and
    the (limit + 1)-th failure is 429 whichever answers."""
    ip = uid("client-")  # its own counter on the shared test database
    workers = [Api(make_app(auth_fail_limit_per_minute=6), ip) for _ in range(2)]
    clock.advance(60 - (clock.now // 1000) % 60)  # the start of a window
    codes = [
        (await workers[i % 2].call("GET", "/v1/me", "xcd_guess")).status_code for i in range(8)
    ]
    assert codes == [401] * 6 + [429] * 2
    clock.advance(60)
    assert (await workers[1].call("GET", "/v1/me", "xcd_guess")).status_code == 401


async def test_a_device_rotates_its_token(make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app(db_pool_size=25))
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    answers = await asyncio.gather(*(api.call("POST", "/v1/me/token", dev.token) for _ in range(5)))
    assert Counter(r.status_code for r in answers) == {201: 1, 401: 4}
    new = next(r.json()["token"] for r in answers if r.status_code == 201)
    assert new.startswith("xcd_") and new != dev.token
    assert (await api.call("GET", "/v1/me", dev.token)).status_code == 401
    me = await api.call("GET", "/v1/me", new)
    assert me.status_code == 200 and me.json()["device_id"] == dev.id


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_schema_migrates_from_v1(db_url: str) -> None:
    """A v1 database (before the limits) gains the counters and the invite index."""
    from sqlalchemy import inspect

    from sync.exchange import db

    engine = db.make_engine(db_url)
    try:
        with db.write_tx(engine) as conn:
            db.schema_version.create(conn)
            db.MIGRATIONS[0](conn)
            conn.execute(db.schema_version.insert().values(version=1, applied=0))
        db.migrate(engine, 0)
        assert inspect(engine).has_table("rate_counters")
        assert "ix_invites_circle" in {i["name"] for i in inspect(engine).get_indexes("invites")}
    finally:
        engine.dispose()


async def test_a_pull_of_many_large_ops_stays_within_its_budget(
    make_app: Callable[..., FastAPI],
) -> None:
    """SEC-18: 12 MB of large ops in the log, pulled with a 1 MiB budget: the server
    never holds more than a few budgets of memory for it (without the bound one pull
    built ~45 MB: the bytes, their base64 and the JSON)."""
    import tracemalloc

    api = Api(make_app(max_pull_bytes=1024 * 1024))
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    circle_id = await api.circle(dev)
    for batch in range(20):
        ops = [envelope(f"{batch}-{i}", bytes([i]) * 60_000) for i in range(10)]
        assert (await api.push(dev, circle_id, ops)).status_code == 200
    tracemalloc.start()
    try:
        r = await api.pull(dev, {circle_id: 0}, limit=5000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body = r.json()["circles"][circle_id]
    assert len(body["ops"]) == 17 and body["more"]  # 17 × 60 kB fit in 1 MiB
    assert peak < 10 * 1024 * 1024, peak


async def test_push_and_enrollment_limits_are_shared_by_every_worker(
    make_app: Callable[..., FastAPI], clock: FakeClock
) -> None:
    """As above for pushes (per device) and enrollments (per address): each worker alone
    would let `limit` through; together they let `limit` through."""
    ip = uid("client-")
    limits = {"push_limit_per_minute": 3, "auth_fail_limit_per_minute": 3}
    workers = [Api(make_app(**limits), ip) for _ in range(2)]
    clock.advance(60 - (clock.now // 1000) % 60)
    _, admin_token = workers[0].org()
    enrollments = [
        (await workers[0].call("POST", "/v1/enrollments", admin_token, json={})).json()["token"]
        for _ in range(4)
    ]
    enrolled = [
        await workers[i % 2].call("POST", "/v1/devices", token, json={"name": "d"})
        for i, token in enumerate(enrollments)
    ]
    assert [r.status_code for r in enrolled] == [201, 201, 201, 429]
    dev = Device(enrolled[0].json()["device_id"], enrolled[0].json()["token"], "")
    circle_id = await workers[0].circle(dev)
    pushes = [
        (await workers[i % 2].push(dev, circle_id, [envelope(uid())])).status_code for i in range(4)
    ]
    assert pushes == [200, 200, 200, 429]
