"""Builds the known-answer vectors of tests/vectors/*.json from fixed inputs.

`tests/test_crypto_vectors.py` checks that today's code gives these very bytes; to
write them anew after a deliberate format change (a new version number!):

    XCIRCLE_WRITE_VECTORS=1 .venv/bin/python -m pytest tests/test_crypto_vectors.py
"""

from __future__ import annotations

from typing import Any

from xcircle import crypto

CIRCLE = "7f3c0a5e9b8d4e21a6c4f0b1d2e3f405"
EPOCH = 3
OPS = [
    {
        "id": f"{i:032x}",
        "circle": CIRCLE,
        "entity": "feedback",
        "key": f"{i:032x}",
        "fields": {"text": f"vector op {i}", "kind": "support"},
        "hlc": f"1767225600000-{i:04d}-node",
        "author": "a1" * 16,
    }
    for i in range(1, 6)
]


def keys(seed: bytes) -> crypto.DeviceKeys:
    with crypto.fixed_randomness(seed):
        return crypto.DeviceKeys.generate()


def hexs(raw: bytes) -> str:
    return raw.hex()


def device_vector() -> dict[str, Any]:
    k = keys(b"device-a")
    return {
        "seed": "device-a",
        "x25519_private": hexs(k.x25519_private),
        "ed25519_private": hexs(k.ed25519_private),
        "x25519_public": hexs(k.public.x25519),
        "ed25519_public": hexs(k.public.ed25519),
        "fingerprint": k.public.fingerprint,
        "key_id": k.public.key_id,
    }


def _signed_ops(
    epoch: int, count: int = len(OPS)
) -> tuple[crypto.DeviceKeys, bytes, crypto.EpochKey, list[tuple[str, bytes]]]:
    """The signing device, the epoch secret and key, and `(op id, op JSON)` pairs."""
    import orjson

    signer = keys(b"device-a")
    with crypto.fixed_randomness(b"epoch-secret"):
        secret = crypto.new_epoch_secret()
    ops = [(op["id"], orjson.dumps(op, option=orjson.OPT_SORT_KEYS)) for op in OPS[:count]]
    return signer, secret, crypto.EpochKey(CIRCLE, epoch, secret), ops


def _wire(s: crypto.Sealed) -> dict[str, str]:
    return {"nonce": crypto.b64(s.nonce), "payload": crypto.b64(s.payload)}


def envelope_vector() -> dict[str, Any]:
    """Format 1: each op with its own batch signature and Merkle path."""
    signer, secret, key, ops = _signed_ops(EPOCH)
    with crypto.fixed_randomness(b"nonces"):
        sealed = crypto.seal_batch(key, signer, ops)
    return {
        "circle": CIRCLE,
        "epoch": EPOCH,
        "epoch_secret": hexs(secret),
        "signer_ed25519_private": hexs(signer.ed25519_private),
        "ops": [
            {
                "op_id": op_id,
                "op_json": op_json.decode(),
                "op_key": hexs(key.op_key(op_id)),
                "aad": hexs(key.aad(op_id)),
                **_wire(s),
            }
            for (op_id, op_json), s in zip(ops, sealed, strict=True)
        ],
    }


RECORD_ID = "9a" * 16


def batch_vector() -> dict[str, Any]:
    """Format 2, a push: the batch record (envelope `RECORD_ID`), then each op."""
    signer, secret, key, ops = _signed_ops(EPOCH)
    with crypto.fixed_randomness(b"nonces"):
        record, *sealed = crypto.seal_push(key, signer, RECORD_ID, ops)
    return {
        "circle": CIRCLE,
        "epoch": EPOCH,
        "epoch_secret": hexs(secret),
        "signer_ed25519_private": hexs(signer.ed25519_private),
        "record": {"op_id": record.op_id, **_wire(record)},
        "ops": [
            {"op_id": op_id, "op_json": op_json.decode(), **_wire(s)}
            for (op_id, op_json), s in zip(ops, sealed, strict=True)
        ],
    }


def vouched_vector() -> dict[str, Any]:
    """History from before encryption, re-sealed by a convener's device: format 1, the
    batch signed under the vouch context."""
    signer, secret, key, ops = _signed_ops(1, 3)
    with crypto.fixed_randomness(b"nonces"):
        sealed = crypto.seal_batch(key, signer, ops, vouched=True)
    return {
        "circle": CIRCLE,
        "epoch": 1,
        "epoch_secret": hexs(secret),
        "ops": [
            {"op_id": op_id, "op_json": op_json.decode(), **_wire(s)}
            for (op_id, op_json), s in zip(ops, sealed, strict=True)
        ],
    }


def wrap_vector() -> dict[str, Any]:
    rekeyer, bea, cai = keys(b"device-a"), keys(b"device-b"), keys(b"device-c")
    with crypto.fixed_randomness(b"epoch-secret"):
        secret = crypto.new_epoch_secret()
    recipients = {"dev-b": bea.public, "dev-c": cai.public}
    with crypto.fixed_randomness(b"hpke-ephemeral"):
        wraps = crypto.wrap_epoch(rekeyer, CIRCLE, EPOCH, secret, recipients)
    return {
        "circle": CIRCLE,
        "epoch": EPOCH,
        "epoch_secret": hexs(secret),
        "rekeyer_ed25519_public": hexs(rekeyer.public.ed25519),
        "recipients": {
            d: {"x25519_private": hexs(k.x25519_private), "wrap": crypto.b64(wraps[d])}
            for d, k in (("dev-b", bea), ("dev-c", cai))
        },
    }


def invite_vector() -> dict[str, Any]:
    with crypto.fixed_randomness(b"invite"):
        invite = crypto.Invite.new()
    joiner = keys(b"device-b")
    fields = {
        "device_id": "dev-b",
        "name": "Bea",
        "org": "Borealis",
        "node": "node-b",
        **joiner.public.to_json(),
    }
    with crypto.fixed_randomness(b"join-nonce"):
        bundle = crypto.make_join_bundle(invite, fields)
    return {
        "secret": hexs(invite.secret),
        "code": invite.code,
        "token": invite.token,
        "join_key": hexs(invite.join_key),
        "bundle": bundle,
    }


def home_vector() -> dict[str, Any]:
    key = bytes(range(32))
    with crypto.fixed_randomness(b"home"):
        sealed = crypto.seal_home(key, b'{"token":"xcd_example"}')
    return {"home_key": hexs(key), "plain": '{"token":"xcd_example"}', "sealed": hexs(sealed)}


PROGRAMME = "5e0c1a2b3d4f5a6b7c8d9e0f1a2b3c4d"
REPORT = (
    b'{"circle":"7f3c0a5e9b8d4e21a6c4f0b1d2e3f405",'
    b'"metrics":{"meetings":{"held":4,"people":5}},"v":1}'
)


def report_vector() -> dict[str, Any]:
    convener, coordinator = keys(b"device-a"), keys(b"device-b")
    with crypto.fixed_randomness(b"hpke-report"):
        sealed = crypto.seal_report(convener, coordinator.public.x25519, PROGRAMME, CIRCLE, REPORT)
    return {
        "programme": PROGRAMME,
        "circle": CIRCLE,
        "report": REPORT.decode(),
        "signer_ed25519_public": hexs(convener.public.ed25519),
        "coordinator_x25519_private": hexs(coordinator.x25519_private),
        "sealed": crypto.b64(sealed),
    }


VECTORS = {
    "device": device_vector,
    "envelope": envelope_vector,
    "batch": batch_vector,
    "vouched": vouched_vector,
    "wrap": wrap_vector,
    "invite": invite_vector,
    "home": home_vector,
    "report": report_vector,
}
