"""The exchange rides out its database: a PostgreSQL restarted or crashed under a running
exchange (2 workers) and a full disk under SQLite answer 503 + Retry-After, never 500,
lose nothing acknowledged, and serve again by themselves once the database is back."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import exc as sa_exc

from sync.exchange.app import create_app
from sync.exchange.settings import ExchangeSettings
from sync.exchange.unavailable import is_unavailable
from tests.tmpfs import mounted_tmpfs

from .helpers import GENEROUS, Api, envelope
from .pgcluster import PrivateCluster, free_port, pg_bindir
from .serving import Pusher, Serve, pulled, setup_members

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivateCluster]:
    """A private PostgreSQL that these tests stop and restart (never the shared one)."""
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    c = PrivateCluster(bindir)
    try:
        c.start()
        yield c
    finally:
        c.close()


@pytest.fixture
def serve2(cluster: PrivateCluster, tmp_path: Path) -> Iterator[tuple[Serve, str]]:
    if not cluster.running():
        cluster.start()
    url = cluster.create_db("xc_" + os.urandom(4).hex())
    s = Serve(url, free_port(), workers=2, log=tmp_path / "serve.log")
    try:
        s.wait_ready()
        yield s, url
    finally:
        s.stop()


def _wait(pred: object, limit_s: float, what: str) -> float:
    start = time.monotonic()
    while not pred():  # type: ignore[operator]
        assert time.monotonic() - start < limit_s, f"timed out waiting for {what}"
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.mark.postgres
def test_idle_connections_left_by_a_restart_are_replaced_before_use(
    cluster: PrivateCluster, serve2: tuple[Serve, str]
) -> None:
    """Every pooled connection is dead after a restart; the very next requests succeed."""
    server, url = serve2
    members = setup_members(url, server.base, 4)
    pushers = [Pusher(server.base, m) for m in members]
    with httpx.Client(base_url=server.base, timeout=30) as http:
        for round_ in range(10):  # warm both workers' pools
            for p in pushers:
                assert p.push_once(http, round_) == 200
        cluster.restart()
        answers = [p.push_once(http, 100 + n) for n in range(10) for p in pushers]
    assert set(answers) == {200}, answers
    assert "Traceback" not in server.text()


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["stop", "crash"])
def test_database_down_under_load_answers_503_then_recovers(
    cluster: PrivateCluster, serve2: tuple[Serve, str], fault: str
) -> None:
    server, url = serve2
    members = setup_members(url, server.base, 3)
    pushers = [Pusher(server.base, m) for m in members]
    for p in pushers:
        p.start()
    try:
        _wait(lambda: all(len(p.acked) >= 30 for p in pushers), 30, "first pushes")
        cluster.stop() if fault == "stop" else cluster.kill()
        _wait(lambda: sum(p.statuses[503] for p in pushers) >= 6, 30, "503s while down")
        time.sleep(1.0)  # down for a while, pushers knocking
        cluster.start()
        back = time.monotonic()
        recovered = _wait(lambda: all(p.last_ok > back for p in pushers), 30, "recovery")
        floor = {id(p): len(p.acked) + 30 for p in pushers}
        _wait(lambda: all(len(p.acked) > floor[id(p)] for p in pushers), 30, "steady pushes")
    finally:
        for p in pushers:
            p.stop()
    statuses = sum((p.statuses for p in pushers), start=type(pushers[0].statuses)())
    assert 500 not in statuses and statuses[503] > 0, statuses
    assert not [b for p in pushers for b in p.bad], "a 503 without Retry-After or JSON body"
    assert set(statuses) <= {200, 503}, statuses  # no refused or reset connection either
    assert recovered < 10, f"took {recovered:.1f}s to serve again"
    for p in pushers:
        got = pulled(server.base, p.member)
        assert len(got) == len(set(got)), "an op stored twice"
        assert set(p.acked) <= set(got), "an acknowledged op was lost"
    log = server.text()
    assert "Traceback" not in log and "database unavailable" in log


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a disk that really fills up (needs root, as CI runs)."""
    with mounted_tmpfs(tmp_path / "disk", "4m") as mnt:
        yield mnt


def _fill(path: Path) -> None:
    """Write `path` until the filesystem refuses another byte."""
    with path.open("wb", buffering=0) as f:
        chunk = b"\0" * 65536
        while True:
            try:
                f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                if len(chunk) == 1:
                    return
                chunk = chunk[: len(chunk) // 2]


async def test_sqlite_on_a_full_disk_answers_503_and_serves_again_when_space_returns(
    small_disk: Path,
) -> None:
    url = f"sqlite:///{small_disk / 'exchange.db'}"
    app = create_app(ExchangeSettings(db_url=url, **GENEROUS))  # type: ignore[arg-type]
    api = Api(app)
    acked: list[str] = []
    try:
        async with api.http:
            _, admin_token = api.org()
            dev = await api.device(admin_token)
            circle = await api.circle(dev)
            for n in range(20):
                r = await api.push(dev, circle, [envelope(f"a{n}", b"x" * 2000)])
                assert r.status_code == 200
                acked.append(f"a{n}")
            _fill(small_disk / "filler")
            answers = []
            for n in range(50):  # the WAL may still hold a few pages of free room
                r = await api.push(dev, circle, [envelope(f"b{n}", b"y" * 20_000)])
                answers.append(r.status_code)
                if r.status_code == 200:
                    acked.append(f"b{n}")
                else:
                    assert r.status_code == 503, r.text
                    assert r.headers["retry-after"].isdigit()
                    assert r.json()["error"] == "unavailable"
            assert 503 in answers and 500 not in answers
            r = await api.pull(dev, {circle: 0})  # reads still work on a full disk
            assert r.status_code == 200
            (small_disk / "filler").unlink()
            r = await api.push(dev, circle, [envelope("c0", b"z" * 20_000)])
            assert r.status_code == 200, r.text
            acked.append("c0")
    finally:
        app.state.ctx.engine.dispose()
    # Nothing acknowledged was lost, nothing stored twice, also after reopening the file.
    again = Api(create_app(ExchangeSettings(db_url=url, **GENEROUS)))  # type: ignore[arg-type]
    try:
        async with again.http:
            r = await again.pull(dev, {circle: 0})
            got = [op["op_id"] for op in r.json()["circles"][circle]["ops"]]
    finally:
        again.engine.dispose()
    assert set(acked) <= set(got) and len(got) == len(set(got))


def test_only_availability_errors_become_503() -> None:
    class Orig(Exception):
        pass

    down = sa_exc.OperationalError("SELECT 1", {}, Orig("connection refused"))
    full = sa_exc.OperationalError("INSERT", {}, Orig("database or disk is full"))
    dropped = sa_exc.DBAPIError("SELECT 1", {}, Orig("x"), connection_invalidated=True)
    bug = sa_exc.IntegrityError("INSERT", {}, Orig("UNIQUE constraint failed"))
    programming = sa_exc.ProgrammingError("SELEC", {}, Orig("syntax error"))
    assert is_unavailable(down) and is_unavailable(full) and is_unavailable(dropped)
    assert is_unavailable(sa_exc.TimeoutError("QueuePool limit reached"))
    assert not is_unavailable(bug) and not is_unavailable(programming)
    assert not is_unavailable(ValueError("x"))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_route_whose_database_fails_answers_503_but_a_bug_stays_a_500(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sync.exchange import store, unavailable

    class Orig(Exception):
        pass

    monkeypatch.setattr(unavailable, "_log", unavailable._RateLimitedLog())  # a fresh window
    _, admin_token = api.org()
    dev = await api.device(admin_token)
    failure: Exception = sa_exc.OperationalError("SELECT secret", {"p": "tok"}, Orig("gone"))

    def broken(*_args: object) -> list[str]:
        raise failure

    monkeypatch.setattr(store, "my_circles", broken)
    r = await api.call("GET", "/v1/me", dev.token)
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert r.json()["error"] == "unavailable" and "x-exchange-time" in r.headers
    assert "Traceback" not in caplog.text and "secret" not in caplog.text
    assert "database unavailable on GET /v1/me: Orig: gone" in caplog.text
    failure = sa_exc.IntegrityError("INSERT", {}, Orig("UNIQUE constraint failed"))
    r = await api.call("GET", "/v1/me", dev.token)
    assert r.status_code == 500 and r.json()["error"] == "internal"
