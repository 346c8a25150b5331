"""The `/v1` routes of trust across organizations: device keys, roles, epochs and wraps,
reseeding. (Invites, joins and removal keep their routes in `routes.py`.)"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request

from . import epochs, invites, members, reseed, store
from .db import write_tx
from .errors import ExchangeError
from .models import (
    MAX_WRAP_BYTES,
    DeviceKeys,
    EpochOut,
    Ident,
    KeysOut,
    PurgeOut,
    PushIn,
    PushOut,
    RekeyIn,
    RekeyOut,
    RoleIn,
    RoleOut,
)
from .routes import Call, Creds, _errors, decode_keys

router = APIRouter(prefix="/v1")


@router.put("/devices/me/keys", response_model=KeysOut, responses=_errors(409))
def put_keys(body: DeviceKeys, request: Request, creds: Creds) -> dict[str, Any]:
    """Device: register its public keys, once (the same keys again are a no-op)."""
    call = Call(request, creds)
    _, device_id = call.device()
    x25519, ed25519 = decode_keys(body)
    with write_tx(call.ctx.engine) as conn:
        invites.set_keys(conn, device_id, x25519, ed25519)
    return {"device_id": device_id, "time": call.now}


@router.put(
    "/circles/{circle_id}/members/{member_id}/role",
    response_model=RoleOut,
    responses=_errors(404, 409),
)
def set_role(
    circle_id: Ident, member_id: Ident, body: RoleIn, request: Request, creds: Creds
) -> dict[str, Any]:
    """Convener's device: make a member a convener or a member again."""
    call = Call(request, creds)
    _, device_id = call.device()
    members.set_role(call.ctx.engine, device_id, circle_id, member_id, body.role)
    request.app.state.live.changed(circle_id)  # waiting devices sync now (live.py)
    return {"member_id": member_id, "role": body.role, "time": call.now}


@router.get("/circles/{circle_id}/epoch", response_model=EpochOut, responses=_errors(404))
def get_epoch(circle_id: Ident, request: Request, creds: Creds) -> dict[str, Any]:
    """Member device: the circle's current epoch and this device's own wraps."""
    call = Call(request, creds)
    _, device_id = call.device()
    return {**epochs.my_wraps(call.ctx.engine, device_id, circle_id), "time": call.now}


@router.post("/circles/{circle_id}/epochs", response_model=RekeyOut, responses=_errors(404, 409))
def rekey(circle_id: Ident, body: RekeyIn, request: Request, creds: Creds) -> dict[str, Any]:
    """Member device: start the next epoch, compare-and-swap on `expected`, with one wrap
    per current member device (plus the pending joiners it confirms)."""
    call = Call(request, creds)
    _, device_id = call.device()
    raw: dict[str, bytes] = {}
    for dev, wrap in body.wraps.items():
        try:
            raw[dev] = base64.b64decode(wrap, validate=True)
        except (binascii.Error, ValueError):
            raise ExchangeError(422, "invalid_request", "wraps: must be base64") from None
        if len(raw[dev]) > MAX_WRAP_BYTES:
            raise ExchangeError(413, "too_large", f"a wrap is at most {MAX_WRAP_BYTES} bytes")
    epoch = epochs.rekey(
        call.ctx.engine, device_id, circle_id, body.expected, raw, call.now, body.epoch
    )
    request.app.state.live.changed(circle_id)
    return {"epoch": epoch, "time": call.now}


@router.post(
    "/circles/{circle_id}/reseed",
    response_model=PushOut,
    responses=_errors(404, 409),
)
def reseed_ops(circle_id: Ident, body: PushIn, request: Request, creds: Creds) -> dict[str, Any]:
    """Convener's device: re-push the circle's history (upgrade from plaintext, or rebuild
    on an empty exchange). Plaintext ops re-sealed under an epoch replace their plaintext
    in place; new ops may carry any epoch up to the current one."""
    call = Call(request, creds)
    _, device_id = call.device()
    if len(body.ops) > call.ctx.settings.max_ops_per_push:
        raise ExchangeError(
            413, "too_large", f"at most {call.ctx.settings.max_ops_per_push} ops per push"
        )
    decoded = store.decode_ops(body.ops, call.ctx.settings.max_op_bytes)
    results, next_seq = reseed.reseed(
        call.ctx.engine, device_id, circle_id, body.ops, decoded, call.now
    )
    request.app.state.live.changed(circle_id)
    return {"results": results, "next_seq": next_seq, "time": call.now}


@router.delete(
    "/circles/{circle_id}/plaintext", response_model=PurgeOut, responses=_errors(404, 409)
)
def purge_plaintext(circle_id: Ident, request: Request, creds: Creds) -> dict[str, Any]:
    """Convener's device: empty the circle's remaining plaintext ops once it is upgraded."""
    call = Call(request, creds)
    _, device_id = call.device()
    return {
        "purged": reseed.purge_plaintext(call.ctx.engine, device_id, circle_id),
        "time": call.now,
    }
