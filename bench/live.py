"""Live sync bench: how long one device's action takes to be applied on another device,
and what 200 idle devices holding waits cost the exchange.

    .venv/bin/python bench/live.py [--changes 200] [--idle 200] [--idle-seconds 60]
        [--skip-sqlite] [--skip-postgres]

Against a real `python -m sync.exchange serve` on loopback: SQLite (1 worker) and
PostgreSQL (2 workers, a scratch database on 127.0.0.1:5432). Per backend:

1. Ada and Bob (two homes, two organizations) share a circle; Bob runs the live loop
   (`sync.live.LiveSync`, what the app's sync worker and `xcircle sync --watch` run), in a
   thread, with a one-hour interval, so only a live wake can bring a change in time.
2. `--idle` other devices, each in a circle of its own, hold `POST /v1/wait` open the
   whole time (a separate process, asyncio, re-waiting when a wait times out).
3. `--changes` times: Ada adds a goal (one user action, one store write) and syncs (the
   push); the latency runs from just before the action to the moment Bob's loop has
   applied the goal to his store (checked in its report callback, in Bob's thread).
   p50 / p95 / max. A random 0-50 ms pause between changes.
4. Then nobody acts for `--idle-seconds`: the exchange's CPU (every server process,
   user + system) while Bob and the idle devices wait, as a share of one core; on
   PostgreSQL the database's own processes are reported beside it.
5. To the screen: Bob's app, headless (`make_app(…)` in `App.run_test`, its own sync
   controller running the live loop on its own client, as for a member), with a second
   shared circle open on its goals tab. `--changes` times Ada adds a goal there and
   syncs (in a thread, off Bob's event loop); timed from just before the action to (a)
   the moment Bob's store committed it (the store's change hook, in the sync thread) and
   (b) the moment the open goal table holds the new goal's row and has been painted (the
   circle screen's `loaded` event, set after the refresh that follows each fill). The
   path in between is the app's: store change → `StoreChanged` → the app's
   `data_changed` signal → the screen's reload worker → fill → paint.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("XCIRCLE_KEYRING", "0")  # bench homes keep their secrets in files

from sync_server import (  # noqa: E402
    _busy_jiffies,
    _cpu_seconds,
    _process_tree,
    free_port,
    scratch_postgres,
)

from screens.app import XCircleApp, make_app  # noqa: E402
from screens.circle import ROW_LIMIT, CircleScreen  # noqa: E402
from screens.sync import SyncController  # noqa: E402
from screens.widgets import Table  # noqa: E402
from sync.commands import accept_invite, enroll, invite_code, share_circle  # noqa: E402
from sync.engine import connect, require_credentials  # noqa: E402
from sync.engine import sync as run_sync  # noqa: E402
from sync.exchange import admin  # noqa: E402
from sync.exchange.db import open_db  # noqa: E402
from sync.exchange.settings import (  # noqa: E402
    ENV_AUTH_LIMIT,
    ENV_OPS_PER_DAY,
    ENV_PULL_LIMIT,
    ENV_PUSH_LIMIT,
    ENV_WAIT_LIMIT,
    ENV_WAITS,
)
from sync.live import WAIT_S, LiveState, LiveSync  # noqa: E402
from sync.state import SyncReport  # noqa: E402
from xcircle.services import Services  # noqa: E402
from xcircle.store import Store  # noqa: E402


@contextmanager
def serve(db_url: str, workers: int) -> Iterator[tuple[str, int]]:
    """The exchange as users run it; limits opened up (the bench measures latency)."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        ENV_AUTH_LIMIT: "1000000",
        ENV_PUSH_LIMIT: "1000000",
        ENV_PULL_LIMIT: "1000000",
        ENV_WAIT_LIMIT: "1000000",
        ENV_OPS_PER_DAY: "100000000",
        ENV_WAITS: "5000",
    }
    cmd = [sys.executable, "-m", "sync.exchange", "serve", "--db", db_url]
    cmd += ["--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the exchange did not start")
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)


def waiting(url: str) -> int:
    """Waits the exchange holds now (its gauge, summed over workers)."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return int(
        sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("xcircle_exchange_waiting")
        )
    )


def requests_served(url: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return int(
        sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith("xcircle_exchange_requests_total")
        )
    )


# -- the idle devices (a process of their own) -------------------------------------------


def _idle_main(url: str, devices: list[tuple[str, str]], ready: Any, stop: Any) -> None:
    async def hold(http: httpx.AsyncClient, token: str, circle: str, delay: float) -> None:
        await asyncio.sleep(delay)  # spread over one hold, as devices that started apart
        while not stop.is_set():
            try:
                await http.post(
                    "/v1/wait",
                    json={"cursors": {circle: 0}, "timeout": int(WAIT_S)},  # as the app
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError:
                await asyncio.sleep(1)

    async def main() -> None:
        limits = httpx.Limits(max_connections=len(devices) + 10)
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S + 15, limits=limits) as http:
            tasks = [
                asyncio.create_task(hold(http, tok, circle, random.uniform(0, WAIT_S)))
                for tok, circle in devices
            ]
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.2)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())


def setup_idle(url: str, admin_token: str, n: int) -> list[tuple[str, str]]:
    """`n` devices, each with a circle of its own: (token, circle)."""
    out = []
    with httpx.Client(base_url=url, timeout=30) as http:
        for i in range(n):
            r = http.post(
                "/v1/enrollments", json={}, headers={"Authorization": f"Bearer {admin_token}"}
            )
            enroll_token = r.json()["token"]
            r = http.post(
                "/v1/devices",
                json={"name": f"idle{i}"},
                headers={"Authorization": f"Bearer {enroll_token}"},
            )
            token = r.json()["token"]
            circle = os.urandom(16).hex()
            r = http.post(
                "/v1/circles",
                json={"circle_id": circle, "member_id": f"m{i}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 201, r.text
            out.append((token, circle))
    return out


# -- Ada and Bob ---------------------------------------------------------------------------


class Home:
    def __init__(self, path: Path, name: str, org: str, url: str, enroll_token: str) -> None:
        self.store = Store(path)
        self.services = Services(self.store)
        self.services.init_profile(name, org)
        enroll(self.store, url, enroll_token, name=name)

    def client(self) -> Any:
        return connect(self.store, retries=2)


def share_with(ada: Home, ada_client: Any, bob: Home, name: str) -> str:
    """A new circle of Ada's, shared, and Bob in it (invited, accepted): its id."""
    cid = str(ada.services.circles.create(name)["id"])
    share_circle(ada.store, ada_client, cid)
    code = str(invite_code(ada.store, ada_client, cid, 3600)["code"])
    with bob.client() as c:
        accept_invite(bob.services, c, code, require_credentials(bob.store).device_id)
    run_sync(ada.store, ada_client)
    return cid


def percentiles(values: list[float]) -> str:
    lat = sorted(values)
    if not lat:
        return "no change arrived"
    p95 = lat[max(0, int(len(lat) * 0.95) - 1)]
    return f"p50 {statistics.median(lat):.1f} ms, p95 {p95:.1f} ms, max {lat[-1]:.1f} ms"


async def to_screen(
    ada: Home, ada_client: Any, bob: Home, cid: str, changes: int, url: str, idle: int
) -> tuple[list[float], list[float], int]:
    """Step 5 of the module doc: (applied, on screen) latencies in ms, and the misses."""

    def controller(services: Any) -> SyncController:
        return SyncController(services, interval=3600, live=True)

    app: XCircleApp = make_app(store=bob.store, sync=controller)
    app.sync.first_sync_s = 0.05  # the live loop starts at once, not after start-up
    applied_ms: list[float] = []
    shown_ms: list[float] = []
    misses = 0
    async with app.run_test(size=(120, 40)) as pilot:
        while app.sync.live_mode != "live":
            await pilot.pause(0.05)
        circle = CircleScreen(cid, tab="goals")
        await app.push_screen(circle)
        await asyncio.wait_for(circle.loaded.wait(), 30)
        table = circle.query_one("#goal-table", Table)
        while await asyncio.to_thread(waiting, url) < idle + 1:  # Bob's app waits too
            await asyncio.sleep(0.2)

        # The store's change hook runs in the thread that committed (the sync's): note
        # the first goal change in this circle after the action, then pass it on.
        state: dict[str, Any] = {"t0": None, "applied": None}
        app_hook = bob.store.on_change

        def on_change(change: Any) -> None:
            if state["t0"] is not None and state["applied"] is None:
                if change.circle == cid and "goal" in change.entities:
                    state["applied"] = time.perf_counter()
            if app_hook is not None:
                app_hook(change)

        bob.store.on_change = on_change

        def act(i: int) -> str:
            state["t0"] = time.perf_counter()
            goal = str(ada.services.goals.add(cid, f"on screen {i}")["id"])
            run_sync(ada.store, ada_client)
            return goal

        for i in range(changes):
            state["t0"] = state["applied"] = None
            circle.loaded.clear()
            goal = await asyncio.to_thread(act, i)
            try:
                async with asyncio.timeout(30):
                    while goal not in table.rows:
                        await circle.loaded.wait()  # set after the paint that follows a fill
                        circle.loaded.clear()
            except TimeoutError:
                misses += 1
                continue
            shown = time.perf_counter()
            shown_ms.append((shown - state["t0"]) * 1000)
            if state["applied"] is not None:
                applied_ms.append((state["applied"] - state["t0"]) * 1000)
            await asyncio.sleep(random.uniform(0, 0.05))
        bob.store.on_change = app_hook
    return applied_ms, shown_ms, misses


def _load(values: tuple[float, float, float] | None = None) -> str:
    return " ".join(f"{x:.2f}" for x in (values or os.getloadavg()))


def _backends(db_url: str) -> set[int]:
    """The PostgreSQL server processes serving our database (not the other databases on
    this server, nor the postmaster's own helpers)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return {int(r[0]) for r in rows}


def _cpu_each(pids: set[int]) -> dict[int, float]:
    return {pid: _cpu_seconds({pid}) for pid in pids}


def _delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots: processes that started count whole, processes that
    ended count nothing more (their share is lost, so this is a lower bound for them)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def bench_backend(label: str, db_url: str, workers: int, args: argparse.Namespace) -> None:
    load_before = os.getloadavg()
    with serve(db_url, workers) as (url, pid), tempfile.TemporaryDirectory() as tmp:
        engine = open_db(db_url, int(time.time() * 1000))
        try:
            admin.add_org(engine, "Acme")
            admin.add_org(engine, "Beta")
            _, idle_admin = admin.add_org(engine, "Idle")
            tokens = [admin.issue_enrollment(engine, org)[0] for org in ("Acme", "Beta")]
        finally:
            engine.dispose()
        ada = Home(Path(tmp) / "ada", "Ada", "Acme", url, tokens[0])
        bob = Home(Path(tmp) / "bob", "Bob", "Beta", url, tokens[1])
        ada_client = ada.client()
        cid = share_with(ada, ada_client, bob, "Leaders")
        screen_cid = share_with(ada, ada_client, bob, "On screen")  # step 5's

        idle = setup_idle(url, idle_admin, args.idle)
        ctx = mp.get_context("spawn")
        ready, stop = ctx.Event(), ctx.Event()
        idler = ctx.Process(target=_idle_main, args=(url, idle, ready, stop), daemon=True)
        idler.start()
        ready.wait(60)

        # Bob's live loop, in its thread; the callback notes when the awaited goal landed.
        expected: dict[str, Any] = {"goal": None, "at": 0.0}
        landed = threading.Event()
        states: list[LiveState] = []

        def on_report(_report: SyncReport) -> None:
            goal = expected["goal"]
            if goal and not landed.is_set() and bob.store.get(cid, "goal", goal) is not None:
                expected["at"] = time.perf_counter()
                landed.set()

        bob_client = bob.client()
        live = LiveSync(
            bob.store, bob_client, on_report=on_report, on_state=states.append, interval_s=3600
        )
        runner = threading.Thread(target=live.run, daemon=True)
        runner.start()
        deadline = time.monotonic() + WAIT_S + 30  # the idle devices start over one hold
        while waiting(url) < args.idle + 1:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {waiting(url)} waits held, expected {args.idle + 1}")
            time.sleep(0.2)
        held = waiting(url)

        latencies = []
        misses = 0
        j0 = _busy_jiffies()
        for i in range(args.changes):
            landed.clear()
            t0 = time.perf_counter()
            expected["goal"] = ada.services.goals.add(cid, f"change {i}")["id"]
            run_sync(ada.store, ada_client)
            if not landed.wait(30):
                misses += 1
                continue
            latencies.append((expected["at"] - t0) * 1000)
            time.sleep(random.uniform(0, 0.05))

        j1 = _busy_jiffies()
        machine = (j1[0] - j0[0]) / max(1, j1[1] - j0[1])
        # Idle: nobody acts; Bob and the idle devices keep their waits.
        before_req = requests_served(url)
        tree = _process_tree(pid)
        pg = _backends(db_url) if "postgres" in db_url else set()
        c0, p0, w0 = _cpu_each(tree), _cpu_each(pg), time.monotonic()
        time.sleep(args.idle_seconds)
        c1 = _cpu_each(_process_tree(pid) | tree)
        p1 = _cpu_each(_backends(db_url) | pg if pg else set())
        w1 = time.monotonic()
        idle_requests = requests_served(url) - before_req - 1  # minus this scrape itself
        held_after = waiting(url)

        live.stop()
        runner.join(30)
        bob_client.close()

        # To the screen (step 5): Bob's app, its own live loop, the circle open.
        applied_app, shown, screen_misses = asyncio.run(
            to_screen(ada, ada_client, bob, screen_cid, args.changes, url, args.idle)
        )
        ada_client.close()
        stop.set()
        idler.join(30)
        ada.store.close()
        bob.store.close()

    print(f"\n== {label} ({workers} worker{'s' if workers > 1 else ''}) ==")
    print(f"waits held while measuring: {held} ({args.idle} idle devices + Bob)")
    print(
        f"action -> applied on the other device (live loop), {len(latencies)} changes: "
        + percentiles(latencies)
        + (f", {misses} not applied within 30 s" if misses else "")
    )
    print(
        f"action -> applied in the other device's app, {len(applied_app)} changes: "
        + percentiles(applied_app)
    )
    print(
        f"action -> on the other device's open screen (goals tab, painted), "
        f"{len(shown)} changes: "
        + percentiles(shown)
        + (f", {screen_misses} not shown within 30 s" if screen_misses else "")
    )
    print(f"machine busy meanwhile (all processes, both cores): {100 * machine:.0f}%")
    print(f"load average (1, 5, 15 min) before: {_load(load_before)}, after: {_load()}")
    print(f"Bob's loop: {' -> '.join(s.mode for s in states) or 'no state change'}")
    seconds = w1 - w0
    print(
        f"idle {seconds:.0f} s with {held} waits: exchange CPU "
        f"{100 * _delta(c0, c1) / seconds:.2f}% "
        f"of one core, {idle_requests} requests ({idle_requests / seconds:.1f}/s), "
        f"{held_after} waits held at the end"
        + (f"; its PostgreSQL backends {100 * _delta(p0, p1) / seconds:.2f}%" if pg else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--idle", type=int, default=200, help="other devices holding waits")
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    if args.changes > ROW_LIMIT:  # beyond it the goal table shows the first ROW_LIMIT
        ap.error(f"--changes at most {ROW_LIMIT} (the goal table's row limit)")
    print(f"live sync bench: {args.changes} changes, {args.idle} idle waiting devices")
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            bench_backend("SQLite", f"sqlite:///{Path(tmp) / 'exchange.db'}", 1, args)
    if not args.skip_postgres:
        with scratch_postgres() as pg_url:
            bench_backend("PostgreSQL", pg_url, 2, args)


if __name__ == "__main__":
    main()
