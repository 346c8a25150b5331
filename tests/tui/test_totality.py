"""Every screen is total over every schema-valid state (issue 9).

Ops merge per field, so a peer's op can leave any record half set, point at records
that do not exist (or were deleted), or hold indexes out of range (`peer: 64` in a round
of 4). Hypothesis builds homes from random schema-valid op sets, then the app opens
every screen over them with Pilot: it must never exit, and it shows what it can.

`XCIRCLE_TOTALITY_EXAMPLES` sets how many homes (default: a few dozen).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.screen import Screen

from screens.circle import TABS, CircleScreen
from screens.goals import GoalDetailScreen, GoalsScreen
from screens.meeting import MeetingScreen
from screens.round import RoundScreen
from tests.tui.conftest import SIZE, make_test_app
from xcircle.domain import (
    COMMITMENT_STATUSES,
    FEEDBACK_KINDS,
    FREQUENCIES,
    GOAL_STATUSES,
    MEETING_STATUSES,
    MODES,
    PHASES,
    SENIORITIES,
    validate_fields,
)
from xcircle.ops import new_id
from xcircle.store import Store

EXAMPLES = int(os.environ.get("XCIRCLE_TOTALITY_EXAMPLES", "20"))

CIRCLE = "c" * 32
KEYS = [f"{i:032x}" for i in range(1, 7)]  # a small pool: references hit and miss
ref = st.sampled_from([*KEYS, new_id()])
when = st.sampled_from(
    ["2026-11-23T10:00:00+00:00", "2099-12-31T23:59:59-12:00", "1970-01-01T00:00:00+14:00"]
)
day = st.sampled_from(["2026-12-01", "1900-01-01", "9999-12-31"])


def texts(max_len: int) -> st.SearchStrategy[str]:
    """Short text, empty text, or text at the schema's maximum length."""
    return st.one_of(
        st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]), max_size=12),
        st.just("W" * max_len),
        st.just("[b]markup[/b] [link=x]y[/link]"),
    )


def text_lists(items: int, max_len: int) -> st.SearchStrategy[list[str]]:
    return st.lists(texts(max_len), max_size=3) | st.just(["x" * max_len] * items)


FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "circle": {"name": texts(120).filter(lambda t: t.strip() != ""), "purpose": texts(2000),
               "outcomes": text_lists(50, 500), "frequency": st.sampled_from(FREQUENCIES),
               "duration": st.integers(15, 480), "mode": st.sampled_from(MODES),
               "archived": st.booleans(), "created": when},
    "agreement": {"title": st.just("Be kind"), "text": texts(1000),
                  "position": st.integers(0, 999)},
    "member": {"name": st.just("W" * 120) | st.just("Bo"), "org": st.just("O" * 120),
               "seniority": st.none() | st.sampled_from(SENIORITIES),
               "topics": text_lists(20, 80), "joined": when},
    "meeting": {"at": when, "tz": st.sampled_from(["", "Europe/Paris", "Mars/Base"]),
                "duration": st.integers(15, 480), "themes": text_lists(20, 200),
                "facilitator": st.none() | ref, "status": st.sampled_from(MEETING_STATUSES),
                "notes": texts(20000), "kickoff": st.booleans(), "step": st.integers(0, 10)},
    "attendance": {"meeting": ref, "member": ref, "present": st.booleans()},
    "ack": {"member": ref, "meeting": st.none() | ref, "at": when},
    "goal": {"title": st.just("T" * 200), "why": texts(2000), "measure": texts(1000),
             "due": st.none() | day, "status": st.sampled_from(GOAL_STATUSES),
             "owner": st.none() | ref, "created": when},
    "checkin": {"goal": ref, "member": st.none() | ref, "progress": st.integers(0, 100),
                "confidence": st.none() | st.integers(1, 5), "note": texts(4000), "at": when},
    "commitment": {"owner": ref, "text": st.just("C" * 1000), "due": st.none() | day,
                   "status": st.sampled_from(COMMITMENT_STATUSES), "meeting": st.none() | ref,
                   "reviewed_in": st.none() | ref, "note": texts(1000), "created": when},
    "pulse": {"meeting": ref, "member": ref, "support": st.integers(1, 5),
              "confidence": st.integers(1, 5), "learning": st.integers(1, 5)},
    "round": {"order": st.lists(ref, max_size=64), "order_reason": texts(500),
              "turn": st.integers(0, 64), "phase": st.sampled_from(PHASES),
              "peer": st.integers(0, 64), "elapsed": st.integers(0, 86_400),
              "started_at": st.none() | st.integers(0, 10**14), "paused": st.booleans(),
              "timeboxes": st.dictionaries(st.sampled_from(PHASES), st.integers(10, 7200)),
              "done": st.booleans()},
    "turn": {"meeting": ref, "presenter": ref, "challenge": texts(2000),
             "reflection": texts(4000)},
    "feedback": {"meeting": ref, "presenter": ref, "giver": ref,
                 "kind": st.sampled_from(FEEDBACK_KINDS), "text": st.just("F" * 4000),
                 "at": when},
}  # fmt: skip


@st.composite
def ops(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """One schema-valid op: any entity, any subset of its fields, or a delete."""
    entity = draw(st.sampled_from(sorted(FIELDS)))
    key = CIRCLE if entity == "circle" else draw(ref)
    if draw(st.integers(0, 9)) == 0:
        return entity, key, {"_deleted": True}
    names = draw(st.lists(st.sampled_from(sorted(FIELDS[entity])), min_size=1, unique=True))
    fields = {name: draw(FIELDS[entity][name]) for name in names}
    validate_fields(entity, fields)  # the strategies stay schema-valid
    return entity, key, fields


@st.composite
def homes(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "ops": draw(st.lists(ops(), max_size=40)),
        # A thousand records where a handful is usual, in one home out of four.
        "bulk": draw(st.sampled_from([None] * 12 + ["member", "feedback", "checkin", "meeting"])),
        "me": draw(st.none() | ref),
        "named": draw(st.integers(0, 9)) > 0,  # mostly a circle the home lists
    }


AT = "2026-11-23T10:00:00+00:00"
BULK: dict[str, dict[str, Any]] = {
    "member": {"name": "Many", "org": "Org"},
    "feedback": {"meeting": KEYS[0], "presenter": KEYS[1], "giver": KEYS[2],
                 "kind": "advice", "text": "ok", "at": AT},
    "checkin": {"goal": KEYS[0], "progress": 50},
    "meeting": {"at": AT, "status": "closed"},
}  # fmt: skip


def build(home: Path, spec: dict[str, Any]) -> None:
    with Store(home) as store:
        store.save_profile(name="Ada", org="Acme", seniority=None, tz="")
        store.create_circle(CIRCLE)
        made = [store.op(CIRCLE, "circle", CIRCLE, {"name": "Circle"})] if spec["named"] else []
        made += [store.op(CIRCLE, e, k, f) for e, k, f in spec["ops"]]
        if spec["bulk"]:  # a thousand records where a handful is usual
            entity = spec["bulk"]
            base = BULK[entity]
            made += [store.op(CIRCLE, entity, new_id(), dict(base)) for _ in range(1000)]
        store.apply(made, local=False)
        if spec["me"]:
            store.set_meta(CIRCLE, me=spec["me"])


async def open_every_screen(home: Path) -> None:
    """Open every screen a member can reach: the circle (each tab) if it is listed,
    each of its meetings and rounds, the goals and each goal's detail."""
    app = make_test_app(home)
    svc = app.services
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screens: list[Screen[None]] = [GoalsScreen()]
        if CIRCLE in svc.circles.ids():
            screens += [CircleScreen(CIRCLE, tab=tab) for tab in TABS]
            for m in svc.meetings.all(CIRCLE)[:2]:
                screens += [MeetingScreen(CIRCLE, m["id"]), RoundScreen(CIRCLE, m["id"])]
            screens += [GoalDetailScreen(CIRCLE, g["id"]) for g in svc.goals.all(CIRCLE)[:2]]
        for screen in screens:
            await app.push_screen(screen)
            await pilot.pause()
            await pilot.press("n")  # advance a round or agenda where there is one
            await pilot.pause()
            assert app.is_running, f"the app exited on {type(screen).__name__}"
            while len(app.screen_stack) > 1:
                await app.pop_screen()
            await pilot.pause()
    assert app.return_code in (None, 0)
    assert app._exception is None, app._exception


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(homes())
def test_every_screen_opens_over_any_schema_valid_home(spec: dict[str, Any]) -> None:
    base = Path(tempfile.mkdtemp(prefix="xcircle-total-"))
    try:
        build(base / "home", spec)
        asyncio.run(open_every_screen(base / "home"))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_round_with_peer_out_of_range_opens(tmp_path: Path) -> None:
    """The report's case: `peer: 64` in a round of 4 (an IndexError that closed the app)."""
    spec = {
        "ops": [
            ("member", k, {"name": f"M{i}", "org": "O"}) for i, k in enumerate(KEYS[:4])
        ] + [
            ("meeting", KEYS[0], {"at": "2026-11-23T10:00:00+00:00", "status": "running"}),
            ("round", KEYS[0], {"order": KEYS[:4], "turn": 1, "phase": "feedback", "peer": 64,
                                "elapsed": 0, "paused": True, "done": False}),
        ],
        "bulk": None,
        "me": KEYS[0],
        "named": True,
    }  # fmt: skip
    build(tmp_path / "home", spec)
    asyncio.run(open_every_screen(tmp_path / "home"))
