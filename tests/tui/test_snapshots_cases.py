"""SVG snapshots of work between meetings and agreements that evolve: the Cases tab and
its forms, the agreement view with an amendment, its forms, and the plus/delta offered
when a meeting closes.

Deterministic: the seeded demo home, a fixed clock, UTC, ids drawn from a seeded
generator while a case sets up its data, no cursor blink, no animations.
Update with `pytest tests/tui/test_snapshots_cases.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from screens.meeting_close import AfterCloseScreen
from tests.tui.conftest import SIZE, make_test_app, settle
from xcircle.ops import deterministic_ids
from xcircle.services import Services

SnapCompare = Callable[..., bool]
Setup = Callable[[Pilot[Any]], Awaitable[None]]
OPEN_LEADING = ("down", "enter")


def svc_of(pilot: Pilot[Any]) -> Services:
    services: Services = pilot.app.services  # type: ignore[attr-defined]
    return services


def written_rounds(pilot: Pilot[Any]) -> None:
    """Two cases in Leading Through Change: mine, closed with answers; a peer's, open."""
    svc = svc_of(pilot)
    cid = svc.circles.resolve("Leading")
    priya, grace = svc.members.resolve(cid, "Priya"), svc.members.resolve(cid, "Grace")
    with deterministic_ids(5):
        mine = svc.cases.open(cid, "Too many meetings", text="My week is meetings; when do I lead?")
        svc.cases.reply(cid, mine.id, "question", "Which one would you drop first?", giver=priya)
        svc.cases.reply(cid, mine.id, "support", "You saw it before burning out.", giver=grace)
        svc.cases.close(
            cid,
            mine.id,
            reflection="I keep meetings out of habit, not need.",
            commitment="Drop the Monday sync",
            due="2026-12-01",
        )
        key = "c" * 32
        svc.ctx.commit(
            [
                svc.ctx.op(
                    cid,
                    "case",
                    key,
                    presenter=priya,
                    title="My deputy wants my job",
                    text="How do I support her without stepping aside too early?",
                    protocol="action-learning",
                    status="open",
                    opened="2026-11-23T11:00:00+00:00",
                    closed=None,
                    reflection="",
                    commitment=None,
                )
            ]
        )


def my_open_case(pilot: Pilot[Any]) -> None:
    svc = svc_of(pilot)
    cid = svc.circles.resolve("Leading")
    priya = svc.members.resolve(cid, "Priya")
    with deterministic_ids(7):
        mine = svc.cases.open(cid, "Too many meetings", text="When do I lead?")
        svc.cases.reply(cid, mine.id, "question", "Which one would you drop first?", giver=priya)


def amendment(pilot: Pilot[Any]) -> None:
    """An open amendment to Confidentiality: the proposer's consent and Tomás's."""
    svc = svc_of(pilot)
    cid = svc.circles.resolve("Leading")
    agreement = svc.circles.agreements(cid)[0]["id"]
    tomas = svc.members.resolve(cid, "Tomás")
    with deterministic_ids(6):
        view = svc.amendments.propose(
            cid, agreement, text="We share lessons, never names.", reason="Clearer for guests"
        )
        svc.amendments.vote(cid, view.id, True, note="Yes, and teams too", member=tomas)


def keys(*pressed: str, before: Callable[[Pilot[Any]], None] | None = None) -> Setup:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        if before is not None:
            before(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run_before


async def after_close(pilot: Pilot[Any]) -> None:
    await settle(pilot)
    svc = svc_of(pilot)
    cid = svc.circles.resolve("Leading")
    with deterministic_ids(8):
        meeting = svc.meetings.plan(cid, datetime(2026, 11, 24, 18, 0, tzinfo=UTC))["id"]
        svc.meetings.start(cid, meeting)
        svc.meetings.close(cid, meeting)
        svc.plusdelta.add(
            cid, meeting, plus=["Tight timeboxes", "Everyone spoke"], delta=["Start on time"]
        )
    await pilot.app.push_screen(AfterCloseScreen(cid, meeting))
    await settle(pilot)


CASES: dict[str, Setup] = {
    "cases_tab_empty": keys(*OPEN_LEADING, "6"),
    "cases_tab": keys(*OPEN_LEADING, "6", before=written_rounds),
    "cases_tab_closed": keys(*OPEN_LEADING, "6", "down", before=written_rounds),
    "form_open_case": keys(*OPEN_LEADING, "6", "a"),
    "form_reply_case": keys(*OPEN_LEADING, "6", "r", before=written_rounds),
    "form_close_case": keys(*OPEN_LEADING, "6", "c", before=lambda p: my_open_case(p)),
    "agreement_view": keys(*OPEN_LEADING, "h", before=amendment),
    "form_amendment": keys(*OPEN_LEADING, "h", "m"),
    "form_objection": keys(*OPEN_LEADING, "h", "o", before=amendment),
    "circle_overview_amendment": keys(*OPEN_LEADING, before=amendment),
    "after_close_plusdelta": after_close,
    "form_plusdelta": lambda pilot: _plusdelta_form(pilot),
}


async def _plusdelta_form(pilot: Pilot[Any]) -> None:
    await after_close(pilot)
    await pilot.press("f")
    await settle(pilot)


@pytest.mark.parametrize("case", list(CASES))
def test_screen(case: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=SIZE, run_before=CASES[case])
