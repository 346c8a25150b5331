"""The client side of the exchange protocol: errors, op envelopes, invite codes.

Pure functions and types, no I/O and no httpx: the engine, the commands and the screens
all share these. Every error a user can cause (or suffer: an unreachable exchange) is an
`XCircleError` whose message is one line, so the CLI prints it and exits 1.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlsplit

from xcircle.errors import XCircleError
from xcircle.ops import MAX_OP_BYTES, Op

API = "/v1"
PLAIN_EPOCH = 0  # epoch 0 = plain `Op.to_bytes()`; others are reserved for end-to-end crypto
# The reason of a pulled envelope sealed under an epoch from before this device joined:
# it was never meant for it (no key, by design), so it is passed over, not quarantined.
BEFORE_JOINING = "said before this device joined"
# The reason of a pulled batch record (format 2): it holds its ops' signature, no op.
BATCH_RECORD = "a batch record"
PASSED_OVER = frozenset({BEFORE_JOINING, BATCH_RECORD})  # passed over, not quarantined
# The exchange's token prefixes (`sync.exchange.tokens`), restated: the client does not
# import the server package.
INVITE_PREFIX = "xci_"  # a code minted by the exchange (before end-to-end invites)
SECRET_PREFIX = "xcs_"  # a code carrying the invite's secret (the exchange never sees it)
ENROLL_PREFIX = "xce_"
# A base64 payload longer than this cannot decode to an op we would accept: refuse it
# before decoding (the "size" stage), so a hostile envelope costs no memory.
MAX_PAYLOAD_B64 = 4 * ((MAX_OP_BYTES + 2) // 3)


# -- errors ------------------------------------------------------------------------------


class SyncError(XCircleError):
    """Something went wrong talking to the exchange; the message is one line."""

    code: str | None = None  # the exchange's stable error code, when it gave one
    status: int | None = None  # the HTTP status it came with, when there was one


class NotJoined(SyncError):
    """This device has no exchange credentials yet (`xcircle join URL TOKEN` first)."""


class ExchangeUnreachable(SyncError):
    """No answer from the exchange: connection refused, DNS, timeout, dropped connection."""


class CertificateUntrusted(SyncError):
    """The exchange's TLS certificate is not trusted by this device (an unknown CA: add
    it to the system's trust store or the `ca_file` setting), or does not match its name."""


CERT_UNTRUSTED = "certificate not trusted"


class AuthFailed(SyncError):
    """401: the token is unknown, revoked, expired or already used."""


class Forbidden(SyncError):
    """403: a valid token of the wrong role."""


class NotMember(SyncError):
    """404: the circle (or invite, member) does not exist or is not visible to this device."""


class Conflict(SyncError):
    """409: a circle id or op id already exists with other content."""


class TooLarge(SyncError):
    """413: the request body or the number of ops is over the exchange's limit."""


class RateLimited(SyncError):
    """429: too many requests; retried a few times honouring Retry-After, then raised."""


class InvalidRequest(SyncError):
    """422 (or another 4xx): the exchange refused the request as malformed."""


class ServerError(SyncError):
    """5xx after retries: the exchange is up but failing."""


class LiveUnavailable(SyncError):
    """The exchange offers no live sync (`POST /v1/wait`: an older exchange), or none
    for these circles: sync on the interval instead."""


class ProtocolError(SyncError):
    """The exchange answered something this client does not understand."""


class EpochRetired(Conflict):
    """409 `epoch_retired`/`epoch_unknown`: a pushed op is sealed under another epoch than
    the circle's current one; re-seal the outbox under the current epoch and push again."""


class EpochConflict(Conflict):
    """409 `epoch_conflict`: another device rekeyed first; read the epoch and retry."""


class WrapSetMismatch(InvalidRequest):
    """422 `wrap_set_mismatch`: a rekey's wraps are not exactly the member devices."""


# Stable error codes of the exchange's trust rules (`{"error": code}` in its answers),
# restated here because the client does not import the server package.
EPOCH_RETIRED = "epoch_retired"  # 409, op under an older epoch
EPOCH_UNKNOWN = "epoch_unknown"  # 409, op under an epoch that does not exist yet
EPOCH_CONFLICT = "epoch_conflict"  # 409, rekey lost the compare-and-swap
WRAP_SET_MISMATCH = "wrap_set_mismatch"  # 422, rekey wraps ≠ member devices (+ joiners)
MEMBER_ID_TAKEN = "member_id_taken"  # 409, an invite or redeem names someone else's id
LAST_CONVENER = "last_convener"  # 409, the circle would be left without a convener
KEYS_REQUIRED = "keys_required"  # 422, joining an encrypted circle without public keys
KEYS_ALREADY_SET = "keys_already_set"  # 409, a device's public keys are set once
DEVICE_MISMATCH = "device_mismatch"  # 403, an envelope names another device as pusher
INVITE_NOT_FOUND = "invite_not_found"  # 404, unknown, used, expired or dead invite

# Errors more precise than their status, by code (checked before STATUS_ERRORS).
CODE_ERRORS: dict[str, type[SyncError]] = {
    EPOCH_RETIRED: EpochRetired,
    EPOCH_UNKNOWN: EpochRetired,
    EPOCH_CONFLICT: EpochConflict,
    WRAP_SET_MISMATCH: WrapSetMismatch,
}

STATUS_ERRORS: dict[int, type[SyncError]] = {
    401: AuthFailed,
    403: Forbidden,
    404: NotMember,
    409: Conflict,
    413: TooLarge,
    422: InvalidRequest,
    429: RateLimited,
}


# -- envelopes ---------------------------------------------------------------------------


def encode_op(op: Op) -> dict[str, Any]:
    """The push envelope of a local op (plain epoch 0: no nonce, payload = op bytes)."""
    return {
        "op_id": op.id,
        "epoch": PLAIN_EPOCH,
        "nonce": "",
        "payload": base64.b64encode(op.to_bytes()).decode("ascii"),
    }


T = TypeVar("T")


def sized_groups(
    items: Iterable[T], size: Callable[[T], int], most: int, most_bytes: int
) -> Iterator[list[T]]:
    """`items` in order, in request-sized groups: at most `most` items and `most_bytes`
    bytes as `size` counts them (an item larger than that still goes, alone)."""
    group: list[T] = []
    total = 0
    for item in items:
        n = size(item)
        if group and (len(group) >= most or total + n > most_bytes):
            yield group
            group, total = [], 0
        group.append(item)
        total += n
    if group:
        yield group


def envelope_size(env: Mapping[str, Any]) -> int:
    """Roughly the bytes an envelope adds to a push body (for batching under a limit)."""
    return len(env["payload"]) + len(env["op_id"]) + len(env["nonce"]) + 64


class Decoded(NamedTuple):
    """One pulled envelope after the envelope stages: the op bytes, or why not.
    (A NamedTuple: one is built per pulled op, on the hot path.)"""

    seq: int
    op_id: str
    payload: bytes | None
    reason: str | None = None
    # The op, when a stage already parsed it (an opened envelope): the store takes it
    # as is instead of parsing `payload` again.
    op: Op | None = None


def decode_envelope(env: Any) -> Decoded:
    """Check one pulled envelope in stages (shape, size, epoch, base64).

    Only the envelope is checked here; the op inside is validated by the store
    (JSON, schema, circle, privacy). A failure is a reason to quarantine, never an
    exception: one bad op must not stop a sync. The shape stage alone raises
    ProtocolError, because without a seq the batch's contiguity cannot be checked.
    """
    try:
        seq, op_id, payload, epoch = env["seq"], env["op_id"], env["payload"], env["epoch"]
    except (TypeError, KeyError):
        seq, op_id = _shape(env)
        return Decoded(seq, op_id, None, "envelope lacks payload or epoch")
    if type(seq) is not int or type(op_id) is not str:
        _shape(env)
    if type(payload) is not str:
        return Decoded(seq, op_id, None, "envelope has no payload")
    if len(payload) > MAX_PAYLOAD_B64:
        return Decoded(seq, op_id, None, f"op is larger than {MAX_OP_BYTES} bytes")
    if epoch != PLAIN_EPOCH or type(epoch) is not int:
        # Encrypted epochs arrive with end-to-end encryption; until then, keep them aside.
        return Decoded(seq, op_id, None, f"unsupported epoch {epoch!r}")
    try:
        # strict_mode: only the base64 alphabet with correct padding, like validate=True.
        raw = binascii.a2b_base64(payload, strict_mode=True)
    except (binascii.Error, ValueError):
        return Decoded(seq, op_id, None, "payload is not base64")
    return Decoded(seq, op_id, raw)


def contiguous(envelopes: list[Any], after: int) -> int:
    """How many of a page's envelopes, from the first, have the shape `_shape` asks and
    seqs `after + 1, after + 2, …`: where decoding the page will stop (a gap or a
    ProtocolError), known before it starts."""
    n = 0
    for env in envelopes:
        if type(env) is not dict:
            break
        seq, op_id = env.get("seq"), env.get("op_id")
        if type(seq) is not int or seq != after + n + 1 or type(op_id) is not str:
            break
        n += 1
    return n


def _shape(env: Any) -> tuple[int, str]:
    if not isinstance(env, dict):
        raise ProtocolError("the exchange sent an envelope that is not an object")
    seq, op_id = env.get("seq"), env.get("op_id")
    if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(op_id, str):
        raise ProtocolError("the exchange sent an envelope without seq or op id")
    return seq, op_id


# -- invite codes and URLs ---------------------------------------------------------------


def normalize_url(url: str) -> str:
    """`https://host[:port][/prefix]` without a trailing slash; raises on anything else."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidRequest(f"not an exchange URL: {url!r} (expected https://host[:port])")
    if parts.query or parts.fragment:
        raise InvalidRequest(f"an exchange URL has no query or fragment: {url!r}")
    if url.endswith(API):  # people paste the API root; the client adds /v1 itself
        url = url[: -len(API)]
    return url


LOOPBACK_HOSTS = frozenset({"localhost", "::1"})


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost: a connection that never leaves this machine."""
    host = host.lower().strip("[]")
    if host in LOOPBACK_HOSTS or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(url: str, *, insecure_http: bool = False) -> None:
    """Refuse a plain `http://` exchange that is not on this machine: the device token
    (and every op) would cross the network unencrypted. `insecure_http` allows it, for
    tests and a lab only."""
    parts = urlsplit(url)
    if parts.scheme == "http" and not insecure_http and not is_loopback(parts.hostname or ""):
        raise InvalidRequest(
            f"refusing plain http:// to {parts.hostname}: the device token and every op "
            "would travel unencrypted; use https:// (http:// is accepted only for an "
            "exchange on this machine: localhost, 127.0.0.1, ::1)"
        )


def make_invite_code(code: str, url: str) -> str:
    """The code a member copies: `xci_…@https://exchange` (the exchange rides along).

    The bare `xci_…` part is enough for a device already joined to the same exchange
    (the normal case: one exchange per device); the URL lets `accept` say clearly when
    the device is joined to another exchange instead of failing with "unknown invite".
    """
    return f"{code}@{url}"


def parse_invite_code(text: str) -> tuple[str, str | None]:
    """`(code, exchange_url_or_None)` from a pasted code (`xcs_…` carries the invite's
    secret; `xci_…` is an older code the exchange minted); raises InvalidRequest."""
    text = text.strip()
    code, sep, url = text.partition("@")
    prefix = code[:4]
    if prefix not in (INVITE_PREFIX, SECRET_PREFIX) or len(code) <= 4 or len(code) > 200:
        raise InvalidRequest(
            "an invite code starts with xci_ or xcs_ (ask the inviter to copy it whole)"
        )
    return code, normalize_url(url) if sep else None
