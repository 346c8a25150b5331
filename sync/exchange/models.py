"""Request and response bodies; they make the published OpenAPI schema precise."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .admin import DEFAULT_INVITE_TTL_S, DEFAULT_TTL_S, MAX_TTL_S, MIN_TTL_S

MAX_INT = 2**53 - 1  # JSON-safe and fits BIGINT; bigger values would be a 5xx in the DB
IDENT_PATTERN = r"^[A-Za-z0-9_-]+$"


def _json_integer(value: object) -> object:
    # JSON Schema integers: 3 and 3.0, never true/false or "3" (pydantic's lax mode would
    # take those; its strict mode would refuse 3.0, which the published schema allows).
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a JSON integer")
    return value


JsonInt = BeforeValidator(_json_integer)

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=IDENT_PATTERN)]
# Op ids are the client's business; printable ASCII keeps them storable everywhere.
OpId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[!-~]+$")]
B64 = Annotated[str, Field(max_length=2_000_000, pattern=r"^[A-Za-z0-9+/]*={0,2}$")]
Seq = Annotated[int, Field(ge=0, le=MAX_INT), JsonInt]
Ttl = Annotated[int, Field(ge=MIN_TTL_S, le=MAX_TTL_S), JsonInt]
Token = Annotated[str, Field(min_length=1, max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every error: a stable code and one line for humans."""

    error: str
    message: str


class Health(BaseModel):
    ok: bool
    time: int


class EnrollmentIn(_Body):
    ttl_seconds: Ttl = DEFAULT_TTL_S


class EnrollmentOut(BaseModel):
    token: str
    expires_at: int
    time: int


class DeviceIn(_Body):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]


class DeviceOut(BaseModel):
    device_id: str
    org_id: str
    org_name: str
    token: str
    time: int


class Me(BaseModel):
    device_id: str
    org_id: str
    org_name: str
    circles: list[str]
    time: int


class TokenOut(BaseModel):
    """A fresh device token; the one that asked for it no longer works."""

    token: str
    time: int


class Ready(BaseModel):
    ok: bool


class CircleIn(_Body):
    circle_id: Ident
    member_id: Ident


class CircleRef(BaseModel):
    circle_id: str
    time: int


class Member(BaseModel):
    member_id: str
    device_id: str
    org_name: str
    joined: int


class CircleOut(BaseModel):
    circle_id: str
    members: list[Member]
    next_seq: int
    time: int


class InviteIn(_Body):
    ttl_seconds: Ttl = DEFAULT_INVITE_TTL_S


class InviteOut(BaseModel):
    code: str
    circle_id: str
    expires_at: int
    time: int


class RedeemIn(_Body):
    code: Token
    member_id: Ident


class Envelope(_Body):
    """An opaque op: the exchange stores these bytes and never looks inside."""

    op_id: OpId
    epoch: Seq
    nonce: B64
    payload: B64


class PushIn(_Body):
    ops: Annotated[list[Envelope], Field(min_length=1)]


class PushResult(BaseModel):
    op_id: str
    seq: int


class PushOut(BaseModel):
    results: list[PushResult]
    next_seq: int
    time: int


class PullIn(_Body):
    cursors: Annotated[
        dict[Ident, Seq],
        Field(
            max_length=1000,
            # pydantic emits patternProperties, which lets other keys through in the
            # published schema; say what the validator enforces.
            json_schema_extra={
                "propertyNames": {"minLength": 1, "maxLength": 64, "pattern": IDENT_PATTERN},
                "additionalProperties": False,
            },
        ),
    ]
    limit: Annotated[int, Field(ge=1, le=5000), JsonInt] = 1000


class PulledOp(BaseModel):
    seq: int
    op_id: str
    epoch: int
    nonce: str
    payload: str


class PulledCircle(BaseModel):
    ops: list[PulledOp]
    next: int
    more: bool


class PullOut(BaseModel):
    circles: dict[str, PulledCircle]
    denied: list[str]
    time: int
