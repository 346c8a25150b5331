"""SEC-01 (tamper fuzz) and SEC-02 (replay): every mutation of an envelope, a wrap or a
join bundle is refused with a `CryptoError`, never accepted and never another exception."""

from __future__ import annotations

import random
from collections.abc import Callable

import orjson
import pytest

from xcircle import crypto

CIRCLE, OTHER = "c" * 32, "d" * 32
ALICE, BEA = crypto.DeviceKeys.generate(), crypto.DeviceKeys.generate()
KEY = crypto.EpochKey(CIRCLE, 2, crypto.new_epoch_secret())


def op_json(i: int, circle: str = CIRCLE, author: str = "alice") -> bytes:
    op = {
        "id": f"{i:032x}",
        "circle": circle,
        "entity": "goal",
        "key": "g",
        "fields": {"n": i},
        "hlc": "1767225600000-0000-n",
        "author": author,
    }
    return orjson.dumps(op, option=orjson.OPT_SORT_KEYS)


RECORD_ID = "r" * 32
# A push as devices seal it (format 2): the batch record, then its nine ops.
SEALED = crypto.seal_push(KEY, ALICE, RECORD_ID, [(f"{i:032x}", op_json(i)) for i in range(9)])
# Format 1 (each op with its Merkle path): still read, and written for vouched history.
SEALED_V1 = crypto.seal_batch(KEY, ALICE, [(f"{i:032x}", op_json(i)) for i in range(9)])


def plains_of(sealed: list[crypto.Sealed]) -> list[tuple[str, bytes]]:
    verifier = crypto.Verifier()
    return [(s.op_id, verifier.open(KEY, s.op_id, s.nonce, s.payload).plain) for s in sealed]


def flip(data: bytes, rng: random.Random) -> bytes:
    """One random mutation: a flipped bit, a changed byte, a cut, or an extension."""
    kind = rng.randrange(4)
    buf = bytearray(data)
    if kind == 0 and buf:
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    elif kind == 1 and buf:
        i = rng.randrange(len(buf))
        buf[i] = (buf[i] + rng.randrange(1, 256)) % 256
    elif kind == 2 and buf:
        del buf[rng.randrange(len(buf)) :]
    else:
        buf += bytes([rng.randrange(256)])
    return bytes(buf)


def refuses(attempt: Callable[[], object]) -> bool:
    try:
        attempt()
    except crypto.CryptoError:
        return True
    return False  # accepted (any other exception fails the test loudly as a crash)


@pytest.mark.parametrize("sealed", [SEALED, SEALED_V1], ids=["format-2", "format-1"])
def test_envelope_mutations_are_all_refused(sealed: list[crypto.Sealed]) -> None:
    rng = random.Random(1)
    verifier = crypto.Verifier()
    for s in sealed:  # the batch as it came: every envelope opens
        verifier.open(KEY, s.op_id, s.nonce, s.payload)
    accepted = 0
    for n in range(1200):
        s = sealed[n % len(sealed)]
        field = n % 5
        op_id, epoch, nonce, payload, key = s.op_id, s.epoch, s.nonce, s.payload, KEY
        if field == 0:
            payload = flip(payload, rng)  # ciphertext or tag
        elif field == 1:
            nonce = flip(nonce, rng)
        elif field == 2:
            op_id = flip(op_id.encode(), rng).decode("latin-1")
        elif field == 3:
            key = crypto.EpochKey(CIRCLE, epoch + rng.randrange(1, 5), KEY.secret)
        else:
            key = crypto.EpochKey(flip(CIRCLE.encode(), rng).decode("latin-1"), epoch, KEY.secret)
        if (op_id, nonce, payload, key.circle, key.epoch) == (
            s.op_id,
            s.nonce,
            s.payload,
            CIRCLE,
            s.epoch,
        ):
            continue
        if not refuses(lambda: verifier.open(key, op_id, nonce, payload)):  # noqa: B023
            accepted += 1
    assert accepted == 0


@pytest.mark.parametrize("sealed", [SEALED, SEALED_V1], ids=["format-2", "format-1"])
def test_a_member_tampering_inside_the_ciphertext_is_refused(sealed: list[crypto.Sealed]) -> None:
    """A member knows the epoch secret, so it can encrypt anything: the batch signature
    (over the record's leaves, or the Merkle root and path) still refuses every changed
    byte of a sealed op or of its batch record."""
    rng = random.Random(2)
    plains = plains_of(sealed)
    verifier = crypto.Verifier()
    for op_id, plain in plains:  # warm: the batch is known good from now on
        verifier.verify(CIRCLE, op_id, plain)
    accepted = 0
    for n in range(1200):
        op_id, plain = plains[n % len(plains)]
        bad = flip(plain, rng)
        if bad == plain:
            continue
        if not refuses(lambda: verifier.verify(CIRCLE, op_id, bad)):  # noqa: B023
            accepted += 1
    assert accepted == 0


def test_an_op_proven_by_its_sibling_keeps_its_signer_mark_and_circle() -> None:
    """Once one op of a batch is verified, its sibling is checked by one hash and one
    comparison: it still comes out with its signer and its vouched mark, and the same
    bytes claimed for another circle are refused."""
    plains = crypto.sign_batch(BEA, CIRCLE, [op_json(i) for i in range(5)], vouched=True)
    verifier = crypto.Verifier()
    for i in (0, 1, 3, 2, 4):  # 1 and 2 are proven by 0 and 3 before they come
        opened = verifier.verify(CIRCLE, f"{i:032x}", plains[i])
        assert (opened.signer, opened.op_json, opened.vouched) == (
            BEA.public.ed25519,
            op_json(i),
            True,
        )
    with pytest.raises(crypto.CryptoError):
        verifier.verify(OTHER, "1" * 32, plains[1])
    own = crypto.sign_batch(ALICE, CIRCLE, [op_json(i) for i in range(5)])
    assert not verifier.verify(CIRCLE, "1" * 32, own[1]).vouched  # another signer's batch


def test_a_batch_record_vouches_only_for_its_own_ops_in_its_circle() -> None:
    """Format 2: an op passes only through the record it names, in the circle the record
    was signed for, and only if the record lists it; the record itself passes only under
    its own id and circle, signed by its signer."""
    (record_id, record), *ops = plains_of(SEALED)
    verifier = crypto.Verifier()
    with pytest.raises(crypto.MissingRecord) as missing:  # its record not seen yet
        verifier.verify(CIRCLE, ops[0][0], ops[0][1])
    assert missing.value.record_id == RECORD_ID
    taken = verifier.verify(CIRCLE, record_id, record)
    assert taken.record and taken.signer == ALICE.public.ed25519 and taken.op_json == b""
    for i, (op_id, plain) in enumerate(ops):
        opened = verifier.verify(CIRCLE, op_id, plain)
        assert (opened.signer, opened.op_json, opened.vouched) == (
            ALICE.public.ed25519,
            op_json(i),
            False,
        )
    head = ops[0][1][: -len(op_json(0))]  # 0x02 | record id: naming the record
    with pytest.raises(crypto.CryptoError, match="not in the batch record"):
        verifier.verify(CIRCLE, "f" * 32, head + op_json(99))  # an op it does not list
    with pytest.raises(crypto.MissingRecord):
        verifier.verify(OTHER, ops[0][0], ops[0][1])  # the same bytes in another circle
    for circle, rid in ((OTHER, RECORD_ID), (CIRCLE, "s" * 32)):  # the record moved
        with pytest.raises(crypto.CryptoError, match="signature"):
            crypto.Verifier().verify(circle, rid, record)
    other = crypto.seal_push(KEY, BEA, "s" * 32, [("f" * 32, op_json(99))])
    forged = crypto.Verifier()
    forged.open(KEY, other[0].op_id, other[0].nonce, other[0].payload)  # Bea's own record
    with pytest.raises(crypto.MissingRecord):  # Alice's op does not name it
        forged.verify(CIRCLE, ops[0][0], ops[0][1])


def test_the_verifier_keeps_a_bounded_number_of_leaves() -> None:
    """Held records are capped (oldest dropped first): an op whose record was dropped
    asks for it again (`MissingRecord`) instead of passing or growing memory."""
    verifier = crypto.Verifier(max_leaves=12)
    batches = [
        crypto.seal_push(KEY, ALICE, f"{b:032x}", [(f"{b}{i:031x}", op_json(i)) for i in range(5)])
        for b in range(3)
    ]
    for batch in batches:
        verifier.open(KEY, batch[0].op_id, batch[0].nonce, batch[0].payload)
    last = batches[2][1]
    assert verifier.open(KEY, last.op_id, last.nonce, last.payload).op_json == op_json(0)
    first = batches[0][1]
    with pytest.raises(crypto.MissingRecord):
        verifier.open(KEY, first.op_id, first.nonce, first.payload)


def test_wrap_mutations_are_all_refused() -> None:
    rng = random.Random(3)
    secret = crypto.new_epoch_secret()
    wraps = crypto.wrap_epoch(ALICE, CIRCLE, 4, secret, {"dev-b": BEA.public})
    wrap = wraps["dev-b"]
    accepted = 0
    for n in range(1200):
        circle, epoch, device, data = CIRCLE, 4, "dev-b", wrap
        match n % 4:
            case 0 | 1:
                data = flip(wrap, rng)
            case 2:
                epoch = rng.choice([3, 5, 0, 2**40])
            case _:
                circle, device = rng.choice([(OTHER, device), (circle, "dev-c"), (circle, "")])
        if (circle, epoch, device, data) == (CIRCLE, 4, "dev-b", wrap):
            continue
        if not refuses(lambda: crypto.unwrap_epoch(BEA, circle, epoch, device, data)):  # noqa: B023
            accepted += 1
    assert accepted == 0
    assert crypto.unwrap_epoch(BEA, CIRCLE, 4, "dev-b", wrap).secret == secret


def test_a_wrap_from_someone_without_the_rekeyers_key_is_refused() -> None:
    """The exchange can HPKE-seal for any device, but not sign as a member device."""
    statement = crypto.wrap_epoch(ALICE, CIRCLE, 4, b"s" * 32, {"dev-b": BEA.public})
    forged = crypto._hpke_seal(  # a valid HPKE wrap whose statement is not signed
        BEA.public.x25519,
        b"xcircle-wrap-v1" + crypto.ctx(CIRCLE, 4, "dev-b"),
        b"\x01"
        + b"e" * 32
        + ALICE.public.ed25519
        + b"\x00" * 64
        + b"\x00\x01"
        + crypto.ctx("dev-b"),
    )
    with pytest.raises(crypto.CryptoError, match="signature"):
        crypto.unwrap_epoch(BEA, CIRCLE, 4, "dev-b", forged)
    assert crypto.unwrap_epoch(BEA, CIRCLE, 4, "dev-b", statement["dev-b"]).secret == b"s" * 32


def test_join_bundle_mutations_are_all_refused() -> None:
    rng = random.Random(4)
    invite = crypto.Invite.new()
    fields = {
        "device_id": "dev-b",
        "name": "Bea",
        "org": "Borealis",
        "node": "node-b",
        **BEA.public.to_json(),
    }
    bundle = crypto.make_join_bundle(invite, fields)
    accepted = 0
    for n in range(1200):
        bad = dict(bundle)
        name = rng.choice([*crypto.JOIN_FIELDS, "v"])
        value = bad[name]
        if isinstance(value, str):
            bad[name] = flip(value.encode(), rng).decode("latin-1")
        else:
            bad[name] = rng.choice([0, 2, None, "1"])
        secret = invite
        if n % 10 == 0:
            bad, secret = dict(bundle), crypto.Invite.new()  # replayed to another invite
        if bad == bundle and secret == invite:
            continue
        if not refuses(lambda: crypto.verify_join_bundle(secret.join_key, bad)):  # noqa: B023
            accepted += 1
    assert accepted == 0


@pytest.mark.parametrize("change", ["circle", "epoch", "op_id"])
def test_replay_into_another_circle_epoch_or_op_id_is_refused(change: str) -> None:
    """SEC-02, at the envelope: the same ciphertext under another circle, epoch or op id."""
    s = SEALED[1]
    key, op_id = KEY, s.op_id
    if change == "circle":
        key = crypto.EpochKey(OTHER, s.epoch, KEY.secret)
    elif change == "epoch":
        key = crypto.EpochKey(CIRCLE, s.epoch + 1, KEY.secret)
    else:
        op_id = SEALED[2].op_id
    with pytest.raises(crypto.CryptoError, match="does not decrypt"):
        crypto.Verifier().open(key, op_id, s.nonce, s.payload)


def test_a_member_re_encrypting_a_signed_op_elsewhere_is_refused_or_seen() -> None:
    """SEC-02 by a member (who can encrypt): into another circle the batch signature
    fails (it binds the circle); under another op id the signed op keeps its own id,
    which the receiver compares with the envelope's (sync.e2e does). Format 1 here; the
    same for a batch record is in the test above."""
    s = SEALED_V1[0]
    plain = crypto.Verifier().open(KEY, s.op_id, s.nonce, s.payload).plain
    other = crypto.EpochKey(OTHER, 2, crypto.new_epoch_secret())
    moved = crypto.reseal(other, s.op_id, plain)
    with pytest.raises(crypto.CryptoError, match="signature"):
        crypto.Verifier().open(other, moved.op_id, moved.nonce, moved.payload)
    renamed = crypto.reseal(KEY, "f" * 32, plain)
    opened = crypto.Verifier().open(KEY, renamed.op_id, renamed.nonce, renamed.payload)
    assert orjson.loads(opened.op_json)["id"] != renamed.op_id


def test_a_record_opened_again_is_held_once() -> None:
    """A record sought in the log, or served twice, does not count twice against the
    cap: it pushes no other record out."""
    verifier = crypto.Verifier(max_leaves=10)
    first, second = (
        crypto.seal_push(KEY, ALICE, f"{b:032x}", [(f"{b}{i:031x}", op_json(i)) for i in range(5)])
        for b in range(2)
    )
    for record in (first[0], first[0], second[0]):
        verifier.open(KEY, record.op_id, record.nonce, record.payload)
    op = first[1]
    assert verifier.open(KEY, op.op_id, op.nonce, op.payload).op_json == op_json(0)
