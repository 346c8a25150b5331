"""The exchange ASGI app: `create_app(settings)` and the env-reading factory for uvicorn.

The app is stateless (all data in the database, rate-limit counters included), so several
uvicorn workers or hosts can serve one database; only the pull rate limit is per process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .db import open_db
from .errors import ExchangeError, error_body
from .limits import NOW_KEY, BodyLimitMiddleware, ExchangeTimeMiddleware, RateLimiter
from .live import LiveHub
from .live import router as live_router
from .observe import ObserveMiddleware
from .observe import router as observe_router
from .programmes import router as programme_router
from .ratelimit import IpLimits
from .routes import Context, router
from .settings import ExchangeSettings
from .supervise import die_with_supervisor, quiet_ticks
from .trust_routes import router as trust_router
from .unavailable import install as install_unavailable
from .unavailable import wait_for_database

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media",
    422: "invalid_request",
    429: "rate_limited",
}


def _json_error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        error_body(code, message),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, ExchangeError) and exc.status_code == 401:
        exc = await _count_failure(request, exc)
    if isinstance(exc, ExchangeError):
        return _json_error(exc.status_code, exc.code, exc.message, exc.headers)
    if exc.status_code == 400:
        # FastAPI's "error parsing the body" (e.g. bytes that are not UTF-8): to clients
        # that is just a malformed request body, like invalid JSON.
        return _json_error(422, "invalid_request", "malformed request body")
    code = _STATUS_CODES.get(exc.status_code, "error")
    # Framework errors carry generic details (never request content), but keep one line.
    message = str(exc.detail).splitlines()[0][:200] if exc.detail else code.replace("_", " ")
    return _json_error(exc.status_code, code, message, exc.headers)


async def _count_failure(request: Request, exc: ExchangeError) -> ExchangeError:
    """A failed authentication counts against the client's address, here where every
    transaction of the request is over (a rolled-back push must not undo the count); past
    the limit a guesser gets 429 instead of 401. Valid tokens are never slowed down."""
    ctx: Context = request.app.state.ctx
    ip = request.client.host if request.client else "unknown"
    try:
        await run_in_threadpool(ctx.ip_limits.take, ip, request.scope[NOW_KEY])
    except ExchangeError as limited:
        return limited
    return exc


def _clip(text: str, n: int) -> str:
    """One printable line of at most `n` characters (validation messages may quote keys)."""
    lines = text.splitlines()
    line = "".join(ch if ch.isprintable() else "?" for ch in (lines[0] if lines else ""))
    return line if len(line) <= n else line[: n - 1] + "…"


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Name the field and the rule, never the input: it may hold a token or a payload.
    errors = exc.errors()
    first = errors[0] if errors else {}
    # A location may hold a client-chosen key (a cursor's circle id): each part is clipped.
    where = _clip(".".join(_clip(str(part), 40) for part in first.get("loc", ())), 120)
    what = _clip(str(first.get("msg", "invalid request")), 160)
    more = len(errors) - 1
    suffix = f" (+{more} more)" if more > 0 else ""
    return _json_error(422, "invalid_request", f"{where}: {what}{suffix}")


def create_app(settings: ExchangeSettings) -> FastAPI:
    """Build the exchange app on `settings.db_url`, creating or migrating the schema now
    (not in lifespan, so in-process transports that skip lifespan work too)."""
    engine = open_db(settings.db_url, settings.clock(), settings.db_pool_size)

    live = LiveHub(
        engine,
        per_device=settings.waits_per_device,
        in_all=settings.waits_per_worker,
        limiter=RateLimiter(settings.wait_limit_per_minute, settings.clock),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        live.start()
        yield
        live.stop()
        engine.dispose()

    app = FastAPI(
        title="xcircle exchange",
        version="1",
        summary="Stores per-circle logs of opaque op envelopes for xcircle clients.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = Context(
        engine=engine,
        settings=settings,
        pull_limiter=RateLimiter(settings.pull_limit_per_minute, settings.clock),
        ip_limits=IpLimits(engine, settings.auth_fail_limit_per_minute),
        quotas=settings.quotas(),
    )
    app.state.live = live  # waiters of `POST /v1/wait`, woken by writes (live.py)
    app.include_router(router)
    app.include_router(live_router)
    app.include_router(trust_router)
    app.include_router(programme_router)  # programmes and their sealed reports
    app.include_router(observe_router)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    install_unavailable(app)  # database down, restarting or out of disk: 503 + Retry-After
    # Added last = outermost: the time stamp also lands on 413s from the body limit.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ExchangeTimeMiddleware, clock=settings.clock)
    app.add_middleware(ObserveMiddleware)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (`--factory`): settings from `XCIRCLE_EXCHANGE_*`, so every worker
    process can build its own app. A worker dies with `serve`'s supervisor, and one that
    starts while the database is down waits for it rather than crash-looping."""
    die_with_supervisor()
    quiet_ticks()
    settings = ExchangeSettings.from_env()
    return wait_for_database(lambda: create_app(settings))
