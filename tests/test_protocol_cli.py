"""The facilitation commands: protocol list/show/add, --protocol on meeting plan and
start, card add/list/withdraw, airtime; each with --json and bad input as one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import test_cli
from tests.test_cli import Run, js, one_error_line
from xcircle import protocols
from xcircle.services import Services
from xcircle.store import open_store

home, run, circle = test_cli.home, test_cli.run, test_cli.circle

DAY = "2099-12-01"

GOOD = """\
name = "quiet-round"
title = "Quiet round"
purpose = "Questions, then silence, then the presenter."

[[phase]]
id = "tell"
title = "Tell"
prompt = "Say it in two minutes."
minutes = 2

[[phase]]
id = "ask"
title = "Ask"
prompt = "One question each."
minutes = 1
speakers = "each-peer"
presenter_silent = true
kinds = ["question"]
"""


def test_protocol_list_names_every_built_in(run: Run, circle: str) -> None:
    listed = js(run("protocol", "list", "--json"))
    assert [p["name"] for p in listed] == [p.name for p in protocols.BUILT_INS]
    text = run("protocol", "list").stdout
    assert "Kollegiale Beratung" in text and "Open agenda" in text


@pytest.mark.parametrize("name", [p.name for p in protocols.BUILT_INS])
def test_protocol_show_gives_phases_speakers_kinds_and_prompts(
    run: Run, circle: str, name: str
) -> None:
    proto = protocols.builtin(name)
    assert proto is not None
    shown = js(run("protocol", "show", name, "--json"))
    assert [p["id"] for p in shown["phases"]] == [p.id for p in proto.phases]
    text = run("protocol", "show", name).stdout
    for phase in proto.phases:
        assert phase.prompt in text and f"Speaks: {phase.who()}" in text


def test_protocol_add_syncs_a_circle_template(run: Run, circle: str, tmp_path: Path) -> None:
    path = tmp_path / "quiet.toml"
    path.write_text(GOOD)
    added = js(run("protocol", "add", "lead", str(path), "--json"))
    assert added["name"] == "quiet-round" and added["source"] == "circle"
    names = [p["name"] for p in js(run("protocol", "list", "lead", "--json"))]
    assert names[-1] == "quiet-round"
    shown = js(run("protocol", "show", "quiet-round", "--json"))
    assert shown["phases"][1]["kinds"] == ["question"]
    # The meeting can be planned with it, and the meeting's round runs it.
    planned = js(run("meeting", "plan", "lead", "--at", "2099-12-08T18:00",
                     "--protocol", "quiet-round", "--json"))  # fmt: skip
    assert planned["protocol"] == "quiet-round"


def test_meeting_start_with_a_protocol(run: Run, circle: str) -> None:
    started = js(run("meeting", "start", DAY, "--protocol", "troika", "--json"))
    assert started["protocol"] == "troika"
    again = run("meeting", "show", DAY, "--json")
    assert js(again)["status"] == "running"


BAD_TEMPLATES = [
    ('name = "x"\ntitle = = 3\n', "line 2: not valid TOML"),
    (GOOD.replace('kinds = ["question"]', 'kinds = ["praise"]'), "line 18: phase[2].kinds:"),
    (GOOD.replace("minutes = 1\n", "minutes = 900\n"), "line 15: phase[2].minutes:"),
    (GOOD.replace('"each-peer"', '"the boss"'), "line 16: phase[2].speakers: must be one of"),
    (GOOD.replace('name = "quiet-round"', 'name = "troika"'), "line 1: name: 'troika' is a"),
    (GOOD.replace('prompt = "Say it in two minutes."\n', ""), "line 5: phase[1].prompt: is requ"),
]


@pytest.mark.parametrize(("toml", "message"), BAD_TEMPLATES)
def test_protocol_add_refuses_a_bad_template_in_one_line(
    run: Run, circle: str, tmp_path: Path, toml: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    line = one_error_line(run("protocol", "add", "lead", str(path), code=1))
    assert message in line, line
    assert [p["name"] for p in js(run("protocol", "list", "lead", "--json"))][-1] == "open-agenda"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["protocol", "show", "speed-dating"], "no protocol 'speed-dating'; choose one of"),
        (["protocol", "add", "lead", "/nonexistent/x.toml"], "cannot read /nonexistent/x.toml"),
        (["meeting", "plan", "lead", "--at", "2099-12-08T18:00", "--protocol", "nope"],
         "no protocol 'nope'"),
        (["meeting", "start", DAY, "--protocol", "nope"], "no protocol 'nope'"),
        (["card", "add", "lead", "--situation", "S", "--question", "Q", "--urgency", "D"],
         "urgency is A (now), B (soon) or C (some day)"),
        (["card", "add", "lead", "--situation", " ", "--question", "Q", "--urgency", "A"],
         "the situation cannot be empty"),
        (["card", "withdraw", "ffff"], "no card matches 'ffff'"),
        (["airtime", "nope"], "no circle"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(run: Run, circle: str, args: list[str], message: str) -> None:
    assert message in one_error_line(run(*args, code=1))


def test_protocol_add_refuses_a_file_that_is_not_text(
    run: Run, circle: str, tmp_path: Path
) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"\xff\xfe\x00name")
    assert "is not UTF-8 text" in one_error_line(run("protocol", "add", "lead", str(path), code=1))


def test_cards_are_added_listed_and_withdrawn(run: Run, circle: str) -> None:
    card = js(run("card", "add", "lead", "--situation", "My team ignores the roadmap",
                  "--question", "How do I get buy-in?", "--want", "questions",
                  "--not-want", "war stories", "--urgency", "b", "--json"))  # fmt: skip
    assert card["urgency"] == "B" and card["status"] == "open" and card["not_want"] == "war stories"
    listed = js(run("card", "list", "lead", "--json"))
    assert [c["id"] for c in listed] == [card["id"]]
    assert "How do I get buy-in?" in run("card", "list", "lead").stdout
    gone = js(run("card", "withdraw", card["id"][:8], "--json"))
    assert gone["status"] == "withdrawn"
    assert js(run("card", "list", "lead", "--json")) == []
    assert [c["status"] for c in js(run("card", "list", "lead", "--all", "--json"))] == [
        "withdrawn"
    ]
    assert "already withdrawn" in one_error_line(run("card", "withdraw", card["id"], code=1))


def test_a_card_puts_its_member_first_in_the_round(run: Run, circle: str, home: Path) -> None:
    run("card", "add", "lead", "--member", "Bob", "--situation", "S", "--question", "Q",
        "--urgency", "A")  # fmt: skip
    run("meeting", "start", DAY)
    with open_store(home) as store:
        svc = Services(store)
        cid = svc.circles.resolve("lead")
        mid = svc.meetings.find(DAY)[1]
        bob = svc.members.resolve(cid, "Bob")
        # The rotation alone puts Ada (who joined first) first; Bob's A card wins.
        assert svc.rounds.derived_order(cid, mid)[0] == bob


def test_airtime_text_and_json(run: Run, circle: str) -> None:
    view = js(run("airtime", "lead", "--json"))
    assert view["rounds"] == 0
    assert {r["name"] for r in view["rows"]} == {"Ada Lovelace", "Bob Stone"}
    assert "a fair share is 0.0 turns each" in run("airtime", "lead").stdout


def test_check_rounds_from_the_cli(run: Run, circle: str) -> None:
    run("meeting", "start", DAY)
    assert "no check-in round" in one_error_line(
        run("checkround", "say", DAY, "--member", "Bob", "--score", "7", code=1)
    )
    assert js(run("checkround", "setup", "lead", "--in", "--out", "--json")) == {
        "circle": circle, "in": True, "out": True,
    }  # fmt: skip
    said = js(run("checkround", "say", DAY, "--member", "Bob", "--score", "7",
                  "--sentence", "Curious", "--json"))  # fmt: skip
    assert (said["score"], said["sentence"]) == (7, "Curious")
    run("checkround", "say", DAY, "--out", "--member", "Ada", "--word", "lighter",
        "--takeaway", "Ask first")  # fmt: skip
    assert "7/10 Curious" in run("checkround", "show", DAY).stdout
    shown = js(run("checkround", "show", DAY, "--out", "--json"))
    assert [c["word"] for c in shown["said"]] == ["lighter"]
    assert "between 1 and 10" in one_error_line(
        run("checkround", "say", DAY, "--member", "Bob", "--score", "0", code=1)
    )
    assert "one word" in one_error_line(
        run("checkround", "say", DAY, "--out", "--member", "Bob", "--word", "a b", code=1)
    )


def test_open_agenda_topics_from_the_cli(run: Run, circle: str) -> None:
    run("meeting", "start", DAY, "--protocol", "open-agenda")
    run("topic", "propose", DAY, "Saying no")
    run("topic", "propose", DAY, "Hiring", "--member", "Bob")
    board = js(run("topic", "vote", DAY, "Bob", "--json"))
    assert [(t["title"], t["votes"]) for t in board] == [("Hiring", 1), ("Saying no", 0)]
    assert "Hiring" in run("topic", "list", DAY).stdout
    assert "no member matches 'Zed'" in one_error_line(run("topic", "vote", DAY, "Zed", code=1))
    assert "the topic cannot be empty" in one_error_line(run("topic", "propose", DAY, " ", code=1))
