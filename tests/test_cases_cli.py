"""Work between meetings, plus/delta and amendments from the CLI: every command with
--json, the whole flows, and bad input as one line with nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import test_cli
from tests.test_cli import Run, js, one_error_line
from xcircle.store import Store

# The CLI fixtures of test_cli: a home, `run`, and a circle "Leaders" with a kick-off.
home, run, circle = test_cli.home, test_cli.run, test_cli.circle

DAY = "2099-12-01"


@pytest.fixture
def written(run: Run, circle: str) -> str:
    """Ada's open case "Team churn" with Bob's question; the kick-off started. Returns
    the case's id."""
    case = js(run("case", "open", "lead", "Team churn", "--text", "Two left.", "--json"))
    run("case", "reply", "Team", "--kind", "question", "--giver", "Bob", "What changed?")
    run("meeting", "start", DAY)
    return str(case["id"])


COMMANDS = [
    ["case", "open", "lead", "Saying no", "--text", "Too many asks", "--protocol", "peer-forum"],
    ["case", "reply", "Team", "--kind", "support", "--giver", "Bob", "You saw it early"],
    ["case", "close", "Team", "--reflection", "I listen less", "--commitment", "Ask weekly"],
    ["case", "list", "lead"],
    ["case", "show", "Team"],
    ["agreement", "amend", "lead", "Confid", "--text", "Lessons, never names", "--reason", "x"],
    ["agreement", "history", "lead", "Confid"],
    ["agreement", "ack", "lead"],
    ["plusdelta", "add", DAY, "--plus", "On time", "--delta", "More silence"],
    ["plusdelta", "show", DAY],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:3]))
def test_every_command_prints_one_json_value(run: Run, written: str, args: list[str]) -> None:
    result = run(*args, "--json")
    assert isinstance(js(result), dict | list)
    assert result.stderr == ""


def test_consent_and_object_print_one_json_value(run: Run, written: str) -> None:
    run("member", "add", "lead", "Cy Young", "--org", "Gamma")
    amended = js(run("agreement", "amend", "lead", "Commit", "--title", "Showing up", "--json"))
    consent = js(run("agreement", "consent", amended["id"][:8], "--member", "Bob", "--json"))
    assert consent["status"] == "open" and consent["waiting"] == ["Cy Young"]
    objected = js(
        run(
            "agreement",
            "object",
            amended["id"][:8],
            "--member",
            "Cy",
            "--note",
            "Commitment says more",
            "--json",
        )
    )
    assert objected["status"] == "objected"
    titles = [a["title"] for a in js(run("agreement", "list", "lead", "--json"))]
    assert "Commitment" in titles and "Showing up" not in titles


def test_a_written_round_closes_into_a_commitment_the_next_meeting_reviews(
    run: Run, written: str
) -> None:
    run("meeting", "close", DAY)
    closed = js(
        run(
            "case",
            "close",
            "Team",
            "--reflection",
            "I stopped asking",
            "--commitment",
            "Hold a retro",
            "--due",
            "2099-12-20",
            "--json",
        )
    )
    assert closed["status"] == "closed" and closed["commitment_text"] == "Hold a retro"
    shown = run("case", "show", "Team").stdout
    assert "[question] Bob Stone: What changed?" in shown and "Commitment: Hold a retro" in shown
    run("meeting", "plan", "lead", "--at", "2099-12-15T18:00")
    run("meeting", "start", "2099-12-15")
    reviewed = js(run("commitment", "review", "Hold", "kept", "--json"))
    assert reviewed["id"] == closed["commitment"] and reviewed["status"] == "kept"
    assert reviewed["case"] == closed["id"]


def test_a_protocol_limits_the_kinds_of_answers(run: Run, written: str) -> None:
    run("case", "open", "lead", "Quiet team", "--protocol", "action-learning")
    result = run("case", "reply", "Quiet", "--kind", "advice", "--giver", "Bob", "Try X", code=1)
    assert "this case takes question, not 'advice'" in one_error_line(result)
    run("case", "reply", "Quiet", "--kind", "question", "--giver", "Bob", "Since when?")


def test_an_agreed_amendment_is_a_new_version_and_asks_for_acknowledgements(
    run: Run, written: str
) -> None:
    run("agreement", "ack", "lead")
    run("agreement", "ack", "lead", "--member", "Bob")
    assert js(run("agreement", "ack", "lead", "--json"))["pending"] == []
    run("agreement", "amend", "lead", "Confid", "--text", "Lessons, never names")
    # Proposing was Ada's consent: a second one is refused, one line.
    assert "answered already" in one_error_line(run("agreement", "consent", "Confid", code=1))
    agreed = run("agreement", "consent", "Confid", "--member", "Bob").stdout
    assert "new version" in agreed
    history = js(run("agreement", "history", "lead", "Confid", "--json"))
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert history["text"] == "Lessons, never names"
    listed = {a["title"]: a for a in js(run("agreement", "list", "lead", "--json"))}
    assert listed["Confidentiality"]["version"] == 2
    pending = js(run("agreement", "ack", "lead", "--json"))["pending"]
    assert pending == ["Bob Stone"]  # everyone was asked again; Ada just acknowledged


def test_plus_delta_reaches_the_minutes(run: Run, written: str) -> None:
    run("plusdelta", "add", DAY, "--plus", "Everyone spoke", "--delta", "Start on time")
    run("meeting", "close", DAY)
    run("plusdelta", "add", DAY, "--delta", "Fewer slides", "--member", "Bob")
    minutes = run("meeting", "minutes", DAY).stdout
    assert "- Plus: Everyone spoke" in minutes
    assert "- Delta: Start on time" in minutes and "- Delta: Fewer slides" in minutes
    assert "Δ Fewer slides (Bob Stone)" in run("plusdelta", "show", DAY).stdout


# -- bad input: one line on stderr, exit 1, nothing lost ----------------------------------

ERRORS = {
    "case in no circle": (["case", "open", "nope", "X"], "no circle matches 'nope'"),
    "case without title": (["case", "open", "lead", " "], "the case's title cannot be empty"),
    "unknown protocol": (["case", "open", "lead", "X", "--protocol", "chaos"], "chaos"),
    "control character": (["case", "open", "lead", "A\x1b[2Jb"], "not allowed here"),
    "no such case": (["case", "reply", "zzz", "--kind", "question", "Hm"], "no case matches"),
    "presenter replies": (
        ["case", "reply", "Team", "--kind", "question", "Me?"],
        "the presenter listens",
    ),
    "unknown kind": (
        ["case", "reply", "Team", "--kind", "praise", "--giver", "Bob", "Yay"],
        "this case takes",
    ),
    "empty answer": (
        ["case", "reply", "Team", "--kind", "question", "--giver", "Bob", " "],
        "the answer cannot be empty",
    ),
    "answer a closed case": (
        ["case", "reply", "Old", "--kind", "advice", "--giver", "Bob", "Late"],
        "the case 'Old one' is closed",
    ),
    "close a closed case": (
        ["case", "close", "Old", "--reflection", "x", "--commitment", "y"],
        "is closed",
    ),
    "bad due date": (
        ["case", "close", "Churn", "--reflection", "x", "--commitment", "y", "--due", "soon"],
        "is not a date",
    ),
    "empty commitment": (
        ["case", "close", "Churn", "--reflection", "x", "--commitment", " "],
        "closing a case takes a commitment",
    ),
    "show no case": (["case", "show", "zzz"], "no case matches"),
    "list no circle": (["case", "list", "nope"], "no circle matches"),
    "amend nothing new": (
        [
            "agreement",
            "amend",
            "lead",
            "Confid",
            "--text",
            "What is said in the circle stays in the circle. We share lessons, never stories.",
        ],
        "the amendment changes nothing",
    ),
    "amend no agreement": (
        ["agreement", "amend", "lead", "zzz", "--text", "x"],
        "no agreement matches",
    ),
    "amend twice": (
        ["agreement", "amend", "lead", "Balancing", "--text", "y"],
        "has an open amendment already",
    ),
    "consent twice": (["agreement", "consent", "Balancing"], "has answered already"),
    "consent unknown": (["agreement", "consent", "zzz"], "no amendment matches"),
    "object unknown member": (
        ["agreement", "object", "Balancing", "--note", "x", "--member", "Zed"],
        "no member matches 'Zed'",
    ),
    "object without words": (
        ["agreement", "object", "Balancing", "--note", " ", "--member", "Bob"],
        "an objection says what it objects to",
    ),
    "history no agreement": (["agreement", "history", "lead", "zzz"], "no agreement matches"),
    "plusdelta planned": (
        ["plusdelta", "add", "2099-12-29", "--plus", "x"],
        "a plus/delta ends a meeting that was held",
    ),
    "plusdelta empty": (["plusdelta", "add", DAY, "--plus", " "], "say what worked"),
    "plusdelta no meeting": (["plusdelta", "show", "2001-01-01"], "no meeting matches"),
}


@pytest.mark.parametrize("name", ERRORS)
def test_bad_input_is_one_line_and_nothing_is_lost(
    run: Run, written: str, home: Path, name: str
) -> None:
    run("case", "open", "lead", "Churn again", "--text", "mine")
    run("case", "open", "lead", "Old one")
    run("case", "close", "Old", "--reflection", "Done", "--commitment", "Rest")
    run("agreement", "amend", "lead", "Balancing", "--text", "y", "--reason", "shorter")
    run("meeting", "plan", "lead", "--at", "2099-12-29T18:00")
    before = [
        run("case", "list", "lead", "--json").stdout,
        run("agreement", "history", "lead", "Balancing", "--json").stdout,
        run("plusdelta", "show", DAY, "--json").stdout,
        run("circle", "show", "lead", "--json").stdout,
    ]
    args, message = ERRORS[name]
    result = run(*args, code=1)
    assert message in one_error_line(result)
    assert result.stdout == ""
    Store(home).close()  # the lock was released
    after = [
        run("case", "list", "lead", "--json").stdout,
        run("agreement", "history", "lead", "Balancing", "--json").stdout,
        run("plusdelta", "show", DAY, "--json").stdout,
        run("circle", "show", "lead", "--json").stdout,
    ]
    assert after == before


def test_only_the_presenter_closes_a_case(run: Run, written: str, home: Path) -> None:
    """Bob's case, as it arrives by sync: Ada may answer it, not close it."""
    with Store(home) as store:
        cid = store.circle_ids()[0]
        bob = next(m["id"] for m in store.records(cid, "member") if m["name"] == "Bob Stone")
        fields = {
            "presenter": bob,
            "title": "Bob's case",
            "status": "open",
            "opened": "2099-11-30T10:00:00+00:00",
            "protocol": "classic",
        }
        store.apply([store.op(cid, "case", "b" * 32, fields)])
    result = run("case", "close", "Bob", "--reflection", "x", "--commitment", "y", code=1)
    assert "only the case's presenter can close it" in one_error_line(result)
    run("case", "reply", "Bob", "--kind", "challenge", "Is it yours to carry?")
    assert js(run("case", "show", "Bob", "--json"))["status"] == "open"


def test_usage_errors_exit_2(run: Run, written: str) -> None:
    assert "--kind" in run("case", "reply", "Team", "Hm", code=2).stderr
    assert "--reflection" in run("case", "close", "Team", "--commitment", "x", code=2).stderr
    assert "--text, a new --title, or both" in run("agreement", "amend", "lead", "C", code=2).stderr
    assert "--note" in run("agreement", "object", "x", code=2).stderr
    assert "MEETING" in run("plusdelta", "add", code=2).stderr
