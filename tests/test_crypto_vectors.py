"""SEC-04: known-answer vectors for every wire format, byte-exact, plus cross-checks of
each against pyca/cryptography's own primitives (independent of xcircle.crypto)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import orjson
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tests.crypto_vectors import VECTORS, keys
from xcircle import crypto

HERE = Path(__file__).parent / "vectors"


def stored(name: str) -> dict:
    return json.loads((HERE / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_vector_is_byte_exact(name: str) -> None:
    fresh = json.loads(json.dumps(VECTORS[name]()))
    path = HERE / f"{name}.json"
    if os.environ.get("XCIRCLE_WRITE_VECTORS") == "1":
        path.write_text(json.dumps(fresh, indent=2, sort_keys=True) + "\n")
    assert fresh == stored(name)


def test_envelope_vector_decrypts_with_plain_pyca() -> None:
    v = stored("envelope")
    secret = bytes.fromhex(v["epoch_secret"])
    signer = keys(b"device-a").public.ed25519
    for op in v["ops"]:
        ctx = crypto.ctx(v["circle"], v["epoch"], op["op_id"])
        key = HKDF(hashes.SHA256(), 32, b"xcircle-epoch-v1", b"xcircle-op-v1" + ctx).derive(secret)
        assert key.hex() == op["op_key"]
        assert bytes.fromhex(op["aad"]) == b"\x01" + ctx
        plain = ChaCha20Poly1305(key).decrypt(
            base64.b64decode(op["nonce"]), base64.b64decode(op["payload"]), b"\x01" + ctx
        )
        assert plain[0] == 1 and plain[1:33] == signer
        assert plain.endswith(op["op_json"].encode())
        opened = crypto.Verifier().verify(v["circle"], op["op_id"], plain)
        assert orjson.loads(opened.op_json)["id"] == op["op_id"]


def _pyca_open(secret: bytes, circle: str, epoch: int, env: dict) -> bytes:
    ctx = crypto.ctx(circle, epoch, env["op_id"])
    key = HKDF(hashes.SHA256(), 32, b"xcircle-epoch-v1", b"xcircle-op-v1" + ctx).derive(secret)
    nonce, payload = base64.b64decode(env["nonce"]), base64.b64decode(env["payload"])
    return ChaCha20Poly1305(key).decrypt(nonce, payload, b"\x01" + ctx)


def test_batch_vector_decrypts_and_verifies_with_plain_pyca() -> None:
    """Format 2: each op is 0x02 | u8 length | record id | op JSON, its leaf the SHA-256
    of all of that; the record is 0x03 | signer | Ed25519 signature over
    "xcircle-record-v2" | ctx(circle, record id, SHA-256 of the leaves) | u16 count |
    the leaves in push order."""
    v = stored("batch")
    secret, circle, epoch = bytes.fromhex(v["epoch_secret"]), v["circle"], v["epoch"]
    record_id = v["record"]["op_id"]
    record = _pyca_open(secret, circle, epoch, v["record"])
    head = b"\x02" + bytes([len(record_id)]) + record_id.encode()
    plains = [_pyca_open(secret, circle, epoch, op) for op in v["ops"]]
    assert plains == [head + op["op_json"].encode() for op in v["ops"]]
    leaves = [hashlib.sha256(plain).digest() for plain in plains]
    signer = keys(b"device-a").public.ed25519
    assert record[0] == 3 and record[1:33] == signer
    assert record[97:99] == len(leaves).to_bytes(2, "big") and record[99:] == b"".join(leaves)
    digest = hashlib.sha256(b"".join(leaves)).digest()
    message = b"xcircle-record-v2" + crypto.ctx(circle, record_id, digest)
    Ed25519PublicKey.from_public_bytes(signer).verify(record[33:97], message)
    verifier = crypto.Verifier()
    assert verifier.verify(circle, record_id, record).record
    for op, plain in zip(v["ops"], plains, strict=True):
        opened = verifier.verify(circle, op["op_id"], plain)
        assert opened.signer == signer and opened.op_json == op["op_json"].encode()


def test_batch_signature_is_ed25519_over_the_merkle_root() -> None:
    v = stored("envelope")
    leaves = [hashlib.sha256(b"\x00" + op["op_json"].encode()).digest() for op in v["ops"]]
    node = lambda a, b: hashlib.sha256(b"\x01" + a + b).digest()  # noqa: E731
    # five leaves: ((0,1),(2,3)),4 with the odd last node moving up unchanged
    root = node(node(node(leaves[0], leaves[1]), node(leaves[2], leaves[3])), leaves[4])
    op = v["ops"][0]
    key = bytes.fromhex(op["op_key"])
    plain = ChaCha20Poly1305(key).decrypt(
        base64.b64decode(op["nonce"]), base64.b64decode(op["payload"]), bytes.fromhex(op["aad"])
    )
    signature = plain[33:97]
    message = b"xcircle-batch-v1" + crypto.ctx(v["circle"], root)
    Ed25519PublicKey.from_public_bytes(plain[1:33]).verify(signature, message)


def test_vouched_history_is_signed_under_its_own_context() -> None:
    """A vouched batch verifies only as vouched: its signature is over the vouch
    context, never the authored one, so it cannot pass for its author's own."""
    v = stored("vouched")
    key = crypto.EpochKey(v["circle"], v["epoch"], bytes.fromhex(v["epoch_secret"]))
    leaves = [hashlib.sha256(b"\x00" + op["op_json"].encode()).digest() for op in v["ops"]]
    node = lambda a, b: hashlib.sha256(b"\x01" + a + b).digest()  # noqa: E731
    root = node(node(leaves[0], leaves[1]), leaves[2])
    signer = Ed25519PublicKey.from_public_bytes(keys(b"device-a").public.ed25519)
    for op in v["ops"]:
        opened = crypto.Verifier().open(
            key, op["op_id"], base64.b64decode(op["nonce"]), base64.b64decode(op["payload"])
        )
        assert opened.vouched and opened.op_json == op["op_json"].encode()
        signature = opened.plain[33:97]
        signer.verify(signature, b"xcircle-vouch-v1" + crypto.ctx(v["circle"], root))
        with pytest.raises(InvalidSignature):
            signer.verify(signature, b"xcircle-batch-v1" + crypto.ctx(v["circle"], root))
    authored = crypto.seal_batch(key, keys(b"device-a"), [("a" * 32, b"{}")])[0]
    assert not crypto.Verifier().open(key, "a" * 32, authored.nonce, authored.payload).vouched


def test_wrap_vector_opens_with_pyca_hpke() -> None:
    v = stored("wrap")
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    for device, r in v["recipients"].items():
        sk = X25519PrivateKey.from_private_bytes(bytes.fromhex(r["x25519_private"]))
        info = b"xcircle-wrap-v1" + crypto.ctx(v["circle"], v["epoch"], device)
        plain = suite.decrypt(base64.b64decode(r["wrap"]), sk, info)
        assert plain[1:33].hex() == v["epoch_secret"]
        assert plain[33:65].hex() == v["rekeyer_ed25519_public"]


def test_production_wraps_use_pyca_hpke_and_open() -> None:
    """Outside the test hook the wrap comes from pyca's HPKE (random ephemeral key)."""
    a, b = crypto.DeviceKeys.generate(), crypto.DeviceKeys.generate()
    secret = crypto.new_epoch_secret()
    w1 = crypto.wrap_epoch(a, "c", 1, secret, {"d": b.public})["d"]
    w2 = crypto.wrap_epoch(a, "c", 1, secret, {"d": b.public})["d"]
    assert w1 != w2
    assert crypto.unwrap_epoch(b, "c", 1, "d", w1).secret == secret


def test_invite_vector_derivations() -> None:
    v = stored("invite")
    secret = bytes.fromhex(v["secret"])
    derive = lambda info: HKDF(hashes.SHA256(), 32, b"xcircle-invite-v1", info).derive(secret)  # noqa: E731
    token = "xci_" + base64.urlsafe_b64encode(derive(b"token")).decode().rstrip("=")
    join_key = derive(b"join")
    assert v["token"] == token and v["join_key"] == join_key.hex()
    assert crypto.Invite.parse(v["code"]).secret == secret
    opened = crypto.verify_join_bundle(join_key, v["bundle"])
    assert opened.device_id == "dev-b" and opened.keys == keys(b"device-b").public
    assert (opened.name, opened.org, opened.node) == ("Bea", "Borealis", "node-b")
    # pyca alone opens the sealed part: AAD binds the device id and both keys.
    b = v["bundle"]
    aad = b"xcircle-join-v2"
    for part in (b"dev-b", base64.b64decode(b["x25519"]), base64.b64decode(b["ed25519"])):
        aad += len(part).to_bytes(2, "big") + part
    plain = ChaCha20Poly1305(join_key).decrypt(
        base64.b64decode(b["nonce"]), base64.b64decode(b["sealed"]), aad
    )
    assert orjson.loads(plain) == {"name": "Bea", "org": "Borealis", "node": "node-b"}
    # The bundle the exchange stores names neither the joiner nor the organization.
    assert b"Bea" not in orjson.dumps(b) and b"Borealis" not in orjson.dumps(b)


def test_home_vector_opens() -> None:
    v = stored("home")
    sealed = bytes.fromhex(v["sealed"])
    plain = ChaCha20Poly1305(bytes.fromhex(v["home_key"])).decrypt(
        sealed[:12], sealed[12:], b"xcircle-home-v1"
    )
    assert plain.decode() == v["plain"]


def test_fingerprints_differ_and_read_aloud() -> None:
    prints = {keys(bytes([i])).public.fingerprint for i in range(200)}
    assert len(prints) == 200
    assert all(len(p) == 19 and p.count("-") == 3 for p in prints)


def test_report_vector_opens_with_pyca_hpke() -> None:
    """A programme report: pyca's HPKE alone opens it with the coordinator's key and the
    info binding programme and circle; the signature inside verifies with pyca."""
    v = stored("report")
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)
    sk = X25519PrivateKey.from_private_bytes(bytes.fromhex(v["coordinator_x25519_private"]))
    info = b"xcircle-report-v1" + crypto.ctx(v["programme"], v["circle"])
    plain = suite.decrypt(base64.b64decode(v["sealed"]), sk, info)
    assert plain[0] == 1 and plain[1:33].hex() == v["signer_ed25519_public"]
    report = plain[97:]
    assert report == v["report"].encode()
    message = info + hashlib.sha256(report).digest()
    Ed25519PublicKey.from_public_bytes(plain[1:33]).verify(plain[33:97], message)


def test_report_is_bound_to_its_programme_and_circle() -> None:
    convener, coordinator, other = keys(b"a"), keys(b"b"), keys(b"c")
    sealed = crypto.seal_report(convener, coordinator.public.x25519, "p1", "c1", b"{}")
    opened = crypto.open_report(coordinator, "p1", "c1", sealed)
    assert opened.report == b"{}" and opened.signer == convener.public.ed25519
    for programme, circle, who in (("p2", "c1", coordinator), ("p1", "c2", coordinator)):
        with pytest.raises(crypto.CryptoError, match="does not open"):
            crypto.open_report(who, programme, circle, sealed)
    with pytest.raises(crypto.CryptoError, match="does not open"):
        crypto.open_report(other, "p1", "c1", sealed)
    with pytest.raises(crypto.CryptoError, match="at most"):
        crypto.seal_report(convener, coordinator.public.x25519, "p1", "c1", b"x" * 9000)
