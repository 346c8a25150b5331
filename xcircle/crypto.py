"""All of xcircle's cryptography, in one module on pyca/cryptography.

The formats are specified in docs/architecture.md ("Confidentiality"); every one has a
known-answer vector in tests/vectors/. Nothing else in the project imports
`cryptography` (ruff TID251). Errors are `CryptoError` with a short reason that names
the stage that failed, never the secret material.

- device keys (X25519 for wraps, Ed25519 for signatures) and their fingerprints;
- op envelopes: ChaCha20-Poly1305 under a per-op key (HKDF of the epoch secret). A push
  is signed once: format 2 puts the author's Ed25519 signature over the batch's leaf
  hashes in a batch record of its own, pushed before the ops, and each op names it;
  format 1 (read still; written for vouched history) carries a signature over a Merkle
  root and the op's path in every op;
- wraps: an epoch secret HPKE-sealed (RFC 9180) for one device, with the rekeyer's
  signed statement of the epoch inside;
- invite secrets: the exchange token and the join key derived from them, join bundles
  (the joiner's name and organization sealed under the join key);
- the home's sealed secrets file;
- programme reports: a circle's aggregates HPKE-sealed to the coordinator's device.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import orjson
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from xcircle.errors import XCircleError

VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
SIG_BYTES = 64
MAX_BATCH = 1 << 16  # leaves per signed batch (a push sends ≤ 500)
MAX_RECORD = 2000  # leaves per batch record (format 2): one record stays under 64 KiB
FORMAT_OP = 2  # first byte of a format-2 sealed op: its batch record's id, the op JSON
FORMAT_RECORD = 3  # first byte of a batch record: signer, signature, leaf hashes
MAX_DEVICES = 1024  # devices named in one epoch statement
INVITE_PREFIX = "xcs_"  # an invite code's secret part
TOKEN_PREFIX = "xci_"  # the invite token the exchange sees (its own prefix)

_EPOCH_SALT = b"xcircle-epoch-v1"
_OP_INFO = b"xcircle-op-v1"
_BATCH_CONTEXT = b"xcircle-batch-v1"
_RECORD_CONTEXT = b"xcircle-record-v2"
# A convener's device re-sealing ops from before encryption signs them under this context:
# "I vouch this was the circle's history", never "I wrote this" (see sync/reseed.py).
_VOUCH_CONTEXT = b"xcircle-vouch-v1"
_WRAP_INFO = b"xcircle-wrap-v1"
_EPOCH_CONTEXT = b"xcircle-epoch-v1"
_INVITE_SALT = b"xcircle-invite-v1"
_JOIN_CONTEXT = b"xcircle-join-v2"
JOIN_VERSION = 2
_FP_CONTEXT = b"xcircle-fp-v1"
_REPORT_INFO = b"xcircle-report-v1"
MAX_REPORT_BYTES = 8192  # a programme report's plaintext (aggregates only: a few hundred)
_HOME_AAD = b"xcircle-home-v1"
_HEAD = struct.Struct(">B32s64sIIB")  # version, signer, signature, index, size, path length
_U16 = struct.Struct(">H")

_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)


class CryptoError(XCircleError):
    """Something did not decrypt, verify or parse; the message says which stage."""


class MissingRecord(CryptoError):
    """A format-2 op whose batch record this verifier has not seen (it was pulled in an
    earlier sync: the caller finds it in the device's copy of the log and tries again)."""

    def __init__(self, record_id: str) -> None:
        super().__init__(f"its batch record {record_id[:8]} is not on this device")
        self.record_id = record_id


# -- randomness (one source, with a hook that makes the vectors reproducible) -----------

_fixed: Iterator[bytes] | None = None


def random_bytes(n: int) -> bytes:
    """`n` random bytes from the OS (or from `fixed_randomness` inside a test)."""
    if _fixed is not None:
        return b"".join(next(_fixed) for _ in range((n + 31) // 32))[:n]
    return os.urandom(n)


@contextmanager
def fixed_randomness(seed: bytes) -> Iterator[None]:
    """Test hook: inside the block, every random input (keys, nonces, secrets, HPKE's
    ephemeral key) is SHA-256(seed | counter). Never used outside tests and vectors."""
    global _fixed

    def stream() -> Iterator[bytes]:
        counter = 0
        while True:
            yield hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1

    previous, _fixed = _fixed, stream()
    try:
        yield
    finally:
        _fixed = previous


# -- encodings ---------------------------------------------------------------------------


def ctx(*parts: bytes | str | int) -> bytes:
    """Length-prefixed concatenation (u16 length + bytes; ints as 8-byte big-endian), so
    that no two different tuples encode to the same bytes."""
    out = bytearray()
    for part in parts:
        if isinstance(part, int):
            raw = part.to_bytes(8, "big")
        elif isinstance(part, str):
            raw = part.encode("utf-8")
        else:
            raw = part
        if len(raw) > 0xFFFF:
            raise CryptoError("a field is too long to encode")
        out += _U16.pack(len(raw)) + raw
    return bytes(out)


def b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode("ascii")  # = base64.b64encode


def unb64(text: object, size: int | None = None, what: str = "value") -> bytes:
    """Strict standard base64 (the exchange's alphabet); `size` checks the decoded length."""
    if not isinstance(text, str):
        raise CryptoError(f"{what} is not base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise CryptoError(f"{what} is not base64") from None
    if size is not None and len(raw) != size:
        raise CryptoError(f"{what} has {len(raw)} bytes, expected {size}")
    return raw


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64url(text: str, size: int, what: str) -> bytes:
    if len(text) != (size * 4 + 2) // 3:
        raise CryptoError(f"{what} has the wrong length")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise CryptoError(f"{what} is not base64url") from None
    if len(raw) != size or _b64url(raw) != text:
        raise CryptoError(f"{what} is not canonical base64url")
    return raw


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, salt, info).derive(secret)


# -- device keys and fingerprints ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublicKeys:
    """A device's public keys (raw 32 bytes each)."""

    x25519: bytes
    ed25519: bytes

    @property
    def fingerprint(self) -> str:
        return fingerprint(self)

    @property
    def key_id(self) -> str:
        """32 hex characters naming the device in a circle's records (same digest as
        the fingerprint, more of it)."""
        return _fp_digest(self)[:16].hex()

    def to_json(self) -> dict[str, str]:
        return {"x25519": b64(self.x25519), "ed25519": b64(self.ed25519)}

    @classmethod
    def from_json(cls, data: object) -> PublicKeys:
        if not isinstance(data, dict):
            raise CryptoError("device keys are not an object")
        keys = cls(
            unb64(data.get("x25519"), KEY_BYTES, "x25519 key"),
            unb64(data.get("ed25519"), KEY_BYTES, "ed25519 key"),
        )
        try:  # refuse what is not a point at all before anyone stores it
            X25519PublicKey.from_public_bytes(keys.x25519)
            Ed25519PublicKey.from_public_bytes(keys.ed25519)
        except ValueError:
            raise CryptoError("device keys are not valid public keys") from None
        return keys


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """A device's private keys: X25519 (unwraps epoch secrets), Ed25519 (signs ops)."""

    x25519_private: bytes
    ed25519_private: bytes

    @classmethod
    def generate(cls) -> DeviceKeys:
        return cls(random_bytes(KEY_BYTES), random_bytes(KEY_BYTES))

    def _x(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self.x25519_private)

    def _ed(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.ed25519_private)

    @property
    def public(self) -> PublicKeys:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        raw = Encoding.Raw, PublicFormat.Raw
        return PublicKeys(
            self._x().public_key().public_bytes(*raw), self._ed().public_key().public_bytes(*raw)
        )

    def sign(self, message: bytes) -> bytes:
        return self._ed().sign(message)

    def to_json(self) -> dict[str, str]:
        return {"x25519": b64(self.x25519_private), "ed25519": b64(self.ed25519_private)}

    @classmethod
    def from_json(cls, data: object) -> DeviceKeys:
        if not isinstance(data, dict):
            raise CryptoError("device private keys are not an object")
        return cls(
            unb64(data.get("x25519"), KEY_BYTES, "x25519 private key"),
            unb64(data.get("ed25519"), KEY_BYTES, "ed25519 private key"),
        )


def fingerprint(keys: PublicKeys) -> str:
    """80 bits of SHA-256 over both public keys, base32, as `ABCD-EFGH-IJKL-MNOP`."""
    text = base64.b32encode(_fp_digest(keys)[:10]).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def _fp_digest(keys: PublicKeys) -> bytes:
    return hashlib.sha256(_FP_CONTEXT + keys.ed25519 + keys.x25519).digest()


def verify_signature(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# -- epochs and op envelopes --------------------------------------------------------------


def new_epoch_secret() -> bytes:
    return random_bytes(KEY_BYTES)


class EpochKey:
    """One circle epoch's secret, ready to derive per-op keys (one HMAC each)."""

    __slots__ = ("_aad", "_inner", "_outer", "circle", "epoch", "secret")

    def __init__(self, circle: str, epoch: int, secret: bytes) -> None:
        if len(secret) != KEY_BYTES or epoch < 1:
            raise CryptoError("an epoch secret is 32 bytes, for an epoch ≥ 1")
        self.circle, self.epoch, self.secret = circle, epoch, secret
        prk = hmac.digest(_EPOCH_SALT, secret, "sha256")  # HKDF-Extract
        # ctx(circle, epoch, op id) = ctx(circle, epoch) + ctx(op id): the prefix once.
        prefix = ctx(circle, epoch)
        self._aad = bytes((VERSION,)) + prefix
        # HMAC(prk, m) = H(prk ^ opad | H(prk ^ ipad | m)) (RFC 2104), m = info | 0x01:
        # both pads and info's common prefix are hashed once here, so each op costs two
        # SHA-256 copies. (`hmac.digest` gives the same bytes, but sets OpenSSL's HMAC up
        # afresh and drops the GIL on every call: a thread switch per op while the next
        # pull page is being fetched.)
        padded = prk.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded) + _OP_INFO + prefix)
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def op_key(self, op_id: str) -> bytes:
        """HKDF-Expand(prk, "xcircle-op-v1" | ctx(circle, epoch, op id), 32): for 32
        bytes, HKDF-Expand is one HMAC of info | 0x01 (RFC 5869; the vectors test checks
        it against pyca's HKDF). One op, one key: this runs for every op of a pull."""
        return self._expand(ctx(op_id))

    def aad(self, op_id: str) -> bytes:
        return self._aad + ctx(op_id)

    def cipher(self, op_id: str) -> tuple[ChaCha20Poly1305, bytes]:
        """The op's AEAD (under its op key) and its associated data."""
        raw = op_id.encode()
        if len(raw) > 0xFFFF:
            raise CryptoError("an op id is too long to encode")
        tail = len(raw).to_bytes(2, "big") + raw  # = ctx(op_id), inline on the hot path
        return ChaCha20Poly1305(self._expand(tail)), self._aad + tail

    def _expand(self, tail: bytes) -> bytes:
        inner = self._inner.copy()
        inner.update(tail + b"\x01")
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


def _leaf(op_json: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + op_json).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root over `leaves` and each leaf's path (an odd last node moves up as is)."""
    if not 0 < len(leaves) <= MAX_BATCH:
        raise CryptoError("a signed batch holds 1 to 65536 ops")
    paths: list[list[bytes]] = [[] for _ in leaves]
    level, members = list(leaves), [[i] for i in range(len(leaves))]
    while len(level) > 1:
        up, up_members = [], []
        for i in range(0, len(level) - 1, 2):
            for leaf in members[i]:
                paths[leaf].append(level[i + 1])
            for leaf in members[i + 1]:
                paths[leaf].append(level[i])
            up.append(_node(level[i], level[i + 1]))
            up_members.append(members[i] + members[i + 1])
        if len(level) % 2:
            up.append(level[-1])
            up_members.append(members[-1])
        level, members = up, up_members
    return level[0], paths


def merkle_root(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root that `path` proves `leaf` (at `index` of `size`) belongs to."""
    if not 0 <= index < size <= MAX_BATCH:
        raise CryptoError("the op's place in its batch is out of range")
    node, used = leaf, 0
    while size > 1:
        if index % 2 or index + 1 < size:
            if used == len(path):
                raise CryptoError("the op's batch path is too short")
            sibling, used = path[used], used + 1
            node = _node(sibling, node) if index % 2 else _node(node, sibling)
        index, size = index // 2, (size + 1) // 2
    if used != len(path):
        raise CryptoError("the op's batch path has the wrong length")
    return node


def _batch_message(circle: str, root: bytes, *, vouched: bool = False) -> bytes:
    return (_VOUCH_CONTEXT if vouched else _BATCH_CONTEXT) + ctx(circle, root)


def sign_batch(
    keys: DeviceKeys, circle: str, ops: Sequence[bytes], *, vouched: bool = False
) -> list[bytes]:
    """Sealed-op plaintexts for a batch of op JSONs: one signature over their root.
    `vouched`: signed as history this device vouches for, not as its own ops."""
    root, paths = merkle([_leaf(op) for op in ops])
    message = _batch_message(circle, root, vouched=vouched)
    signer, signature = keys.public.ed25519, keys.sign(message)
    size = len(ops)
    return [
        _HEAD.pack(VERSION, signer, signature, i, size, len(path)) + b"".join(path) + op
        for i, (op, path) in enumerate(zip(ops, paths, strict=True))
    ]


class Sealed(NamedTuple):
    """One encrypted envelope's binary fields (the JSON around them is sync's).
    (A NamedTuple: one is made per op of a push.)"""

    op_id: str
    epoch: int
    nonce: bytes
    payload: bytes


def seal_batch(
    key: EpochKey, keys: DeviceKeys, ops: Sequence[tuple[str, bytes]], *, vouched: bool = False
) -> list[Sealed]:
    """Format 1: encrypt and batch-sign `(op id, op JSON)` pairs under an epoch, each op
    with its Merkle path (`vouched`: see `sign_batch`). Pushes use `seal_push`."""
    plains = sign_batch(keys, key.circle, [op for _, op in ops], vouched=vouched)
    return _encrypt(key, [op_id for op_id, _ in ops], plains)


def _record_message(circle: str, record_id: str, listed: bytes) -> bytes:
    return _RECORD_CONTEXT + ctx(circle, record_id, hashlib.sha256(listed).digest())


def seal_push(
    key: EpochKey, keys: DeviceKeys, record_id: str, ops: Sequence[tuple[str, bytes]]
) -> list[Sealed]:
    """Format 2, a push batch: its batch record (envelope `record_id`: the signer's key
    and one signature over the circle, the record id and the ops' leaf hashes), then
    each `(op id, op JSON)` sealed as `0x02 | record id | op JSON`, whose SHA-256 is its
    leaf. The record goes first: a receiver meets it before the ops that name it."""
    if not 0 < len(ops) <= MAX_RECORD:
        raise CryptoError(f"a batch record lists 1 to {MAX_RECORD} ops")
    ref = record_id.encode("ascii")
    if not 0 < len(ref) < 256:
        raise CryptoError("a batch record's id is 1 to 255 ASCII characters")
    head = bytes((FORMAT_OP, len(ref))) + ref
    plains = [head + op for _, op in ops]
    sha = hashlib.sha256
    listed = b"".join(sha(plain).digest() for plain in plains)
    signature = keys.sign(_record_message(key.circle, record_id, listed))
    record = bytes((FORMAT_RECORD,)) + keys.public.ed25519 + signature
    plains.insert(0, record + _U16.pack(len(ops)) + listed)
    return _encrypt(key, [record_id, *(op_id for op_id, _ in ops)], plains)


def _encrypt(key: EpochKey, ids: Sequence[str], plains: Sequence[bytes]) -> list[Sealed]:
    # The batch's nonces in one read from the OS (one by one under `fixed_randomness`,
    # which the vectors were made with).
    pool = os.urandom(NONCE_BYTES * len(ids)) if _fixed is None else b""
    out = []
    for i, (op_id, plain) in enumerate(zip(ids, plains, strict=True)):
        at = i * NONCE_BYTES
        nonce = pool[at : at + NONCE_BYTES] if pool else random_bytes(NONCE_BYTES)
        aead, aad = key.cipher(op_id)
        out.append(Sealed(op_id, key.epoch, nonce, aead.encrypt(nonce, plain, aad)))
    return out


def reseal(key: EpochKey, op_id: str, plain: bytes) -> Sealed:
    """Encrypt an already-signed sealed op or batch record under another epoch (an op
    pushed again after a rebuild): the author's signature travels unchanged."""
    nonce = random_bytes(NONCE_BYTES)
    aead, aad = key.cipher(op_id)
    return Sealed(op_id, key.epoch, nonce, aead.encrypt(nonce, plain, aad))


class Opened(NamedTuple):
    """What an envelope held: the signing device's Ed25519 key and the op JSON (whose
    id and circle the caller checks against the envelope's), or, for a batch record,
    no op JSON and `record` set. (A NamedTuple: one is made per op of a pull.)"""

    signer: bytes
    op_json: bytes
    plain: bytes  # the sealed plaintext, for re-sealing under another epoch
    vouched: bool = False  # signed as vouched history, not by its author
    record: bool = False  # a batch record (format 2): its leaves are now known


_NOTHING: dict[bytes, bytes] = {}


def _pop_first(held: dict[tuple[str, str], bytes]) -> tuple[tuple[str, str], bytes]:
    first = next(iter(held))
    return first, held.pop(first)


class Verifier:
    """Opens envelopes and checks each batch's signature once.

    Format 2 (pushes): a batch record's signature is checked when it is opened, and its
    leaf hashes are kept; an op passes when its own hash is among them (one SHA-256 and
    one lookup). At most `max_leaves` are kept, the oldest records dropped first; an op
    whose record is not here raises `MissingRecord`.

    Format 1: a pull brings a batch's ops together, so once one op's path has reached a
    verified root, each sibling on that path is proven too, with the rest of its path.
    A later op of the batch walks up until it meets one of them (mostly at its own
    leaf: its sibling came first), and its remaining path must be byte-equal to the
    proven one: about one hash an op beyond its leaf, and one signature per batch."""

    def __init__(self, max_nodes: int = 1 << 16, max_leaves: int = 1 << 17) -> None:
        # (signer, signature, circle) → {good node: (index at its level, level size,
        # the rest of the path above it, as bytes)}
        self._good: dict[tuple[bytes, bytes, str], dict[bytes, tuple[int, int, bytes]]] = {}
        self._nodes = 0
        self._max = max_nodes
        self._vouched: set[tuple[bytes, bytes, str]] = set()  # batches signed as vouched
        # Format 2: circle → {leaf: signer} of the records held, and (circle, record id)
        # → its listed leaves, oldest first. A leaf is the hash of a whole sealed op,
        # which names its record, so a leaf only ever matches an op naming that record;
        # the first record to list a leaf keeps it.
        self._signed: dict[str, dict[bytes, bytes]] = {}
        self._held: dict[tuple[str, str], bytes] = {}
        self._leaves, self._max_leaves = 0, max_leaves

    def open(self, key: EpochKey, op_id: str, nonce: bytes, payload: bytes) -> Opened:
        if len(nonce) != NONCE_BYTES:
            raise CryptoError("envelope nonce is not 12 bytes")
        aead, aad = key.cipher(op_id)
        try:
            plain = aead.decrypt(nonce, payload, aad)
        except InvalidTag:
            raise CryptoError(
                "envelope does not decrypt (wrong key, circle, epoch or op id)"
            ) from None
        return self.verify(key.circle, op_id, plain)

    def verify(self, circle: str, op_id: str, plain: bytes) -> Opened:
        """Check a sealed plaintext's batch signature (`op_id`: its envelope's); returns
        signer and op JSON, or takes a batch record in."""
        form = plain[0] if plain else 0
        if form == FORMAT_OP:  # the hot path of an encrypted pull: one hash, one lookup
            signer = self._signed.get(circle, _NOTHING).get(hashlib.sha256(plain).digest())
            if signer is None or len(plain) < 3:
                raise self._unlisted(circle, plain)
            return Opened(signer, plain[2 + plain[1] :], plain)
        if form == FORMAT_RECORD:
            return self._record(circle, op_id, plain)
        return self._verify_merkle(circle, plain)

    def _unlisted(self, circle: str, plain: bytes) -> CryptoError:
        """Why a format-2 op is not among the leaves held: its record is unknown here
        (`MissingRecord`), or does not list it."""
        end = 2 + plain[1] if len(plain) > 1 else 2
        if len(plain) <= end or end == 2:
            return CryptoError("sealed op is truncated")
        record_id = plain[2:end].decode("ascii", "replace")
        if (circle, record_id) in self._held:
            return CryptoError("the op is not in the batch record it names")
        return MissingRecord(record_id)

    def _record(self, circle: str, record_id: str, plain: bytes) -> Opened:
        fixed = 1 + KEY_BYTES + SIG_BYTES + 2
        if len(plain) < fixed:
            raise CryptoError("batch record is truncated")
        signer, signature = plain[1:33], plain[33 : fixed - 2]
        (count,) = _U16.unpack_from(plain, fixed - 2)
        listed = plain[fixed:]
        if not 0 < count <= MAX_RECORD or len(listed) != 32 * count:
            raise CryptoError("batch record is malformed")
        if not verify_signature(signer, signature, _record_message(circle, record_id, listed)):
            raise CryptoError("batch record signature does not verify")
        if (circle, record_id) in self._held:  # opened again (sought, or served twice)
            return Opened(signer, b"", plain, record=True)
        while self._held and self._leaves + count > self._max_leaves:  # the oldest first
            (c, _), dropped = _pop_first(self._held)
            for i in range(0, len(dropped), 32):
                self._signed[c].pop(dropped[i : i + 32], None)
            self._leaves -= len(dropped) // 32
        signed = self._signed.setdefault(circle, {})
        for i in range(0, len(listed), 32):
            signed.setdefault(listed[i : i + 32], signer)
        self._held[circle, record_id] = listed
        self._leaves += count
        return Opened(signer, b"", plain, record=True)

    def _verify_merkle(self, circle: str, plain: bytes) -> Opened:
        if len(plain) < _HEAD.size:
            raise CryptoError("sealed op is truncated")
        version, signer, signature, index, size, n = _HEAD.unpack_from(plain)
        if version != VERSION:
            raise CryptoError(f"sealed op version {version} is not supported")
        start = _HEAD.size
        end = start + 32 * n
        if len(plain) <= end:
            raise CryptoError("sealed op is truncated")
        path, op_json = plain[start:end], plain[end:]
        if not 0 <= index < size <= MAX_BATCH:
            raise CryptoError("the op's place in its batch is out of range")
        who = (signer, signature, circle)
        good = self._good.get(who)
        if good is None:
            good = self._good[who] = {}
        sha, length = hashlib.sha256, end - start
        node = sha(b"\x00" + op_json).digest()
        known = good.get(node)
        if known is not None and known[0] == index and known[1] == size:
            if known[2] != path:  # the common case: its sibling came first
                raise CryptoError("the op's batch path does not match its batch")
            return Opened(signer, op_json, plain, who in self._vouched)
        # Walk up to the first known node, or to the root (then check the signature).
        # (A node can also sit one level up: an odd last node moves up as is.)
        used, walked = 0, []
        while size > 1:
            if index % 2 or index + 1 < size:
                if used == length:
                    raise CryptoError("the op's batch path is too short")
                sibling = path[used : used + 32]
                walked.append((sibling, index ^ 1, size, node, used))
                used += 32
                node = sha(b"\x01" + (sibling + node if index % 2 else node + sibling)).digest()
            index, size = index // 2, (size + 1) // 2
            known = good.get(node)
            if known is not None and known[0] == index and known[1] == size:
                if known[2] != path[used:]:
                    raise CryptoError("the op's batch path does not match its batch")
                break
        else:
            if used != length:
                raise CryptoError("the op's batch path has the wrong length")
            if not verify_signature(signer, signature, _batch_message(circle, node)):
                # the rarer kind, vouched history: checked only when the first fails
                if not verify_signature(
                    signer, signature, _batch_message(circle, node, vouched=True)
                ):
                    raise CryptoError("op signature does not verify")
                self._vouched.add(who)
        # Keep the siblings along the path, now proven with it: a later op of the batch
        # meets the proven part of the tree first at one of them (or at its own leaf).
        self._nodes += len(walked)
        if self._nodes > self._max:
            self._good = {who: good}
            good.clear()
            self._vouched &= {who}
            self._nodes = len(walked)
        for sibling, i, n_at, at, u in walked:
            good[sibling] = (i, n_at, at + path[u + 32 :])
        return Opened(signer, op_json, plain, who in self._vouched)


# -- wraps (HPKE, RFC 9180 base mode) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EpochStatement:
    """What a wrap held: the secret, who made the epoch, and for which devices."""

    secret: bytes
    signer: bytes
    devices: tuple[str, ...]


def _wrap_info(circle: str, epoch: int, device_id: str) -> bytes:
    return _WRAP_INFO + ctx(circle, epoch, device_id)


def _listed(devices: Sequence[str]) -> bytes:
    return _U16.pack(len(devices)) + b"".join(ctx(d) for d in devices)


def _statement(circle: str, epoch: int, secret: bytes, devices: Sequence[str]) -> bytes:
    digest = hashlib.sha256(secret).digest()
    return _EPOCH_CONTEXT + ctx(circle, epoch) + digest + _listed(devices)


def wrap_epoch(
    keys: DeviceKeys,
    circle: str,
    epoch: int,
    secret: bytes,
    recipients: dict[str, PublicKeys],
) -> dict[str, bytes]:
    """Wrap an epoch secret for every device in `recipients` (device id → keys); each
    wrap carries the rekeyer's signature over the epoch, its secret and the device set."""
    devices = sorted(recipients)
    if not devices or len(devices) > MAX_DEVICES:
        raise CryptoError("an epoch is wrapped for 1 to 1024 devices")
    signature = keys.sign(_statement(circle, epoch, secret, devices))
    plain = bytes((VERSION,)) + secret + keys.public.ed25519 + signature + _listed(devices)
    return {
        d: _hpke_seal(recipients[d].x25519, _wrap_info(circle, epoch, d), plain) for d in devices
    }


def unwrap_epoch(
    keys: DeviceKeys, circle: str, epoch: int, device_id: str, wrap: bytes
) -> EpochStatement:
    """Open this device's wrap of an epoch and check the rekeyer's signature."""
    try:
        plain = _HPKE.decrypt(wrap, keys._x(), _wrap_info(circle, epoch, device_id))
    except (InvalidTag, ValueError):
        raise CryptoError("wrap does not open for this device, circle and epoch") from None
    fixed = 1 + KEY_BYTES + KEY_BYTES + SIG_BYTES
    if len(plain) < fixed + 2 or plain[0] != VERSION:
        raise CryptoError("wrap content is malformed")
    secret, signer = plain[1:33], plain[33:65]
    signature, listed = plain[65:fixed], plain[fixed:]
    devices = _parse_devices(listed)
    if not verify_signature(signer, signature, _statement(circle, epoch, secret, devices)):
        raise CryptoError("epoch statement signature does not verify")
    if device_id not in devices:
        raise CryptoError("wrap is not listed for this device")
    return EpochStatement(secret, signer, tuple(devices))


def _parse_devices(listed: bytes) -> list[str]:
    (count,) = _U16.unpack_from(listed)
    pos, devices = 2, []
    for _ in range(count):
        if pos + 2 > len(listed):
            raise CryptoError("wrap device list is truncated")
        (n,) = _U16.unpack_from(listed, pos)
        raw = listed[pos + 2 : pos + 2 + n]
        if len(raw) != n:
            raise CryptoError("wrap device list is truncated")
        try:
            devices.append(raw.decode("ascii"))
        except UnicodeDecodeError:
            raise CryptoError("wrap device list is not ASCII") from None
        pos += 2 + n
    if pos != len(listed) or devices != sorted(set(devices)):
        raise CryptoError("wrap device list is malformed")
    return devices


def _hpke_seal(public: bytes, info: bytes, plain: bytes) -> bytes:
    """HPKE base-mode seal: pyca's Suite, or, under `fixed_randomness`, the same RFC 9180
    steps with a reproducible ephemeral key (pyca takes no ephemeral key); the vectors
    test checks pyca's own `decrypt` opens the latter."""
    if _fixed is None:
        return _HPKE.encrypt(plain, X25519PublicKey.from_public_bytes(public), info)
    return _hpke_seal_fixed(public, info, plain, random_bytes(KEY_BYTES))


def _hpke_seal_fixed(public: bytes, info: bytes, plain: bytes, ephemeral: bytes) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    kem_suite = b"KEM\x00\x20"
    suite = b"HPKE\x00\x20\x00\x01\x00\x03"

    def extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
        return hmac.digest(salt, b"HPKE-v1" + suite_id + label + ikm, "sha256")

    def expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, n: int) -> bytes:
        labeled = n.to_bytes(2, "big") + b"HPKE-v1" + suite_id + label + info
        return HKDFExpand(hashes.SHA256(), n, labeled).derive(prk)

    sk = X25519PrivateKey.from_private_bytes(ephemeral)
    enc = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    dh = sk.exchange(X25519PublicKey.from_public_bytes(public))
    eae = extract(kem_suite, b"", b"eae_prk", dh)
    shared = expand(kem_suite, eae, b"shared_secret", enc + public, 32)
    context = (
        b"\x00" + extract(suite, b"", b"psk_id_hash", b"") + extract(suite, b"", b"info_hash", info)
    )
    secret = extract(suite, shared, b"secret", b"")
    key = expand(suite, secret, b"key", context, 32)
    nonce = expand(suite, secret, b"base_nonce", context, 12)
    return enc + ChaCha20Poly1305(key).encrypt(nonce, plain, b"")


# -- programme reports --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenedReport:
    """A programme report the coordinator's device opened: the report bytes and the
    Ed25519 key of the convener's device that signed them."""

    report: bytes
    signer: bytes


def _report_info(programme: str, circle: str) -> bytes:
    return _REPORT_INFO + ctx(programme, circle)


def _report_message(programme: str, circle: str, report: bytes) -> bytes:
    return _report_info(programme, circle) + hashlib.sha256(report).digest()


def seal_report(
    keys: DeviceKeys, coordinator_x25519: bytes, programme: str, circle: str, report: bytes
) -> bytes:
    """Seal a circle's aggregate report for the programme's coordinator: HPKE base mode
    to the coordinator device's X25519 key, info bound to programme and circle; inside,
    the sending device's Ed25519 key and its signature over the same binding and the
    report's digest (HPKE alone says nothing of the sender)."""
    if len(report) > MAX_REPORT_BYTES:
        raise CryptoError(f"a report is at most {MAX_REPORT_BYTES} bytes")
    signature = keys.sign(_report_message(programme, circle, report))
    plain = bytes((VERSION,)) + keys.public.ed25519 + signature + report
    return _hpke_seal(coordinator_x25519, _report_info(programme, circle), plain)


def open_report(keys: DeviceKeys, programme: str, circle: str, sealed: bytes) -> OpenedReport:
    """Open a report sealed to this device for `programme` and `circle`, and check the
    sender's signature; a report moved to another circle or programme does not open."""
    try:
        plain = _HPKE.decrypt(sealed, keys._x(), _report_info(programme, circle))
    except (InvalidTag, ValueError):
        raise CryptoError("report does not open for this device, programme and circle") from None
    fixed = 1 + KEY_BYTES + SIG_BYTES
    if len(plain) < fixed or plain[0] != VERSION:
        raise CryptoError("report content is malformed")
    signer, signature, report = plain[1:33], plain[33:fixed], plain[fixed:]
    if not verify_signature(signer, signature, _report_message(programme, circle, report)):
        raise CryptoError("report signature does not verify")
    return OpenedReport(report, signer)


# -- invites ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invite:
    """An invite's secret and what derives from it."""

    secret: bytes

    @classmethod
    def new(cls) -> Invite:
        return cls(random_bytes(KEY_BYTES))

    @classmethod
    def parse(cls, text: str) -> Invite:
        """From the code's secret part (`xcs_…`, without the `@url`)."""
        if not text.startswith(INVITE_PREFIX):
            raise CryptoError("an invite code starts with xcs_")
        return cls(_unb64url(text[len(INVITE_PREFIX) :], KEY_BYTES, "invite code"))

    @property
    def code(self) -> str:
        return INVITE_PREFIX + _b64url(self.secret)

    @property
    def token(self) -> str:
        """What the exchange sees (and stores only a hash of)."""
        return TOKEN_PREFIX + _b64url(_hkdf(self.secret, _INVITE_SALT, b"token"))

    @property
    def join_key(self) -> bytes:
        """The key that seals a joiner's bundle: only invite holders (the joiner, and the
        circle's members through the sealed invite record) know it, never the exchange."""
        return _hkdf(self.secret, _INVITE_SALT, b"join")


JOIN_FIELDS = ("device_id", "x25519", "ed25519", "nonce", "sealed")  # the bundle's keys
_SEALED_FIELDS = ("name", "org", "node")  # what only the members read
_JOIN_LIMITS = {"device_id": 64, "name": 120, "org": 120, "node": 64}


@dataclass(frozen=True, slots=True)
class JoinBundle:
    """What a joiner's bundle says, once opened with the invite's join key."""

    device_id: str
    keys: PublicKeys
    name: str
    org: str
    node: str


def _join_aad(device_id: str, keys: PublicKeys) -> bytes:
    return _JOIN_CONTEXT + ctx(device_id, keys.x25519, keys.ed25519)


def make_join_bundle(invite: Invite, fields: dict[str, str]) -> dict[str, object]:
    """A joiner's bundle (see the architecture page): its device id and public keys in
    the clear (the exchange knows them anyway), its name, organization and node sealed
    with the invite's join key, the keys bound as associated data."""
    keys = PublicKeys.from_json(fields)
    inner = {f: fields[f] for f in _SEALED_FIELDS}
    nonce = random_bytes(NONCE_BYTES)
    plain = _canonical(inner)
    sealed = ChaCha20Poly1305(invite.join_key).encrypt(
        nonce, plain, _join_aad(fields["device_id"], keys)
    )
    return {
        "v": JOIN_VERSION,
        "device_id": fields["device_id"],
        **keys.to_json(),
        "nonce": b64(nonce),
        "sealed": b64(sealed),
    }


def _canonical(data: dict[str, str]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def verify_join_bundle(join_key: bytes, bundle: object) -> JoinBundle:
    """Open a join bundle with an invite's join key: a wrong key, another invite's
    bundle or any changed byte (keys and device id included) fails here."""

    if not isinstance(bundle, dict) or bundle.get("v") != JOIN_VERSION:
        raise CryptoError("join bundle is malformed")
    if set(bundle) != {"v", *JOIN_FIELDS}:
        raise CryptoError("join bundle is malformed")
    device_id = bundle.get("device_id")
    if not isinstance(device_id, str) or not 0 < len(device_id) <= _JOIN_LIMITS["device_id"]:
        raise CryptoError("join bundle is malformed")
    keys = PublicKeys.from_json(bundle)
    nonce = unb64(bundle.get("nonce"), NONCE_BYTES, "join bundle nonce")
    sealed = unb64(bundle.get("sealed"), None, "join bundle")
    canonical = {**keys.to_json(), "nonce": b64(nonce), "sealed": b64(sealed)}
    if any(bundle[k] != v for k, v in canonical.items()):
        raise CryptoError("join bundle is not canonical base64")
    try:
        plain = ChaCha20Poly1305(join_key).decrypt(nonce, sealed, _join_aad(device_id, keys))
    except (InvalidTag, ValueError):
        raise CryptoError("join bundle does not open with this invite's key") from None
    try:
        inner = orjson.loads(plain)
    except orjson.JSONDecodeError:
        raise CryptoError("join bundle content is malformed") from None
    if not isinstance(inner, dict) or set(inner) != set(_SEALED_FIELDS):
        raise CryptoError("join bundle content is malformed")
    for name in _SEALED_FIELDS:
        value = inner[name]
        if not isinstance(value, str) or not 0 < len(value) <= _JOIN_LIMITS[name]:
            raise CryptoError("join bundle content is malformed")
    return JoinBundle(device_id, keys, inner["name"], inner["org"], inner["node"])


# -- the home's sealed secrets ------------------------------------------------------------


def seal_home(key: bytes, data: bytes) -> bytes:
    """Encrypt the home's secrets file under the home key: nonce | ciphertext."""
    nonce = random_bytes(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, data, _HOME_AAD)


def open_home(key: bytes, sealed: bytes) -> bytes:
    try:
        return ChaCha20Poly1305(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _HOME_AAD)
    except (InvalidTag, ValueError):
        raise CryptoError("the home's secrets do not open with this home key") from None
