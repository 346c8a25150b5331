"""Soak: devices sync through a real exchange while faults hit it, then nothing may be lost.

    .venv/bin/python bench/soak.py --backend postgres [--minutes 10] [--devices 20]
        [--clients 5] [--circles 4] [--fault-gap 20] [--seed N] [--keep]
    .venv/bin/python bench/soak.py --backend sqlite …

What runs (all on this machine, loopback only):

- `xcircle exchange serve` as users run it: 2 workers on a private PostgreSQL cluster
  (initdb/pg_ctl in a temp dir, on a free port: the shared server is never touched), or
  1 worker on SQLite on a small tmpfs of its own (root only: it mounts one).
- `--devices` real xcircle homes (store, services, sync engine, HTTP client), enrolled in
  two organizations and members of `--circles` circles, driven by `--clients` processes.
  Each device adds goals, check-ins and commitments and syncs, at random.
- A fault every ~`--fault-gap` seconds, at random: SIGKILL the exchange (supervisor and
  all) and start it again on its port; restart PostgreSQL (fast stop or SIGKILL of the
  postmaster, down 1-6 s); fill the exchange's disk to the last byte and free it 2-8 s
  later (SQLite); SIGKILL a client process (mid-save or mid-sync) and start it again.

At the end the faults stop, every device pushes what it holds and pulls everything, and
the figures are checked. An op counts as saved once the device's action returned (it is
durable locally); every saved op must be on the exchange once and on every device of its
circle: each device's cursor equals the circle's log length, its outbox, quarantine and
held ops are empty, and its canonical state equals the other replicas'. Every answer the
exchange gave is logged by each client's transport, so 5xx are counted inside and outside
fault windows (a window runs from the fault until `GRACE_S` after it is undone); a 500 is
a bug anywhere. Exit status 0 only when every criterion holds.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GRACE_S = 2.0  # answers this long after a fault is undone still belong to its window
SERVER_FAULTS = ("kill_exchange", "restart_db", "fill_disk")
DISK_MB = 128  # the SQLite exchange's tmpfs


# -- the exchange and its database ---------------------------------------------------------


class Exchange:
    """`python -m sync.exchange serve` on a fixed port; restartable; RSS of its processes."""

    def __init__(self, db_url: str, port: int, workers: int, log: Path) -> None:
        self.db_url, self.port, self.workers, self.log = db_url, port, workers, log
        self.base = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from sync.exchange.settings import ENV_AUTH_LIMIT, ENV_PULL_LIMIT

        env = {**os.environ, ENV_AUTH_LIMIT: "1000000", ENV_PULL_LIMIT: "1000000"}
        cmd = [sys.executable, "-m", "sync.exchange", "serve", "--db", self.db_url]
        cmd += ["--port", str(self.port), "--workers", str(self.workers)]
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err
            )

    def wait_ready(self, limit_s: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + limit_s
        while True:
            try:
                if httpx.get(f"{self.base}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc is not None
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the exchange did not start; see {self.log}")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)

    def rss_mb(self) -> float:
        """Resident memory of the supervisor and its children, in MiB."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        pids = {self.proc.pid} | _children(self.proc.pid)
        return sum(_rss_kb(p) for p in pids) / 1024


def _children(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class SqliteDisk:
    """A tmpfs of `DISK_MB` holding the exchange's SQLite file; `fill()` / `free()`."""

    def __init__(self, where: Path) -> None:
        self.mnt = where / "disk"
        self.mnt.mkdir()
        opts = f"size={DISK_MB}m,mode=0700"
        subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(self.mnt)], check=True)
        self.filler = self.mnt / "filler"

    def fill(self) -> None:
        with self.filler.open("wb", buffering=0) as f:
            chunk = b"\0" * (1 << 20)
            while chunk:
                try:
                    f.write(chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    chunk = chunk[: len(chunk) // 2]

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.mnt)], check=False)


# -- devices -------------------------------------------------------------------------------


def setup_devices(url: str, db_url: str, work: Path, args: argparse.Namespace) -> list[Any]:
    """Enroll `--devices` homes and put them in `--circles` circles through the real
    commands; returns, per client process, its devices' homes and circles."""
    from sync.client import ExchangeClient  # noqa: F401  (fail early if httpx is missing)
    from sync.commands import accept_invite, enroll, invite_code, share_circle
    from sync.engine import connect, require_credentials
    from sync.engine import sync as run_sync
    from sync.exchange import admin
    from sync.exchange.db import open_db
    from xcircle.services import Services
    from xcircle.store import Store

    engine = open_db(db_url, int(time.time() * 1000))
    orgs = ("Northwind", "Riverside")
    for org in orgs:
        admin.add_org(engine, org)
    stores = []
    for i in range(args.devices):
        home = work / f"home{i:02d}"
        store = Store(home)
        Services(store).init_profile(f"Member {i}", orgs[i % 2])
        token = admin.issue_enrollment(engine, orgs[i % 2])[0]
        enroll(store, url, token, name=f"device{i}")
        stores.append(store)
    engine.dispose()
    circles: list[list[str]] = [[] for _ in range(args.devices)]
    for c in range(args.circles):
        owner = stores[c]
        cid = Services(owner).circles.create(f"Circle {c}")["id"]
        with connect(owner) as client:
            share_circle(owner, client, cid)
        circles[c].append(cid)
        # Every device i with i % circles == c, and the next circle's owner (two circles).
        joiners = [i for i in range(args.devices) if i % args.circles == c and i != c]
        joiners.append((c + 1) % args.circles)
        for i in joiners:
            with connect(owner) as client:
                code = invite_code(owner, client, cid, 3600)["code"]
            dev = stores[i]
            with connect(dev) as client:
                accept_invite(Services(dev), client, code, require_credentials(dev).device_id)
            circles[i].append(cid)
    for _ in range(2):  # owners' devices confirm their joiners, then the joiners come in
        for store in stores:
            with connect(store) as client:
                run_sync(store, client)
    for store in stores:
        store.close()
    per_client: list[list[dict[str, Any]]] = [[] for _ in range(args.clients)]
    for i in range(args.devices):
        per_client[i % args.clients].append(
            {"home": str(work / f"home{i:02d}"), "circles": circles[i]}
        )
    return per_client


def client_main(work: Path, idx: int) -> None:
    """One client process: its devices act and sync until told to stop, then drain."""
    import httpx

    from sync.engine import connect
    from sync.engine import sync as run_sync
    from sync.protocol import SyncError
    from xcircle.errors import XCircleError
    from xcircle.services import Services
    from xcircle.store import Store

    cfg = json.loads((work / "config.json").read_text())
    events = (work / f"events-{idx}.log").open("a", buffering=1)
    made = (work / f"made-{idx}.log").open("a", buffering=1)

    class Recording(httpx.HTTPTransport):
        """Logs `start end status` (or the transport error) for every attempt."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            t0 = time.time()
            try:
                response = super().handle_request(request)
            except httpx.TransportError as exc:
                events.write(f"{t0:.3f} {time.time():.3f} {type(exc).__name__}\n")
                raise
            events.write(f"{t0:.3f} {time.time():.3f} {response.status_code}\n")
            return response

    @dataclass
    class Dev:
        store: Store
        services: Services
        circles: list[str]
        home: str

    devs = []
    for d in cfg["clients"][idx]:
        store = Store(Path(d["home"]))
        devs.append(Dev(store, Services(store), d["circles"], d["home"]))
    rng = random.Random()

    def sync(dev: Dev) -> bool:
        try:
            with connect(dev.store, transport=Recording(), retries=2, timeout=10) as client:
                run_sync(dev.store, client)
            return True
        except SyncError:
            return False

    def act(dev: Dev, n: int) -> None:
        cid = rng.choice(dev.circles)
        me = dev.store.meta(cid)["me"]
        before = {op.id for op in dev.store.outbox(cid)}
        roll = rng.random()
        try:
            if roll < 0.4:
                dev.services.goals.add(cid, f"Goal {idx}.{n}", owner=me)
            elif roll < 0.8:
                goals = dev.services.goals.all(cid)
                if goals:
                    goal = rng.choice(goals)["id"]
                    dev.services.goals.checkin(cid, goal, progress=n % 101, note=f"n{n}")
            else:
                dev.services.commitments.add(cid, me, f"Commit {idx}.{n}")
        except XCircleError:
            return
        for op in dev.store.outbox(cid):
            if op.id not in before:
                made.write(f"{cid} {op.id}\n")

    n = 0
    while not (work / "stop").exists():
        dev = rng.choice(devs)
        act(dev, n)
        n += 1
        if rng.random() < 0.5:
            sync(dev)
        time.sleep(rng.uniform(0.05, 0.3))
    # Drain: push everything this process holds; then, once every process has, pull all.
    while any(dev.store.pending(c) for dev in devs for c in dev.circles):
        for dev in devs:
            if not sync(dev):
                time.sleep(0.5)
    (work / f"drained-{idx}").touch()
    while not (work / "final").exists():
        time.sleep(0.2)
    report = []
    for dev in devs:
        for _ in range(2):
            while not sync(dev):
                time.sleep(0.5)
        for cid in dev.circles:
            meta = dev.store.meta(cid)
            report.append(
                {
                    "home": dev.home,
                    "circle": cid,
                    "cursor": meta.get("cursor", 0),
                    "outbox": dev.store.pending(cid),
                    "quarantine": len(dev.store.quarantine(cid)),
                    "held": dev.store.held(cid),
                    "state": hashlib.sha256(dev.store.canonical(cid)).hexdigest(),
                }
            )
        dev.store.close()
    (work / f"report-{idx}.json").write_text(json.dumps(report))


# -- the run -------------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    start: float
    undone: float = 0.0
    ready: float = 0.0
    detail: str = ""


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path, exchange: Exchange) -> None:
        self.args, self.work, self.exchange = args, work, exchange
        self.rng = random.Random(args.seed)
        self.clients: dict[int, subprocess.Popen[bytes]] = {}
        self.client_crashes = 0
        self.faults: list[Fault] = []
        self.rss: list[float] = []
        self.rss_start = self.rss_end = 0.0
        self.cluster: Any = None
        self.disk: SqliteDisk | None = None
        self._sampling = threading.Event()

    def start_client(self, idx: int) -> None:
        with (self.work / f"client-{idx}.err").open("ab") as err:
            self.clients[idx] = subprocess.Popen(
                [sys.executable, __file__, "--client", str(idx), "--work", str(self.work)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def sample_memory(self) -> None:
        while not self._sampling.wait(2.0):
            mb = self.exchange.rss_mb()
            if mb:
                self.rss.append(mb)

    def kinds(self) -> list[str]:
        kinds = ["kill_exchange", "kill_client"]
        kinds.append("restart_db" if self.cluster is not None else "fill_disk")
        return kinds

    def fault(self, kind: str) -> Fault:
        f = Fault(kind, time.time())
        if kind == "kill_exchange":
            self.exchange.kill()
            time.sleep(self.rng.uniform(0, 2))
            f.undone = time.time()
            self.exchange.start()
            self.exchange.wait_ready()
        elif kind == "restart_db":
            crash = self.rng.random() < 0.5
            f.detail = "crash" if crash else "fast stop"
            self.cluster.kill() if crash else self.cluster.stop()
            time.sleep(self.rng.uniform(1, 6))
            f.undone = time.time()
            self.cluster.start()
        elif kind == "fill_disk":
            assert self.disk is not None
            self.disk.fill()
            time.sleep(self.rng.uniform(2, 8))
            f.undone = time.time()
            self.disk.free()
        elif kind == "kill_client":
            idx = self.rng.randrange(self.args.clients)
            f.detail = f"client {idx}"
            self.clients[idx].send_signal(signal.SIGKILL)
            self.clients[idx].wait()
            time.sleep(self.rng.uniform(0, 1))
            f.undone = time.time()
            self.start_client(idx)
        f.ready = time.time()
        return f

    def run(self) -> None:
        for idx in range(self.args.clients):
            self.start_client(idx)
        time.sleep(3)
        self.rss_start = self.exchange.rss_mb()
        sampler = threading.Thread(target=self.sample_memory, daemon=True)
        sampler.start()
        end = time.monotonic() + self.args.minutes * 60
        gap = self.args.fault_gap
        while True:
            wait = self.rng.uniform(gap / 2, gap * 1.5)
            if time.monotonic() + wait > end:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self.restart_crashed_clients()
                time.sleep(0.2)
            kind = self.rng.choice(self.kinds())
            self.faults.append(self.fault(kind))
            print(f"  {time.strftime('%H:%M:%S')} {kind} {self.faults[-1].detail}", flush=True)
        while time.monotonic() < end:
            self.restart_crashed_clients()
            time.sleep(0.2)
        self.rss_end = self.exchange.rss_mb()
        (self.work / "stop").touch()
        self.wait_for("drained", 600)
        (self.work / "final").touch()
        self.wait_for("report", 600)
        for proc in self.clients.values():
            proc.wait(60)
        self._sampling.set()

    def restart_crashed_clients(self) -> None:
        for idx, proc in list(self.clients.items()):
            if proc.poll() is not None and not (self.work / f"report-{idx}.json").exists():
                self.client_crashes += 1
                print(f"  client {idx} exited by itself ({proc.returncode}); restarted")
                self.start_client(idx)

    def wait_for(self, what: str, limit_s: float) -> None:
        deadline = time.monotonic() + limit_s
        suffix = ".json" if what == "report" else ""
        while not all(
            (self.work / f"{what}-{i}{suffix}").exists() for i in range(self.args.clients)
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"clients did not finish ({what}); see {self.work}")
            self.restart_crashed_clients()
            time.sleep(0.5)


# -- the figures ---------------------------------------------------------------------------


def read_events(work: Path) -> list[tuple[float, float, str, int]]:
    """Every answer (or transport error) any client saw: `(start, end, what, client)`."""
    out = []
    for path in work.glob("events-*.log"):
        client = int(path.stem.split("-")[1])
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3:  # a line torn by a SIGKILL is skipped
                try:
                    out.append((float(parts[0]), float(parts[1]), parts[2], client))
                except ValueError:
                    continue
    return sorted(out)


def recovery_s(fault: Fault, events: list[tuple[float, float, str, int]]) -> float | None:
    """From the moment the fault was undone until every client (for a killed client: that
    one) had an answer of success again: the worst client's wait."""
    first_ok: dict[int, float] = {}
    for t0, t1, what, client in events:
        if t0 >= fault.undone and what.startswith("2") and client not in first_ok:
            first_ok[client] = t1
    if fault.kind == "kill_client":
        mine = first_ok.get(int(fault.detail.split()[-1]))
        return None if mine is None else mine - fault.undone
    return max(first_ok.values()) - fault.undone if first_ok else None


def stored_ops(db_url: str) -> dict[str, list[tuple[int, str]]]:
    from sqlalchemy import create_engine, select

    from sync.exchange.db import ops

    engine = create_engine(db_url)
    log: dict[str, list[tuple[int, str]]] = defaultdict(list)
    with engine.connect() as conn:
        for row in conn.execute(select(ops.c.circle_id, ops.c.seq, ops.c.op_id)):
            log[row.circle_id].append((row.seq, row.op_id))
    engine.dispose()
    return {cid: sorted(entries) for cid, entries in log.items()}


def figures(soak: Soak, db_url: str) -> bool:
    work = soak.work
    made: dict[str, set[str]] = defaultdict(set)
    for path in work.glob("made-*.log"):
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 2 and len(parts[1]) >= 16:
                made[parts[0]].add(parts[1])
    log = stored_ops(db_url)
    twice = sum(len(e) - len({op for _, op in e}) for e in log.values())
    gaps = sum(1 for e in log.values() if [s for s, _ in e] != list(range(1, len(e) + 1)))
    lost_exchange = sum(len(ids - {op for _, op in log.get(cid, [])}) for cid, ids in made.items())
    reports = [r for p in work.glob("report-*.json") for r in json.loads(p.read_text())]
    behind = diverged = 0
    by_circle: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in reports:
        by_circle[r["circle"]].append(r)
        entries = log.get(r["circle"], [])
        if r["cursor"] != len(entries) or r["outbox"] or r["quarantine"] or r["held"]:
            behind += 1
    for replicas in by_circle.values():
        common = Counter(r["state"] for r in replicas).most_common(1)[0][0]
        diverged += sum(1 for r in replicas if r["state"] != common)

    events = read_events(work)
    windows = [
        (f.start, (f.ready or f.undone) + GRACE_S) for f in soak.faults if f.kind in SERVER_FAULTS
    ]

    def inside(t: float) -> bool:
        return any(a <= t <= b for a, b in windows)

    codes: Counter[tuple[str, bool]] = Counter()
    for t0, t1, what, _client in events:
        codes[(what, inside(t0) or inside(t1))] += 1
    recovery: dict[str, list[float]] = defaultdict(list)
    for f in soak.faults:
        took = recovery_s(f, events)
        if took is not None:
            recovery[f.kind].append(took)

    def count(pred: Any, where: bool | None = None) -> int:
        return sum(n for (w, ins), n in codes.items() if pred(w) and where in (None, ins))

    def is5xx(w: str) -> bool:
        return w.isdigit() and w.startswith("5")

    def transport(w: str) -> bool:
        return not w.isdigit()

    crits = {
        "ops lost (saved, not on the exchange)": lost_exchange,
        "devices missing ops (cursor, outbox, quarantine)": behind,
        "replicas diverged": diverged,
        "ops stored twice": twice,
        "logs with a gap": gaps,
        "500s (anywhere)": count(lambda w: w == "500"),
        "5xx outside fault windows": count(is5xx, False),
        "connection errors outside fault windows": count(transport, False),
        "client processes that crashed": soak.client_crashes,
    }
    kinds = Counter(f.kind for f in soak.faults)
    print(
        f"\nsoak on {soak.args.backend}: {soak.args.minutes:g} min, {soak.args.devices} devices "
        f"in {soak.args.circles} circles, {soak.args.clients} client processes"
    )
    print(f"  ops saved on devices            {sum(len(v) for v in made.values())}")
    print(f"  ops acknowledged (exchange log) {sum(len(e) for e in log.values())}")
    print(f"  requests answered               {len(events)}")
    for kind in ("kill_exchange", "restart_db", "fill_disk", "kill_client"):
        times = recovery.get(kind, [])
        rec = (
            f"recovery max {max(times):.2f} s, median {statistics.median(times):.2f} s"
            if times
            else "n/a"
        )
        print(f"  faults {kind:<14}         {kinds.get(kind, 0):>4}   {rec}")
    print(
        f"  503s inside / outside windows   {count(lambda w: w == '503', True)} / "
        f"{count(lambda w: w == '503', False)}"
    )
    print(
        f"  other 5xx inside / outside      {count(lambda w: is5xx(w) and w != '503', True)} / "
        f"{count(lambda w: is5xx(w) and w != '503', False)}"
    )
    print(f"  connection errors in / out      {count(transport, True)} / {count(transport, False)}")
    print(f"  429s                            {count(lambda w: w == '429')}")
    rss_max = max(soak.rss, default=0.0)
    print(
        f"  exchange memory (RSS, all processes) start {soak.rss_start:.0f} MiB, "
        f"end {soak.rss_end:.0f} MiB, max {rss_max:.0f} MiB"
    )
    tracebacks = soak.exchange.log.read_text(errors="replace").count("Traceback")
    crits["tracebacks in the exchange log"] = tracebacks
    print("  criteria (all must be 0):")
    for name, value in crits.items():
        print(f"    {name:<50} {value:>6}  {'ok' if value == 0 else 'FAIL'}")
    return all(v == 0 for v in crits.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--devices", type=int, default=20)
    p.add_argument("--clients", type=int, default=5)
    p.add_argument("--circles", type=int, default=4)
    p.add_argument("--fault-gap", type=float, default=20.0, help="mean seconds between faults")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--client", type=int, help=argparse.SUPPRESS)
    p.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.client is not None:
        client_main(args.work, args.client)
        return
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    print(f"seed {args.seed}", flush=True)
    from tests.exchange.pgcluster import PrivateCluster, free_port, pg_bindir

    work = Path(tempfile.mkdtemp(prefix="xc-soak-"))
    cluster: PrivateCluster | None = None
    disk: SqliteDisk | None = None
    exchange: Exchange | None = None
    ok = False
    try:
        if args.backend == "postgres":
            bindir = pg_bindir()
            if bindir is None:
                sys.exit("no PostgreSQL under /usr/lib/postgresql/*/bin")
            cluster = PrivateCluster(bindir)
            cluster.start()
            db_url = cluster.create_db("soak")
            workers = 2
        else:
            if os.geteuid() != 0:
                sys.exit("the SQLite soak mounts a tmpfs for its full disk: run it as root")
            disk = SqliteDisk(work)
            db_url = f"sqlite:///{disk.mnt / 'exchange.db'}"
            workers = 1
        exchange = Exchange(db_url, free_port(), workers, work / "exchange.log")
        exchange.start()
        exchange.wait_ready()
        config = {"clients": setup_devices(exchange.base, db_url, work, args)}
        (work / "config.json").write_text(json.dumps(config))
        print(f"set up {args.devices} devices; faults every ~{args.fault_gap:g} s", flush=True)
        soak = Soak(args, work, exchange)
        soak.cluster, soak.disk = cluster, disk
        soak.run()
        ok = figures(soak, db_url)
    finally:
        if exchange is not None:
            exchange.stop()
        if cluster is not None:
            cluster.close()
        if disk is not None:
            disk.close()
        if args.keep or not ok:
            print(f"work directory kept: {work}")
        else:
            subprocess.run(["rm", "-rf", str(work)], check=False)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
