"""Reads are total for work between meetings and agreements that evolve: over any set of
schema-valid ops (cases, answers, plus/delta, amendments, consents, mixed with the
rest, referencing records that exist or not), the Cases tab, the overview, the
agreement view, the after-close dialog and the minutes open without an error."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.screen import Screen

from screens.amendments import AgreementScreen
from screens.circle import CircleScreen
from screens.meeting_close import AfterCloseScreen
from tests.tui import test_totality as total
from tests.tui.conftest import SIZE, make_test_app
from xcircle.domain import CASE_STATUSES, FEEDBACK_KINDS, PLUSDELTA_KINDS, validate_fields

ref, when, texts = total.ref, total.when, total.texts
MINE: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "case": {
        "presenter": ref,
        "title": st.just("A" * 200),
        "text": texts(4000),
        "protocol": st.sampled_from(["", "classic", "peer-forum", "gone-template"]),
        "status": st.sampled_from(CASE_STATUSES),
        "opened": when,
        "closed": st.none() | when,
        "reflection": texts(4000),
        "commitment": st.none() | ref,
    },
    "case_reply": {
        "case": ref,
        "giver": ref,
        "kind": st.sampled_from(FEEDBACK_KINDS),
        "text": st.just("R" * 4000),
        "at": when,
    },
    "plusdelta": {
        "meeting": ref,
        "member": st.none() | ref,
        "kind": st.sampled_from(PLUSDELTA_KINDS),
        "text": st.just("P" * 1000),
        "at": when,
    },
    "amendment": {
        "agreement": ref,
        "title": st.just("T" * 120),
        "text": texts(1000),
        "reason": texts(1000),
        "proposer": ref,
        "voters": st.lists(ref, max_size=6),
        "proposed": when,
    },
    "consent": {
        "amendment": ref,
        "member": ref,
        "consent": st.booleans(),
        "note": texts(500),
        "at": when,
    },
}
FIELDS = {**total.FIELDS, **MINE}


@st.composite
def ops(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """One schema-valid op, mostly of this area's entities."""
    pool = sorted(MINE) * 3 + ["agreement", "member", "meeting", "commitment", "ack"]
    entity = draw(st.sampled_from(pool))
    key = draw(ref)
    if draw(st.integers(0, 9)) == 0:
        return entity, key, {"_deleted": True}
    names = draw(st.lists(st.sampled_from(sorted(FIELDS[entity])), min_size=1, unique=True))
    fields = {name: draw(FIELDS[entity][name]) for name in names}
    validate_fields(entity, fields)
    return entity, key, fields


@st.composite
def homes(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "ops": draw(st.lists(ops(), max_size=40)),
        "bulk": None,
        "me": draw(st.none() | ref),
        "named": True,
    }


async def open_screens(home: Path) -> None:
    app = make_test_app(home)
    svc = app.services
    c = total.CIRCLE
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screens: list[Screen[Any]] = [CircleScreen(c, tab="cases"), CircleScreen(c)]
        screens += [AgreementScreen(c, a["id"]) for a in svc.circles.agreements(c)[:2]]
        for m in svc.meetings.all(c)[:2]:
            screens.append(AfterCloseScreen(c, m["id"]))
            svc.minutes(c, m["id"])
        for case in svc.cases.all(c)[:2]:
            svc.cases.get(c, case.id)
        for screen in screens:
            await app.push_screen(screen)
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.is_running, f"the app exited on {type(screen).__name__}"
            while len(app.screen_stack) > 1:
                await app.pop_screen()
            await pilot.pause()
    assert app._exception is None, app._exception


@settings(
    max_examples=max(5, total.EXAMPLES // 2),  # each example opens six screens
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(homes())
def test_cases_and_amendments_open_over_any_schema_valid_home(spec: dict[str, Any]) -> None:
    base = Path(tempfile.mkdtemp(prefix="xcircle-total-cases-"))
    try:
        total.build(base / "home", spec)
        asyncio.run(open_screens(base / "home"))
    finally:
        shutil.rmtree(base, ignore_errors=True)
