"""Reseeding (issue 8): a plaintext-shared circle is upgraded on its first sync after the
update and leaves no plaintext on the exchange; vouched history is taken only as the
circle's leading history; a convener's device rotates an epoch after 30 days; the
device's copy of the log."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from sync.archive import Archive
from sync.e2e import Trust, encrypt_circle
from sync.history import History
from sync.protocol import SyncError
from sync.reseed import reinvite, reseed_circle
from sync.state import SHARED_WITH_E2E
from sync.upgrade import ROTATE_MS
from xcircle.errors import InvalidInput, StoreError
from xcircle.keystore import keystore_of
from xcircle.ops import Op

from .conftest import MakeDevice
from .helpers import Device, Exchange, FakeClock, Faults, pair, plain_pair

CANARY = "canary-5e1d-upgrade"
DAY_S = 24 * 3600


def plain_rows(exchange: Exchange, cid: str) -> int:
    """Ops the exchange holds in plaintext for a circle (epoch 0 with a payload)."""
    with exchange.engine.connect() as conn:
        q = "SELECT count(*) FROM ops WHERE circle_id = :c AND epoch = 0 AND length(payload) > 0"
        return int(conn.execute(text(q), {"c": cid}).scalar_one())


def payloads(exchange: Exchange, cid: str) -> list[tuple[int, int, bytes]]:
    with exchange.engine.connect() as conn:
        q = "SELECT seq, epoch, payload FROM ops WHERE circle_id = :c ORDER BY seq"
        return [(r[0], r[1], bytes(r[2])) for r in conn.execute(text(q), {"c": cid})]


def from_before_the_update(*devices: Device, cid: str) -> None:
    """Make each home look as a version from before encryption left it: the circle was
    shared without this version's mark."""
    for dev in devices:
        dev.store.set_meta(cid, **{SHARED_WITH_E2E: False})


def trio(make_device: MakeDevice, *, plain: bool = False) -> tuple[Device, Device, Device, str]:
    """Ada (Acme, convener), Bob and Cat (Beta) in one circle, all synced: encrypted
    from its sharing, or (`plain`) shared in plaintext as before encryption."""
    ada, bob, cat = (
        make_device(n, o) for n, o in (("ada", "Acme"), ("bob", "Beta"), ("cat", "Beta"))
    )
    cid = ada.services.circles.create("Leaders")["id"]
    if plain:
        ada.share_plain(cid)
    else:
        ada.share(cid)
    for dev in (bob, cat):
        dev.accept(ada.invite(cid))
    for dev in (ada, bob, cat, ada, bob, cat):  # joins confirmed, records everywhere
        dev.sync()
    return ada, bob, cat, cid


def test_a_plaintext_circle_is_upgraded_on_its_first_sync(
    make_device: MakeDevice, exchange: Exchange
) -> None:
    ada, bob, cat, cid = trio(make_device, plain=True)
    ada.services.goals.add(cid, f"Ada's goal {CANARY}")
    ada.sync()
    bob.services.goals.add(cid, f"Bob's goal {CANARY}")
    bob.sync()
    cat.sync()
    bob.services.goals.add(cid, f"Bob's second goal {CANARY}")  # Cat has not pulled it
    bob.sync()
    assert plain_rows(exchange, cid) > 0
    from_before_the_update(ada, bob, cat, cid=cid)
    before = [(seq, epoch) for seq, epoch, _ in payloads(exchange, cid)]

    # A member's device (not a convener's) upgrades nothing: it keeps syncing.
    bob.sync()
    assert plain_rows(exchange, cid) == len(before)
    report = ada.sync()  # the convener's first sync after the update
    assert any("encrypted end to end" in w for w in report.warnings)
    rows = payloads(exchange, cid)
    assert plain_rows(exchange, cid) == 0
    assert not any(CANARY.encode() in p for _, _, p in rows)
    # Every op kept its seq (cursors stay valid), now sealed under epoch 1.
    assert [seq for seq, _ in before] == [seq for seq, _, _ in rows][: len(before)]
    assert {epoch for _, epoch, _ in rows} == {1}

    # Bob pushes under the old epoch: refused, his device fetches its wrap, re-seals.
    goal = bob.services.goals.add(cid, "after the upgrade")["id"]
    assert bob.sync().circles[cid].pushed == 1
    # Cat was behind: she pulls Bob's second goal as history vouched by Ada.
    for dev in (cat, ada, bob, cat):
        report = dev.sync()
        assert report.circles[cid].quarantined == [], dev.name
    assert cat.store.get(cid, "goal", goal) is not None
    assert ada.store.canonical(cid) == bob.store.canonical(cid) == cat.store.canonical(cid)
    assert plain_rows(exchange, cid) == 0
    assert all(keystore_of(d.store).epochs(cid) == [1] for d in (ada, bob, cat))


def test_a_device_that_pulls_the_upgraded_circle_from_the_start_reads_it_all(
    make_device: MakeDevice, exchange: Exchange
) -> None:
    """A device rebuilding its copy (damaged files, a new install) reads the vouched
    history, then the ops signed by their authors, and quarantines nothing."""
    ada, bob, cat, cid = trio(make_device, plain=True)
    for dev in (ada, bob):
        dev.services.goals.add(cid, f"{dev.name}'s goal")
        dev.sync()
    from_before_the_update(ada, bob, cat, cid=cid)
    ada.sync()
    bob.services.goals.add(cid, "said after the upgrade")
    bob.sync()
    ada.sync()
    bob.store.set_meta(cid, cursor=0, vouched_by=None, authored_from=None, sealed_from=None)
    report = bob.sync()
    assert bob.store.meta(cid)["cursor"] == len(payloads(exchange, cid))  # the whole log
    assert 0 < report.circles[cid].pulled < len(payloads(exchange, cid))  # records aside
    assert report.circles[cid].quarantined == []
    assert bob.store.canonical(cid) == ada.store.canonical(cid)


def test_reseed_by_hand_upgrades_a_circle_shared_in_plaintext_by_this_version(
    make_device: MakeDevice, exchange: Exchange
) -> None:
    ada, bob, cid = plain_pair(make_device)
    bob.sync()
    ada.sync()
    ada.sync()
    assert plain_rows(exchange, cid) > 0  # shared by this version: left as it is
    with bob.client() as c, pytest.raises(InvalidInput, match="only a convener"):
        reseed_circle(bob.store, c, cid)
    with ada.client() as c:
        result = reseed_circle(ada.store, c, cid)
    assert (result.mode, result.epoch) == ("upgrade", 1)
    assert result.pushed == len(payloads(exchange, cid)) and result.purged == 0
    assert plain_rows(exchange, cid) == 0
    bob.services.goals.add(cid, "from Bob")
    for dev in (bob, ada, bob):
        assert dev.sync().circles[cid].quarantined == []
    assert ada.store.canonical(cid) == bob.store.canonical(cid)


def _op(entity: str, key: str, author: str, **fields: object) -> Op:
    return Op(f"{key}-op", "c1", entity, key, "", author, dict(fields))


def test_vouched_history_is_taken_only_at_the_head_of_the_log(make_device: MakeDevice) -> None:
    """One vouching device, a convener's where known, and never after an authored op."""
    ada, _bob, cid = pair(make_device)
    store = ada.store
    gate = lambda f: f()  # noqa: E731
    me = store.meta(cid)["me"]
    store.set_meta(cid, vouched_by=None, authored_from=None)
    trust = Trust(store, cid)
    known = dict(trust.devices)
    trust.devices.clear()  # a device reading the circle from its start: no record yet
    history = History(store, cid, gate)
    assert history.check(trust, 1, "key-a", _op("goal", "g1", "node-x", title="t")) is None
    assert history.check(trust, 2, "key-b", _op("goal", "g2", "node-x", title="t")) == (
        "history vouched by a second device"
    )
    history.authored(5)
    assert history.check(trust, 4, "key-a", _op("goal", "g3", "node-x", title="t")) is None
    assert history.check(trust, 6, "key-a", _op("goal", "g4", "node-x", title="t")) == (
        "vouched history after ops signed by their authors"
    )
    # Kept in the circle's meta: the next sync decides alike.
    again = History(store, cid, gate)
    assert (again.vouched_by, again.authored_from) == ("key-a", 5)

    store.set_meta(cid, vouched_by=None, authored_from=None)
    trust.devices.update(known)  # the records name Ada's device, a convener's
    # A key the circle does not know: a stranger's.
    assert History(store, cid, gate).check(trust, 1, "key-z", _op("goal", "g0", "n")) == (
        "history vouched by a device the circle does not know"
    )
    # A device the circle knows as a member's (not a convener's) cannot vouch.
    trust.devices["key-m"] = ("someone-else", "node-m")
    trust.members["someone-else"] = {"id": "someone-else", "joined": "9", "role": "member"}
    assert History(store, cid, gate).check(trust, 1, "key-m", _op("goal", "g5", "n")) == (
        "history vouched by a device that is not a convener's"
    )
    adas = next(k for k, (member, _) in known.items() if member == me)
    assert History(store, cid, gate).check(trust, 1, adas, _op("goal", "g6", "n")) is None


def test_a_convener_rotates_an_epoch_after_30_days(
    make_device: MakeDevice, exchange: Exchange, exchange_clock: FakeClock
) -> None:
    clock = FakeClock(exchange_clock.now)
    ada, bob, cid = pair(make_device, now_ms=clock)  # encrypted, Bob's joining confirmed
    for dev in (bob, ada):
        dev.sync()
    held = keystore_of(ada.store).epochs(cid)
    e = held[-1]
    assert keystore_of(bob.store).epochs(cid)[-1] == e

    def later(days: float) -> None:
        clock.advance(days * DAY_S)
        exchange_clock.advance(days * DAY_S)

    later(29)
    ada.sync()
    bob.sync()
    assert keystore_of(ada.store).epochs(cid) == held
    later(2)
    bob.sync()  # a member's device never rotates
    assert keystore_of(bob.store).epochs(cid)[-1] == e
    ada.sync()  # 31 days: a new epoch for exactly the member devices
    assert keystore_of(ada.store).epochs(cid) == [*held, e + 1]
    goal = bob.services.goals.add(cid, "under the new epoch")["id"]
    bob.sync()  # refused under the old epoch, re-sealed under the new one
    ada.sync()
    assert ada.store.get(cid, "goal", goal) is not None
    assert keystore_of(bob.store).epochs(cid)[-1] == e + 1
    with exchange.engine.connect() as conn:
        q = "SELECT epoch FROM ops WHERE circle_id = :c ORDER BY seq DESC LIMIT 1"
        assert conn.execute(text(q), {"c": cid}).scalar_one() == e + 1
    later(ROTATE_MS / 1000 / DAY_S - 1)
    ada.sync()
    assert keystore_of(ada.store).epochs(cid)[-1] == e + 1  # counted from its start
    later(2)
    ada.sync()
    assert keystore_of(ada.store).epochs(cid)[-1] == e + 2


def test_the_device_keeps_the_log_it_pulled(make_device: MakeDevice, exchange: Exchange) -> None:
    ada, bob, cid = pair(make_device)
    bob.services.goals.add(cid, "kept")
    bob.sync()
    ada.sync()
    archive = Archive(ada.home, cid)
    entries = archive.entries()
    assert sorted(entries) == [seq for seq, _, _ in payloads(exchange, cid)]
    assert stat.S_IMODE(os.stat(archive.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(archive.path.parent).st_mode) == 0o700
    assert archive.missing(len(entries)) == []


def test_a_torn_line_in_the_log_costs_only_itself(tmp_path: Path) -> None:
    archive = Archive(tmp_path, "c1")
    env = {"seq": 1, "op_id": "a", "epoch": 0, "nonce": "", "payload": "e30="}
    archive.keep([env])
    with open(archive.path, "ab") as f:
        f.write(b'{"seq": 2, "op_id": "b", "ep')  # a write cut short by a full disk
    archive.keep([{**env, "seq": 3, "op_id": "c"}])
    assert sorted(archive.entries()) == [1, 3]
    assert archive.missing(3) == [2]


def exchange_log(exchange: Exchange, cid: str) -> list[tuple[int, str, int, bytes, bytes]]:
    with exchange.engine.connect() as conn:
        q = "SELECT seq, op_id, epoch, nonce, payload FROM ops WHERE circle_id = :c ORDER BY seq"
        return [
            (r[0], r[1], r[2], bytes(r[3]), bytes(r[4])) for r in conn.execute(text(q), {"c": cid})
        ]


def lose_the_exchange(exchange: Exchange, tmp_path: Path, *devices: Device) -> Exchange:
    """The exchange's database is gone: an empty one starts at the same address (its
    operator registers the organizations again); the devices' links now reach it."""
    exchange.engine.dispose()  # the fixture closes the rest
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 'exchange.db'}{suffix}").unlink(missing_ok=True)
    empty = Exchange(tmp_path / "exchange.db", clock=exchange.app.state.ctx.settings.clock)
    for dev in devices:
        dev.exchange = empty
        dev.faults = Faults(empty.bridge)
    return empty


def test_a_convener_rebuilds_a_lost_exchange_from_its_device(
    make_device: MakeDevice, exchange: Exchange, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ada, bob, cat, cid = trio(make_device, plain=True)
    ada.services.goals.add(cid, "said in plaintext")
    ada.sync()
    with ada.client() as c:  # encrypted later: Ada's device re-seals what was plain
        encrypt_circle(ada.store, c, cid, on_store=lambda f: f())
    for dev in (ada, bob, cat):
        dev.services.goals.add(cid, f"{dev.name} after encryption")
    for dev in (ada, bob, cat, ada, bob, cat):
        dev.sync()
    old = exchange_log(exchange, cid)
    assert plain_rows(exchange, cid) == 0 and len(old) > 10
    state = ada.store.canonical(cid)

    empty = lose_the_exchange(exchange, tmp_path, ada, bob, cat)
    request.addfinalizer(empty.close)
    with pytest.raises(SyncError):
        ada.sync()  # the exchange no longer knows the device's token
    ada.join()  # enrolls again: same keys, same data
    with ada.client() as c:
        result = reseed_circle(ada.store, c, cid)
    assert (result.mode, result.unrecoverable) == ("rebuild", [])
    new = exchange_log(empty, cid)
    # The same log: same seqs and op ids; every op signed by its author byte for byte.
    assert [(s, o, e) for s, o, e, _, _ in new] == [(s, o, e) for s, o, e, _, _ in old]
    vouched = {s for s, _, _, _, _ in old if s <= result.vouched}
    assert [r for r in new if r[0] not in vouched] == [r for r in old if r[0] not in vouched]
    assert plain_rows(empty, cid) == 0
    report = ada.sync()
    assert report.circles[cid].quarantined == [] and not report.circles[cid].denied
    assert ada.store.canonical(cid) == state


def test_a_full_disk_while_keeping_the_log_loses_nothing(
    make_device: MakeDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy of the log is written first: the disk fills in the middle of it, the
    store's write of the same page fails cleanly, and once space is freed the next sync
    brings both back whole (the torn line costs only itself)."""
    from tests.test_store_faults import Disk
    from xcircle import osfs

    ada, bob, cid = pair(make_device)
    bob.sync()
    for i in range(5):
        ada.services.goals.add(cid, f"goal {i}")
    ada.sync()
    before = bob.store.canonical(cid)
    disk = Disk(fail_at=0)
    monkeypatch.setattr(osfs, "_os_write", disk.write)
    disk.armed = True
    with pytest.raises(StoreError, match="is full"):
        bob.sync()
    assert disk.refused > 0
    assert not Archive(bob.home, cid).path.read_bytes().endswith(b"\n")  # torn
    bob.restart()
    assert bob.store.canonical(cid) == before
    disk.freed = True
    assert bob.sync().circles[cid].quarantined == []
    assert bob.store.canonical(cid) == ada.store.canonical(cid)
    archive = Archive(bob.home, cid)
    assert archive.missing(bob.store.meta(cid)["cursor"]) == []


def test_after_a_rebuild_every_device_converges_and_no_op_is_lost(
    make_device: MakeDevice, exchange: Exchange, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ada, bob, cat, cid = trio(make_device)
    for dev in (ada, bob, cat, ada, bob, cat):
        dev.services.goals.add(cid, f"{dev.name}'s goal")
        dev.sync()
    late = bob.services.goals.add(cid, "reached the old exchange after Ada's last sync")["id"]
    bob.sync()
    offline = cat.services.goals.add(cid, "made while the exchange was down")["id"]
    made = {g["id"] for dev in (ada, bob, cat) for g in dev.store.records(cid, "goal")}
    assert {late, offline} <= made

    empty = lose_the_exchange(exchange, tmp_path, ada, bob, cat)
    request.addfinalizer(empty.close)
    for dev in (ada, bob, cat):
        dev.join()  # enrolled again: same keys, same data
    with ada.client() as c:
        assert reseed_circle(ada.store, c, cid).mode == "rebuild"
        codes = {i["name"]: i["code"] for i in reinvite(ada.store, c, cid)}
    assert sorted(codes) == ["bob", "cat"]  # each for the member id they had
    for dev in (bob, cat):
        assert dev.accept(codes[dev.name]) == cid  # waits for a convener's device
    notices = ada.sync().notices  # Ada's device confirms them: their keys are known
    assert len(notices) == 2 and all("joined" in n for n in notices)
    # Bob's device holds the 3 ops that reached the old exchange after Ada's last sync
    # (Bob's and Cat's goals of the last round, Bob's late one): it pushes them again.
    restored = [w for w in bob.sync().warnings if "pushed again" in w]
    assert restored == [
        f"circle {cid[:8]}: 3 op(s) the rebuilt exchange lacked were pushed again from this device"
    ]
    for dev in (cat, ada, bob, cat, ada):
        report = dev.sync()
        assert report.circles[cid].quarantined == [] and not report.circles[cid].denied
    assert ada.store.canonical(cid) == bob.store.canonical(cid) == cat.store.canonical(cid)
    assert {g["id"] for g in ada.store.records(cid, "goal")} == made
    assert sorted(m["name"] for m in ada.store.records(cid, "member")) == ["ada", "bob", "cat"]
    ids = [op_id for _, op_id, _, _, _ in exchange_log(empty, cid)]
    assert len(ids) == len(set(ids))
