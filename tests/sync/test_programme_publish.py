"""Publishing a programme through a real in-process exchange: circles shared encrypted
with the coordinator's device as convener, one invite per participant, participants who
join with their codes end up in their circles; publishing again duplicates nothing; the
hand-over leaves the coordinator unable to read the circle; the coordinator's view reads
each circle's sealed report, which the exchange holds only as ciphertext."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sync.exchange.db import invites, ops, programme_circles
from sync.programmes import INVITES, CircleProgress, fetch_reports, handover, publish
from sync.state import forget_circle
from xcircle import crypto
from xcircle.domain import METRICS
from xcircle.errors import InvalidInput
from xcircle.keystore import keystore_of
from xcircle.services import programme_reports as pr

from .conftest import MakeDevice
from .helpers import NOW, Device, Exchange

PEOPLE = [
    ("Ana", "Acme"),
    ("Ben", "Beta"),
    ("Cy", "Ceta"),
    ("Di", "Delta"),
    ("Ed", "Acme"),
    ("Flo", "Beta"),
    ("Gus", "Ceta"),
    ("Hal", "Delta"),
]
WEEK = 7 * 86400


def _csv(path: Path) -> Path:
    lines = ["name,organization,seniority,function,topics,time zone,email"]
    lines += [
        f"{name},{org},{('junior', 'mid', 'senior')[i % 3]},ops,change,Europe/Paris,"
        f"{name.lower()}@example.org"
        for i, (name, org) in enumerate(PEOPLE)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _coordinator(make_device: MakeDevice, tmp_path: Path) -> tuple[Device, str]:
    cora = make_device("cora", "Acme")
    svc = cora.services
    programme = svc.programmes.create("Spring")
    svc.programmes.import_csv(programme.id, _csv(tmp_path / "pool.csv"))
    svc.programmes.form(programme.id, size=4, max_per_org=2)
    return cora, programme.id


def _publish(cora: Device, ref: str, **kw: object) -> object:
    with cora.client() as c:
        return publish(cora.services, c, cora.services.programmes.get(ref), **kw)  # type: ignore[arg-type]


def _count(exchange: Exchange, table: object, **where: str) -> int:
    query = select(func.count()).select_from(table)  # type: ignore[arg-type]
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    with exchange.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def test_publish_twice_makes_nothing_twice(
    make_device: MakeDevice, exchange: Exchange, tmp_path: Path
) -> None:
    cora, ref = _coordinator(make_device, tmp_path)
    first = _publish(cora, ref, ttl_seconds=WEEK)
    assert len(first.created) == 2 and first.invited == 8  # type: ignore[attr-defined]
    codes = {r.email: r.code for r in first.rows}  # type: ignore[attr-defined]
    assert len(set(codes.values())) == 8
    again = _publish(cora, ref, ttl_seconds=WEEK)
    assert again.created == [] and again.invited == 0  # type: ignore[attr-defined]
    assert {r.email: r.code for r in again.rows} == codes  # type: ignore[attr-defined]
    assert len(cora.store.circle_ids()) == 2
    assert _count(exchange, invites) == 8
    assert _count(exchange, programme_circles) == 2
    # Each circle carries its programme, the coordinator's key and what it reports.
    for cid in cora.store.circle_ids():
        info = pr.programme_of(cora.services.ctx, cid)
        assert info is not None and info["programme"] == ref
        assert info["reports"] == list(METRICS)
        assert info["coordinator_fp"] == keystore_of(cora.store).device_keys().public.fingerprint
    # Asked for: everyone gets a new code.
    third = _publish(cora, ref, ttl_seconds=WEEK, reinvite=True)
    assert third.invited == 8 and not set(codes.values()) & {r.code for r in third.rows}  # type: ignore[attr-defined]


def test_participants_join_their_circles_then_the_handover_and_the_view(
    make_device: MakeDevice, exchange: Exchange, tmp_path: Path
) -> None:
    cora, ref = _coordinator(make_device, tmp_path)
    done = _publish(cora, ref, ttl_seconds=WEEK)
    programme = cora.services.programmes.get(ref)
    expected = {
        programme.participants[pid].name: programme.published[staged.id]["circle"]
        for staged in programme.staged
        for pid in staged.members
    }
    devices = {}
    for row in done.rows:  # type: ignore[attr-defined]
        dev = make_device(row.name, "Beta")
        devices[row.name] = dev
        assert dev.accept(row.code) == expected[row.name]
    cora.sync()  # the convener's device confirms every join
    for name, dev in devices.items():
        dev.sync()
        cid = expected[name]
        assert any(m["name"] == name for m in dev.store.records(cid, "member"))
        # ... and in no other circle of the programme.
        assert dev.store.circle_ids() == [cid]
    # Publishing again: all joined, nothing to invite, nothing to mail.
    again = _publish(cora, ref, ttl_seconds=WEEK)
    assert again.invited == 0 and again.rows == [] and again.created == []  # type: ignore[attr-defined]
    assert set(cora.store.meta(expected["Ana"])[INVITES]) <= set(programme.participants)

    # The hand-over at kick-off: Ana convenes, the coordinator leaves.
    cid = expected["Ana"]
    ana = devices["Ana"]
    # Before it, a plain member cannot change what the circle reports: refused by the
    # services, and set aside by every receiver when a modified client sends it.
    other = next(d for n, d in devices.items() if n != "Ana" and expected[n] == cid)
    with pytest.raises(InvalidInput, match="only a convener"):
        pr.set_reported(other.services.ctx, cid, [])
    other.store.apply([other.store.op(cid, "circle", cid, {"reports": []})])
    other.sync()
    quarantined = ana.sync().circles[cid].quarantined
    assert any("only a convener" in why for _, why in quarantined), quarantined
    assert pr.programme_of(ana.services.ctx, cid)["reports"] == list(METRICS)  # type: ignore[index]
    ana_id = ana.store.meta(cid)["me"]
    with cora.client() as c:
        handover(cora.services, c, cid, ana_id)
        handover(cora.services, c, cid, ana_id)  # again (as after a cut): no harm
    before = max(keystore_of(cora.store).epochs(cid))
    report = ana.sync()  # Ana's device removes the coordinator: a new epoch without it
    assert any("coordinator left" in n for n in report.notices), report.notices
    coordinator = cora.store.meta(cid)["me"]
    assert ana.store.get(cid, "member", coordinator) is None
    ana.services.circles.update(cid, purpose="after the hand-over")
    ana.sync()
    with exchange.engine.connect() as conn:
        newest = conn.execute(select(func.max(ops.c.epoch)).where(ops.c.circle_id == cid))
        epoch = int(newest.scalar_one())
    assert epoch > before
    assert cora.sync().circles[cid].denied
    assert epoch not in keystore_of(cora.store).epochs(cid)  # never wrapped for it

    # What the coordinator sees: nothing held yet, so no figure at all.
    names = {e["circle"]: e["circle"][:8] for e in programme.published.values()}

    def view() -> CircleProgress:
        with cora.client() as c:
            return {p.circle: p for p in fetch_reports(cora.store, c, ref, names)}[cid]

    seen = view()
    assert seen.problem == "" and seen.reported_at is not None
    assert {m: seen.shown(m) for m in METRICS} == dict.fromkeys(METRICS, "fewer than 3")
    # Ana runs the kick-off: everyone there, three pulses.
    svc = ana.services
    members = [m["id"] for m in svc.members.all(cid)]
    assert len(members) == 4
    meeting = svc.meetings.plan(cid, NOW + timedelta(days=1))["id"]
    svc.meetings.start(cid, meeting, ana_id)
    svc.meetings.mark_many(cid, meeting, members, True)
    for member, rating in zip(members, (4, 5, 3), strict=False):
        svc.pulses.record(cid, meeting, member, support=rating, confidence=4, learning=4)
    svc.meetings.close(cid, meeting)
    ana.sync()
    seen = view()
    assert seen.shown("meetings") == "1 held"
    assert seen.shown("attendance") == "100%"
    assert seen.shown("pulse") == "4.0"
    assert seen.shown("commitments") == "fewer than 3"
    # Ana's circle stops reporting its pulse: the view says so.
    pr.set_reported(svc.ctx, cid, ["meetings", "attendance", "commitments"])
    ana.sync()
    seen = view()
    assert seen.shown("pulse") == "not reported" and seen.shown("meetings") == "1 held"
    assert seen.verified
    # The exchange (or anyone who can write its database) forges a report: sealed to the
    # coordinator's key, but signed by a device the circle does not know.
    forged = crypto.seal_report(
        crypto.DeviceKeys.generate(),
        keystore_of(cora.store).device_keys().public.x25519,
        ref,
        cid,
        b'{"circle":"%s","metrics":{"meetings":{"held":99,"people":9}},"v":1}' % cid.encode(),
    )
    with exchange.engine.begin() as conn:
        genuine = conn.execute(
            select(programme_circles.c.report).where(programme_circles.c.circle_id == cid)
        ).scalar_one()
        update = programme_circles.update().where(programme_circles.c.circle_id == cid)
        conn.execute(update.values(report=forged))
    assert view().shown("meetings").startswith("unreadable report: signed by a device")
    with exchange.engine.begin() as conn:
        conn.execute(update.values(report=genuine))
    # A device that forgot the circle can no longer check the sender: it says so.
    forget_circle(cora.store, cid)
    seen = view()
    assert not seen.verified and seen.shown("meetings") == "1 held"
    # The exchange holds the report as ciphertext only.
    with exchange.engine.connect() as conn:
        stored = conn.execute(
            select(programme_circles.c.report).where(programme_circles.c.circle_id == cid)
        ).scalar_one()
    for clear in (b"metrics", b"fewer_than", b"not_reported", cid.encode(), ref.encode()):
        assert clear not in stored
    raw = (exchange.app.state.ctx.settings.db_url.removeprefix("sqlite:///"),)
    for path in (Path(raw[0]), Path(raw[0] + "-wal")):
        if path.exists():
            assert b"not_reported" not in path.read_bytes()


@pytest.mark.parametrize("fate", ["request", "response"])
@pytest.mark.parametrize("after", [2, 9, 30])
def test_an_interrupted_publish_is_finished_by_the_next(
    make_device: MakeDevice, exchange: Exchange, tmp_path: Path, fate: str, after: int
) -> None:
    """The exchange goes away after `after` requests (the request lost, or its answer):
    the publish fails with one error, and running it again ends where one clean run
    would have: two circles, each participant invited once in the file, no circle twice."""
    from xcircle.errors import XCircleError

    cora, ref = _coordinator(make_device, tmp_path)
    cora.faults.plan = lambda i, _r: fate if i >= after else None
    with pytest.raises(XCircleError):
        _publish(cora, ref, ttl_seconds=WEEK)
    cora.faults.plan = lambda _i, _r: None
    done = _publish(cora, ref, ttl_seconds=WEEK)
    assert len(cora.store.circle_ids()) == 2
    assert len(cora.services.programmes.get(ref).published) == 2
    assert sorted(r.email for r in done.rows) == sorted(  # type: ignore[attr-defined]
        f"{n.lower()}@example.org" for n, _ in PEOPLE
    )
    assert _count(exchange, programme_circles) == 2
    assert _publish(cora, ref, ttl_seconds=WEEK).invited == 0  # type: ignore[attr-defined]


def test_an_exchange_without_programmes_is_said_so_before_anything_is_made(
    make_device: MakeDevice, exchange: Exchange, tmp_path: Path
) -> None:
    """An exchange from before programmes answers their routes 404 as unknown paths:
    publish says the exchange needs an update, makes nothing, and works once it has."""
    from sync.exchange.programmes import router as programme_router
    from sync.programmes import OLD_EXCHANGE
    from sync.protocol import SyncError

    cora, ref = _coordinator(make_device, tmp_path)
    routes = exchange.app.router.routes
    kept = list(routes)
    routes[:] = [r for r in kept if getattr(r, "original_router", r) is not programme_router]
    assert len(routes) < len(kept)
    try:
        with pytest.raises(SyncError, match="does not offer programmes"):
            _publish(cora, ref, ttl_seconds=WEEK)
        assert cora.store.circle_ids() == [] and "operator" in OLD_EXCHANGE
        assert cora.services.programmes.get(ref).published == {}
    finally:
        routes[:] = kept
    assert len(_publish(cora, ref, ttl_seconds=WEEK).created) == 2  # type: ignore[attr-defined]


def test_publish_refuses_without_an_exchange(make_device: MakeDevice, tmp_path: Path) -> None:
    cora = make_device("cora", "Acme", joined=False)
    programme = cora.services.programmes.create("Spring")
    cora.services.programmes.import_csv(programme.id, _csv(tmp_path / "pool.csv"))
    cora.services.programmes.form(programme.id, size=4, max_per_org=2)
    from sync.engine import connect
    from xcircle.errors import XCircleError

    with pytest.raises(XCircleError, match="join"):
        with connect(cora.store) as c:
            publish(cora.services, c, cora.services.programmes.get(programme.id), ttl_seconds=WEEK)
    assert cora.store.circle_ids() == []
    assert cora.services.programmes.get(programme.id).published == {}
