"""End to end through a real uvicorn on 127.0.0.1: concurrent pushers never make a reader
skip an op (the per-circle counter lock), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from sync.exchange import admin

from .helpers import envelope, uid

pytestmark = pytest.mark.slow


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """Serve `app` on a random free loopback port in a thread; stop it afterwards."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _device(http: httpx.Client, admin_token: str) -> tuple[str, str]:
    r = http.post("/v1/enrollments", json={}, headers=_h(admin_token))
    r = http.post("/v1/devices", json={"name": "d"}, headers=_h(r.json()["token"]))
    assert r.status_code == 201, r.text
    return r.json()["device_id"], r.json()["token"]


PUSHERS, BATCHES, BATCH = 4, 30, 5


def test_no_skipped_op_under_concurrent_pushes(make_app: Callable[..., FastAPI]) -> None:
    app = make_app()
    _, admin_token = admin.add_org(app.state.ctx.engine, uid("org-"))
    with running(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        devices = [_device(http, admin_token) for _ in range(PUSHERS + 1)]
        circle_id = uid()
        owner = devices[0][1]
        r = http.post(
            "/v1/circles", json={"circle_id": circle_id, "member_id": "m0"}, headers=_h(owner)
        )
        assert r.status_code == 201
        for i, (_, token) in enumerate(devices[1:], start=1):
            code = http.post(f"/v1/circles/{circle_id}/invites", json={}, headers=_h(owner))
            r = http.post(
                "/v1/invites/redeem",
                headers=_h(token),
                json={"code": code.json()["code"], "member_id": f"m{i}"},
            )
            assert r.status_code == 200
        errors: list[str] = []

        def pusher(n: int, token: str) -> None:
            with httpx.Client(base_url=base, timeout=30) as c:
                for b in range(BATCHES):
                    ops = [envelope(f"p{n}-{b}-{k}", f"{n}/{b}/{k}".encode()) for k in range(BATCH)]
                    resp = c.post(
                        f"/v1/circles/{circle_id}/ops", json={"ops": ops}, headers=_h(token)
                    )
                    if resp.status_code != 200:
                        errors.append(resp.text)

        threads = [
            threading.Thread(target=pusher, args=(n, t)) for n, (_, t) in enumerate(devices[1:])
        ]
        for t in threads:
            t.start()
        reader_token = devices[0][1]
        cursor, seen, pulls = 0, [], 0
        total = PUSHERS * BATCHES * BATCH
        with httpx.Client(base_url=base, timeout=30) as reader:
            while True:
                finished = not any(t.is_alive() for t in threads)
                resp = reader.post(
                    "/v1/pull",
                    headers=_h(reader_token),
                    json={"cursors": {circle_id: cursor}, "limit": 37},
                )
                assert resp.status_code == 200, resp.text
                pulls += 1
                got: dict[str, Any] = resp.json()["circles"][circle_id]
                for op in got["ops"]:
                    assert op["seq"] == cursor + 1, "gap or reorder in pulled seqs"
                    cursor = op["seq"]
                    seen.append(op["op_id"])
                assert got["next"] == cursor
                if finished and not got["more"]:
                    break
        for t in threads:
            t.join()
    assert not errors
    assert len(seen) == total and len(set(seen)) == total
    expected = {
        f"p{n}-{b}-{k}" for n in range(PUSHERS) for b in range(BATCHES) for k in range(BATCH)
    }
    assert set(seen) == expected
    assert pulls > 3  # the reader really raced the pushers


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_chunked_body_limit_on_a_real_server(make_app: Callable[..., FastAPI]) -> None:
    app = make_app(max_body_bytes=50_000)

    def chunks() -> Iterator[bytes]:
        for _ in range(200):
            yield b" " * 1000

    with running(app) as base, httpx.Client(base_url=base, timeout=10) as http:
        r = http.post("/v1/pull", content=chunks(), headers=_h("xcd_x"))
        assert r.status_code == 413
        assert r.json()["error"] == "too_large" and "x-exchange-time" in r.headers
