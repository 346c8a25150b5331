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


SEALED = crypto.seal_batch(KEY, ALICE, [(f"{i:032x}", op_json(i)) for i in range(9)])


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


def test_envelope_mutations_are_all_refused() -> None:
    rng = random.Random(1)
    verifier = crypto.Verifier()
    accepted = 0
    for n in range(1200):
        s = SEALED[n % len(SEALED)]
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


def test_a_member_tampering_inside_the_ciphertext_is_refused() -> None:
    """A member knows the epoch secret, so it can encrypt anything: the batch signature
    and Merkle path still refuse every changed byte of a sealed op."""
    rng = random.Random(2)
    plains = crypto.sign_batch(ALICE, CIRCLE, [op_json(i) for i in range(9)])
    verifier = crypto.Verifier()
    for plain in plains:  # warm: every node of the batch is known good from now on
        verifier.verify(CIRCLE, plain)
    accepted = 0
    for n in range(1200):
        plain = plains[n % len(plains)]
        bad = flip(plain, rng)
        if bad == plain:
            continue
        if not refuses(lambda: verifier.verify(CIRCLE, bad)):  # noqa: B023
            accepted += 1
    assert accepted == 0


def test_an_op_proven_by_its_sibling_keeps_its_signer_mark_and_circle() -> None:
    """Once one op of a batch is verified, its sibling is checked by one hash and one
    comparison: it still comes out with its signer and its vouched mark, and the same
    bytes claimed for another circle are refused."""
    plains = crypto.sign_batch(BEA, CIRCLE, [op_json(i) for i in range(5)], vouched=True)
    verifier = crypto.Verifier()
    for i in (0, 1, 3, 2, 4):  # 1 and 2 are proven by 0 and 3 before they come
        opened = verifier.verify(CIRCLE, plains[i])
        assert (opened.signer, opened.op_json, opened.vouched) == (
            BEA.public.ed25519,
            op_json(i),
            True,
        )
    with pytest.raises(crypto.CryptoError):
        verifier.verify(OTHER, plains[1])
    own = crypto.sign_batch(ALICE, CIRCLE, [op_json(i) for i in range(5)])
    assert not verifier.verify(CIRCLE, own[1]).vouched  # same ops, another signer's batch


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
    s = SEALED[0]
    key, op_id = KEY, s.op_id
    if change == "circle":
        key = crypto.EpochKey(OTHER, s.epoch, KEY.secret)
    elif change == "epoch":
        key = crypto.EpochKey(CIRCLE, s.epoch + 1, KEY.secret)
    else:
        op_id = SEALED[1].op_id
    with pytest.raises(crypto.CryptoError, match="does not decrypt"):
        crypto.Verifier().open(key, op_id, s.nonce, s.payload)


def test_a_member_re_encrypting_a_signed_op_elsewhere_is_refused_or_seen() -> None:
    """SEC-02 by a member (who can encrypt): into another circle the batch signature
    fails (it binds the circle); under another op id the signed op keeps its own id,
    which the receiver compares with the envelope's (sync.e2e does)."""
    plain = crypto.Verifier().open(KEY, SEALED[0].op_id, SEALED[0].nonce, SEALED[0].payload).plain
    other = crypto.EpochKey(OTHER, 2, crypto.new_epoch_secret())
    moved = crypto.reseal(other, SEALED[0].op_id, plain)
    with pytest.raises(crypto.CryptoError, match="signature"):
        crypto.Verifier().open(other, moved.op_id, moved.nonce, moved.payload)
    renamed = crypto.reseal(KEY, "f" * 32, plain)
    opened = crypto.Verifier().open(KEY, renamed.op_id, renamed.nonce, renamed.payload)
    assert orjson.loads(opened.op_json)["id"] != renamed.op_id
