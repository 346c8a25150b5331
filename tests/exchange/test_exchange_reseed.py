"""Reseeding (issue 8), on SQLite and PostgreSQL: upgrading a plaintext circle leaves no
plaintext on the exchange, and a circle's history can be rebuilt on an empty exchange."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import select

from sync.exchange.db import ops

from .helpers import Api, Device, envelope

KEY = base64.b64encode(bytes(range(32))).decode()
CANARY = b"canary-7f3a9e-purpose-of-the-circle"
LONG = b"x" * 6000  # past a page: overflow pages, freed when the op is rewritten


def _wrap(dev: Device) -> str:
    return base64.b64encode(b"wrap-" + dev.id.encode()).decode()


async def _rekey(api: Api, dev: Device, cid: str, expected: int, devs: list[Device], **kw: int):
    body = {"expected": expected, "wraps": {d.id: _wrap(d) for d in devs}, **kw}
    return await api.call("POST", f"/v1/circles/{cid}/epochs", dev.token, json=body)


async def _reseed(api: Api, dev: Device, cid: str, envs: list[dict[str, object]]):
    return await api.call("POST", f"/v1/circles/{cid}/reseed", dev.token, json={"ops": envs})


async def test_upgrading_a_plaintext_circle_leaves_no_plaintext(api: Api, db_url: str) -> None:
    _, admin_token = api.org()
    ada, bob = await api.device(admin_token), await api.device(admin_token)
    cid = await api.circle(ada, "m0")
    await api.join(ada, cid, bob, "m1")
    await api.push(ada, cid, [envelope("a", CANARY + LONG), envelope("b", LONG + CANARY)])
    await api.push(bob, cid, [envelope("c", LONG + CANARY + LONG)])
    r = await api.call("DELETE", f"/v1/circles/{cid}/plaintext", ada.token)
    assert r.status_code == 409 and r.json()["error"] == "not_upgraded"
    assert (await _rekey(api, ada, cid, 0, [ada, bob])).status_code == 200
    sealed = [envelope(i, b"sealed-" + i.encode(), epoch=1, nonce="AAAA") for i in ("a", "b")]
    assert (await _reseed(api, bob, cid, sealed)).status_code == 403  # conveners only
    r = await _reseed(api, ada, cid, [*sealed, envelope("d", b"sealed-d", epoch=1)])
    assert r.status_code == 200
    assert r.json()["results"] == [
        {"op_id": "a", "seq": 1},
        {"op_id": "b", "seq": 2},
        {"op_id": "d", "seq": 4},
    ]
    # Plaintext is never re-added once upgraded, and sealed ops are never rewritten.
    r = await _reseed(api, ada, cid, [envelope("e", b"plain again")])
    assert r.status_code == 409 and r.json()["error"] == "epoch_retired"
    await _reseed(api, ada, cid, [envelope("a", b"rewritten", epoch=1)])
    r = await api.call("DELETE", f"/v1/circles/{cid}/plaintext", ada.token)
    assert r.status_code == 200 and r.json()["purged"] == 1  # "c": bob's, not re-pushed
    pulled = (await api.pull(bob, {cid: 0})).json()["circles"][cid]["ops"]
    assert [(o["seq"], o["op_id"], o["epoch"], base64.b64decode(o["payload"])) for o in pulled] == [
        (1, "a", 1, b"sealed-a"),
        (2, "b", 1, b"sealed-b"),
        (3, "c", 0, b""),
        (4, "d", 1, b"sealed-d"),
    ]
    with api.engine.connect() as conn:
        assert all(CANARY not in bytes(p) for p in conn.execute(select(ops.c.payload)).scalars())
    if db_url.startswith("sqlite"):
        # Read while the exchange still runs (its WAL in use), as whoever copies the files.
        path = Path(db_url.removeprefix("sqlite:///"))
        files = [p for p in (path, Path(f"{path}-wal")) if p.exists()]
        assert files and not any(CANARY in p.read_bytes() for p in files)


async def test_a_circle_is_rebuilt_on_an_empty_exchange(api: Api) -> None:
    """The exchange lost its database: a convener re-creates the circle, continues its
    epoch numbering and re-pushes the history of every epoch in order."""
    _, admin_token = api.org()
    ada, bob = await api.device(admin_token), await api.device(admin_token)
    cid = await api.circle(ada, "m0")
    r = await _rekey(api, ada, cid, 0, [ada], epoch=3)
    assert r.status_code == 200 and r.json()["epoch"] == 3
    history = [envelope(f"h{i}", f"op {i}".encode(), epoch=e) for i, e in enumerate([1, 1, 2, 3])]
    r = await _reseed(api, ada, cid, history)
    assert [x["seq"] for x in r.json()["results"]] == [1, 2, 3, 4]
    assert (await _reseed(api, ada, cid, history)).json()["results"] == r.json()["results"]
    r = await _reseed(api, ada, cid, [envelope("future", epoch=4)])
    assert r.status_code == 409 and r.json()["error"] == "epoch_unknown"
    # An ordinary push stays strict: only the current epoch.
    assert (await api.push(ada, cid, [envelope("new", epoch=2)])).status_code == 409
    assert (await api.push(ada, cid, [envelope("new", epoch=3)])).json()["results"][0]["seq"] == 5
    assert (await _rekey(api, ada, cid, 3, [ada], epoch=3)).status_code == 422
    keys = {"x25519": KEY, "ed25519": KEY}
    assert (await api.call("PUT", "/v1/devices/me/keys", bob.token, json=keys)).status_code == 200
    await api.join(ada, cid, bob, "m1")  # pending, until ada's rekey confirms it
    assert (await _rekey(api, ada, cid, 3, [ada, bob])).json()["epoch"] == 4
    pulled = (await api.pull(bob, {cid: 0})).json()["circles"][cid]["ops"]
    assert [(o["op_id"], o["epoch"]) for o in pulled] == [
        ("h0", 1),
        ("h1", 1),
        ("h2", 2),
        ("h3", 3),
        ("new", 3),
    ]
