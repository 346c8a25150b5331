"""Observability: a request id and an access-log line per request, Prometheus metrics
(`GET /metrics`) and readiness (`GET /ready`, which checks the database).

The access log names the route template and the path without its query string, the
status, the time taken and the request id: never a header, a token or a body.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .errors import error_body
from .limits import REQUEST_ID_KEY, route_template
from .models import ErrorBody, Ready

access_log = logging.getLogger("sync.exchange.access")

_PRINTABLE = set(range(0x20, 0x7F))


def _safe(path: str) -> str:
    """The path as one short printable line (a hostile path must not forge log lines)."""
    return "".join(ch if ord(ch) in _PRINTABLE else "?" for ch in path[:200])


class ObserveMiddleware:
    """Outermost: gives each request an id (`X-Request-Id`), then logs and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope[REQUEST_ID_KEY] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "?")
            metrics.observe(method, route, status, elapsed)
            client = scope.get("client")
            access_log.info(
                "%s %s %s %d %.1fms request=%s",
                client[0] if client else "-",
                method,
                _safe(scope.get("path", "")),
                status,
                elapsed * 1000,
                request_id,
            )


router = APIRouter(tags=["meta"])


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus_metrics() -> Response:
    """Prometheus exposition: requests by route and status, push/pull latency, ops stored,
    rate-limit refusals. Meant for the operator's scraper: keep it off the public proxy."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


@router.get("/ready", response_model=Ready, responses={503: {"model": ErrorBody}})
def ready(request: Request) -> Any:
    """Readiness: 200 once the database answers, 503 while it does not."""
    try:
        with request.app.state.ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return Response(
            error_body("unavailable", "the database is not reachable"),
            status_code=503,
            media_type="application/json",
        )
    return {"ok": True}
