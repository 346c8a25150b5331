"""Live sync on the exchange (`POST /v1/wait`): who is woken, by what, and the bounds, on
SQLite (in-process wake) and PostgreSQL (LISTEN/NOTIFY, in-process app and a real
two-worker `serve`)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sync.exchange.app import create_app
from sync.exchange.live import APP_NAME
from sync.exchange.settings import ExchangeSettings

from .helpers import GENEROUS, Api, Device, FakeClock, envelope, uid
from .serving import Serve, setup_members
from .test_exchange_workers import _free_port


async def _waiting(app: FastAPI, n: int) -> None:
    """Until `n` waits are registered (a wait registers before its first read)."""
    for _ in range(2000):
        if app.state.live.waiting >= n:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{app.state.live.waiting} waits registered, expected {n}")


async def _wait(api: Api, dev: Device, cursors: dict[str, int], timeout: int = 20) -> Any:
    r = await api.call("POST", "/v1/wait", dev.token, json={"cursors": cursors, "timeout": timeout})
    assert r.status_code == 200, r.text
    return r.json()


async def _two_members(api: Api) -> tuple[Device, Device, str]:
    _, admin_token = api.org()
    ada = await api.device(admin_token)
    bob = await api.device(admin_token)
    circle = await api.circle(ada, "m1")
    await api.join(ada, circle, bob, "m2")
    return ada, bob, circle


async def test_a_push_wakes_a_member_waiting_on_the_circle(api: Api) -> None:
    ada, bob, circle = await _two_members(api)
    waiting = asyncio.ensure_future(_wait(api, bob, {circle: 0}))
    await _waiting(api.app, 1)
    assert (await api.push(ada, circle, [envelope("op-1"), envelope("op-2")])).status_code == 200
    answer = await waiting
    # Only a wake fills `changed` (a timeout answers it empty).
    assert answer["changed"] == {circle: 2} and answer["denied"] == []
    assert api.app.state.live.waiting == 0


async def test_a_push_to_another_circle_wakes_nobody(api: Api) -> None:
    ada, bob, circle = await _two_members(api)
    elsewhere = await api.circle(ada, "m1")  # bob is not in it
    waiting = asyncio.ensure_future(_wait(api, bob, {circle: 0}, timeout=1))
    await _waiting(api.app, 1)
    assert (await api.push(ada, elsewhere, [envelope("op-x")])).status_code == 200
    assert await waiting == {
        "changed": {},
        "denied": [],
        "time": api.app.state.ctx.settings.clock(),
    }


async def test_ops_already_past_the_cursor_answer_at_once(api: Api) -> None:
    ada, bob, circle = await _two_members(api)
    await api.push(ada, circle, [envelope("op-1")])
    # A 20 s hold that returns here proves it did not hold: nothing else would end it.
    assert (await _wait(api, bob, {circle: 0}))["changed"] == {circle: 1}
    assert (await _wait(api, bob, {circle: 1}, timeout=0))["changed"] == {}


async def test_strangers_get_404_and_mixed_cursors_name_the_denied(api: Api) -> None:
    _, bob, circle = await _two_members(api)
    _, other_admin = api.org()
    outsider = await api.device(other_admin)
    r = await api.call("POST", "/v1/wait", outsider.token, json={"cursors": {circle: 0}})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    unknown = uid()
    answer = await _wait(api, bob, {circle: 0, unknown: 0})
    assert answer["denied"] == [unknown] and answer["changed"] == {}


async def test_a_member_removed_while_waiting_is_told_at_once(api: Api) -> None:
    ada, bob, circle = await _two_members(api)
    waiting = asyncio.ensure_future(_wait(api, bob, {circle: 0}))
    await _waiting(api.app, 1)
    r = await api.call("DELETE", f"/v1/circles/{circle}/members/m2", ada.token)
    assert r.status_code == 204
    assert (await waiting)["denied"] == [circle]
    # Asked again, still told (as a pull would), not a 404 that reads "no live sync here".
    assert (await _wait(api, bob, {circle: 0}))["denied"] == [circle]


async def test_a_wait_times_out_cleanly_and_frees_its_slot(api: Api) -> None:
    _, bob, circle = await _two_members(api)
    answer = await _wait(api, bob, {circle: 0}, timeout=1)
    assert answer["changed"] == {} and answer["denied"] == []
    assert api.app.state.live.waiting == 0


async def test_the_exchange_caps_how_long_a_wait_holds(make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app(wait_max_seconds=0))
    async with api.http:
        _, bob, circle = await _two_members(api)
        # Asked for 300 s, held 0: answered empty at once.
        assert (await _wait(api, bob, {circle: 0}, timeout=300))["changed"] == {}


async def test_waits_per_device_and_in_all_are_capped(make_app: Callable[..., FastAPI]) -> None:
    api = Api(make_app(waits_per_device=1, waits_per_worker=2))
    async with api.http:
        ada, bob, circle = await _two_members(api)
        first = asyncio.ensure_future(_wait(api, bob, {circle: 0}))
        # Counted for Bob once its token is checked (not merely registered): else both
        # of his waits are checked at once and either may be the one refused.
        while api.app.state.live.held_by(bob.id) < 1:
            await asyncio.sleep(0.005)
        r = await api.call("POST", "/v1/wait", bob.token, json={"cursors": {circle: 0}})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        second = asyncio.ensure_future(_wait(api, ada, {circle: 0}))
        await _waiting(api.app, 2)
        _, other_admin = api.org()
        carol = await api.device(other_admin)
        mine = await api.circle(carol)
        r = await api.call("POST", "/v1/wait", carol.token, json={"cursors": {mine: 0}})
        assert r.status_code == 503 and r.json()["error"] == "unavailable"
        assert "retry-after" in r.headers
        await api.push(ada, circle, [envelope("op-1")])
        assert (await first)["changed"] == (await second)["changed"] == {circle: 1}


async def test_waits_are_rate_limited_per_device(
    make_app: Callable[..., FastAPI], clock: FakeClock
) -> None:
    api = Api(make_app(wait_limit_per_minute=2))
    async with api.http:
        _, bob, circle = await _two_members(api)
        codes = []
        for _ in range(3):
            r = await api.call(
                "POST", "/v1/wait", bob.token, json={"cursors": {circle: 0}, "timeout": 0}
            )
            codes.append(r.status_code)
        assert codes == [200, 200, 429]
        clock.advance(60)
        assert (await _wait(api, bob, {circle: 0}, timeout=0))["changed"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {"cursors": {}},
        {"cursors": {"bad id!": 0}},
        {"cursors": {"c": -1}},
        {"cursors": {"c": 0}, "timeout": 301},
        {"cursors": {"c": 0}, "timeout": "5"},
    ],
)
async def test_bad_waits_are_refused(api: Api, body: dict[str, Any]) -> None:
    _, bob, _ = await _two_members(api)
    r = await api.call("POST", "/v1/wait", bob.token, json=body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


# -- a real server ---------------------------------------------------------------------------


def _http_wait(base: str, token: str, cursors: dict[str, int], out: list[Any]) -> None:
    with httpx.Client(base_url=base, timeout=40) as http:
        r = http.post(
            "/v1/wait",
            json={"cursors": cursors, "timeout": 20},
            headers={"Authorization": f"Bearer {token}"},
        )
        out.append((r.status_code, r.json()))


def _waiters(base: str, members: list[Any], cursor: int = 0) -> tuple[list[Any], list[Any]]:
    """One waiting thread per member, each on a connection of its own."""
    out: list[Any] = []
    threads = [
        threading.Thread(target=_http_wait, args=(base, m.token, {m.circle: cursor}, out))
        for m in members
    ]
    for t in threads:
        t.start()
    return threads, out


def _held(serve: Serve, n: int) -> None:
    """Until `n` waits are held (read from the exchange's own gauge, summed over workers)."""
    import time

    for _ in range(400):
        text = httpx.get(f"{serve.base}/metrics", timeout=5).text
        held = sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("xcircle_exchange_waiting")
        )
        if held >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{held} waits held, expected {n}")


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_wake_each_others_waiters(tmp_path: Path, fresh_pg_url: str) -> None:
    """Eight waiters and eight pushers, each on a new connection: the kernel spreads them
    over both workers, and every waiter wakes whichever worker took its circle's push."""
    serve = Serve(fresh_pg_url, _free_port(), 2, tmp_path / "serve.log")
    try:
        serve.wait_ready()
        members = setup_members(fresh_pg_url, serve.base, 8)
        threads, out = _waiters(serve.base, members)
        _held(serve, len(members))
        for m in members:
            with httpx.Client(base_url=serve.base, timeout=10) as http:
                r = http.post(
                    f"/v1/circles/{m.circle}/ops",
                    json={"ops": [envelope("op-1")]},
                    headers={"Authorization": f"Bearer {m.token}"},
                )
                assert r.status_code == 200, r.text
        for t in threads:
            t.join(30)
        assert sorted((o[1]["changed"] for o in out), key=str) == sorted(
            ({m.circle: 1} for m in members), key=str
        )
        assert {o[0] for o in out} == {200}
    finally:
        serve.stop()


@pytest.mark.slow
def test_stopping_the_exchange_answers_its_waiters_at_once(tmp_path: Path) -> None:
    """A SIGTERM answers every held wait (empty) and the server exits: a long poll
    never holds a restart for its whole timeout."""
    db = f"sqlite:///{tmp_path / 'exchange.db'}"
    serve = Serve(db, _free_port(), 1, tmp_path / "serve.log")
    try:
        serve.wait_ready()
        members = setup_members(db, serve.base, 3)
        threads, out = _waiters(serve.base, members)
        _held(serve, 3)
        serve.proc.terminate()
        serve.proc.wait(15)  # the waits hold 20 s: only being answered lets it exit
        for t in threads:
            t.join(10)
        assert out == [(200, {"changed": {}, "denied": [], "time": o[1]["time"]}) for o in out]
        assert "Traceback" not in serve.text()
    finally:
        serve.stop()


@pytest.mark.postgres
async def test_a_lost_listener_connection_misses_nothing(pg_url: str, clock: FakeClock) -> None:
    """The worker's LISTEN connection is killed under a waiting device, and a push lands
    while it is gone: the listener reconnects, every waiter re-checks, the push is seen."""
    import psycopg

    app = create_app(ExchangeSettings(db_url=pg_url, clock=clock, **GENEROUS))
    api = Api(app)
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    kill = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE datname = current_database() AND application_name = '{APP_NAME}'"
    )
    try:
        async with api.http:
            ada, bob, circle = await _two_members(api)
            waiting = asyncio.ensure_future(_wait(api, bob, {circle: 0}))
            await _waiting(app, 1)
            with psycopg.connect(dsn, autocommit=True) as conn:
                for _ in range(500):  # the first wait starts the listener: until it listens
                    if conn.execute(kill).fetchall() == [(True,)]:
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("no listener connection to kill")
            assert (await api.push(ada, circle, [envelope("op-1")])).status_code == 200
            assert (await waiting)["changed"] == {circle: 1}
    finally:
        app.state.ctx.engine.dispose()


@pytest.mark.postgres
async def test_a_push_on_one_worker_wakes_a_waiter_on_another(
    pg_url: str, clock: FakeClock
) -> None:
    """Two apps on one database stand for two worker processes: each has its own waiters
    and its own listener, and a push taken by one wakes the device waiting on the other
    (through NOTIFY, the listener's socket and the waiter's event), at once."""
    settings = ExchangeSettings(db_url=pg_url, clock=clock, **GENEROUS)
    first, second = create_app(settings), create_app(settings)
    pusher, waiter = Api(first), Api(second)
    try:
        async with pusher.http, waiter.http:
            ada, bob, circle = await _two_members(pusher)
            waiting = asyncio.ensure_future(_wait(waiter, bob, {circle: 0}, timeout=60))
            await _waiting(second, 1)
            while not second.state.live.listening:  # its first read starts the listener
                await asyncio.sleep(0.01)
            assert first.state.live.waiting == 0
            assert (await pusher.push(ada, circle, [envelope("op-1")])).status_code == 200
            answer = await asyncio.wait_for(waiting, 10)  # not the 60 s hold
            assert answer["changed"] == {circle: 1}
    finally:
        first.state.ctx.engine.dispose()
        second.state.ctx.engine.dispose()


@pytest.mark.postgres
async def test_the_idle_listener_ends_at_once_when_told(pg_url: str, clock: FakeClock) -> None:
    """The listener sleeps in the kernel with no timer while nothing is notified; telling
    it to stop (the worker stops, its engine is disposed) wakes and ends its thread at
    once, not at a polling interval."""
    app = create_app(ExchangeSettings(db_url=pg_url, clock=clock, **GENEROUS))
    api = Api(app)
    hub = app.state.live
    try:
        async with api.http:
            _, bob, circle = await _two_members(api)
            assert (await _wait(api, bob, {circle: 0}, timeout=0))["changed"] == {}
            listener = hub._listener
            assert listener is not None and listener.ready.is_set()
            hub.stop()
            assert await asyncio.to_thread(listener.join, 1.0), "the listener still runs"
            assert not hub.listening
    finally:
        app.state.ctx.engine.dispose()
