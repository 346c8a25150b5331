"""Pure ASGI middleware (time header, body limit) and in-process rate limiting."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .errors import ExchangeError, error_body

log = logging.getLogger(__name__)

NOW_KEY = "xcircle.now"  # scope key: the request's exchange time (ms), header and body agree
REQUEST_ID_KEY = "xcircle.request_id"  # scope key: the id logged and sent as X-Request-Id


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/v1/circles/{circle_id}`), never the raw path:
    for logs and metric labels (bounded, and free of ids)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def too_large() -> ExchangeError:
    """The 413 answer for an oversized body."""
    return ExchangeError(413, "too_large", "request body too large")


class ExchangeTimeMiddleware:
    """Stamps `X-Exchange-Time` on every response, and turns any escaped exception into a
    JSON 500 (with the header) instead of a bare text page; it logs no bodies or tokens."""

    def __init__(self, app: ASGIApp, clock: Callable[[], int]) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        now = self.clock()
        scope[NOW_KEY] = now
        stamp = (b"x-exchange-time", str(now).encode())
        started = False

        async def send_stamped(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), stamp]
            await send(message)

        try:
            await self.app(scope, receive, send_stamped)
        except Exception as exc:
            # The class and the request id only: a traceback or the exception's text would
            # carry SQL, its parameters and whatever the request held.
            log.error(
                "unhandled %s on %s %s (request %s)",
                type(exc).__name__,
                scope.get("method"),
                route_template(scope),
                scope.get(REQUEST_ID_KEY, "-"),
            )
            if not started:
                await _send_error(
                    send_stamped, ExchangeError(500, "internal", "internal server error")
                )


class BodyLimitMiddleware:
    """Refuses bodies over `max_bytes` with 413, counting bytes as they arrive, so the limit
    also holds for chunked bodies that carry no Content-Length."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await _send_error(send, too_large(), _CLOSE)
                    return
                break
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the app's body read: FastAPI re-raises HTTPException
                    # subclasses, and our handler renders them.
                    raise too_large()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except ExchangeError as exc:
            # A route that read the body outside FastAPI's handler lets it escape to here.
            if started or exc.status_code != 413:
                raise
            await _send_error(send, exc, _CLOSE)


_CLOSE = (b"connection", b"close")  # after a 413 the rest of the body is never read


async def _send_error(send: Send, exc: ExchangeError, *headers: tuple[bytes, bytes]) -> None:
    """Answer `exc` from a middleware itself (outside FastAPI's exception handlers)."""
    body = error_body(exc.code, exc.message)
    await send(
        {
            "type": "http.response.start",
            "status": exc.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RateLimiter:
    """Token buckets per key (a token hash), `per_minute` capacity and refill.

    In-process, for pulls only (the read path takes no database write): with several
    uvicorn workers or hosts each limits separately, so the effective limit is N times
    this. Every other limit is shared through the database (`ratelimit.py`).
    """

    MAX_KEYS = 100_000  # bound memory against a flood of distinct keys

    def __init__(self, per_minute: int, clock: Callable[[], int]) -> None:
        self.capacity = float(max(per_minute, 1))
        self.rate_per_ms = self.capacity / 60_000.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, int]] = {}
        # Sync endpoints run on a thread pool: the check-and-take must be atomic.
        self._lock = threading.Lock()

    def take(self, key: str) -> int:
        """Take one token; returns 0 if allowed, else the seconds to wait (for Retry-After)."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + max(now - last, 0) * self.rate_per_ms)
            if tokens >= 1.0:
                if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
                    self._prune(now)
                self._buckets[key] = (tokens - 1.0, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, int((1.0 - tokens) / self.rate_per_ms / 1000.0 + 0.999))

    def check(self, key: str, what: str) -> None:
        """Take a token or raise 429 with Retry-After."""
        wait = self.take(key)
        if wait:
            metrics.refused(what.replace(" ", "_"))
            raise ExchangeError(
                429, "rate_limited", f"too many {what}; retry later", {"Retry-After": str(wait)}
            )

    def _prune(self, now: int) -> None:
        full = [
            k
            for k, (t, last) in self._buckets.items()
            if t + (now - last) * self.rate_per_ms >= self.capacity
        ]
        for k in full:
            del self._buckets[k]
        if len(self._buckets) >= self.MAX_KEYS:
            self._buckets.clear()  # under a flood, forgetting is safer than growing
