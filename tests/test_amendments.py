"""Amendments decided by consent: the decision rule, its independence from the order ops
arrive in, versions, and acknowledgements asked again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xcircle.errors import InvalidInput
from xcircle.services import Services
from xcircle.services.amendments import decide
from xcircle.store import Store

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
VOTERS = ["a" * 32, "b" * 32, "c" * 32]


def vote(member: str, consent: bool, stamp: str, op: str) -> dict[str, object]:
    return {"id": op, "member": member, "consent": consent, "stamp": stamp}


votes = st.lists(
    st.builds(
        vote,
        st.sampled_from([*VOTERS, "d" * 32]),
        st.booleans(),
        st.sampled_from(["1", "2", "3", "4"]),
        st.sampled_from(["u", "v", "w", "x", "y", "z"]),
    ),
    max_size=6,
    unique_by=lambda v: v["id"],  # records are keyed by their op's id: one per id
)


@given(votes, st.randoms())
def test_the_decision_is_the_same_in_any_order(given_votes: list, rnd: object) -> None:
    amendment = {"voters": VOTERS}
    live = set(VOTERS)
    shuffled = list(given_votes)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert decide(amendment, shuffled, live) == decide(amendment, given_votes, live)


def test_first_answer_counts_and_one_objection_blocks() -> None:
    a, b, c = VOTERS
    amendment = {"voters": VOTERS}
    live = set(VOTERS)
    assert decide(amendment, [vote(a, True, "1", "x")], live) == ("open", "")
    agreed = [vote(a, True, "1", "x"), vote(b, True, "3", "y"), vote(c, True, "2", "z")]
    assert decide(amendment, agreed, live) == ("agreed", "3")
    # b objected first (another device of b's consented later): b's first answer counts.
    blocked = [*agreed, vote(b, False, "0", "w")]
    assert decide(amendment, blocked, live) == ("objected", "0")
    # Someone who was not asked does not count; a voter who left no longer needs to.
    outsider = [vote(a, True, "1", "x"), vote("d" * 32, False, "1", "q")]
    assert decide(amendment, outsider, live) == ("open", "")
    assert decide(amendment, outsider, {a}) == ("agreed", "1")


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Services]:
    with Store(tmp_path / "home") as store:
        services = Services(store, clock=lambda: NOW)
        services.init_profile("Ada", "Acme")
        yield services


def test_versions_and_a_later_direct_edit(svc: Services) -> None:
    cid = svc.circles.create("Leaders")["id"]
    bob = svc.members.add(cid, "Bob", org="Beta")["id"]
    first = svc.circles.agreements(cid)[0]
    amendment = svc.amendments.propose(cid, first["id"], text="Version two")
    assert svc.circles.agreements(cid)[0]["version"] == 1  # not yet agreed
    svc.amendments.vote(cid, amendment.id, True, member=bob)
    now = svc.circles.agreements(cid)[0]
    assert (now["text"], now["version"]) == ("Version two", 2)
    third = svc.amendments.propose(cid, first["id"], text="Version three")
    svc.amendments.vote(cid, third.id, True, member=bob)
    history = svc.amendments.history(cid, first["id"])
    assert [v.text for v in history.versions] == [first["text"], "Version two", "Version three"]
    # A convener's direct edit after the amendments corrects the current wording.
    svc.circles.set_agreement(cid, first["title"], "Typo fixed", first["id"])
    assert svc.circles.agreements(cid)[0]["text"] == "Typo fixed"


def test_acknowledgements_are_asked_again_only_by_an_agreed_amendment(svc: Services) -> None:
    cid = svc.circles.create("Leaders")["id"]
    me = svc.ctx.me(cid)
    assert me is not None
    bob = svc.members.add(cid, "Bob", org="Beta")["id"]
    svc.meetings.acknowledge(cid, me)
    svc.meetings.acknowledge(cid, bob)
    agreement = svc.circles.agreements(cid)[1]["id"]
    objected = svc.amendments.propose(cid, agreement, title="Attendance")
    svc.amendments.vote(cid, objected.id, False, note="No", member=bob)
    assert svc.meetings.acknowledged(cid) == {me, bob}  # nothing changed
    agreed = svc.amendments.propose(cid, agreement, title="Showing up")
    svc.amendments.vote(cid, agreed.id, True, member=bob)
    assert svc.meetings.acknowledged(cid) == set()
    svc.meetings.acknowledge(cid, bob)
    assert svc.meetings.acknowledged(cid) == {bob}


def test_only_a_convener_proposes_and_members_answer_once(svc: Services) -> None:
    cid = svc.circles.create("Leaders")["id"]
    me = svc.ctx.me(cid)
    bob = svc.members.add(cid, "Bob", org="Beta")["id"]
    agreement = svc.circles.agreements(cid)[0]["id"]
    proposal = svc.amendments.propose(cid, agreement, text="New")
    with pytest.raises(InvalidInput, match="answered already"):
        svc.amendments.vote(cid, proposal.id, True)
    late = svc.members.add(cid, "Cy", org="Gamma")["id"]
    with pytest.raises(InvalidInput, match="only the members asked"):
        svc.amendments.vote(cid, proposal.id, True, member=late)
    svc.members.set_role(cid, bob, "convener")
    assert me is not None
    svc.members.set_role(cid, me, "member")
    with pytest.raises(InvalidInput, match="only a convener"):
        svc.amendments.propose(cid, svc.circles.agreements(cid)[1]["id"], text="Mine")
