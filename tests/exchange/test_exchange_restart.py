"""Restarts are boring: SIGKILL an exchange with 2 workers on PostgreSQL while clients push,
start it again on the same port, again and again. The killed exchange's workers die with
it (they used to live on as orphans holding the port, so the new `serve` failed to bind
while the orphans answered, until they went away: "connection refused"); the new one owns
the port, and nothing acknowledged is lost."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from sync.exchange.supervise import PortBusy, port_holders, wait_for_port

from .pgcluster import free_port
from .serving import Pusher, Serve, pulled, setup_members

pytestmark = pytest.mark.slow

# Kills per run: the suite keeps a few; raise it for a longer hunt (the soak kills more).
RESTARTS = int(os.environ.get("XCIRCLE_TEST_RESTARTS", "3"))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie (dead, not yet reaped by a parent) holds no socket any more.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _until(pred: object, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not pred():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.mark.postgres
def test_sigkilled_exchange_restarts_on_its_port_with_clients_pushing(
    pg_url: str, tmp_path: Path
) -> None:
    port = free_port()
    server = Serve(pg_url, port, workers=2, log=tmp_path / "serve.log")
    server.wait_ready()
    members = setup_members(pg_url, server.base, 3)
    pushers = [Pusher(server.base, m) for m in members]
    for p in pushers:
        p.start()
    ready_windows: list[tuple[float, float]] = []  # (ready, killed): must be failure-free
    try:
        for n in range(RESTARTS):
            floor = {id(p): len(p.acked) + 15 for p in pushers}
            _until(lambda f=floor: all(len(p.acked) >= f[id(p)] for p in pushers), 30, "pushes")
            old_workers = server.worker_pids()
            assert len(old_workers) >= 2
            killed = time.monotonic()
            if ready_windows:
                ready_windows[-1] = (ready_windows[-1][0], killed)
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait(5)
            _until(lambda w=old_workers: all(_gone(pid) for pid in w), 10, "orphaned workers")
            server.stop()
            server = Serve(pg_url, port, workers=2, log=tmp_path / f"serve{n}.log")
            server.wait_ready()
            ready = time.monotonic()
            ready_windows.append((ready, float("inf")))
            ours = {server.proc.pid, *server.worker_pids()}
            holders = set(port_holders(port))
            assert holders and holders <= ours, f"port held by {holders - ours}"
        floor = {id(p): len(p.acked) + 30 for p in pushers}
        _until(lambda: all(len(p.acked) >= floor[id(p)] for p in pushers), 30, "final pushes")
    finally:
        for p in pushers:
            p.stop()
        server.stop()
    # Between "ready" and the next kill, every push succeeded: no refused connection.
    for p in pushers:
        late = [
            (what, round(when - start, 3))
            for when, what in p.failures
            for start, end in ready_windows
            if start <= when < end
        ]
        assert not late, late
        assert 500 not in p.statuses
    # Nothing acknowledged lost or stored twice, across all the kills.
    server = Serve(pg_url, port, workers=1, log=tmp_path / "check.log")
    try:
        server.wait_ready()
        for p in pushers:
            got = pulled(server.base, p.member)
            assert len(got) == len(set(got))
            assert set(p.acked) <= set(got)
    finally:
        server.stop()


def test_serve_waits_for_its_port_then_names_who_holds_it() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(PortBusy) as caught:
            wait_for_port("127.0.0.1", port, limit_s=0.5)
        assert time.monotonic() - start >= 0.5
        if os.path.exists("/proc/net/tcp"):
            assert f"process {os.getpid()} (" in str(caught.value)
    wait_for_port("127.0.0.1", port, limit_s=0.5)  # free again: returns at once


async def test_a_quiet_server_still_dates_its_answers_and_stops_within_a_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`quiet_ticks`: a serving process looks whether to stop once a second instead of
    ten times (an idle worker's wake-ups), and still stamps a Date header from its first
    look and stops at its next look once told to."""
    import asyncio

    import uvicorn

    from sync.exchange.supervise import TICK_S, quiet_ticks

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called")

    # The patch is on uvicorn's class: undone after this test.
    monkeypatch.setattr(uvicorn.Server, "main_loop", uvicorn.Server.main_loop)
    monkeypatch.setattr(uvicorn.Server, "_xcircle_quiet", False, raising=False)
    quiet_ticks()
    quiet_ticks()  # twice is once
    config = uvicorn.Config(app, lifespan="off", log_config=None)
    config.load()
    server = uvicorn.Server(config)
    looking = asyncio.ensure_future(server.main_loop())
    await asyncio.sleep(0.05)
    headers = dict(server.server_state.default_headers)
    assert b"date" in headers and not looking.done()
    server.should_exit = True
    started = time.monotonic()
    await asyncio.wait_for(looking, TICK_S + 5)
    assert time.monotonic() - started <= TICK_S + 1  # one look, with room for a busy CI
