"""Work between meetings and agreements that evolve, across two homes through the real
exchange (in process): a written round opened on one home, answered on the other,
closed and reviewed at the next meeting; an amendment decided by consent on both
homes, asking everyone to acknowledge again; receivers refusing forged decisions."""

from __future__ import annotations

from datetime import UTC, datetime

from xcircle.errors import InvalidInput

from .conftest import MakeDevice
from .helpers import pair
from .test_e2e import encrypted_pair

NEXT_WEEK = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)


def test_a_written_round_opened_answered_closed_and_reviewed_across_two_homes(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = pair(make_device)
    case = ada.services.cases.open(cid, "A team that stopped talking", text="What would you do?")
    ada.sync()
    bob.sync()
    # Bob answers offline on his own home, with a kind the protocol allows.
    seen = bob.services.cases.get(cid, case.id)
    assert seen.title == "A team that stopped talking" and seen.status == "open"
    bob.services.cases.reply(cid, case.id, "question", "What changed last month?")
    bob.services.cases.reply(cid, case.id, "support", "You noticed early: that matters.")
    bob.sync()
    ada.sync()
    answers = ada.services.cases.get(cid, case.id).replies
    assert [(r.giver_name, r.kind) for r in answers] == [("bob", "question"), ("bob", "support")]
    closed = ada.services.cases.close(
        cid, case.id, reflection="I stopped asking.", commitment="Hold a team retro", due=None
    )
    ada.sync()
    bob.sync()
    on_bob = bob.services.cases.get(cid, case.id)
    assert on_bob.status == "closed" and on_bob.reflection == "I stopped asking."
    assert on_bob.commitment_text == "Hold a team retro"
    # The next meeting reviews the commitment, and the review reaches the other home.
    meeting = ada.services.meetings.plan(cid, NEXT_WEEK)["id"]
    ada.services.meetings.start(cid, meeting)
    due = ada.services.commitments.to_review(cid, meeting)
    assert [c["id"] for c in due] == [closed.commitment]
    assert due[0]["case"] == case.id
    ada.services.commitments.review(cid, closed.commitment or "", "kept", meeting=meeting)
    ada.sync()
    bob.sync()
    reviewed = bob.services.commitments.get(cid, closed.commitment or "")
    assert (reviewed["status"], reviewed["reviewed_in"]) == ("kept", meeting)


def test_an_answer_to_a_closed_case_is_refused_and_nothing_is_lost(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = pair(make_device)
    case = ada.services.cases.open(cid, "Delegation")
    ada.sync()
    bob.sync()
    bob.services.cases.reply(cid, case.id, "advice", "Start small.")
    ada.services.cases.close(cid, case.id, reflection="Yes.", commitment="Delegate one thing")
    ada.sync()
    bob.sync()
    try:
        bob.services.cases.reply(cid, case.id, "advice", "Too late?")
    except InvalidInput as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("an answer to a closed case was taken")
    bob.sync()
    ada.sync()
    # Bob's answer given before he saw the close still arrives (it was given offline).
    assert [r.text for r in ada.services.cases.get(cid, case.id).replies] == ["Start small."]


def test_an_agreed_amendment_makes_a_version_and_asks_everyone_to_acknowledge_again(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = pair(make_device)
    bob.sync()
    a_me, b_me = ada.store.meta(cid)["me"], bob.store.meta(cid)["me"]
    ada.services.meetings.acknowledge(cid, a_me)
    bob.services.meetings.acknowledge(cid, b_me)
    bob.sync()
    ada.sync()
    assert ada.services.meetings.acknowledged(cid) == {a_me, b_me}
    confidentiality = ada.services.circles.agreements(cid)[0]
    amendment = ada.services.amendments.propose(
        cid, confidentiality["id"], text="We share lessons, never names.", reason="clearer"
    )
    assert amendment.status == "open" and amendment.waiting == ("bob",)
    ada.sync()
    bob.sync()
    # Nothing changes until everyone consents.
    assert bob.services.circles.agreements(cid)[0]["text"] == confidentiality["text"]
    assert bob.services.amendments.vote(cid, amendment.id, True).status == "agreed"
    bob.sync()
    ada.sync()
    for dev in (ada, bob):
        current = dev.services.circles.agreements(cid)[0]
        assert (current["text"], current["version"]) == ("We share lessons, never names.", 2)
        history = dev.services.amendments.history(cid, confidentiality["id"])
        assert [v.text for v in history.versions] == [
            confidentiality["text"],
            "We share lessons, never names.",
        ]
        assert dev.services.meetings.acknowledged(cid) == set()  # asked again
    bob.services.meetings.acknowledge(cid, b_me)
    bob.sync()
    ada.sync()
    assert ada.services.meetings.acknowledged(cid) == {b_me}


def test_an_objection_on_another_home_blocks_the_amendment(make_device: MakeDevice) -> None:
    ada, bob, cid = pair(make_device)
    bob.sync()
    agreement = ada.services.circles.agreements(cid)[1]
    amendment = ada.services.amendments.propose(cid, agreement["id"], title="Attendance")
    ada.sync()
    bob.sync()
    bob.services.amendments.vote(cid, amendment.id, False, note="the old title says more")
    bob.sync()
    ada.sync()
    assert ada.services.amendments.get(cid, amendment.id).status == "objected"
    assert ada.services.circles.agreements(cid)[1]["title"] == agreement["title"]


def test_receivers_refuse_a_members_amendment_and_a_consent_given_for_someone_else(
    make_device: MakeDevice,
) -> None:
    """Bob (a member) runs a modified client: he proposes an amendment and consents in
    Ada's name. Ada's device checks the signed ops (sync.e2e.Trust) and sets them aside."""
    ada, bob, cid = encrypted_pair(make_device)
    a_me = ada.store.meta(cid)["me"]
    agreement = ada.services.circles.agreements(cid)[0]["id"]
    proposal = bob.store.op(
        cid,
        "amendment",
        "ab" * 16,
        {"agreement": agreement, "title": "Nothing", "text": "", "voters": [a_me]},
    )
    forged = bob.store.op(
        cid,
        "consent",
        None,
        {"amendment": "ab" * 16, "member": a_me, "consent": True, "at": NEXT_WEEK.isoformat()},
    )
    bob.store.apply([proposal, forged])  # past the services' own checks
    bob.sync()
    report = ada.sync()
    reasons = dict(report.circles[cid].quarantined)
    assert reasons[proposal.id] == "only a convener may amend agreements"
    assert reasons[forged.id] == "a member consents or objects only for themselves"
    assert ada.services.circles.agreements(cid)[0]["title"] != "Nothing"


def test_an_encrypted_circle_takes_a_conveners_amendment_and_a_members_own_consent(
    make_device: MakeDevice,
) -> None:
    ada, bob, cid = encrypted_pair(make_device)
    agreement = ada.services.circles.agreements(cid)[2]["id"]
    amendment = ada.services.amendments.propose(cid, agreement, text="We give as we take.")
    ada.sync()
    assert bob.sync().circles[cid].quarantined == []
    bob.services.amendments.vote(cid, amendment.id, True, note="Shorter, yes")
    bob.sync()
    report = ada.sync()
    assert report.circles[cid].quarantined == []
    assert ada.services.amendments.get(cid, amendment.id).status == "agreed"
    assert ada.services.circles.agreements(cid)[2]["text"] == "We give as we take."
