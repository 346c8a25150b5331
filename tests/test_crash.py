"""Kill a writer with SIGKILL at random moments: nothing it confirmed is ever lost.

The suite kills ~50 times; `XCIRCLE_CRASH_KILLS=1000` makes a long run of it."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xcircle.services import Services
from xcircle.store import Store

CHILD = r"""
import sys
import xcircle.storage as storage
storage.MIN_JOURNAL_BYTES_BEFORE_SNAPSHOT = 8192   # snapshot often: crash inside them too
from pathlib import Path
from xcircle.services import Services
from xcircle.store import Store

home, circle, goal, start = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
store = Store(home)
svc = Services(store)
i = start
while True:
    if i % 5 == 0:  # the profile is a database of its own: killed mid-save too
        store.save_profile(bio=f"action {i}")
    else:
        svc.goals.checkin(circle, goal, progress=i % 101, note=f"action {i}")
    sys.stdout.write(f"{i}\n")
    sys.stdout.flush()
    i += 1
"""

KILLS = int(os.environ.get("XCIRCLE_CRASH_KILLS", "50"))


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_at_random_moments_loses_no_confirmed_action(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store(home) as store:
        svc = Services(store)
        svc.init_profile("Ada", "Acme")
        circle = svc.circles.create("Crash circle")["id"]
        goal = svc.goals.add(circle, "Survive")["id"]
    rng = random.Random(1234)
    confirmed: set[int] = set()
    last_profile = -1
    next_start = 0
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for _ in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(home), circle, goal, str(next_start)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        # Let it start and do a random amount of work, then kill it mid-flight, at a
        # random moment after its last confirmation (inside a write, a flush, a snapshot).
        os.set_blocking(child.stdout.fileno(), False)
        deadline = time.monotonic() + 10
        wanted = rng.randint(1, 40)
        buffer = b""
        while buffer.count(b"\n") < wanted and time.monotonic() < deadline:
            chunk = child.stdout.read()
            if chunk:
                buffer += chunk
            elif child.poll() is not None:
                break
            else:
                time.sleep(0.0005 * rng.random())
        time.sleep(0.002 * rng.random())
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        buffer += child.stdout.read() or b""
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL, "the child died on its own"
        done = [int(line) for line in buffer.split(b"\n") if line.strip()]
        confirmed.update(i for i in done if i % 5)
        last_profile = max([i for i in done if i % 5 == 0] + [last_profile])
        next_start = max(done, default=next_start) + 1000  # never reuse a number
        with Store(home) as store:  # always opens
            assert not store.notices
            notes = {c["note"] for c in Services(store).goals.checkins(circle, goal)}
            bio = (store.profile or {}).get("bio", "action -1")
        missing = {i for i in confirmed if f"action {i}" not in notes}
        assert not missing, f"confirmed actions lost: {sorted(missing)[:10]}"
        assert int(bio.split()[1]) >= last_profile, "a confirmed profile save was lost"
    assert len(confirmed) > KILLS
