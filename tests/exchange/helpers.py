"""Test helpers for the exchange: a fake clock, unique names, devices enrolled straight on
the database and an async API client."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine

from sync.exchange import admin, store
from sync.exchange.auth import authenticate
from sync.exchange.tokens import ENROLL

T0 = 1_800_000_000_000  # a fixed "now" for deterministic tests

# Tests that do not exercise rate limits must not trip them.
GENEROUS = {"pull_limit_per_minute": 1_000_000, "auth_fail_limit_per_minute": 1_000_000}


class FakeClock:
    """A settable millisecond clock injected into the app (expiry, rate-limit refill)."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def uid(prefix: str = "") -> str:
    """A unique name for orgs and circles sharing one database."""
    return prefix + secrets.token_hex(8)


def enroll_device(engine: Engine, org_id: str, now: int = T0) -> tuple[str, str]:
    """A device of `org_id` enrolled without HTTP, as `POST /v1/devices` would:
    `(device_id, device_token)`."""
    enroll_token, _ = admin.create_enrollment(engine, org_id, 3600, now)
    p = authenticate(engine, enroll_token, (ENROLL,), now)
    return store.enroll_device(engine, p, "d", now)


@dataclass
class Device:
    """An enrolled device as tests see it."""

    id: str
    token: str
    org_id: str


class Api:
    """Thin async client for the in-process app, tokens passed per call."""

    def __init__(self, app: FastAPI, client_ip: str = "127.0.0.1") -> None:
        self.app = app
        self.engine = app.state.ctx.engine
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://x")

    async def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.request(method, path, headers=headers, **kwargs)

    def org(self, now: int | None = None) -> tuple[str, str]:
        """A new organization: `(org_id, admin_token)`."""
        return admin.add_org(self.engine, uid("org-"), now_ms=now)

    async def device(self, admin_token: str, name: str = "laptop") -> Device:
        r = await self.call("POST", "/v1/enrollments", admin_token, json={})
        assert r.status_code == 201, r.text
        r = await self.call("POST", "/v1/devices", r.json()["token"], json={"name": name})
        assert r.status_code == 201, r.text
        body = r.json()
        return Device(body["device_id"], body["token"], body["org_id"])

    async def circle(self, dev: Device, member_id: str = "m1") -> str:
        circle_id = uid()
        r = await self.call(
            "POST", "/v1/circles", dev.token, json={"circle_id": circle_id, "member_id": member_id}
        )
        assert r.status_code == 201, r.text
        return circle_id

    async def join(self, inviter: Device, circle_id: str, dev: Device, member_id: str) -> None:
        r = await self.call("POST", f"/v1/circles/{circle_id}/invites", inviter.token, json={})
        assert r.status_code == 201, r.text
        r = await self.call(
            "POST",
            "/v1/invites/redeem",
            dev.token,
            json={"code": r.json()["code"], "member_id": member_id},
        )
        assert r.status_code == 200, r.text

    async def push(self, dev: Device, circle_id: str, ops: list[dict[str, Any]]) -> httpx.Response:
        return await self.call("POST", f"/v1/circles/{circle_id}/ops", dev.token, json={"ops": ops})

    async def pull(self, dev: Device, cursors: dict[str, int], limit: int = 1000) -> httpx.Response:
        return await self.call(
            "POST", "/v1/pull", dev.token, json={"cursors": cursors, "limit": limit}
        )


def envelope(
    op_id: str, payload: bytes = b"hello", epoch: int = 0, nonce: str = ""
) -> dict[str, Any]:
    """An op envelope as a client would push it."""
    return {
        "op_id": op_id,
        "epoch": epoch,
        "nonce": nonce,
        "payload": base64.b64encode(payload).decode(),
    }
