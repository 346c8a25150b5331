"""Sync test helpers: the real exchange in-process behind a sync httpx transport, fault
injection (lost requests, lost responses), and devices with their own homes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI

from sync.client import ExchangeClient
from sync.commands import accept_invite, enroll, invite_code, share_circle
from sync.engine import SyncReport, connect, require_credentials
from sync.engine import sync as run_sync
from sync.exchange import admin
from sync.exchange.app import create_app
from sync.exchange.settings import ExchangeSettings
from sync.state import mark_shared
from xcircle.hlc import wall_ms
from xcircle.services import Services
from xcircle.store import Store

URL = "http://127.0.0.1:9"  # loopback: plain http is refused anywhere else
ORGS = ("Acme", "Beta")  # the organizations every test exchange starts with
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


class AsgiBridge(httpx.BaseTransport):
    """A sync transport into an ASGI app, run on a private event-loop thread.

    `httpx.ASGITransport` is async only; this runs it on one loop so any number of sync
    clients (and threads, like the TUI's worker) can share one in-process exchange.
    """

    def __init__(self, app: FastAPI) -> None:
        self._inner = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> httpx.Response:
            inner = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self._inner.handle_async_request(inner)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=60)

    def shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


class Lost(Exception):
    """Marks an injected fault in tracebacks."""


@dataclass
class Faults(httpx.BaseTransport):
    """Wraps a transport; `plan(index, request)` says what happens to each request:
    None (deliver), "request" (lost before the exchange saw it) or "response" (the
    exchange processed it, the answer never came back)."""

    inner: httpx.BaseTransport
    plan: Callable[[int, httpx.Request], str | None] = lambda _i, _r: None
    count: int = 0
    log: list[str] = field(default_factory=list)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        index = self.count
        self.count += 1
        fate = self.plan(index, request)
        self.log.append(f"{request.method} {request.url.path} {fate or 'ok'}")
        if fate == "request":
            raise httpx.ConnectError("connection refused (injected)", request=request)
        response = self.inner.handle_request(request)
        if fate == "response":
            raise httpx.ReadError("connection reset (injected)", request=request)
        return response

    def close(self) -> None:  # the bridge is shared by every device: never close it here
        pass


class FakeClock:
    """A settable millisecond clock (the exchange's, or a device's)."""

    def __init__(self, now: int | None = None) -> None:
        self.now = wall_ms() if now is None else now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


class Exchange:
    """One in-process exchange on a SQLite file, administered through its SQL layer."""

    def __init__(
        self, db_path: Path, clock: Callable[[], int] | None = None, orgs: Iterable[str] = ORGS
    ) -> None:
        settings = ExchangeSettings(
            db_url=f"sqlite:///{db_path}",
            pull_limit_per_minute=1_000_000,
            auth_fail_limit_per_minute=1_000_000,
            **({"clock": clock} if clock else {}),
        )
        self.app = create_app(settings)
        self.engine = self.app.state.ctx.engine
        self.bridge = AsgiBridge(self.app)
        for org in orgs:
            self.org(org)

    def org(self, name: str) -> str:
        admin.add_org(self.engine, name)
        return name

    def enrollment(self, org: str) -> str:
        return admin.issue_enrollment(self.engine, org)[0]

    def close(self) -> None:
        self.bridge.shutdown()
        self.engine.dispose()


class Device:
    """A member's device: a home, a store reopened at will, and a flaky link."""

    def __init__(
        self,
        home: Path,
        name: str,
        org: str,
        exchange: Exchange,
        now_ms: Callable[[], int] = wall_ms,
    ) -> None:
        self.home, self.name, self.org, self.exchange = home, name, org, exchange
        self.now_ms = now_ms
        self.faults = Faults(exchange.bridge)
        self._open()
        if self.store.profile is None:
            self.services.init_profile(name, org)

    def _open(self) -> None:
        self.store = Store(self.home, now_ms=self.now_ms)
        self.services = Services(self.store, clock=lambda: NOW)

    def restart(self) -> None:
        """Close the store and open it again from disk (a process restart)."""
        self.store.close()
        self._open()

    def client(self, retries: int = 0) -> ExchangeClient:
        return connect(
            self.store,
            transport=self.faults,
            retries=retries,
            sleep=lambda _s: None,
            now_ms=self.now_ms,
        )

    def join(self) -> None:
        token = self.exchange.enrollment(self.org)
        enroll(self.store, URL, token, name=self.name, transport=self.faults, retries=0)

    def sync(self, **kw: object) -> SyncReport:
        with self.client() as c:
            return run_sync(self.store, c, now_ms=self.now_ms, **kw)  # type: ignore[arg-type]

    def share(self, cid: str) -> SyncReport:
        with self.client() as c:
            return share_circle(self.store, c, cid)

    def share_plain(self, cid: str) -> SyncReport:
        """Share as before end-to-end encryption (a legacy plaintext circle), through
        the lower-level calls: only for tests about such circles."""
        me = self.store.meta(cid)["me"]
        with self.client() as c:
            c.create_circle(cid, me)
            mark_shared(self.store, cid, me)
            return run_sync(self.store, c, circles=[cid])

    def invite(self, cid: str) -> str:
        with self.client() as c:
            return str(invite_code(self.store, c, cid, 3600)["code"])

    def accept(self, code: str) -> str:
        device_id = require_credentials(self.store).device_id
        with self.client() as c:
            return str(accept_invite(self.services, c, code, device_id)["circle"])

    def close(self) -> None:
        self.store.close()


def plain_pair(make_device: Callable[..., Device]) -> tuple[Device, Device, str]:
    """`pair` for a legacy plaintext circle: Bob is a member as soon as he accepts."""
    ada, bob = make_device("ada", "Acme"), make_device("bob", "Beta")
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share_plain(cid)
    bob.accept(ada.invite(cid))
    ada.sync()
    return ada, bob, cid


def pair(make_device: Callable[..., Device], **kw: object) -> tuple[Device, Device, str]:
    """Ada (Acme) shares a circle (encrypted), Bob (Beta) accepts her invite, Ada's
    device confirms his joining on its next sync, and Bob's sync brings him in."""
    ada, bob = make_device("ada", "Acme", **kw), make_device("bob", "Beta", **kw)
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    bob.accept(ada.invite(cid))
    ada.sync()
    bob.sync()
    return ada, bob, cid
