"""Programmes on the exchange: which device owns a programme, which circles belong to it,
and each circle's latest report, sealed to the coordinator's device.

The exchange never reads a report (opaque bytes, like op payloads). It enforces who may
do what with what it can see:

- a circle joins a programme only by a convener's device of that circle, and only into
  a programme that device owns (the first device to name a programme id owns it);
- a report is written only by a convener's device of a circle that belongs to a
  programme (one report per circle: the newest replaces the previous);
- the reports are read only by the programme's owner device; to anyone else the
  programme does not exist (404), as a circle does to a non-member.

A circle's programme link outlives its coordinator's membership: after the hand-over
the coordinator's device is no longer in the circle but still reads its reports.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from .db import programme_circles, programmes, read_tx, write_tx
from .errors import ExchangeError, forbidden, not_found
from .members import CONVENER, caller_row, lock_circle
from .models import Ident, _Body
from .routes import Call, Creds, _errors

PROGRAMME_NOT_FOUND = "programme_not_found"
# A sealed report: HPKE encapsulation (32) + tag (16) + version, signer and signature
# (97) + at most 8 KiB of aggregates (xcircle.crypto.MAX_REPORT_BYTES), rounded up.
MAX_REPORT_BYTES = 8192 + 256
_REPORT_B64 = 4 * ((MAX_REPORT_BYTES + 2) // 3)


class ReportIn(_Body):
    report: str


class ProgrammeCircleOut(BaseModel):
    programme_id: str
    circle_id: str
    time: int


class ReportOut(BaseModel):
    circle_id: str
    reported_at: int
    time: int


class CircleReport(BaseModel):
    circle_id: str
    report: str | None  # base64 of the sealed report, None until a convener sent one
    reported_at: int | None


class ReportsOut(BaseModel):
    programme_id: str
    circles: list[CircleReport]
    time: int


def add_circle(engine: Engine, device_id: str, programme_id: str, circle_id: str, now: int) -> None:
    """Put `circle_id` in `programme_id` (made now, owned by the caller, if new). Two
    devices naming one new programme id at once: the database keeps one, the other 409."""
    try:
        _add_circle(engine, device_id, programme_id, circle_id, now)
    except IntegrityError:
        raise ExchangeError(409, "conflict", "a concurrent request made this programme") from None


def _add_circle(
    engine: Engine, device_id: str, programme_id: str, circle_id: str, now: int
) -> None:
    with write_tx(engine) as conn:
        if lock_circle(conn, circle_id) is None:
            raise not_found("circle not found")
        if caller_row(conn, circle_id, device_id).role != CONVENER:
            raise forbidden()
        owner = _owner(conn, programme_id)
        if owner is None:
            conn.execute(
                programmes.insert().values(id=programme_id, owner_device=device_id, created=now)
            )
        elif owner != device_id:
            raise _no_programme()
        current = conn.execute(
            select(programme_circles.c.programme_id).where(
                programme_circles.c.circle_id == circle_id
            )
        ).scalar()
        if current is None:
            conn.execute(
                programme_circles.insert().values(
                    circle_id=circle_id, programme_id=programme_id, added=now
                )
            )
        elif current != programme_id:
            raise ExchangeError(409, "in_another_programme", "the circle is in another programme")


def put_report(engine: Engine, device_id: str, circle_id: str, report: bytes, now: int) -> None:
    """Keep a convener's device's sealed report of its circle (replacing the last one)."""
    with write_tx(engine) as conn:
        if caller_row(conn, circle_id, device_id).role != CONVENER:
            raise forbidden()
        done = conn.execute(
            update(programme_circles)
            .where(programme_circles.c.circle_id == circle_id)
            .values(report=report, reported_at=now, reported_by=device_id)
        )
        if done.rowcount == 0:
            raise not_found("the circle is in no programme")


def reports(engine: Engine, device_id: str, programme_id: str) -> list[dict[str, Any]]:
    """Every circle of a programme the caller owns, with its sealed report (or None)."""
    with read_tx(engine) as conn:
        _require_owner(conn, device_id, programme_id)
        rows = conn.execute(
            select(
                programme_circles.c.circle_id,
                programme_circles.c.report,
                programme_circles.c.reported_at,
            )
            .where(programme_circles.c.programme_id == programme_id)
            .order_by(programme_circles.c.circle_id)
        ).all()
    return [
        {
            "circle_id": r.circle_id,
            "report": base64.b64encode(r.report).decode() if r.report is not None else None,
            "reported_at": r.reported_at,
        }
        for r in rows
    ]


def _owner(conn: Connection, programme_id: str) -> str | None:
    """The device that owns a programme (None: no such programme)."""
    owner = conn.execute(
        select(programmes.c.owner_device).where(programmes.c.id == programme_id)
    ).scalar()
    return None if owner is None else str(owner)


def _require_owner(conn: Connection, device_id: str, programme_id: str) -> None:
    if _owner(conn, programme_id) != device_id:
        raise _no_programme()


def _no_programme() -> ExchangeError:
    """404 with its own code, so a client tells "no such programme of yours" from an
    exchange that has no programme routes at all (its 404 says `not_found`)."""
    return ExchangeError(404, PROGRAMME_NOT_FOUND, "programme not found")


# -- routes ---------------------------------------------------------------------------------

router = APIRouter(prefix="/v1")


@router.put(
    "/programmes/{programme_id}/circles/{circle_id}",
    response_model=ProgrammeCircleOut,
    responses=_errors(404, 409),
)
def add_circle_route(
    programme_id: Ident, circle_id: Ident, request: Request, creds: Creds
) -> dict[str, Any]:
    """Convener's device: put its circle in a programme it owns (or makes now)."""
    call = Call(request, creds)
    _, device_id = call.device()
    add_circle(call.ctx.engine, device_id, programme_id, circle_id, call.now)
    return {"programme_id": programme_id, "circle_id": circle_id, "time": call.now}


@router.put("/circles/{circle_id}/report", response_model=ReportOut, responses=_errors(404))
def put_report_route(
    circle_id: Ident, body: ReportIn, request: Request, creds: Creds
) -> dict[str, Any]:
    """Convener's device: its circle's latest report, sealed to the coordinator."""
    call = Call(request, creds)
    _, device_id = call.device()
    if len(body.report) > _REPORT_B64:
        raise ExchangeError(413, "too_large", f"a report is at most {MAX_REPORT_BYTES} bytes")
    try:
        raw = base64.b64decode(body.report, validate=True)
    except (binascii.Error, ValueError):
        raise ExchangeError(422, "invalid_request", "report: must be base64") from None
    if not raw:
        raise ExchangeError(422, "invalid_request", "report: must not be empty")
    put_report(call.ctx.engine, device_id, circle_id, raw, call.now)
    return {"circle_id": circle_id, "reported_at": call.now, "time": call.now}


@router.get("/programmes/{programme_id}/reports", response_model=ReportsOut, responses=_errors(404))
def reports_route(programme_id: Ident, request: Request, creds: Creds) -> dict[str, Any]:
    """The programme's owner device: every circle's sealed report."""
    call = Call(request, creds)
    _, device_id = call.device()
    found = reports(call.ctx.engine, device_id, programme_id)
    return {"programme_id": programme_id, "circles": found, "time": call.now}
