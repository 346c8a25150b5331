"""Request and response bodies; they make the published OpenAPI schema precise."""

from __future__ import annotations

from typing import Annotated, Literal

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
# A raw 32-byte public key in standard base64 (44 characters, one `=` of padding).
Key32 = Annotated[str, Field(min_length=44, max_length=44, pattern=r"^[A-Za-z0-9+/]{43}=$")]
# A client-made invite token: the prefix and at least 192 bits of base64url.
InviteToken = Annotated[str, Field(pattern=r"^xci_[A-Za-z0-9_-]{32,100}$")]
MAX_WRAP_BYTES = 4096
MAX_BUNDLE_BYTES = 2048
_STRICT_B64 = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
# Strict base64 (whole quanta, padding only at the end), so the schema admits only what
# decodes.
Wrap = Annotated[
    str,
    Field(
        min_length=4,
        max_length=4 * MAX_WRAP_BYTES // 3 + 4,
        pattern=_STRICT_B64,
    ),
]
# A joiner's bundle: opaque bytes (its public keys bound and its name sealed with the
# invite's key), so its size is exactly what the schema says.
Bundle = Annotated[
    str, Field(min_length=4, max_length=4 * ((MAX_BUNDLE_BYTES + 2) // 3), pattern=_STRICT_B64)
]
Role = Literal["convener", "member"]


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


class DeviceKeys(_Body):
    """A device's public keys: X25519 (receives wraps) and Ed25519 (signs ops)."""

    x25519: Key32
    ed25519: Key32


class DeviceIn(_Body):
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    keys: DeviceKeys | None = None


class KeysOut(BaseModel):
    device_id: str
    time: int


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
    pending: list[str]  # circles where this device's join waits for confirmation
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
    """One current member device, with its member's role and the device's public keys."""

    member_id: str
    device_id: str
    org_name: str
    joined: int
    role: Role
    x25519: str | None
    ed25519: str | None


class Join(BaseModel):
    """A redeemed invite of an encrypted circle waiting for a confirming rekey; `bundle`
    is the joiner's opaque, sealed message to the members."""

    device_id: str
    member_id: str
    org_name: str
    invited_by: str
    created: int
    x25519: str | None
    ed25519: str | None
    bundle: str | None  # base64, as the joiner sent it


class CircleOut(BaseModel):
    circle_id: str
    epoch: int
    members: list[Member]
    joins: list[Join]
    next_seq: int
    time: int


class RoleIn(_Body):
    role: Role


class RoleOut(BaseModel):
    member_id: str
    role: Role
    time: int


class InviteIn(_Body):
    ttl_seconds: Ttl = DEFAULT_INVITE_TTL_S
    token: InviteToken | None = None  # the client's token; the exchange keeps its hash
    member_id: Ident | None = None  # what the joiner gets: fresh, or the inviter's own


class InviteOut(BaseModel):
    code: str | None  # minted here when the request brought no token
    circle_id: str
    member_id: str | None
    expires_at: int
    time: int


class RedeemIn(_Body):
    code: Token
    member_id: Ident | None = None  # a proposal, for legacy invites made without one
    bundle: Bundle | None = None


class RedeemOut(BaseModel):
    circle_id: str
    member_id: str
    status: Literal["member", "pending"]
    time: int


class WrapOut(BaseModel):
    epoch: int
    wrap: str


class EpochOut(BaseModel):
    circle_id: str
    epoch: int
    wrap: str | None  # the caller's wrap of the current epoch
    wraps: list[WrapOut]  # all of the caller's wraps, oldest first
    time: int


class RekeyIn(_Body):
    expected: Seq
    # The new epoch's number: expected + 1 unless given (a reseeded circle on an empty
    # exchange continues its old numbering); always above `expected`.
    epoch: Annotated[int, Field(ge=1, le=MAX_INT - 1), JsonInt] | None = None
    wraps: Annotated[
        dict[Ident, Wrap],
        Field(
            min_length=1,
            max_length=1000,
            json_schema_extra={
                "propertyNames": {"minLength": 1, "maxLength": 64, "pattern": IDENT_PATTERN},
                "additionalProperties": False,
            },
        ),
    ]


class PurgeOut(BaseModel):
    purged: int  # plaintext ops emptied (their seqs and op ids stay)
    time: int


class RekeyOut(BaseModel):
    epoch: int
    time: int


class Envelope(_Body):
    """An opaque op: the exchange stores these bytes and never looks inside."""

    op_id: OpId
    epoch: Seq
    nonce: B64
    payload: B64
    device_id: Ident | None = None  # when given, must be the pushing device


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
    device_id: str  # the device that pushed it: receivers check it signed the op


class PulledCircle(BaseModel):
    ops: list[PulledOp]
    next: int
    more: bool
    epoch: int  # the circle's current epoch
    joins: int  # pending joins waiting for a confirming rekey


class PullOut(BaseModel):
    circles: dict[str, PulledCircle]
    denied: list[str]
    time: int
