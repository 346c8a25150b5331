"""A database that is down, restarting or out of disk answers 503 with `Retry-After`.

Such failures are the operator's weather, not the client's mistake nor a bug: the answer
says "try again shortly", the log gets one line (no traceback, no SQL), and the next
request simply tries again, since the pool checks its connections at checkout
(`db.make_engine`). Errors that are not about availability (a constraint, a bad query)
stay 500s: those are bugs, and hiding them would hide data loss.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import exc as sa_exc

from .errors import error_body

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2  # a PostgreSQL restart takes ~1-3 s here; a freed disk is seen at once
LOG_EVERY_S = 10.0  # one warning per window however many requests fail
STARTUP_WAIT_S = 60.0  # how long a starting worker waits for its database

T = TypeVar("T")


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot serve right now (down, restarting, dropped
    connection, pool exhausted, disk full, locked too long), so retrying later can work."""
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return True  # the pool had no connection to give within pool_timeout
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        # OperationalError: connection refused/reset, admin shutdown, "starting up",
        # serialization or deadlock aborts; on SQLite also "database or disk is full",
        # "disk I/O error", "database is locked". InterfaceError: a closed connection.
        return isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError)
    return False


def reason(exc: BaseException) -> str:
    """One line naming the driver's error (never the statement or its parameters)."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")


class _RateLimitedLog:
    """Logs the first failure of a window and how many followed, never a traceback."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0.0
        self._suppressed = 0

    def warn(self, exc: BaseException, where: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < LOG_EVERY_S:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        more = f" (+{suppressed} more since the last report)" if suppressed else ""
        log.warning("database unavailable on %s: %s; answering 503%s", where, reason(exc), more)


_log = _RateLimitedLog()


def unavailable_response() -> Response:
    """The 503 every route answers while its database cannot serve."""
    return Response(
        error_body("unavailable", "the exchange's database is unavailable; retry shortly"),
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
        media_type="application/json",
    )


async def _on_db_error(request: Request, exc: Exception) -> Response:
    if not is_unavailable(exc):
        raise exc  # a bug: the outer middleware logs it and answers a JSON 500
    _log.warn(exc, f"{request.method} {request.url.path}")
    return unavailable_response()


def install(app: FastAPI) -> None:
    """Answer 503 + Retry-After for database unavailability raised by any route."""
    app.add_exception_handler(sa_exc.DBAPIError, _on_db_error)
    app.add_exception_handler(sa_exc.TimeoutError, _on_db_error)
    app.add_exception_handler(sa_exc.DisconnectionError, _on_db_error)


def wait_for_database(
    start: Callable[[], T],
    limit_s: float = STARTUP_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `start` until the database lets it succeed (a worker that uvicorn restarts
    while the database is down waits for it instead of crash-looping), at most `limit_s`."""
    deadline = time.monotonic() + limit_s
    while True:
        try:
            return start()
        except Exception as exc:
            if not is_unavailable(exc) or time.monotonic() >= deadline:
                raise
            _log.warn(exc, "start-up")
            sleep(1.0)
