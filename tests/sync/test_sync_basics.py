"""Sync over the real exchange in-process: share, invite, accept, converge, one request."""

from __future__ import annotations

import stat

import pytest

from sync.engine import credentials
from xcircle.errors import XCircleError

from .conftest import MakeDevice


def test_share_invite_accept_converge(make_device: MakeDevice) -> None:
    ada, bob = make_device("ada", "Acme"), make_device("bob", "Beta")
    cid = ada.services.circles.create("Leaders", purpose="Grow")["id"]
    ada.services.goals.add(cid, "Delegate more")
    report = ada.share(cid)
    assert report.circles[cid].pushed > 0 and report.circles[cid].pending == 0
    assert bob.accept(ada.invite(cid)) == cid
    bob_me = bob.store.meta(cid)["me"]
    assert bob.store.get(cid, "member", bob_me) is None  # waiting for Ada's device
    ada.sync()  # confirms Bob: his member record, a new epoch, the hand-over
    bob.sync()
    assert bob.store.get(cid, "member", bob_me)["name"] == "bob"
    assert ada.services.detail(cid) == bob.services.detail(cid)
    assert ada.store.canonical(cid) == bob.store.canonical(cid)


def test_no_change_sync_is_one_request(make_device: MakeDevice) -> None:
    ada = make_device("ada")
    cids = [ada.services.circles.create(f"C{i}")["id"] for i in range(3)]
    for cid in cids:
        ada.share(cid)
    ada.sync()
    report = ada.sync()
    assert report.requests == 1
    assert report.pushed == 0 and report.merged == 0


def test_not_joined_is_one_clear_error(make_device: MakeDevice) -> None:
    ada = make_device("ada", joined=False)
    try:
        ada.client()
    except XCircleError as exc:
        assert "xcircle join" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected NotJoined")


def test_credentials_stay_in_the_private_home(make_device: MakeDevice) -> None:
    ada = make_device("ada")
    creds = credentials(ada.store)
    assert creds is not None and creds.token.startswith("xcd_") and creds.org == "Acme"
    assert stat.S_IMODE(ada.home.stat().st_mode) == 0o700
    files = [p for p in ada.home.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    with pytest.raises(XCircleError, match="already joined"):
        ada.join()


def test_a_damaged_shared_circle_is_rebuilt_from_the_exchange(make_device: MakeDevice) -> None:
    ada, bob = make_device("ada", "Acme"), make_device("bob", "Beta")
    cid = ada.services.circles.create("Leaders")["id"]
    ada.services.goals.add(cid, "Delegate more")
    ada.share(cid)
    bob.accept(ada.invite(cid))
    ada.sync()
    bob.sync()
    expected = bob.store.canonical(cid)
    bob.store.close()
    journal = bob.home / "circles" / f"{cid}.journal"
    journal.write_bytes(b"not a journal line\n" + journal.read_bytes())
    bob.restart()
    assert not bob.store.has_circle(cid)
    assert any("is damaged" in n.message for n in bob.store.notices)
    assert bob.store.damaged_circles() == [cid]
    report = bob.sync()
    assert any("rebuilt from the exchange" in w for w in report.warnings)
    assert bob.store.canonical(cid) == expected
    assert bob.store.damaged_circles() == []
    assert list((bob.home / "circles").glob(f"{cid}.journal.corrupt-*"))  # kept aside


def test_a_push_uses_the_skew_saved_by_the_last_sync(make_device: MakeDevice) -> None:
    """Only a device that never synced asks the exchange's clock before pushing; later
    syncs, on a fresh client (a restart), push under the skew the last sync saved."""
    ada = make_device("ada")
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    assert isinstance(ada.store.setting("sync_state")["skew_ms"], int)
    ada.restart()
    ada.services.goals.add(cid, "Delegate")
    ada.faults.log.clear()
    assert ada.sync().pushed == 1
    assert not [line for line in ada.faults.log if "/health" in line]


def test_pulled_counts_the_ops_not_their_batch_records(make_device: MakeDevice) -> None:
    """Each push carries one signed batch record beside its ops: `xcircle sync` and
    `--watch` say how many ops came ("merged 3 of 3 pulled"), not how many envelopes."""
    ada, bob = make_device("ada", "Acme"), make_device("bob", "Beta")
    cid = ada.services.circles.create("Leaders")["id"]
    ada.share(cid)
    bob.accept(ada.invite(cid))
    ada.sync()
    bob.sync()
    for title in ("One", "Two", "Three"):
        ada.services.goals.add(cid, title)
        ada.sync()  # three pushes: three batch records
    report = bob.sync().circles[cid]
    assert (report.pulled, report.merged, report.quarantined) == (3, 3, [])
