"""Round protocols, issue cards, airtime, check rounds and open agendas, through the
services: each protocol's script (phases, who speaks, accepted kinds), the template
validation (line + field), cards driving the proposal, airtime feeding the rotation,
and a hypothesis proof that any sequence of moves keeps the round valid and resumable."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import NOW
from xcircle import protocols
from xcircle.domain import FEEDBACK_KINDS
from xcircle.errors import InvalidInput
from xcircle.protocols import SPEAKERS, Protocol, TemplateError, parse_toml
from xcircle.services import Services
from xcircle.store import Store


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now

    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


def circle_of(svc: Services, n: int = 4) -> tuple[str, list[str]]:
    cid = svc.circles.create("Leaders")["id"]
    for i in range(n - 1):
        svc.members.add(cid, f"Peer {i}", org="Acme")
    return cid, [m["id"] for m in svc.members.all(cid)]


def running(svc: Services, cid: str, protocol: str | None = None, days: int = 1) -> str:
    mid = svc.meetings.plan(cid, NOW + timedelta(days=days), protocol=protocol)["id"]
    svc.meetings.start(cid, mid)
    return str(mid)


# -- the built-ins -------------------------------------------------------------------------


@pytest.mark.parametrize("proto", protocols.BUILT_INS, ids=lambda p: p.name)
def test_every_built_in_is_a_well_formed_script(proto: Protocol) -> None:
    ids = [p.id for p in proto.phases]
    assert len(ids) == len(set(ids)) and proto.phases
    for phase in proto.phases:
        assert phase.prompt and phase.title and phase.speakers in SPEAKERS
        assert 10 <= phase.timebox <= 7200
        assert set(phase.kinds) <= set(FEEDBACK_KINDS)
        assert not (phase.speakers == "presenter" and phase.kinds)  # the presenter speaks
    assert proto.kinds, "a protocol where nobody can say anything is no round"


def test_the_built_ins_say_what_the_issue_asks() -> None:
    get = protocols.builtin
    ci, forum, al, troika, kb, oa = (
        get(n) for n in ("critical-incident", "peer-forum", "action-learning", "troika",
                         "kollegiale-beratung", "open-agenda")
    )  # fmt: skip
    assert ci and forum and al and troika and kb and oa
    assert [p.kinds for p in ci.phases[1:3]] == [("question",), ("challenge", "support")]
    assert forum.kinds == ("experience",)  # experience only, no advice
    assert al.kinds == ("question",)  # questions only
    consult = troika.phase("consult")
    assert consult.presenter_silent and consult.speakers == "peers"  # turned away
    assert kb.roles == ("case giver", "moderator", "secretary", "consultants")
    assert "brainstorm" in kb.phase("method").methods and kb.phase("method").presenter_silent
    assert oa.agenda and protocols.default().name == "classic"


# -- custom templates ------------------------------------------------------------------------

TEMPLATE = """\
name = "fishbowl"
title = "Fishbowl"
roles = ["inner circle", "outer circle"]

[[phase]]
id = "frame"
title = "Frame"
prompt = "Name the question for the bowl."
seconds = 90

[[phase]]
id = "bowl"
title = "The bowl talks"
prompt = "Inner circle: talk. Outer circle: listen."
minutes = 6
speakers = "peers"
presenter_silent = true
kinds = ["observation", "idea"]
"""


def test_a_template_parses_into_a_protocol() -> None:
    proto = parse_toml(TEMPLATE)
    assert proto.name == "fishbowl" and proto.source == "circle" and proto.strict
    assert [(p.id, p.timebox, p.speakers) for p in proto.phases] == [
        ("frame", 90, "presenter"),
        ("bowl", 360, "peers"),
    ]
    assert proto.kinds == ("idea", "observation")


BAD = [
    ("name = 'x'\n[[phase]\n", 2, "", "not valid TOML"),
    (TEMPLATE.replace('name = "fishbowl"', 'name = "Fish Bowl"'), 1, "name", "lower-case"),
    (TEMPLATE.replace('title = "Fishbowl"\n', ""), 0, "title", "is required"),
    (TEMPLATE.replace("seconds = 90", "seconds = 5"), 9, "phase[1].seconds", "between 10"),
    (TEMPLATE.replace("seconds = 90", 'seconds = "90"'), 9, "phase[1].seconds", "a number"),
    (TEMPLATE.replace("seconds = 90", "seconds = 90\nminutes = 2"), 9, "phase[1].seconds",
     "not both"),
    (TEMPLATE.replace('"observation", "idea"', '"praise"'), 18, "phase[2].kinds",
     "not a feedback kind"),
    (TEMPLATE.replace("presenter_silent = true", "presenter_silent = 1"), 17,
     "phase[2].presenter_silent", "true or false"),
    (TEMPLATE.replace('id = "bowl"', 'id = "frame"'), 12, "phase[2].id", "two phases"),
    (TEMPLATE.replace('roles = ["inner', 'colour = "red"\nroles = ["inner'), 3, "colour",
     "unknown field"),
    (TEMPLATE.replace("seconds = 90", "seconds = 90\nspeaker = 'peers'"), 10,
     "phase[1].speaker", "unknown field"),
    (TEMPLATE.replace('speakers = "peers"', 'speakers = "presenter"'), 18, "phase[2].kinds",
     "only the presenter speaks"),
    ('name = "empty"\ntitle = "Empty"\n', 0, "phase", "at least one [[phase]]"),
    (TEMPLATE.replace("Name the question", "Name\\u001b[2J the question"), 8,
     "phase[1].prompt", "plain characters"),
]  # fmt: skip


@pytest.mark.parametrize(("toml", "line", "field", "words"), BAD)
def test_a_bad_template_names_its_line_and_field(
    toml: str, line: int, field: str, words: str
) -> None:
    with pytest.raises(TemplateError) as err:
        parse_toml(toml)
    assert err.value.line == line and err.value.field == field, str(err.value)
    assert words in str(err.value)
    assert str(err.value).startswith(f"line {line}: " if line else field or "")


def test_a_circle_template_syncs_as_one_op_and_never_shadows_a_built_in(svc: Services) -> None:
    cid, _ = circle_of(svc)
    before = len(svc.store.outbox(cid))
    svc.protocols.add(cid, TEMPLATE)
    outbox = svc.store.outbox(cid)
    assert len(outbox) == before + 1 and outbox[-1].entity == "protocol"
    assert outbox[-1].key == "fishbowl" and outbox[-1].fields["toml"] == TEMPLATE
    assert [p.name for p in svc.protocols.all(cid)][-1] == "fishbowl"
    with pytest.raises(InvalidInput, match="built-in"):
        svc.protocols.add(cid, TEMPLATE.replace("fishbowl", "classic"))


def test_a_pulled_template_that_does_not_parse_is_left_out(svc: Services) -> None:
    cid, _ = circle_of(svc)
    svc.ctx.commit([svc.ctx.op(cid, "protocol", "broken", name="broken", toml="name = [")])
    assert [p.name for p in svc.protocols.all(cid)] == [p.name for p in protocols.BUILT_INS]
    mid = svc.meetings.plan(cid, NOW + timedelta(days=1))["id"]
    svc.ctx.commit([svc.ctx.op(cid, "meeting", mid, protocol="broken")])
    assert svc.rounds.protocol(cid, mid).name == "classic"  # reads as the default


# -- the round follows its protocol ----------------------------------------------------------


def walk(svc: Services, cid: str, mid: str) -> list[tuple[int, str, str | None]]:
    """(turn, phase, peer in turn) for every step of the round until it is done."""
    steps = []
    state = svc.rounds.state(cid, mid)
    while not state["done"]:
        steps.append((state["turn"], state["phase"], state["peer"]))
        state = svc.rounds.advance(cid, mid)
    return steps


@pytest.mark.parametrize("proto", protocols.BUILT_INS, ids=lambda p: p.name)
def test_the_round_walks_the_protocols_phases(svc: Services, proto: Protocol) -> None:
    cid, members = circle_of(svc, 3)
    mid = running(svc, cid, proto.name)
    order = svc.rounds.start(cid, mid)["order"]
    if proto.agenda:  # nobody proposed a topic: the rotation's members
        assert sorted(order) == sorted(members)
    expected = []
    for turn in range(len(order)):
        peers = [*order[turn + 1 :], *order[:turn]]
        for phase in proto.phases:
            for peer in peers if phase.per_peer else [None]:
                expected.append((turn, phase.id, peer))
    assert walk(svc, cid, mid) == expected
    # Back from done returns to the last phase of the last turn.
    assert svc.rounds.back(cid, mid)["phase"] == proto.phases[-1].id


@pytest.mark.parametrize("proto", protocols.BUILT_INS, ids=lambda p: p.name)
def test_each_phase_shows_its_prompt_speakers_and_takes_only_its_kinds(
    svc: Services, proto: Protocol
) -> None:
    cid, _ = circle_of(svc, 3)
    mid = running(svc, cid, proto.name)
    order = svc.rounds.start(cid, mid)["order"]
    presenter, giver = order[0], order[1]
    for phase in proto.phases:
        view = svc.rounds.view(cid, mid)
        assert (view.phase, view.prompt, view.who) == (phase.id, phase.prompt, phase.who())
        assert view.kinds == phase.kinds and view.presenter_silent == phase.presenter_silent
        accepted = phase.kinds if proto.strict else proto.kinds
        assert view.accepted == accepted
        for kind in FEEDBACK_KINDS:
            if kind in accepted:
                svc.rounds.feedback(cid, mid, presenter, giver, kind, f"{kind} in {phase.id}")
            else:
                with pytest.raises(InvalidInput) as err:
                    svc.rounds.feedback(cid, mid, presenter, giver, kind, "refused")
                assert err.value.field == "kind"
        steps = len(order) - 1 if phase.per_peer else 1
        for _ in range(steps):
            svc.rounds.advance(cid, mid)
    said = {f["text"] for f in svc.rounds.feedback_for(cid, mid, presenter)}
    assert "refused" not in said


def test_outside_the_turn_any_kind_of_the_protocol_is_recorded(svc: Services) -> None:
    cid, _ = circle_of(svc, 3)
    mid = running(svc, cid, "peer-forum")
    order = svc.rounds.start(cid, mid)["order"]
    # Turn 0 is in its first phase (the presenter speaks); the next presenter's turn
    # has not come: a scribe may write down an experience for them already.
    svc.rounds.feedback(cid, mid, order[1], order[0], "experience", "When I led…")
    with pytest.raises(InvalidInput, match="takes experience, not advice"):
        svc.rounds.feedback(cid, mid, order[1], order[0], "advice", "You should…")
    with pytest.raises(InvalidInput, match="takes no feedback: the presenter speaks"):
        svc.rounds.feedback(cid, mid, order[0], order[1], "experience", "Too early")


def test_the_method_phase_takes_a_chosen_method(svc: Services) -> None:
    cid, _ = circle_of(svc, 3)
    mid = running(svc, cid, "kollegiale-beratung")
    assert svc.rounds.start(cid, mid, method="headline")["method"] == ""  # not in phase yet
    for _ in range(3):
        svc.rounds.advance(cid, mid)
    assert svc.rounds.view(cid, mid).method == "headline"
    assert svc.rounds.set_method(cid, mid, "hypotheses")["method"] == "hypotheses"
    with pytest.raises(InvalidInput, match="no method 'dance'") as err:
        svc.rounds.set_method(cid, mid, "dance")
    assert err.value.field == "method"


def test_start_protocol_overrides_the_meetings_and_budget_follows_it(svc: Services) -> None:
    cid, _ = circle_of(svc, 4)
    mid = running(svc, cid, "troika")
    assert svc.rounds.budget(cid, mid).turn == protocols.builtin("troika").turn_seconds(3)  # type: ignore[union-attr]
    svc.rounds.start(cid, mid, protocol="action-learning")
    assert svc.rounds.view(cid, mid).protocol == "action-learning"
    assert set(svc.rounds.budget(cid, mid).timeboxes) == {"problem", "questions", "reflect"}
    with pytest.raises(InvalidInput, match="no phase 'present'"):
        svc.rounds.set_timeboxes(cid, mid, {"present": 60})


# -- issue cards ----------------------------------------------------------------------------


def test_cards_drive_the_presenter_proposal(svc: Services) -> None:
    cid, members = circle_of(svc, 4)
    mid = svc.meetings.plan(cid, NOW + timedelta(days=1))["id"]
    assert svc.rounds.derived_order(cid, mid) == members  # the rotation: join order
    svc.cards.add(cid, "Team split", "Who decides?", "C", member=members[1])
    svc.cards.add(cid, "Board meeting", "How to say no?", "A", member=members[3])
    b = svc.cards.add(cid, "Hiring", "Who first?", "b", member=members[2])
    assert svc.rounds.derived_order(cid, mid) == [members[3], members[2], members[1], members[0]]
    svc.cards.withdraw(cid, b["id"])
    assert svc.rounds.derived_order(cid, mid) == [members[3], members[1], members[0], members[2]]


def test_the_presenters_card_is_on_screen_and_marked_presented_after_the_turn(
    svc: Services,
) -> None:
    cid, members = circle_of(svc, 3)
    card = svc.cards.add(cid, "Board meeting", "How to say no?", "A", want="questions",
                         not_want="war stories", member=members[2])  # fmt: skip
    mid = running(svc, cid)
    svc.rounds.start(cid, mid)
    view = svc.rounds.view(cid, mid)
    assert view.presenter == members[2] and view.card and view.card["id"] == card["id"]
    while svc.rounds.view(cid, mid).turn == 0:
        svc.rounds.advance(cid, mid)
    presented = svc.store.get(cid, "card", card["id"])
    assert presented and presented["status"] == "presented" and presented["meeting"] == mid
    assert svc.cards.all(cid) == []  # no longer proposed
    assert svc.cards.for_turn(cid, mid, members[2])["id"] == card["id"]  # type: ignore[index]


def test_card_input_errors_name_their_field(svc: Services) -> None:
    cid, members = circle_of(svc, 2)
    cases = [
        (dict(situation="", question="Q", urgency="A"), "situation"),
        (dict(situation="S", question=" ", urgency="A"), "question"),
        (dict(situation="S", question="Q", urgency="Z"), "urgency"),
        (dict(situation="S", question="Q", urgency="A", want="x" * 1001), "want"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInput) as err:
            svc.cards.add(cid, **kwargs)  # type: ignore[arg-type]
        assert err.value.field == field
    svc.store.save_profile(node="another-device")
    other = svc.cards.add(cid, "S", "Q", "B", member=members[1])
    svc.store.save_profile(node="this-device")
    with pytest.raises(InvalidInput, match="only whoever"):
        svc.cards.withdraw(cid, other["id"])


# -- airtime -------------------------------------------------------------------------------


def test_airtime_counts_turns_time_and_feedback_and_moves_the_rotation(
    store: Store,
) -> None:
    clock = Clock()
    svc = Services(store, clock=clock)
    svc.init_profile("Ada Lovelace", "Acme")
    cid, members = circle_of(svc, 3)
    mid = running(svc, cid)
    order = svc.rounds.start(cid, mid)["order"]
    assert order == members
    clock.tick(200)  # present
    svc.rounds.advance(cid, mid)
    clock.tick(100)  # questions
    svc.rounds.advance(cid, mid)
    svc.rounds.feedback(cid, mid, members[0], members[1], "advice", "Try")
    clock.tick(90)  # feedback: peer 1
    svc.rounds.advance(cid, mid)
    clock.tick(30)  # feedback: peer 2
    svc.rounds.advance(cid, mid)
    svc.rounds.advance(cid, mid)  # reflect, 0 s
    svc.rounds.advance(cid, mid)  # commit -> turn 2
    view = svc.airtime.view(cid)
    rows = {r.member: r for r in view.rows}
    assert (rows[members[0]].turns, rows[members[0]].presenting) == (1, 420)
    assert (rows[members[1]].giving, rows[members[1]].feedback) == (90, 1)
    assert rows[members[2]].giving == 30
    assert rows[members[1]].turns == 1  # in the hot seat now
    assert rows[members[0]].share == 100 and view.rounds == 1
    svc.meetings.close(cid, mid)
    # Next meeting: members[0] presented first last time and goes last; members[1] is
    # in the hot seat with 0 s credited yet, like members[2]: join order decides.
    nxt = running(svc, cid, days=8)
    assert svc.rounds.derived_order(cid, nxt) == [members[1], members[2], members[0]]


def test_airtime_breaks_ties_of_the_rotation(svc: Services) -> None:
    cid, members = circle_of(svc, 3)
    mid = running(svc, cid)
    svc.rounds.start(cid, mid)
    # As if members[1] had been in the hot seat for 10 minutes in this meeting.
    svc.ctx.commit([svc.ctx.op(cid, "round", mid, presented={members[1]: 600})])
    svc.meetings.close(cid, mid)
    nxt = running(svc, cid, days=8)
    assert svc.rounds.derived_order(cid, nxt) == [members[2], members[1], members[0]]


# -- check rounds and open agendas ------------------------------------------------------------


def test_check_rounds_are_optional_timed_and_in_the_rounds_order(store: Store) -> None:
    clock = Clock()
    svc = Services(store, clock=clock)
    svc.init_profile("Ada Lovelace", "Acme")
    cid, members = circle_of(svc, 3)
    mid = running(svc, cid, "peer-forum")
    with pytest.raises(InvalidInput, match="no check-in round"):
        svc.checkrounds.start(cid, mid, "in")
    assert svc.checkrounds.configure(cid, checkin=True, checkout=True) == {"in": True, "out": True}
    state = svc.checkrounds.start(cid, mid, "in")
    assert state.order == tuple(svc.rounds.derived_order(cid, mid))
    assert state.timebox == 180  # the peer forum's per-peer phase
    clock.tick(200)
    assert svc.checkrounds.view(cid, mid, "in").remaining == -20
    svc.checkrounds.say(cid, mid, "in", members[0], score=7, sentence="Tired but here")
    with pytest.raises(InvalidInput) as err:
        svc.checkrounds.say(cid, mid, "in", members[1], score=11)
    assert err.value.field == "score"
    with pytest.raises(InvalidInput, match="one word"):
        svc.checkrounds.say(cid, mid, "out", members[1], word="two words")
    for _ in members:
        state = svc.checkrounds.advance(cid, mid, "in")
    assert state.done and [c["score"] for c in state.said] == [7]
    svc.checkrounds.say(cid, mid, "out", members[2], word="lighter", takeaway="Ask first")
    assert svc.checkrounds.view(cid, mid, "out").said[0]["word"] == "lighter"


def test_an_open_agenda_walks_the_topics_chosen_by_vote(svc: Services) -> None:
    cid, members = circle_of(svc, 4)
    mid = running(svc, cid, "open-agenda")
    svc.topics.propose(cid, mid, "Remote onboarding", members[0])
    svc.topics.propose(cid, mid, "Saying no to the board", members[1])
    svc.topics.propose(cid, mid, "Hiring seniors", members[2])
    svc.topics.vote(cid, mid, [members[1], members[2]], members[0])
    svc.topics.vote(cid, mid, [members[1]], members[3])
    with pytest.raises(InvalidInput, match="at most 3"):
        svc.topics.vote(cid, mid, members[:4], members[2])
    with pytest.raises(InvalidInput, match="only for a proposed topic"):
        svc.topics.vote(cid, mid, [members[3]], members[2])
    board = svc.topics.board(cid, mid)
    assert [(t.member, t.votes) for t in board] == [(members[1], 2), (members[2], 1),
                                                    (members[0], 0)]  # fmt: skip
    state = svc.rounds.start(cid, mid)
    assert state["order"] == [members[1], members[2]]  # the chosen topics, most votes first
    assert svc.rounds.view(cid, mid).topic == "Saying no to the board"


# -- any sequence of moves keeps the round valid and resumable ----------------------------------

templates = st.builds(
    lambda phases, strict: Protocol(
        "generated",
        "Generated",
        "",
        tuple(
            protocols.Phase(
                f"p{i}",
                f"P{i}",
                "Go.",
                box,
                speakers,
                silent,
                () if speakers == "presenter" else tuple(kinds),
            )
            for i, (box, speakers, silent, kinds) in enumerate(phases)
        ),
        strict=strict,
        source="circle",
    ),
    st.lists(
        st.tuples(
            st.integers(10, 7200),
            st.sampled_from(SPEAKERS),
            st.booleans(),
            st.sets(st.sampled_from(FEEDBACK_KINDS), max_size=3),
        ),
        min_size=1,
        max_size=6,
    ),
    st.booleans(),
)
moves = st.lists(
    st.one_of(
        st.sampled_from(["advance", "back", "pause", "resume", "toggle"]),
        st.tuples(st.just("tick"), st.integers(0, 900)),
        st.tuples(st.just("reorder"), st.randoms(use_true_random=False)),
        st.tuples(st.just("feedback"), st.sampled_from(FEEDBACK_KINDS)),
    ),
    max_size=30,
)


def template_toml(proto: Protocol) -> str:
    lines = [
        f'name = "{proto.name}"',
        f'title = "{proto.title}"',
        f"strict = {str(proto.strict).lower()}",
    ]
    for p in proto.phases:
        kinds = ", ".join(f'"{k}"' for k in p.kinds)
        silent = str(p.presenter_silent).lower()
        lines += ["[[phase]]", f'id = "{p.id}"', f'title = "{p.title}"', f'prompt = "{p.prompt}"',
                  f"seconds = {p.timebox}", f'speakers = "{p.speakers}"',
                  f"presenter_silent = {silent}", f"kinds = [{kinds}]"]  # fmt: skip
    return "\n".join(lines) + "\n"


def check_valid(svc: Services, cid: str, mid: str, proto: Protocol) -> None:
    v = svc.rounds.view(cid, mid)
    assert v.started and 0 <= v.turn < len(v.order) and v.presenter == v.order[v.turn]
    assert v.phase in [p.id for p in proto.phases] and v.phase_index == proto.index(v.phase)
    phase = proto.phase(v.phase)
    assert v.peers == tuple([*v.order[v.turn + 1 :], *v.order[: v.turn]])
    assert 0 <= v.peer_index < max(len(v.peers), 1)
    assert v.peer == (v.peers[v.peer_index] if phase.per_peer and v.peers else None)
    assert v.remaining == v.timebox - v.elapsed and v.elapsed >= 0
    assert set(v.accepted) <= set(proto.kinds) and v.prompt == phase.prompt


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.sampled_from(protocols.BUILT_INS), templates), moves, st.integers(2, 5))
def test_any_moves_keep_the_round_valid_and_it_resumes_after_a_restart(
    proto: Protocol, script: list[object], size: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        clock = Clock()
        store = Store(home)
        svc = Services(store, clock=clock)
        svc.init_profile("Ada Lovelace", "Acme")
        cid, _ = circle_of(svc, size)
        if proto.source == "circle":
            proto = svc.protocols.add(cid, template_toml(proto))
        mid = running(svc, cid, proto.name)
        svc.rounds.start(cid, mid)
        for move in script:
            name = move if isinstance(move, str) else move[0]  # type: ignore[index]
            if name == "advance":
                svc.rounds.advance(cid, mid)
            elif name == "back":
                svc.rounds.back(cid, mid)
            elif name == "pause":
                svc.rounds.pause(cid, mid)
            elif name == "resume":
                svc.rounds.resume(cid, mid)
            elif name == "toggle":
                svc.rounds.toggle_pause(cid, mid)
            elif name == "tick":
                clock.tick(move[1])  # type: ignore[index]
            elif name == "reorder":
                order = list(svc.rounds.view(cid, mid).order)
                move[1].shuffle(order)  # type: ignore[index]
                svc.rounds.reorder(cid, mid, order, "a member must leave early")
            else:
                v = svc.rounds.view(cid, mid)
                giver = v.peer or (v.peers[0] if v.peers else None)
                if v.done or giver is None or move[1] not in v.accepted:  # type: ignore[index]
                    continue
                svc.rounds.feedback(cid, mid, v.presenter or "", giver, move[1], "said")  # type: ignore[index]
            check_valid(svc, cid, mid, proto)
        before = svc.rounds.view(cid, mid)
        store.close()
        reopened = Services(Store(home), clock=clock)
        after = reopened.rounds.view(cid, mid)
        assert after == before
        reopened.store.close()
