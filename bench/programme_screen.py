"""The programme screen's responsiveness: open, step, move and re-form, at 600 and 3,000
participants, with the longest event-loop stall seen during each.

    .venv/bin/python bench/programme_screen.py [--sizes 600 3000]

Each figure is the wall time from the key (or the push) until the screen shows the
result (the worker done, the columns drawn), in-process with Pilot at 120x40. The stall
is the longest gap a 1 ms ticker on the event loop saw meanwhile: the UI's worst
unresponsive moment (the service calls run in a worker thread).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def timed(
    action: Callable[[], Awaitable[object]], settle: Callable[[], Awaitable[None]]
) -> tuple[float, float]:
    """(seconds until settled, longest event-loop gap in seconds) of `action`."""
    longest, running = 0.0, True

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest, last = max(longest, now - last - 0.001), now

    task = asyncio.create_task(ticker())
    start = time.perf_counter()
    await action()
    await settle()
    elapsed = time.perf_counter() - start
    running = False
    await task
    return elapsed, longest


async def measure(size: int) -> dict[str, tuple[float, float]]:
    from screens.app import make_app
    from screens.programme import ProgrammeScreen
    from tests.programme_pools import pool, write_csv
    from xcircle.store import Store

    tmp = Path(tempfile.mkdtemp())
    home = tmp / "home"
    with Store(home) as store:
        store.save_profile(name="Ada", org="Acme", seniority=None, tz="")
    app = make_app(home, clock=lambda: NOW)
    app.animation_level = "none"
    svc = app.services
    svc.programmes.create("Bench")
    svc.programmes.import_csv("bench", write_csv(tmp / "pool.csv", pool(size)))
    svc.programmes.form("bench", seed=1)
    out: dict[str, tuple[float, float]] = {}
    async with app.run_test(size=(120, 40)) as pilot:

        async def settle() -> None:
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()

        await settle()
        out["open"] = await timed(lambda: app.push_screen(ProgrammeScreen("bench")), settle)
        out["step right"] = await timed(lambda: pilot.press("right"), settle)
        out["move (shift+right)"] = await timed(lambda: pilot.press("shift+right"), settle)
        out["lock"] = await timed(lambda: pilot.press("l"), settle)

        async def reform() -> None:
            await pilot.press("r")
            await settle()
            await pilot.press("y")

        out["re-form (after the question)"] = await timed(reform, settle)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[600, 3000])
    args = parser.parse_args()
    os.environ.setdefault("TZ", "UTC")
    for size in args.sizes:
        figures = asyncio.run(measure(size))
        print(f"{size} participants")
        for name, (seconds, stall) in figures.items():
            print(f"  {name:<30} {seconds * 1000:7.0f} ms   longest stall {stall * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
