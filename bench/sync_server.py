"""Exchange server bench: push throughput and latency with 50 concurrent clients against a
real `uvicorn` (2 workers, uvloop + httptools) on SQLite and PostgreSQL, beside the bare
`GET /v1/health` hammered the same way. Loopback only; each phase is bounded in time.

    .venv/bin/python bench/sync_server.py [--clients 50] [--seconds 8] [--batch 10]
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sync.exchange import admin  # noqa: E402
from sync.exchange.db import open_db  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(db_url: str, workers: int = 2) -> Iterator[str]:
    """`python -m sync.exchange serve` in a subprocess; yields its base URL."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "XCIRCLE_EXCHANGE_AUTH_FAILS_PER_MINUTE": "1000000",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sync.exchange",
            "serve",
            "--db",
            db_url,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("exchange server did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def hammer(
    clients: int, seconds: float, make: Callable[[int], Callable[[httpx.Client], int]], base: str
) -> tuple[int, int, list[float]]:
    """Run `clients` threads, each with its own keep-alive httpx.Client, for `seconds`.
    Returns (requests, items, latencies in ms)."""
    stop = time.monotonic() + seconds
    lat: list[list[float]] = [[] for _ in range(clients)]
    items = [0] * clients
    start = threading.Barrier(clients)

    def run(i: int) -> None:
        step = make(i)
        with httpx.Client(base_url=base, timeout=30) as c:
            step(c)  # warm the connection before timing
            start.wait()
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                items[i] += step(c)
                lat[i].append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [x for xs in lat for x in xs]
    return len(flat), sum(items), flat


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[int(q) - 1] if len(xs) > 1 else float("nan")


def bench_backend(name: str, db_url: str, clients: int, seconds: float, batch: int) -> None:
    engine = open_db(db_url, int(time.time() * 1000))
    _, admin_token = admin.add_org(engine, f"bench-{secrets.token_hex(4)}")
    engine.dispose()
    with server(db_url) as base, httpx.Client(base_url=base, timeout=30) as http:
        tokens, circle_ids = [], []
        for i in range(clients):
            r = http.post(
                "/v1/enrollments", json={}, headers={"Authorization": f"Bearer {admin_token}"}
            )
            r = http.post(
                "/v1/devices",
                json={"name": f"bench-{i}"},
                headers={"Authorization": f"Bearer {r.json()['token']}"},
            )
            tok = r.json()["token"]
            cid = secrets.token_hex(16)
            http.post(
                "/v1/circles",
                json={"circle_id": cid, "member_id": f"m{i}"},
                headers={"Authorization": f"Bearer {tok}"},
            ).raise_for_status()
            tokens.append(tok)
            circle_ids.append(cid)

        def health(_i: int) -> Callable[[httpx.Client], int]:
            def step(c: httpx.Client) -> int:
                c.get("/v1/health").raise_for_status()
                return 1

            return step

        payload = base64.b64encode(secrets.token_bytes(200)).decode()

        def push(i: int) -> Callable[[httpx.Client], int]:
            headers = {"Authorization": f"Bearer {tokens[i]}"}
            counter = iter(range(10**9))

            def step(c: httpx.Client) -> int:
                n = next(counter)
                ops = [
                    {"op_id": f"{i}-{n}-{k}", "epoch": 0, "nonce": "", "payload": payload}
                    for k in range(batch)
                ]
                c.post(
                    f"/v1/circles/{circle_ids[i]}/ops", json={"ops": ops}, headers=headers
                ).raise_for_status()
                return batch

            return step

        for label, make in (("health", health), (f"push x{batch}", push)):
            reqs, items, lat = hammer(clients, seconds, make, base)
            print(
                f"{name:10} {label:10} {reqs / seconds:8.0f} req/s {items / seconds:9.0f} items/s"
                f"  p50 {pct(lat, 50):6.1f} ms  p99 {pct(lat, 99):6.1f} ms  (n={reqs})"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args()
    print(f"{args.clients} clients, {args.seconds:.0f} s per phase, uvicorn 2 workers, loopback")
    with tempfile.TemporaryDirectory() as tmp:
        bench_backend(
            "sqlite", f"sqlite:///{tmp}/exchange.db", args.clients, args.seconds, args.batch
        )
    if args.skip_postgres:
        return
    name = "xc_bench_" + secrets.token_hex(4)
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        try:
            bench_backend(
                "postgres",
                f"postgresql://postgres@127.0.0.1:5432/{name}",
                args.clients,
                args.seconds,
                args.batch,
            )
        finally:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
