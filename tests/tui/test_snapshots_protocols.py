"""SVG snapshots of each protocol's round (its phases, the phase's prompt, who may speak,
the kinds it takes), a presenter's issue card, an open agenda's topic, the check-in
round and its form, and the airtime view. Same determinism as the meeting snapshots.
Update with `pytest tests/tui/test_snapshots_protocols.py --snapshot-update`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from screens.airtime import AirtimeScreen
from screens.checkround import CheckRoundScreen
from screens.round import RoundScreen
from tests.tui.conftest import SIZE, make_test_app, next_meeting, settle
from tests.tui.test_snapshots_meeting import Setup, SnapCompare, svc_of, then_settle
from xcircle import protocols
from xcircle.ops import deterministic_ids

# The phase each protocol's snapshot shows: the first where the peers speak.
PEER_PHASE = {
    p.name: next(i for i, ph in enumerate(p.phases) if ph.speakers != "presenter")
    for p in protocols.BUILT_INS
}


def protocol_round(name: str, *, card: bool = False, topics: bool = False) -> Setup:
    """The Leading circle's next meeting, its round run by protocol `name`, at the first
    phase where the peers speak, with one piece of feedback where the phase takes some."""

    async def setup(pilot: Pilot[Any]) -> None:
        svc = svc_of(pilot)
        circle, meeting = next_meeting(svc, "Leading")
        members = [m["id"] for m in svc.members.all(circle)]
        proto = protocols.builtin(name)
        assert proto is not None
        with deterministic_ids(21):
            if card:
                svc.cards.add(circle, "Two teams merge next month and both leads want the role.",
                              "How do I choose without losing either?", "A",
                              want="questions that widen my view",
                              not_want="stories of your own reorganizations",
                              member=members[2])  # fmt: skip
            svc.meetings.start(circle, meeting, protocol=name)
            if topics:
                svc.topics.propose(circle, meeting, "Saying no to the board", members[1])
                svc.topics.propose(circle, meeting, "Hiring seniors", members[0])
                svc.topics.vote(circle, meeting, [members[1], members[0]], members[2])
                svc.topics.vote(circle, meeting, [members[1]], members[0])
            method = "headline" if name == "kollegiale-beratung" else ""
            state = svc.rounds.start(circle, meeting, method=method)
            presenter, peer = state["order"][0], state["order"][1]
            for _ in range(PEER_PHASE[name]):
                svc.rounds.advance(circle, meeting)
            kinds = proto.phases[PEER_PHASE[name]].kinds
            if kinds:
                svc.rounds.feedback(circle, meeting, presenter, peer, kinds[0], "First thought.")
        await pilot.app.push_screen(RoundScreen(circle, meeting))

    return setup


def checkround(form: bool = False) -> Setup:
    async def setup(pilot: Pilot[Any]) -> None:
        svc = svc_of(pilot)
        circle, meeting = next_meeting(svc, "Leading")
        members = [m["id"] for m in svc.members.all(circle)]
        with deterministic_ids(22):
            svc.checkrounds.configure(circle, checkin=True)
            svc.meetings.start(circle, meeting)
            order = svc.checkrounds.start(circle, meeting, "in").order
            svc.checkrounds.say(circle, meeting, "in", order[0], score=8, sentence="Rested.")
            svc.checkrounds.advance(circle, meeting, "in")
        assert members
        await pilot.app.push_screen(CheckRoundScreen(circle, meeting, "in"))
        if form:
            await settle(pilot)
            await pilot.press("enter")

    return setup


def airtime() -> Setup:
    async def setup(pilot: Pilot[Any]) -> None:
        circle = svc_of(pilot).circles.resolve("Leading")
        await pilot.app.push_screen(AirtimeScreen(circle))

    return setup


CASES: dict[str, Setup] = {
    **{f"round_{p.name}": protocol_round(p.name) for p in protocols.BUILT_INS},
    "round_with_issue_card": protocol_round("critical-incident", card=True),
    "round_open_agenda_topic": protocol_round("open-agenda", topics=True),
    "checkin_round": checkround(),
    "checkin_round_form": checkround(form=True),
    "airtime": airtime(),
}


@pytest.mark.parametrize("case", list(CASES))
def test_screen(case: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=SIZE, run_before=then_settle(CASES[case]))
