"""TUI start-up and circle-opening times, beside a bare Textual app measured the same way.

    .venv/bin/python bench/tui.py [--runs 5]

Start-up: a subprocess runs the app headless with XCIRCLE_EXIT_WHEN_READY=<file>; the
app writes the wall time at which its home screen first shows data and exits. The
figure is that time minus the moment before spawning (median of --runs), for (a) the
demo home, (b) a large home (50 circles, 20k goals/check-ins/feedback), and a bare App
with one DataTable. Opening a circle of 5k records is timed in-process (push the
screen → data shown), with the longest event-loop stall seen meanwhile.

Following the data (`--follow` runs only these): the round screen's countdown tick at
5k and 20k feedback records in the circle, as it was (the whole round state read every
second) and as it is (one timer read); and a sync worker merging a 5,000-op page, as it
was (every store call sent to the UI thread) and as it is (through the store's lock):
the longest event-loop stall while the page merges.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def bare_app(marker: str) -> None:
    """The baseline: a bare Textual app with one DataTable, ready after its first refresh."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class Bare(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("Circle", "Next meeting", "Members")
            for n in range(3):
                table.add_row(f"Circle {n}", "Thu 26 Nov 18:00", 5)
            self.call_after_refresh(self.ready)

        def ready(self) -> None:
            Path(marker).write_text(repr(time.time()))
            self.exit()

    Bare().run(headless=True)


# -- building homes fast, straight through the store -----------------------------------


def build_home(home: Path, circles: int, per_circle: dict[str, int]) -> list[str]:
    """A home of `circles` circles, each with the given record counts; one apply each."""
    from xcircle.ops import new_id
    from xcircle.store import Store

    rng = random.Random(1)
    ids = []
    with Store(home) as store:
        store.save_profile(name="Bench Member", org="Northwind Health", seniority="mid", tz="")
        for n in range(circles):
            cid, ops = new_id(), []
            store.create_circle(cid)
            op = store.op
            created = NOW - timedelta(days=400)
            ops.append(
                op(cid, "circle", cid, {
                    "name": f"Circle {n:03d}", "purpose": "Bench", "outcomes": ["Learn"],
                    "frequency": "biweekly", "duration": 90, "mode": "online",
                    "archived": False, "created": created.isoformat(),
                })
            )  # fmt: skip
            members = [new_id() for _ in range(per_circle["members"])]
            for i, m in enumerate(members):
                org = ("Northwind Health", "Riverside Council")[i % 2]
                fields = {"name": f"Member {i}", "org": org, "seniority": "mid", "topics": []}
                ops.append(op(cid, "member", m, {**fields, "joined": created.isoformat()}))
            meetings = []
            for i in range(per_circle["meetings"]):
                mid = new_id()
                at = (created + timedelta(days=3 * i)).isoformat(timespec="minutes")
                meetings.append(mid)
                ops.append(
                    op(cid, "meeting", mid, {
                        "at": at, "tz": "", "duration": 90, "themes": ["Focus"],
                        "facilitator": members[i % len(members)], "status": "closed",
                        "notes": "", "kickoff": i == 0, "step": 0,
                    })
                )  # fmt: skip
                for m in members:
                    fields = {"meeting": mid, "member": m, "present": rng.random() > 0.1}
                    ops.append(op(cid, "attendance", f"{mid}:{m}", fields))
            goals = [new_id() for _ in range(per_circle["goals"])]
            for i, g in enumerate(goals):
                ops.append(
                    op(cid, "goal", g, {
                        "title": f"Goal {i}", "why": "", "measure": "", "due": None,
                        "status": "active", "owner": members[i % len(members)],
                        "created": created.isoformat(),
                    })
                )  # fmt: skip
            for i in range(per_circle["checkins"]):
                at = (created + timedelta(hours=i)).isoformat(timespec="seconds")
                ops.append(
                    op(cid, "checkin", None, {
                        "goal": goals[i % len(goals)], "member": members[0],
                        "progress": i % 101, "confidence": 3, "note": "ok", "at": at,
                    })
                )  # fmt: skip
            for i in range(per_circle["feedback"]):
                mid = meetings[i % len(meetings)]
                ops.append(
                    op(cid, "feedback", None, {
                        "meeting": mid, "presenter": members[0], "giver": members[1],
                        "kind": "support", "text": "Good", "at": NOW.isoformat(),
                    })
                )  # fmt: skip
            for i in range(per_circle.get("pulses", 0)):
                mid = meetings[i % len(meetings)]
                fields = {"meeting": mid, "member": members[i % len(members)]}
                scores = {"support": 4, "confidence": 3, "learning": 5}
                ops.append(op(cid, "pulse", None, {**fields, **scores}))
            store.apply(ops, meta={"me": members[0]})
            ids.append(cid)
    return ids


def build_demo(home: Path) -> None:
    from xcircle.demo import seed_demo
    from xcircle.store import Store

    with Store(home) as store:
        seed_demo(store, now=NOW, seed=7)


# -- measuring ---------------------------------------------------------------------------


def ready_after_spawn(args: list[str]) -> float:
    """Seconds from spawning `python args…` to the ready marker it writes."""
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "ready"
        env = {**os.environ, "XCIRCLE_EXIT_WHEN_READY": str(marker), "TZ": "UTC"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # use the bytecode, as an install does
        args = [marker.as_posix() if a == "MARKER" else a for a in args]
        start = time.time()
        subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, timeout=60)
        return float(marker.read_text()) - start


def compile_project() -> None:
    """Byte-compile the project like `pip install` does for a wheel: the installed
    dependencies (textual…) are compiled already, so a fair start-up compares like with
    like (an environment with PYTHONDONTWRITEBYTECODE would otherwise recompile ours)."""
    import compileall

    for package in ("xcircle", "screens", "sync"):
        compileall.compile_dir(ROOT / package, quiet=1)


def startups(commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    """Each command's start-up times, interleaved run by run so that load on the machine
    weighs on all of them alike (the first, warm-up round is dropped)."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(runs + 1):
        for name, args in commands.items():
            took = ready_after_spawn(args)
            if round_:
                times[name].append(took)
    return times


class StallWatch:
    """The longest gap between ticks scheduled every 2 ms: how long the loop was blocked."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop, self.worst, self.last, self.done = loop, 0.0, loop.time(), False
        self.tick()

    def tick(self) -> None:
        now = self.loop.time()
        self.worst, self.last = max(self.worst, now - self.last), now
        if not self.done:
            self.loop.call_later(0.002, self.tick)

    def stop(self) -> float:
        self.done = True
        return self.worst


async def open_circle(home: Path, circle: str, runs: int) -> tuple[float, float]:
    """Median ms to push a circle screen until its data is shown, and the worst loop stall."""
    from screens.app import make_app
    from screens.circle import CircleScreen

    app = make_app(home, clock=lambda: NOW)
    times, stalls = [], []
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        for _ in range(runs):
            watch = StallWatch(asyncio.get_running_loop())
            start = time.perf_counter()
            screen = CircleScreen(circle)
            await app.push_screen(screen)
            await screen.loaded.wait()  # set after the refresh that paints the data
            times.append((time.perf_counter() - start) * 1000)
            stalls.append(watch.stop() * 1000)
            app.pop_screen()
            await pilot.pause()
    return statistics.median(times), max(stalls)


def running_round(home: Path, cid: str) -> str:
    """Start the feedback round of the circle's last meeting (set running first)."""
    from xcircle.services import Services
    from xcircle.store import Store

    with Store(home) as store:
        services = Services(store, lambda: NOW)
        meeting = services.meetings.all(cid)[-1]["id"]
        store.apply([store.op(cid, "meeting", meeting, {"status": "running"})])
        services.rounds.start(cid, meeting)
    return meeting


async def round_tick(home: Path, cid: str, meeting: str, runs: int = 30) -> tuple[float, float]:
    """Median ms of one countdown tick on the round screen: the old tick (the whole round
    state, then the clock) and the new one (`RoundScreen.tick`: one timer read)."""
    from screens.app import make_app
    from screens.round import RoundScreen

    app = make_app(home, clock=lambda: NOW)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        screen = RoundScreen(cid, meeting)
        await app.push_screen(screen)
        await pilot.pause()
        rounds = app.services.rounds

        def old_tick() -> None:
            state = rounds.state(cid, meeting)
            if state["started"]:
                screen.show_clock(state)

        figures = []
        for tick in (old_tick, screen.tick):
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                tick()
                times.append((time.perf_counter() - start) * 1000)
            figures.append(statistics.median(times))
    return figures[0], figures[1]


async def merge_stall(home: Path, cid: str, ops: int = 5000) -> tuple[float, float, float]:
    """A pulled page of `ops` check-ins merged by a worker thread while the app runs:
    ms the merge takes, and the longest event-loop stall when each store call goes to the
    UI thread (`call_from_thread`, as before) and through the store's lock (as now)."""
    import threading
    from functools import partial

    from screens.app import make_app

    app = make_app(home, clock=lambda: NOW)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()
        store = app.store
        goal = store.records(cid, "goal")[0]["id"]
        member = store.records(cid, "member")[0]["id"]
        stalls, took = [], 0.0
        for n, via_ui in enumerate((True, False)):
            cursor = 10_000_000 * (n + 1)
            page = [
                store.op(cid, "checkin", None, {
                    "goal": goal, "member": member, "progress": i % 101,
                    "confidence": 3, "note": "pulled", "at": NOW.isoformat(),
                })
                for i in range(ops)
            ]  # fmt: skip
            payloads = [(op.id, op.to_bytes()) for op in page]
            merge = partial(store.apply_pulled, cid, payloads, cursor)
            done = threading.Event()

            def work(
                merge: partial[object] = merge,
                via_ui: bool = via_ui,
                done: threading.Event = done,
            ) -> None:
                nonlocal took
                start = time.perf_counter()
                if via_ui:
                    app.call_from_thread(merge)
                else:
                    store.atomically(merge)
                took = (time.perf_counter() - start) * 1000
                done.set()

            await pilot.pause()
            watch = StallWatch(asyncio.get_running_loop())
            threading.Thread(target=work).start()
            while not done.is_set():
                await asyncio.sleep(0.001)
            stalls.append(watch.stop() * 1000)
            await pilot.pause()
    return took, stalls[0], stalls[1]


def follow_figures(tmp: Path) -> None:
    """Print the figures of screens following the data (see the module docstring)."""
    base = {"members": 8, "meetings": 20, "goals": 50, "checkins": 200}
    for feedback in (5_000, 20_000):
        home = tmp / f"round-{feedback}"
        (cid,) = build_home(home, 1, {**base, "feedback": feedback})
        meeting = running_round(home, cid)
        old, new = asyncio.run(round_tick(home, cid, meeting))
        print(
            f"round countdown tick, {feedback // 1000}k feedback: "
            f"{old:7.2f} ms as it was (whole state) → {new:5.2f} ms (timer read)"
        )
    home = tmp / "merge"
    (cid,) = build_home(home, 1, {**base, "feedback": 5_000})
    took, via_ui, via_lock = asyncio.run(merge_stall(home, cid))
    print(f"a 5,000-op pulled page merges in {took:.0f} ms (worker, through the store's lock)")
    print("  longest event-loop stall meanwhile:")
    print(f"    {via_ui:5.0f} ms with every store call sent to the UI thread (before)")
    print(f"    {via_lock:5.0f} ms through the store's lock (now)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--follow", action="store_true", help="only the follow figures")
    args = parser.parse_args()
    if args.bare:
        bare_app(args.bare)
        return
    if args.follow:
        with tempfile.TemporaryDirectory() as tmp:
            follow_figures(Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        demo, large, big = Path(tmp) / "demo", Path(tmp) / "large", Path(tmp) / "big"
        t = time.perf_counter()
        build_demo(demo)
        per = {"members": 6, "meetings": 10, "goals": 40, "checkins": 200, "feedback": 160}
        build_home(large, 50, per)
        big_per = {
            "members": 8, "meetings": 100, "goals": 300, "checkins": 1500,
            "feedback": 1500, "pulses": 800,
        }  # fmt: skip
        (cid,) = build_home(big, 1, big_per)
        print(f"homes built in {time.perf_counter() - t:.1f} s")
        app = ["-m", "screens.app", "--headless", "--home"]
        commands = {
            "bare Textual app + DataTable": [__file__, "--bare", "MARKER"],
            "demo home": [*app, str(demo)],
            "large home (50 circles, 20k)": [*app, str(large)],
            # What a member types: the console script's entry (`xcircle --home DIR`).
            "large home via `xcircle`": ["-m", "xcircle", "--home", str(large)],
        }
        compile_project()
        times = startups(commands, args.runs)
        opened, stall = asyncio.run(open_circle(big, cid, args.runs))
    bare = statistics.median(times["bare Textual app + DataTable"])
    print(f"start-up (median of {args.runs}, min in brackets):")
    for name, values in times.items():
        median, best = statistics.median(values), min(values)
        ratio = "" if name.startswith("bare") else f"  {median / bare:.2f}× bare"
        print(f"  {name:<30}: {median * 1000:5.0f} ms ({best * 1000:4.0f}){ratio}")
    print(f"open a circle of 5k records           : {opened:6.0f} ms  (target < 150 ms)")
    print(f"longest event-loop stall while opening: {stall:6.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        follow_figures(Path(tmp))


if __name__ == "__main__":
    main()
