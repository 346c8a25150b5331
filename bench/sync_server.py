"""Exchange server bench: push latency and throughput with 50 concurrent clients against a
real `xcircle exchange serve` (uvloop + httptools) on SQLite and PostgreSQL, beside the bare
`GET /v1/health` measured the same way in the same run. Loopback only; every phase is
bounded in time and stops by itself.

    .venv/bin/python bench/sync_server.py [--clients 50] [--circles 10] [--procs 5]
        [--workers 1,2] [--seconds 8] [--batch 10] [--load 0.5] [--skip-sqlite|--skip-postgres]

Honest by construction:

- The load comes from `--procs` separate processes, each running its share of the clients
  as asyncio tasks on uvloop with a minimal HTTP/1.1 keep-alive client (pre-encoded request
  bytes, Content-Length framing), so the load generator costs little CPU and none of it
  shows up as server latency inside one process's GIL. Its CPU share is reported.
- 50 clients are 50 enrolled devices, members of `--circles` circles (5 per circle at the
  defaults), so pushes to one circle really contend for its counter row.
- Closed loop (each client sends its next request when the previous answer arrives) gives
  the maximum throughput. Paced (open loop) gives latency at a realistic offered load:
  each client sends on a fixed schedule (random phase) at `--load` x the closed-loop
  maximum in total, and latency runs from the *scheduled* send time, so a stalled server
  cannot hide its queue by slowing the clients down (no coordinated omission).
- Health is paced at the same request rate as push, so the two rows compare like for like.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing as mp
import os
import random
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.exchange import admin  # noqa: E402
from sync.exchange.db import open_db  # noqa: E402
from sync.exchange.settings import (  # noqa: E402
    ENV_AUTH_LIMIT,
    ENV_OPS_PER_DAY,
    ENV_POOL_SIZE,
    ENV_PUSH_LIMIT,
)

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
WARMUP_S = 1.0  # per phase, not measured: pools fill, psycopg prepares its statements


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(
    db_url: str, workers: int, pool_size: int | None = None, root: Path = ROOT
) -> Iterator[tuple[int, int]]:
    """`python -m sync.exchange serve` in a subprocess (what users run), from the checkout
    at `root`; yields its port and process id."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        ENV_AUTH_LIMIT: "1000000",  # setup enrolls 50 devices
        # Throughput, not limits: each client pushes as fast as it is answered.
        ENV_PUSH_LIMIT: "100000000",
        ENV_OPS_PER_DAY: "1000000000",
    }
    if pool_size:
        env[ENV_POOL_SIZE] = str(pool_size)
    cmd = [sys.executable, "-m", "sync.exchange", "serve", "--db", db_url]
    cmd += ["--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(
        cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("exchange server did not start")
            time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass(frozen=True)
class Client:
    """One simulated device: its token and the circle it pushes to."""

    n: int
    token: str
    circle_id: str


def setup_clients(port: int, admin_token: str, clients: int, circles: int) -> list[Client]:
    """Enroll `clients` devices and spread them over `circles` circles (round robin)."""
    out: list[Client] = []
    owners: dict[int, tuple[str, str]] = {}  # circle index -> (owner token, circle id)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:

        def h(tok: str) -> dict[str, str]:
            return {"Authorization": f"Bearer {tok}"}

        for i in range(clients):
            r = http.post("/v1/enrollments", json={}, headers=h(admin_token))
            r = http.post("/v1/devices", json={"name": f"bench-{i}"}, headers=h(r.json()["token"]))
            r.raise_for_status()
            tok = r.json()["token"]
            c = i % circles
            if c not in owners:
                cid = secrets.token_hex(16)
                http.post(
                    "/v1/circles", json={"circle_id": cid, "member_id": f"m{i}"}, headers=h(tok)
                ).raise_for_status()
                owners[c] = (tok, cid)
            else:
                owner, cid = owners[c]
                code = http.post(f"/v1/circles/{cid}/invites", json={}, headers=h(owner))
                http.post(
                    "/v1/invites/redeem",
                    json={"code": code.json()["code"], "member_id": f"m{i}"},
                    headers=h(tok),
                ).raise_for_status()
            out.append(Client(i, tok, owners[c][1]))
    return out


# --- the load generator (runs in child processes) ----------------------------------------


@dataclass(frozen=True)
class Phase:
    """What every client of one phase does: `interval` None = closed loop."""

    kind: str  # "health" | "push"
    port: int
    batch: int
    interval: float | None  # seconds between a client's scheduled sends (paced)
    seconds: float


class Conn:
    """A minimal HTTP/1.1 keep-alive client: enough for our own server's answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        i = head.lower().find(b"\r\ncontent-length:")
        if i < 0:
            raise RuntimeError("response without Content-Length")
        j = head.index(b"\r\n", i + 2)
        await self.reader.readexactly(int(head[i + 17 : j]))
        return int(head[9:12])


def _request_maker(phase: Phase, client: Client) -> Any:
    if phase.kind == "health":
        raw = b"GET /v1/health HTTP/1.1\r\nHost: bench\r\n\r\n"
        return lambda _k: raw
    payload = base64.b64encode(random.randbytes(200)).decode()
    head = (
        f"POST /v1/circles/{client.circle_id}/ops HTTP/1.1\r\nHost: bench\r\n"
        f"Authorization: Bearer {client.token}\r\nContent-Type: application/json\r\n"
    )
    tag = f"{client.n}-{secrets.token_hex(4)}"

    def make(k: int) -> bytes:
        ops = ",".join(
            f'{{"op_id":"{tag}-{k}-{j}","epoch":0,"nonce":"","payload":"{payload}"}}'
            for j in range(phase.batch)
        )
        body = f'{{"ops":[{ops}]}}'.encode()
        return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    return make


async def _run_client(
    phase: Phase, client: Client, start: float, lat: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", phase.port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = Conn(reader, writer)
    make = _request_maker(phase, client)
    measure_from, end = start + WARMUP_S, start + WARMUP_S + phase.seconds
    loop = asyncio.get_running_loop()
    interval = phase.interval
    # Each send is due when the previous answer arrives (closed loop), or on a fixed
    # schedule with a random phase that spreads the clients (paced). Latency runs from the
    # due time: when paced, a late answer delays the next send, and that delay counts
    # against the server, as it would for a real device.
    due = start if interval is None else start + random.random() * interval
    k = 0
    while due < end:
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
        status = await conn.request(make(k))
        k += 1
        if due >= measure_from:
            lat.append(loop.time() - due)
            if status != 200:
                errors.append(status)
        due = loop.time() if interval is None else due + interval
    writer.close()


def _load_proc(phase: Phase, clients: list[Client], pipe: Connection) -> None:
    """Child process: connect, report ready, wait for the common start time, run, report."""
    import uvloop

    async def main() -> tuple[list[float], list[int]]:
        lat: list[float] = []
        errors: list[int] = []
        pipe.send("ready")
        start: float = pipe.recv()  # time.monotonic() == loop.time() on uvloop and asyncio
        await asyncio.gather(*(_run_client(phase, c, start, lat, errors) for c in clients))
        return lat, errors

    cpu0 = time.process_time()
    lat, errors = uvloop.run(main())
    pipe.send((lat, errors, time.process_time() - cpu0))


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU of these processes (and of their threads)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _process_tree(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def _postgres_pids() -> set[int]:
    out = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == "postgres":
                        out.add(int(entry))
            except OSError:
                pass
    return out


def _wait_for_quiet(limit: float = 0.25, patience: float = 30.0) -> float:
    """Wait (up to `patience` s) for a 0.5 s window in which the machine is at most `limit`
    busy; returns the last window's busy share, reported as `bg`."""
    deadline = time.monotonic() + patience
    while True:
        b0 = _busy_jiffies()
        time.sleep(0.5)
        b1 = _busy_jiffies()
        busy = (b1[0] - b0[0]) / max(1, b1[1] - b0[1])
        if busy <= limit or time.monotonic() > deadline:
            return busy


def _busy_jiffies() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


@dataclass
class Result:
    """One phase's numbers."""

    reqs: int
    seconds: float
    batch: int
    lat_ms: list[float]
    errors: int
    loadgen_cpu: float  # fraction of the machine (all cores) used by the load generator
    busy: float  # fraction of the machine busy overall (server + database + load generator)
    background: float  # fraction busy just before the phase: other work on this machine
    server_cpu_ms: float  # CPU of the uvicorn processes per request
    db_cpu_ms: float  # CPU of all postgres processes per request (0 on SQLite: in-process)

    @property
    def rps(self) -> float:
        return self.reqs / self.seconds

    def pct(self, q: float) -> float:
        if not self.lat_ms:
            return float("nan")
        return self.lat_ms[min(len(self.lat_ms) - 1, int(q / 100 * len(self.lat_ms)))]


def run_phase(phase: Phase, clients: list[Client], procs: int, server_pid: int) -> Result:
    background = _wait_for_quiet()
    server_pids = _process_tree(server_pid)
    ctx = mp.get_context("spawn")
    shares = [clients[i::procs] for i in range(procs)]
    pipes, children = [], []
    for share in shares:
        parent, child = ctx.Pipe()
        p = ctx.Process(target=_load_proc, args=(phase, share, child), daemon=True)
        p.start()
        pipes.append(parent)
        children.append(p)
    for pipe in pipes:
        assert pipe.recv() == "ready"
    start = time.monotonic() + 0.3
    for pipe in pipes:
        pipe.send(start)
    time.sleep(max(0.0, start + WARMUP_S - time.monotonic()))
    busy0 = _busy_jiffies()
    pg_pids = _postgres_pids()
    srv0, db0 = _cpu_seconds(server_pids), _cpu_seconds(pg_pids)
    lat: list[float] = []
    errors, cpu = 0, 0.0
    for pipe in pipes:
        if not pipe.poll(phase.seconds + 60):
            raise RuntimeError("load generator did not finish")
        got_lat, got_err, got_cpu = pipe.recv()
        lat += got_lat
        errors += len(got_err)
        cpu += got_cpu
    busy1 = _busy_jiffies()
    srv1, db1 = _cpu_seconds(server_pids), _cpu_seconds(pg_pids)
    for p in children:
        p.join(10)
    ncpu = os.cpu_count() or 1
    return Result(
        reqs=len(lat),
        seconds=phase.seconds,
        batch=phase.batch if phase.kind == "push" else 0,
        lat_ms=sorted(x * 1000 for x in lat),
        errors=errors,
        loadgen_cpu=cpu / ((phase.seconds + WARMUP_S) * ncpu),
        busy=(busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
        background=background,
        # CPU over the measured window, shared out over the requests measured in it (the
        # window also sees the tail of the last requests: a slight overestimate).
        server_cpu_ms=(srv1 - srv0) * 1000 / max(1, len(lat)),
        db_cpu_ms=(db1 - db0) * 1000 / max(1, len(lat)),
    )


def report(backend: str, workers: int, what: str, mode: str, r: Result) -> None:
    ops = f"{r.rps * r.batch:8.0f}" if r.batch else f"{'-':>8}"
    print(
        f"| {backend:8} | {workers} | {what:11} | {mode:14} | {r.rps:7.0f} | {ops} "
        f"| {r.pct(50):6.1f} | {r.pct(99):6.1f} | {r.lat_ms[-1] if r.lat_ms else 0:6.1f} "
        f"| {r.errors:4} | {r.server_cpu_ms:5.2f} | {r.db_cpu_ms:5.2f} "
        f"| {r.loadgen_cpu:4.0%} | {r.busy:4.0%} | {r.background:4.0%} |",
        flush=True,
    )


def bench_backend(backend: str, db_url: str, workers: int, args: argparse.Namespace) -> None:
    engine = open_db(db_url, int(time.time() * 1000))
    _, admin_token = admin.add_org(engine, f"bench-{secrets.token_hex(4)}")
    engine.dispose()
    with server(db_url, workers, args.pool_size, args.server_root) as (port, pid):
        clients = setup_clients(port, admin_token, args.clients, args.circles)

        def phase(kind: str, interval: float | None) -> Result:
            spec = Phase(kind, port, args.batch, interval, args.seconds)
            return run_phase(spec, clients, args.procs, pid)

        push_label = f"push x{args.batch}"
        r = phase("health", None)
        report(backend, workers, "health", "closed loop", r)
        r = phase("push", None)
        report(backend, workers, push_label, "closed loop", r)
        rate = max(1.0, r.rps * args.load)  # offered requests/s in total
        interval = args.clients / rate
        mode = f"paced {rate:.0f}/s"
        report(backend, workers, "health", mode, phase("health", interval))
        report(backend, workers, push_label, mode, phase("push", interval))


@contextmanager
def scratch_postgres() -> Iterator[str]:
    name = "xc_bench_" + secrets.token_hex(4)
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql://postgres@127.0.0.1:5432/{name}"
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--circles", type=int, default=10)
    ap.add_argument("--procs", type=int, default=5, help="load generator processes")
    ap.add_argument("--workers", default="1,2", help="uvicorn worker counts to compare")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per phase")
    ap.add_argument("--batch", type=int, default=10, help="ops per push")
    ap.add_argument("--load", type=float, default=0.5, help="paced load, x closed-loop max")
    ap.add_argument("--pool-size", type=int, default=None, help="DB connections per worker")
    ap.add_argument(
        "--server-root",
        type=Path,
        default=ROOT,
        help="serve from another checkout (e.g. a git worktree of a baseline) for an A/B",
    )
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    print(
        f"{args.clients} clients in {args.circles} circles, {args.procs} load processes, "
        f"{args.seconds:.0f} s per phase (+{WARMUP_S:.0f} s warm-up), {args.batch} ops per push,"
        f" paced at {args.load:.0%} of the closed-loop push maximum; {os.cpu_count()} cores\n"
    )
    print(
        "| backend  | w | endpoint    | mode           |   req/s |    ops/s "
        "| p50 ms | p99 ms | max ms | errs | srv ms | db ms | load | busy |   bg |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for workers in [int(w) for w in args.workers.split(",")]:
        if not args.skip_sqlite:
            with tempfile.TemporaryDirectory() as tmp:
                bench_backend("sqlite", f"sqlite:///{tmp}/exchange.db", workers, args)
        if not args.skip_postgres:
            with scratch_postgres() as url:
                bench_backend("postgres", url, workers, args)
    print(
        "\nsrv ms / db ms = CPU milliseconds per request of the uvicorn processes / of all"
        " postgres processes (robust to other load); load = the load generator's CPU share of"
        " the machine; busy = the whole machine's; bg = the machine's busy share just before"
        " the phase (waits up to 30 s for <= 25%: latencies are only comparable when bg is"
        " low). Paced latency runs from each request's scheduled send time."
    )


if __name__ == "__main__":
    main()
