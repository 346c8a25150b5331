"""Sync client bench: the initial pull of a 100k-op circle, and a no-change sync.

Against a real uvicorn exchange (uvloop + httptools) on 127.0.0.1, SQLite database:

1. Initial pull: `sync.engine.sync` of a new member into a real Store (ops/s), beside
   the floor measured in the same run: downloading the very same JSON pages from a
   static endpoint of the same server and decoding them (JSON + base64), nothing else.
   Then the same circle end-to-end encrypted (sealed, batch-signed envelopes), pulled
   the same way: decrypt, verify, check the author, store. Target: ≤ 1.5× plain.
2. Push of 10k local ops, plain and encrypted (sealing and signing included).
   Target: ≤ 1.5× plain.
3. No-change sync of a member in 20 circles: requests per sync (must be 1) and time.

The database is seeded through the exchange's SQL layer (one bulk insert), so setup
takes seconds. Loopback only; bounded in time.

    .venv/bin/python bench/sync.py [--ops 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, this file's directory comes first on sys.path and its name would
# shadow the `sync` package: put the project root first instead.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != HERE)]

import httpx  # noqa: E402
import orjson  # noqa: E402

PAGES_ENV = "XCIRCLE_BENCH_PAGES"
PAGE = 5000  # ops per pull: the exchange's maximum, what the engine asks for


def bench_app() -> Any:
    """uvicorn factory: the exchange app plus `GET /bench/page/{n}`, which serves the
    captured pull pages as static bytes (the floor: no database, no encoding)."""
    from fastapi import Response

    from sync.exchange.app import app_from_env

    app = app_from_env()
    pages = Path(os.environ[PAGES_ENV])
    cache: dict[int, bytes] = {}

    def page(n: int) -> Response:
        if n not in cache:
            cache[n] = (pages / f"page-{n}.json").read_bytes()
        return Response(cache[n], media_type="application/json")

    app.add_api_route("/bench/page/{n}", page, methods=["GET"])
    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(db_url: str, pages: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "XCIRCLE_EXCHANGE_DB_URL": db_url,
        "XCIRCLE_EXCHANGE_PULLS_PER_MINUTE": "1000000",
        PAGES_ENV: str(pages),
    }
    cmd = [sys.executable, "-m", "uvicorn", "bench.sync:bench_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop"]
    cmd += ["--http", "httptools", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v1/health", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the exchange did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def seed(db_url: str, url: str, n_ops: int) -> dict[str, Any]:
    """Two devices; a 100k-op circle for the first; 20 small circles for the second."""
    from sqlalchemy import update

    from sync.exchange import admin
    from sync.exchange.db import circles, open_db, ops, write_tx
    from xcircle.hlc import MAX_COUNTER, Stamp
    from xcircle.ops import Op, new_id

    def stamp(wall: int, counter: int, node: str) -> str:
        return str(Stamp(wall, counter % (MAX_COUNTER + 1), node))

    engine = open_db(db_url, int(time.time() * 1000))
    admin.add_org(engine, "Acme")
    devices = []
    for name in ("puller", "member"):
        token = admin.issue_enrollment(engine, "Acme")[0]
        r = httpx.post(f"{url}/v1/devices", json={"name": name}, headers=_auth(token))
        devices.append((r.json()["token"], r.json()["device_id"]))

    def circle(device: tuple[str, str], count: int, sealed: bool = False) -> str:
        token, device_id = device
        cid = new_id()
        r = httpx.post(
            f"{url}/v1/circles",
            json={"circle_id": cid, "member_id": new_id()},
            headers=_auth(token),
        )
        assert r.status_code == 201, r.text
        now, author = int(time.time() * 1000), new_id()[:16]
        goal = new_id()
        made = [Op(new_id(), cid, "circle", cid, stamp(now, 0, author), author, {"name": "Big"})]
        made.append(Op(new_id(), cid, "goal", goal, stamp(now, 1, author), author, {"title": "G"}))
        for i in range(count - 2):
            fields = {"goal": goal, "progress": i % 101, "note": f"check-in number {i}"}
            made.append(
                Op(new_id(), cid, "checkin", new_id(), stamp(now, i + 2, author), author, fields)
            )
        envelopes = [(0, b"", op.to_bytes()) for op in made]
        ids = [op.id for op in made]
        if sealed:
            envelopes, ids = seal(cid, author, made, now)
        rows = [
            {
                "circle_id": cid,
                "seq": seq,
                "op_id": op_id,
                "epoch": epoch,
                "nonce": nonce,
                "payload": payload,
                "device_id": device_id,
                "received_at": now,
            }
            for seq, (op_id, (epoch, nonce, payload)) in enumerate(
                zip(ids, envelopes, strict=True), 1
            )
        ]
        with write_tx(engine) as conn:
            for start in range(0, len(rows), 20_000):
                conn.execute(ops.insert(), rows[start : start + 20_000])
            conn.execute(update(circles).where(circles.c.id == cid).values(next_seq=len(rows) + 1))
        return cid

    big = circle(devices[0], n_ops)
    sealed = circle(devices[0], n_ops, sealed=True)
    small = [circle(devices[1], 50) for _ in range(20)]
    engine.dispose()
    return {
        "puller": devices[0],
        "member": devices[1][0],
        "big": big,
        "sealed": sealed,
        "small": small,
    }


EPOCH_SECRET = bytes(range(32))  # the bench's circle key (a bench, not a secret)


def seal(
    cid: str, author: str, made: list[Any], now: int
) -> tuple[list[tuple[int, bytes, bytes]], list[str]]:
    """The circle's ops as an encrypted circle holds them: the signer's device record
    first (its first device: trusted on first use), then every op, in signed batches of
    499 like a push (each batch record first), each sealed under epoch 1."""
    from xcircle import crypto
    from xcircle.hlc import Stamp
    from xcircle.ops import Op, new_id

    keys = crypto.DeviceKeys.generate()
    member = new_id()
    record = {"member": member, "node": author, **keys.public.to_json(), "name": "bench"}
    device = Op(
        new_id(), cid, "device", keys.public.key_id, str(Stamp(now, 0, author)), author, record
    )
    ops = [device, *made[:-1]]  # the same count as the plain circle
    key = crypto.EpochKey(cid, 1, EPOCH_SECRET)
    out: list[tuple[int, bytes, bytes]] = []
    ids = []
    for start in range(0, len(ops), 499):
        batch = ops[start : start + 499]
        sealed = crypto.seal_push(key, keys, new_id(), [(op.id, op.to_bytes()) for op in batch])
        out += [(1, e.nonce, e.payload) for e in sealed]
        ids += [e.op_id for e in sealed]
    return out, ids


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def capture_pages(url: str, token: str, cid: str, pages: Path) -> int:
    """Save the exchange's pull answers for the whole circle, as the engine will see them."""
    cursor, n = 0, 0
    with httpx.Client(headers=_auth(token)) as http:
        while True:
            body = {"cursors": {cid: cursor}, "limit": PAGE}
            raw = http.post(f"{url}/v1/pull", json=body).content
            (pages / f"page-{n}.json").write_bytes(raw)
            batch = orjson.loads(raw)["circles"][cid]
            cursor, n = batch["next"], n + 1
            if not batch["more"]:
                return n


def floor(url: str, n_pages: int) -> tuple[float, int]:
    """Download the same pages statically and decode them: (seconds, ops)."""
    b64 = base64.b64decode
    count = 0
    started = time.perf_counter()
    with httpx.Client() as http:
        for n in range(n_pages):
            data = orjson.loads(http.get(f"{url}/bench/page/{n}").content)
            for batch in data["circles"].values():
                for env in batch["ops"]:
                    b64(env["payload"])
                    count += 1
    return time.perf_counter() - started, count


def engine_pull(
    url: str, device: tuple[str, str], cid: str, home: Path, *, sealed: bool = False
) -> tuple[float, int, int]:
    """`sync.engine.sync` into a fresh Store: (seconds, ops merged, requests)."""
    from sync.client import ExchangeClient
    from sync.engine import sync
    from sync.state import Credentials, save_credentials
    from xcircle.keystore import keystore_of
    from xcircle.store import Store

    token = device[0]
    store = Store(home)
    store.save_profile(name="Bench", org="Acme")
    store.create_circle(cid)
    store.set_meta(cid, shared=True, cursor=0, me=None)
    if sealed:  # a member device: its credentials, and the circle's key as if unwrapped
        save_credentials(store, Credentials(url, token, device[1], "Acme"))
        keystore_of(store).save_epoch(cid, 1, EPOCH_SECRET)
    try:
        with ExchangeClient(url, token) as client:
            started, cpu = time.perf_counter(), time.process_time()
            report = sync(store, client)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert report.circles[cid].gap is None and not report.circles[cid].quarantined
        CPU.append(cpu)
        return elapsed, report.circles[cid].pulled, report.requests
    finally:
        store.close()


PUSH_OPS = 10_000
CPU: list[float] = []  # this process's CPU seconds of the last pull or push (all threads)


def push(url: str, home: Path, sealed: bool) -> float:
    """Seconds for `sync` to push PUSH_OPS local check-ins of a new shared circle (a new
    device and circle each time), plain or encrypted (epoch 1 started first)."""
    from sync.commands import enroll
    from sync.e2e import start_epoch
    from sync.engine import connect, sync
    from xcircle.services import Services
    from xcircle.store import Store

    store = Store(home)
    svc = Services(store)
    svc.init_profile("Pusher", "Acme")
    token = _enrollment(url)
    enroll(store, url, token, name=home.name)
    cid = svc.circles.create("Push")["id"]
    goal = svc.goals.add(cid, "G")["id"]
    me = store.meta(cid)["me"]
    try:
        with connect(store) as client:
            client.create_circle(cid, me)
            store.set_meta(cid, shared=True, cursor=0)
            sync(store, client)  # the circle's first ops, and this device's record
            if sealed:
                device = client.me()["device_id"]
                start_epoch(store, client, cid, device_id=device, on_store=lambda f: f())
            ops = [
                store.op(cid, "checkin", None, {"goal": goal, "progress": i % 101, "note": f"n{i}"})
                for i in range(PUSH_OPS)
            ]
            store.apply(ops)
            started, cpu = time.perf_counter(), time.process_time()
            report = sync(store, client)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert report.circles[cid].pushed == PUSH_OPS, report.to_dict()
        CPU.append(cpu)
        return elapsed
    finally:
        store.close()


ENROLL: dict[str, Any] = {}


def _enrollment(url: str) -> str:
    from sync.exchange import admin
    from sync.exchange.db import open_db

    engine = ENROLL.setdefault("engine", open_db(ENROLL["db_url"], int(time.time() * 1000)))
    return admin.issue_enrollment(engine, "Acme")[0]


def per_op(ops: int, plain_s: float) -> None:
    """What encryption adds per pulled op, measured here on 20,000 sealed ops (the
    floor of the encrypted path: these steps cannot be skipped), beside the whole plain
    pull's cost per op."""
    import binascii

    from xcircle import crypto
    from xcircle.hlc import Stamp
    from xcircle.ops import Op, new_id

    n, now = 20_000, int(time.time() * 1000)
    cid, author = new_id(), new_id()[:16]
    made = [
        Op(
            new_id(),
            cid,
            "checkin",
            new_id(),
            str(Stamp(now, i % 1000, author)),
            author,
            {"goal": new_id(), "progress": i % 101, "note": f"check-in number {i}"},
        )
        for i in range(n)
    ]
    envelopes, ids = seal(cid, author, made, now)
    texts = [(crypto.b64(nonce), crypto.b64(payload)) for _, nonce, payload in envelopes]
    key = crypto.EpochKey(cid, 1, EPOCH_SECRET)
    raw = [
        (op_id, nonce, payload) for op_id, (_, nonce, payload) in zip(ids, envelopes, strict=True)
    ]

    def b64() -> None:
        for nonce, payload in texts:
            binascii.a2b_base64(nonce, strict_mode=True)
            binascii.a2b_base64(payload, strict_mode=True)

    def hkdf() -> None:
        for op_id, _, _ in raw:
            key.op_key(op_id)

    def aead() -> None:
        for op_id, nonce, payload in raw:
            box, aad = key.cipher(op_id)
            box.decrypt(nonce, payload, aad)

    plains = [(i, key.cipher(i)[0].decrypt(nonce, p, key.cipher(i)[1])) for i, nonce, p in raw]

    def signature() -> None:
        verifier = crypto.Verifier()
        for op_id, plain in plains:
            verifier.verify(cid, op_id, plain)

    def opened() -> None:
        verifier = crypto.Verifier()
        for op_id, nonce, payload in raw:
            verifier.open(key, op_id, nonce, payload)

    def us(f: Any) -> float:
        best = min(_timed(f) for _ in range(3))
        return best / n * 1e6

    print("per pulled op, in microseconds (best of 3 on 20,000 sealed ops)")
    print(f"  whole plain pull (engine above)        : {plain_s / ops * 1e6:6.2f}")
    print(f"  base64 of nonce + sealed payload       : {us(b64):6.2f}")
    print(f"  HKDF op key                            : {us(hkdf):6.2f}")
    print(f"  HKDF + ChaCha20-Poly1305 open          : {us(aead):6.2f}")
    print(f"  leaf in batch record + its signature   : {us(signature):6.2f}")
    print(f"  Verifier.open (HKDF, AEAD, record)     : {us(opened):6.2f}")


def _timed(f: Any) -> float:
    started = time.process_time()
    f()
    return time.process_time() - started


def no_change(
    url: str, token: str, circles: list[str], home: Path, repeat: int
) -> tuple[list[float], list[int]]:
    from sync.client import ExchangeClient
    from sync.engine import sync
    from xcircle.store import Store

    store = Store(home)
    store.save_profile(name="Member", org="Acme")
    for cid in circles:
        store.create_circle(cid)
        store.set_meta(cid, shared=True, cursor=0)
    times, requests = [], []
    try:
        with ExchangeClient(url, token) as client:
            sync(store, client)  # catch up first
            for _ in range(repeat):
                started = time.perf_counter()
                report = sync(store, client)
                times.append((time.perf_counter() - started) * 1000)
                requests.append(report.requests)
    finally:
        store.close()
    return times, requests


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="xc-bench-sync-") as tmp:
        root = Path(tmp)
        pages = root / "pages"
        pages.mkdir()
        db_url = f"sqlite:///{root / 'exchange.db'}"
        ENROLL["db_url"] = db_url
        with server(db_url, pages) as url:
            t0 = time.perf_counter()
            s = seed(db_url, url, args.ops)
            t1 = time.perf_counter()
            n_pages = capture_pages(url, s["puller"][0], s["big"], pages)
            t2 = time.perf_counter()
            print(f"setup: {args.ops:,} ops in {n_pages} pages, {t2 - t0:.1f}s")
            print(f"  the exchange answering those {n_pages} pulls alone: {t2 - t1:.2f}s")
            floors, pulls, sealed = [], [], []
            ratios: dict[str, list[tuple[float, float]]] = {"pull": [], "push": []}
            for i in range(args.repeat):  # alternating, so both see the same machine
                floors.append(floor(url, n_pages))
                pulls.append(engine_pull(url, s["puller"], s["big"], root / f"home-{i}"))
                plain_cpu = CPU[-1]
                sealed.append(
                    engine_pull(url, s["puller"], s["sealed"], root / f"sealed-{i}", sealed=True)
                )
                ratios["pull"].append((sealed[-1][0] / pulls[-1][0], CPU[-1] / plain_cpu))
            f_s = min(t for t, _ in floors)
            p_s, merged, reqs = min(pulls)
            f_rate, p_rate = floors[0][1] / f_s, merged / p_s
            print(f"initial pull of one circle (best of {args.repeat})")
            print(f"  floor  (static pages, JSON + base64): {f_rate:>10,.0f} ops/s  {f_s:.2f}s")
            print(
                f"  engine (pull + check + Store)       : {p_rate:>10,.0f} ops/s  {p_s:.2f}s"
                f"  {reqs} requests  = {p_rate / f_rate:.0%} of the floor"
            )
            e_s, e_merged, e_reqs = min(sealed)
            print(
                f"  engine, encrypted circle            : {e_merged / e_s:>10,.0f} ops/s  "
                f"{e_s:.2f}s  {e_reqs} requests  = {e_s / p_s:.2f}x plain (best vs best)"
            )
            pushes: dict[bool, list[float]] = {False: [], True: []}
            for i in range(args.repeat):
                pushes[False].append(push(url, root / f"push-{i}", False))
                plain_cpu = CPU[-1]
                pushes[True].append(push(url, root / f"spush-{i}", True))
                ratios["push"].append((pushes[True][-1] / pushes[False][-1], CPU[-1] / plain_cpu))
            plain_push, sealed_push = min(pushes[False]), min(pushes[True])
            print(f"push of {PUSH_OPS:,} local ops (best of {args.repeat})")
            print(f"  plain    : {plain_push:.2f}s")
            print(
                f"  encrypted: {sealed_push:.2f}s  = {sealed_push / plain_push:.2f}x plain "
                "(best vs best)"
            )
            print("encrypted / plain, run by run (target <= 1.5x)")
            for what, pairs in ratios.items():
                wall = " ".join(f"{w:.2f}" for w, _ in pairs)
                cpu = " ".join(f"{c:.2f}" for _, c in pairs)
                print(
                    f"  {what}: wall {wall}  (median {statistics.median(w for w, _ in pairs):.2f}x)"
                    f";  client CPU {cpu}  (median {statistics.median(c for _, c in pairs):.2f}x)"
                )
            per_op(merged, p_s)
            times, requests = no_change(url, s["member"], s["small"], root / "member", 50)
            print("no-change sync, member of 20 circles (50 runs)")
            print(f"  requests per sync: {sorted(set(requests))}")
            print(
                f"  median {statistics.median(times):.1f} ms, p90 "
                f"{statistics.quantiles(times, n=10)[-1]:.1f} ms"
            )


if __name__ == "__main__":
    main()
