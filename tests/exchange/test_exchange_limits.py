"""Body, batch and rate limits: 413/429 with the JSON error shape, never a crash."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from fastapi import FastAPI

from .helpers import T0, Api, FakeClock, envelope

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


async def test_chunked_body_without_length_is_cut_at_the_limit(
    make_app: Callable[..., FastAPI],
) -> None:
    api = Api(make_app(max_body_bytes=10_000))
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += 1
            yield b" " * 1000

    r = await api.call("POST", "/v1/pull", dev.token, content=chunks())
    assert "content-length" not in r.request.headers
    assert r.status_code == 413
    assert r.json() == {"error": "too_large", "message": "request body too large"}
    assert r.headers["x-exchange-time"] == str(T0)
    assert sent < 100  # refused while streaming, not after buffering everything
    # With a Content-Length over the limit it is refused before reading.
    r = await api.call("POST", "/v1/pull", dev.token, content=b" " * 10_001)
    assert r.status_code == 413 and r.headers["x-exchange-time"] == str(T0)
    # Under the limit all is well.
    r = await api.call("POST", "/v1/pull", dev.token, json={"cursors": {}})
    assert r.status_code == 200


async def test_too_many_ops_per_push(make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app(max_ops_per_push=3))
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    circle_id = await api.circle(dev)
    r = await api.push(dev, circle_id, [envelope(str(i)) for i in range(4)])
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert (await api.push(dev, circle_id, [envelope(str(i)) for i in range(3)])).status_code == 200


async def test_pull_rate_limit_per_token(
    make_app: Callable[..., FastAPI], clock: FakeClock
) -> None:
    api = Api(make_app(pull_limit_per_minute=3))
    _, admin_token = api.org()
    a, b = await api.device(admin_token), await api.device(admin_token)
    codes = [(await api.pull(a, {})).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = await api.pull(a, {})
    assert r.json()["error"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
    assert (await api.pull(b, {})).status_code == 200  # per token, not global
    clock.advance(20)  # 3/min refills one token every 20 s
    assert (await api.pull(a, {})).status_code == 200


async def test_auth_failures_and_redeems_are_limited_per_ip(
    make_app: Callable[..., FastAPI],
) -> None:
    api = Api(make_app(auth_fail_limit_per_minute=5))
    _, admin_token = api.org()
    dev = await api.device(admin_token)  # one enrollment attempt
    codes = [(await api.call("GET", "/v1/me", "xcd_guess")).status_code for _ in range(5)]
    assert codes == [401, 401, 401, 401, 429]
    assert (await api.call("GET", "/v1/me", dev.token)).status_code == 200  # valid: never slowed
    r = await api.call(
        "POST", "/v1/invites/redeem", dev.token, json={"code": "xci_guess", "member_id": "m"}
    )
    assert r.status_code == 429 and "retry-after" in r.headers
