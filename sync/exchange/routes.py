"""The `/v1` HTTP routes. Thin: authenticate, rate-limit, call `store`, shape the answer.

Routes are plain `def`: FastAPI runs them on its thread pool, where the blocking
SQLAlchemy calls belong, and each request makes a single hop to that pool.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from . import invites, members, ratelimit, store
from .admin import create_enrollment
from .auth import Principal, authenticate, authenticate_member, require_device
from .errors import ExchangeError
from .limits import NOW_KEY, RateLimiter
from .models import (
    CircleIn,
    CircleOut,
    CircleRef,
    DeviceIn,
    DeviceKeys,
    DeviceOut,
    EnrollmentIn,
    EnrollmentOut,
    ErrorBody,
    Health,
    Ident,
    InviteIn,
    InviteOut,
    Me,
    PullIn,
    PullOut,
    PushIn,
    PushOut,
    RedeemIn,
    RedeemOut,
    TokenOut,
)
from .quotas import Quotas
from .ratelimit import IpLimits
from .settings import ExchangeSettings
from .tokens import ADMIN, DEVICE, ENROLL


@dataclass
class Context:
    """Per-app collaborators, kept on `app.state.ctx`; the app itself holds no data."""

    engine: Engine
    settings: ExchangeSettings
    pull_limiter: RateLimiter  # per process: pulls take no write
    ip_limits: IpLimits  # enrollments, redeems and auth failures, per client IP, shared
    quotas: Quotas


def decode_keys(keys: DeviceKeys) -> tuple[bytes, bytes]:
    """The raw `(x25519, ed25519)` public keys (the model already checked their shape)."""
    return base64.b64decode(keys.x25519), base64.b64decode(keys.ed25519)


class OrjsonResponse(JSONResponse):
    """JSON via orjson: the pull path builds plain dicts and skips pydantic on the way out.
    (A JSONResponse subclass, so FastAPI documents the response model as JSON.)"""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_bearer = HTTPBearer(auto_error=False, description="xca_ (org admin), xce_ or xcd_ token")
Creds = Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: {"model": ErrorBody} for c in (401, 403, 413, 422, 429, *codes)}


router = APIRouter(prefix="/v1")


class Call:
    """What a route needs from the request: context, exchange time, client IP, caller."""

    def __init__(self, request: Request, creds: HTTPAuthorizationCredentials | None) -> None:
        self.ctx: Context = request.app.state.ctx
        self.now: int = request.scope[NOW_KEY]
        self.ip = request.client.host if request.client else "unknown"
        self.token = creds.credentials if creds else None

    def auth(self, *roles: str, db: Connection | None = None) -> Principal:
        """The caller, looked up on `db` (a transaction of the route) or on a connection
        of its own."""
        return authenticate(self.ctx.engine if db is None else db, self.token, roles, self.now)

    def device(self, db: Connection | None = None) -> tuple[Principal, str]:
        p = self.auth(DEVICE, db=db)
        return p, require_device(p)


@router.get("/health", response_model=Health, tags=["meta"])
def health(request: Request) -> dict[str, Any]:
    """Liveness, no auth; its `time` lets a client measure its clock skew."""
    return {"ok": True, "time": request.scope[NOW_KEY]}


@router.post("/enrollments", status_code=201, response_model=EnrollmentOut, responses=_errors())
def create_enrollment_route(body: EnrollmentIn, request: Request, creds: Creds) -> dict[str, Any]:
    """Org admin: a single-use, expiring enrollment token for one member device."""
    call = Call(request, creds)
    p = call.auth(ADMIN)
    token, expires = create_enrollment(call.ctx.engine, p.org_id, body.ttl_seconds, call.now)
    return {"token": token, "expires_at": expires, "time": call.now}


@router.post("/devices", status_code=201, response_model=DeviceOut, responses=_errors())
def enroll_device(body: DeviceIn, request: Request, creds: Creds) -> dict[str, Any]:
    """Enrollment token: register this device (consumes the token) and get its device token."""
    call = Call(request, creds)
    call.ctx.ip_limits.take(call.ip, call.now)
    p = call.auth(ENROLL)
    keys = decode_keys(body.keys) if body.keys is not None else None
    device_id, token = store.enroll_device(call.ctx.engine, p, body.name, call.now, keys)
    return {
        "device_id": device_id,
        "org_id": p.org_id,
        "org_name": p.org_name,
        "token": token,
        "time": call.now,
    }


@router.post("/me/token", status_code=201, response_model=TokenOut, responses=_errors())
def rotate_token(request: Request, creds: Creds) -> dict[str, Any]:
    """Device: replace this device's token with a new one; the old one stops working."""
    call = Call(request, creds)
    p, _ = call.device()
    return {"token": store.rotate_device_token(call.ctx.engine, p, call.now), "time": call.now}


@router.delete("/devices/{device_id}", status_code=204, responses=_errors(404))
def delete_device(device_id: Ident, request: Request, creds: Creds) -> Response:
    """The device itself or its org admin: revoke the device and all its tokens."""
    call = Call(request, creds)
    p = call.auth(ADMIN, DEVICE)
    store.delete_device(call.ctx.engine, p, device_id, call.now)
    return Response(status_code=204)


@router.get("/me", response_model=Me, responses=_errors())
def me(request: Request, creds: Creds) -> dict[str, Any]:
    """Device: who am I, which circles do I belong to, and where does my join wait."""
    call = Call(request, creds)
    p, device_id = call.device()
    circles, pending = store.my_circles(call.ctx.engine, device_id)
    return {
        "device_id": device_id,
        "org_id": p.org_id,
        "org_name": p.org_name,
        "circles": circles,
        "pending": pending,
        "time": call.now,
    }


@router.post(
    "/circles",
    status_code=201,
    response_model=CircleRef,
    responses={**_errors(409), 200: {"model": CircleRef, "description": "Already yours"}},
)
def create_circle(
    body: CircleIn, request: Request, response: Response, creds: Creds
) -> dict[str, Any]:
    """Device: create a circle (client-chosen id) and join it as `member_id`; idempotent."""
    call = Call(request, creds)
    _, device_id = call.device()
    if not store.create_circle(
        call.ctx.engine, device_id, body.circle_id, body.member_id, call.now, call.ctx.quotas
    ):
        response.status_code = 200
    return {"circle_id": body.circle_id, "time": call.now}


@router.get("/circles/{circle_id}", response_model=CircleOut, responses=_errors(404))
def get_circle(circle_id: Ident, request: Request, creds: Creds) -> dict[str, Any]:
    """Member device: the circle's epoch, next sequence number, current member devices
    (role, public keys) and pending joins."""
    call = Call(request, creds)
    _, device_id = call.device()
    return {**members.circle_view(call.ctx.engine, device_id, circle_id), "time": call.now}


@router.post(
    "/circles/{circle_id}/invites",
    status_code=201,
    response_model=InviteOut,
    responses=_errors(404, 409),
)
def create_invite(
    circle_id: Ident, body: InviteIn, request: Request, creds: Creds
) -> dict[str, Any]:
    """Member device: a single-use, expiring invite (72 h unless said) for the member id
    `member_id` (fresh, or the caller's own for its second device)."""
    call = Call(request, creds)
    _, device_id = call.device()
    code, expires = invites.create_invite(
        call.ctx.engine,
        device_id,
        circle_id,
        body.ttl_seconds,
        call.now,
        call.ctx.quotas,
        token=body.token,
        member_id=body.member_id,
    )
    return {
        "code": code,
        "circle_id": circle_id,
        "member_id": body.member_id,
        "expires_at": expires,
        "time": call.now,
    }


@router.post("/invites/redeem", response_model=RedeemOut, responses=_errors(404, 409))
def redeem_invite(body: RedeemIn, request: Request, creds: Creds) -> dict[str, Any]:
    """Device: join a circle with an invite code (rate limited per IP against guessing):
    a member at once in a plaintext circle, a pending join in an encrypted one."""
    call = Call(request, creds)
    call.ctx.ip_limits.take(call.ip, call.now)
    _, device_id = call.device()
    bundle = None if body.bundle is None else base64.b64decode(body.bundle)
    circle_id, member_id, status = invites.redeem_invite(
        call.ctx.engine, device_id, body.code, body.member_id, bundle, call.now, call.ctx.quotas
    )
    request.app.state.live.changed(circle_id)  # members waiting on it see the join (live.py)
    return {"circle_id": circle_id, "member_id": member_id, "status": status, "time": call.now}


@router.delete(
    "/circles/{circle_id}/members/{member_id}", status_code=204, responses=_errors(404, 409)
)
def remove_member(circle_id: Ident, member_id: Ident, request: Request, creds: Creds) -> Response:
    """Member device: remove a member (all their devices): a convener may remove anyone,
    anyone may remove themselves (leaving)."""
    call = Call(request, creds)
    _, device_id = call.device()
    members.remove_member(call.ctx.engine, device_id, circle_id, member_id, call.now)
    request.app.state.live.changed(circle_id)  # the removed devices learn it at once
    return Response(status_code=204)


@router.post(
    "/circles/{circle_id}/ops",
    response_model=PushOut,
    response_class=OrjsonResponse,
    responses=_errors(404, 409),
)
def push_ops(circle_id: Ident, body: PushIn, request: Request, creds: Creds) -> Response:
    """Member device: append opaque op envelopes; idempotent by op id, all or nothing.
    The hot path: the caller is resolved inside the push transaction (token and membership
    in one query) and the answer skips pydantic on the way out."""
    call = Call(request, creds)
    ctx = call.ctx
    try:
        if len(body.ops) > ctx.settings.max_ops_per_push:
            raise ExchangeError(
                413, "too_large", f"at most {ctx.settings.max_ops_per_push} ops per push"
            )
        decoded = store.decode_ops(body.ops, ctx.settings.max_op_bytes)
    except ExchangeError:
        call.device()  # as on every route, a bad token answers before a bad body
        raise

    q = ctx.quotas
    live = request.app.state.live

    def caller(conn: Connection) -> str:
        device_id = authenticate_member(conn, call.token, circle_id, call.now)
        # Shared counters, on the push's own transaction: a refused push rolls back whole.
        hits = [(q.push_limit, device_id, 1), (q.ops_limit, device_id, len(body.ops))]
        ratelimit.count(conn, hits, call.now)
        live.in_tx(conn, circle_id)  # PostgreSQL: NOTIFY every worker as it commits
        return device_id

    results, next_seq = store.push(ctx.engine, caller, circle_id, body.ops, decoded, call.now)
    live.committed(circle_id)  # SQLite: wake this process's waiters (live.py)
    return OrjsonResponse({"results": results, "next_seq": next_seq, "time": call.now})


@router.post("/pull", response_model=PullOut, response_class=OrjsonResponse, responses=_errors())
def pull(body: PullIn, request: Request, creds: Creds) -> Response:
    """Device: ops after a cursor per circle, `limit` in total; unreadable circles are listed
    in `denied` and never block the others. The hot path: the caller is resolved inside the
    pull transaction and the answer skips pydantic on the way out."""
    call = Call(request, creds)

    def caller(conn: Connection) -> str:
        p, device_id = call.device(conn)
        call.ctx.pull_limiter.check(p.token_hash, "pulls")
        return device_id

    circles, denied = store.pull(
        call.ctx.engine, caller, body.cursors, body.limit, call.ctx.settings.max_pull_bytes
    )
    return OrjsonResponse({"circles": circles, "denied": denied, "time": call.now})
