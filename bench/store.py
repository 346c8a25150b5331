"""Store benchmark: one user action and opening the home, at 1k, 10k and 100k records.

A heavy user's home: 20 circles, the largest holding half of all records (goals,
check-ins, feedback). For each size it prints the median latency of one user action
(a goal check-in in the largest circle), the time to open the home, and the floors
measured in the same run: one flushed append of a record of the same size (the store's
own flush, `osfs.flush`: fdatasync on Linux), and orjson parsing the same bytes the
store reads when it opens. Actions and the append floor are timed round-robin across
the homes, so disk weather hits all alike.

    python bench/store.py [--sizes 1000,10000,100000] [--actions 1000]
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

from xcircle import osfs
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


def interleaved_actions_ms(
    homes: list[tuple[Path, str, str]], floor_dir: Path, actions: int
) -> tuple[list[float], list[float]]:
    """Median latency of one check-in in each home's largest circle, and of the fsync'd
    append floor (a line of the same size), measured round-robin so that every figure
    sees the same disk and machine conditions."""
    stores = [Store(home) for home, _, _ in homes]
    try:
        services = [Services(store, clock=lambda: NOW) for store in stores]
        # A first action each, to learn the journal line's size (and warm up).
        sizes = []
        for (home, circle, goal), svc in zip(homes, services, strict=True):
            journal = home / "circles" / f"{circle}.journal"
            before = journal.stat().st_size if journal.exists() else 0
            svc.goals.checkin(circle, goal, progress=1, confidence=4, note="Bench note")
            sizes.append(journal.stat().st_size - before)
        fd = os.open(floor_dir / "floor.journal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        line = b"x" * (max(sizes) - 1) + b"\n"
        times: list[list[float]] = [[] for _ in homes]
        floor: list[float] = []
        try:
            for i in range(actions):
                for (_, circle, goal), svc, out in zip(homes, services, times, strict=True):
                    t = time.perf_counter()
                    svc.goals.checkin(
                        circle, goal, progress=i % 101, confidence=4, note="Bench note"
                    )
                    out.append(time.perf_counter() - t)
                t = time.perf_counter()
                os.write(fd, line)
                osfs.flush(fd)  # the store's own flush on this platform (F_FULLFSYNC on macOS)
                floor.append(time.perf_counter() - t)
        finally:
            os.close(fd)
    finally:
        for store in stores:
            store.close()
    medians = [statistics.median(t) * 1000 for t in times]
    return medians, [statistics.median(floor) * 1000] * len(homes)


def open_and_parse_ms(home: Path, repeat: int = 9) -> tuple[float, float, float]:
    """Median time to open the home (only what the home screen reads is parsed), to open
    it and use every table of every circle, and to orjson-parse the same files (the
    floor), alternating so all three see the same machine."""
    files = [p for p in home.rglob("*") if p.suffix in (".json", ".journal")]
    opened, thawed, parsed = [], [], []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        store = Store(home)
        opened.append(time.perf_counter() - t)
        t = time.perf_counter()
        for circle in store.circle_ids():
            assert store._db(circle).data  # every table parsed, as if each circle were opened
        thawed.append(time.perf_counter() - t + opened[-1])
        store.close()
        del store
        gc.collect()
        t = time.perf_counter()
        gc.disable()
        data = [_parse(p.read_bytes(), p.suffix) for p in files]
        gc.enable()
        parsed.append(time.perf_counter() - t)
        del data
    return tuple(statistics.median(x) * 1000 for x in (opened, thawed, parsed))  # type: ignore[return-value]


def _parse(raw: bytes, suffix: str) -> object:
    if suffix == ".json":  # snapshot: a header line, then `"table"<TAB>{records}` lines
        return [orjson.loads(part) for line in raw.splitlines() for part in line.split(b"\t")]
    return [orjson.loads(line[9:]) for line in raw.splitlines()]  # journal: "crc payload"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--actions", type=int, default=1000)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="xcircle-bench-") as tmp:
        built = []
        for size in sizes:
            home = Path(tmp) / f"home-{size}"
            big, goal = build_home(home, size)
            built.append((home, big, goal))
        opens = [open_and_parse_ms(home) for home, _, _ in built]
        actions, floors = interleaved_actions_ms(built, Path(tmp), args.actions)
        rows = []
        for size, (home, _, _), (opened, thawed, parsed), action, floor in zip(
            sizes, built, opens, actions, floors, strict=True
        ):
            mib = sum(p.stat().st_size for p in home.rglob("*") if p.is_file()) / 2**20
            rows.append((size, mib, action, floor, opened, parsed, thawed))
    base_action = rows[0][2]
    print(
        f"{'records':>8} {'MiB':>6} {'action ms':>10} {'append floor':>13} {'x floor':>8} "
        f"{'x 1k':>6} {'open ms':>8} {'+all tables':>11} {'parse floor':>12} {'x floor':>8}"
    )
    for size, mib, action, floor, opened, parsed, thawed in rows:
        print(
            f"{size:>8} {mib:>6.1f} {action:>10.3f} {floor:>13.3f} {action / floor:>8.2f} "
            f"{action / base_action:>6.2f} {opened:>8.1f} {thawed:>11.1f} {parsed:>12.1f} "
            f"{thawed / parsed:>8.2f}"
        )
    print(
        "targets: action x 1k <= 1.5 at the largest size; action x floor <= 5; "
        "open (+all tables) x parse floor <= 1.5"
    )


if __name__ == "__main__":
    main()
