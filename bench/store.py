"""Store benchmark: one user action and opening the home, at 1k, 10k and 100k records.

A heavy user's home: 20 circles, the largest holding half of all records (goals,
check-ins, feedback). For each size it prints the median latency of one user action
(a goal check-in in the largest circle), the time to open the home, and the floors
measured in the same run: one fsync'd append of a record of the same size, and
orjson parsing the same bytes the store reads when it opens.

    python bench/store.py [--sizes 1000,10000,100000] [--actions 300]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from xcircle.ops import Op, new_id
from xcircle.services import Services
from xcircle.store import Store

CIRCLES = 20
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def build_home(home: Path, records: int) -> tuple[str, str]:
    """Fill a home quickly through `Store.apply` (big batches); return the largest
    circle and one of its goals."""
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        svc.init_profile("Bench", "Acme")
        circles = [svc.circles.create(f"Circle {i:02d}")["id"] for i in range(CIRCLES)]
        big = circles[0]
        shares = [records // 2] + [records // 2 // (CIRCLES - 1)] * (CIRCLES - 1)
        goal_of_big = ""
        for cid, share in zip(circles, shares, strict=True):
            member = svc.ctx.me(cid)
            ops: list[Op] = []
            goals = [new_id() for _ in range(max(1, share // 20))]
            for g in goals:
                ops.append(store.op(cid, "goal", g, {"title": "A goal", "status": "active"}))
            for i in range(share - len(goals)):
                if i % 2:
                    fields = {
                        "goal": goals[i % len(goals)],
                        "member": member,
                        "progress": i % 101,
                        "confidence": 3,
                        "note": "Steady progress on the plan this week.",
                        "at": NOW.isoformat(),
                    }
                    ops.append(store.op(cid, "checkin", None, fields))
                else:
                    fields = {
                        "meeting": goals[0],
                        "presenter": member,
                        "giver": member,
                        "kind": "support",
                        "text": "You handled something similar brilliantly last spring.",
                        "at": NOW.isoformat(),
                    }
                    ops.append(store.op(cid, "feedback", None, fields))
            for start in range(0, len(ops), 5000):
                store.apply(ops[start : start + 5000], local=False)
            store._db(cid).snapshot()
            if cid == big:
                goal_of_big = goals[0]
    return big, goal_of_big


def median_action_ms(home: Path, circle: str, goal: str, actions: int) -> tuple[float, int]:
    with Store(home) as store:
        svc = Services(store, clock=lambda: NOW)
        journal = home / "circles" / f"{circle}.journal"
        times = []
        for i in range(actions):
            t = time.perf_counter()
            svc.goals.checkin(circle, goal, progress=i % 101, confidence=4, note="Bench note")
            times.append(time.perf_counter() - t)
        line = journal.stat().st_size // max(1, actions)
    return statistics.median(times) * 1000, line


def append_floor_ms(directory: Path, size: int, n: int) -> float:
    path = directory / "floor.journal"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    line = b"x" * (size - 1) + b"\n"
    times = []
    try:
        for _ in range(n):
            t = time.perf_counter()
            os.write(fd, line)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        path.unlink()
    return statistics.median(times) * 1000


def open_ms(home: Path, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        store = Store(home)
        times.append(time.perf_counter() - t)
        store.close()
        del store
        gc.collect()
    return statistics.median(times) * 1000


def parse_floor_ms(home: Path, repeat: int = 5) -> float:
    files = [p for p in home.rglob("*") if p.suffix in (".json", ".journal")]
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        gc.disable()
        parsed = [_parse(p.read_bytes(), p.suffix) for p in files]
        gc.enable()
        times.append(time.perf_counter() - t)
        del parsed
    return statistics.median(times) * 1000


def _parse(raw: bytes, suffix: str) -> object:
    if suffix == ".json":
        return orjson.loads(raw)
    return [orjson.loads(line[9:]) for line in raw.splitlines()]  # journal: "crc payload"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--actions", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="xcircle-bench-") as tmp:
        for size in sizes:
            home = Path(tmp) / f"home-{size}"
            big, goal = build_home(home, size)
            opened, parsed = open_ms(home), parse_floor_ms(home)
            action, line = median_action_ms(home, big, goal, args.actions)
            floor = append_floor_ms(Path(tmp), line, args.actions)
            mib = sum(p.stat().st_size for p in home.rglob("*") if p.is_file()) / 2**20
            rows.append((size, mib, action, floor, opened, parsed))
    base_action = rows[0][2]
    print(
        f"{'records':>8} {'MiB':>6} {'action ms':>10} {'append floor':>13} {'x floor':>8} "
        f"{'x 1k':>6} {'open ms':>8} {'parse floor':>12} {'x floor':>8}"
    )
    for size, mib, action, floor, opened, parsed in rows:
        print(
            f"{size:>8} {mib:>6.1f} {action:>10.3f} {floor:>13.3f} {action / floor:>8.2f} "
            f"{action / base_action:>6.2f} {opened:>8.1f} {parsed:>12.1f} {opened / parsed:>8.2f}"
        )
    print(
        "targets: action x 1k <= 1.5 at the largest size; action x floor <= 5; open x floor <= 1.5"
    )


if __name__ == "__main__":
    main()
