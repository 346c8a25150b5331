"""The pulled-envelope stages of `sync.e2e` on hand-made envelopes: a valid sealed op
passes; anything a member with the circle key could forge is a reason, never a crash."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from sync.archive import Archive
from sync.e2e import E2E
from sync.protocol import BATCH_RECORD
from sync.state import Credentials, save_credentials
from xcircle import crypto
from xcircle.keystore import keystore_of
from xcircle.store import Store

CID, AUTHOR, MEMBER = "c" * 32, "abcdef0123456789", "m" * 32
HLC = "1767225600000-000001-" + AUTHOR
SECRET = bytes(range(32))


@pytest.fixture
def e2e(tmp_path: Path) -> Any:
    store = Store(tmp_path / "home")
    store.save_profile(name="B", org="A")
    store.create_circle(CID)
    store.set_meta(CID, shared=True, cursor=0)
    save_credentials(store, Credentials("https://x", "xcd_t", "d", "A"))
    keystore_of(store).save_epoch(CID, 1, SECRET)
    yield E2E(store, None, lambda f: f(), "d")  # type: ignore[arg-type]
    store.close()


KEYS = crypto.DeviceKeys.generate()


def op(i: int, **over: Any) -> dict[str, Any]:
    base = {
        "id": f"{i:032x}",
        "circle": CID,
        "entity": "goal",
        "key": f"{i:032x}",
        "fields": {"title": "t"},
        "hlc": HLC,
        "author": AUTHOR,
    }
    return {**base, **over}


def device_op() -> dict[str, Any]:
    fields = {"member": MEMBER, "node": AUTHOR, **KEYS.public.to_json(), "name": ""}
    return op(0, entity="device", key=KEYS.public.key_id, fields=fields)


def envelopes(
    ops: list[dict[str, Any]], ids: list[str] | None = None, *, first: int = 1
) -> list[dict[str, Any]]:
    """A push as the exchange serves it back: the batch record (seq `first`), then the
    ops, sealed under epoch 1."""
    key = crypto.EpochKey(CID, 1, SECRET)
    pairs = [(o["id"] if ids is None else ids[i], orjson.dumps(o)) for i, o in enumerate(ops)]
    sealed = crypto.seal_push(key, KEYS, f"{first:032x}"[::-1], pairs)
    return [
        {
            "seq": n,
            "op_id": s.op_id,
            "epoch": 1,
            "nonce": crypto.b64(s.nonce),
            "payload": crypto.b64(s.payload),
        }
        for n, s in enumerate(sealed, first)
    ]


def reasons(e2e: Any, envs: list[dict[str, Any]]) -> list[str | None]:
    decode = e2e.decoder(CID)
    return [decode(env).reason for env in envs]


def test_a_sealed_op_of_a_known_device_passes(e2e: Any) -> None:
    assert reasons(e2e, envelopes([device_op(), op(1)])) == [BATCH_RECORD, None, None]


def test_a_batch_record_pulled_by_an_earlier_sync_is_found_in_the_log(e2e: Any) -> None:
    """A pull that stopped inside a batch (a lost connection, a page's end) leaves the
    batch's record behind it: the next sync takes it from this device's copy of the
    log, and the rest of the batch passes."""
    envs = envelopes([device_op(), op(1), op(2)])
    assert reasons(e2e, envs[:1]) == [BATCH_RECORD]
    Archive(e2e.store.home, CID).keep(envs[:1])  # what that sync kept of the log
    later = E2E(e2e.store, None, lambda f: f(), "d")
    assert reasons(later, envs[1:]) == [None, None, None]


def test_an_op_whose_batch_record_is_nowhere_is_a_reason(e2e: Any) -> None:
    envs = envelopes([device_op(), op(1)])
    got = reasons(e2e, envs[1:])
    record = envs[0]["op_id"]
    assert got == [f"its batch record {record[:8]} is not on this device"] * 2


def test_what_a_member_could_forge_is_a_reason(e2e: Any) -> None:
    envs = envelopes(
        [device_op(), op(1, fields=["not", "an", "object"]), op(2, author=7), op(3), op(4)],
        ids=["0" * 32, f"{1:032x}", f"{2:032x}", "f" * 32, f"{4:032x}"],
    )
    envs[5]["nonce"] = "not base64!"
    got = reasons(e2e, envs)
    assert got[:2] == [BATCH_RECORD, None]
    assert got[2] == "op inside is invalid: op fields are not an object"
    assert got[3] == "op inside is invalid: op field 'author' is not a short string"
    assert got[4] == "op inside is not the envelope's (replayed)"
    assert got[5] is not None  # a damaged nonce: refused, never a crash


def test_an_op_under_an_epoch_this_device_lacks_is_a_reason(e2e: Any) -> None:
    env = envelopes([device_op()])[1]
    env["epoch"] = 9
    e2e._fetched.add(CID)  # no exchange here: as if its wraps were already asked for
    assert reasons(e2e, [env]) == ["no key for epoch 9 on this device"]


def test_an_op_this_sync_pushed_comes_back_without_being_opened(e2e: Any) -> None:
    """The pull brings back what the push just sent: that op is taken as this device
    made it (no decryption), whatever bytes the exchange serves under its id."""
    from xcircle.ops import Op

    mine = e2e.keys.public
    fields = {"member": MEMBER, "node": AUTHOR, **mine.to_json(), "name": ""}
    record = Op("0" * 32, CID, "device", mine.key_id, HLC, AUTHOR, fields)
    goal = Op("1" * 32, CID, "goal", "g" * 32, HLC, AUTHOR, {"title": "mine"})
    e2e.pushed(CID, [record, goal], ["b" * 32])
    envs = [
        {"seq": 1, "op_id": "b" * 32, "epoch": 1, "nonce": "A" * 16, "payload": "AAAA"},
        {"seq": 2, "op_id": record.id, "epoch": 1, "nonce": "A" * 16, "payload": "AAAA"},
        {"seq": 3, "op_id": goal.id, "epoch": 1, "nonce": "A" * 16, "payload": "AAAA"},
        {"seq": 4, "op_id": goal.id, "epoch": 1, "nonce": "A" * 16, "payload": "AAAA"},
    ]
    decode = e2e.decoder(CID)
    batch, first, second, again = (decode(env) for env in envs)
    assert (batch.reason, batch.payload) == (BATCH_RECORD, None)  # its record: passed over
    assert (first.reason, first.op) == (None, record)  # its device record: trusted on first use
    assert (second.reason, second.op) == (None, goal)
    # Served twice: the second copy is opened like any envelope (and these bytes do not).
    assert again.op is None and again.reason is not None


def test_ops_sealed_in_format_1_before_still_pass_beside_format_2(e2e: Any) -> None:
    """A circle encrypted by an earlier version holds format-1 ops (each with its own
    signature and path): they still open, and the format-2 pushes after them too."""
    key = crypto.EpochKey(CID, 1, SECRET)
    old = crypto.seal_batch(key, KEYS, [(o["id"], orjson.dumps(o)) for o in (device_op(), op(1))])
    envs = [
        {"seq": n, "op_id": s.op_id, "epoch": 1, "nonce": crypto.b64(s.nonce)}
        | {"payload": crypto.b64(s.payload)}
        for n, s in enumerate(old, 1)
    ]
    envs += envelopes([op(2), op(3)], first=3)
    assert reasons(e2e, envs) == [None, None, BATCH_RECORD, None, None]
