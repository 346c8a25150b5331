"""Running a meeting from the CLI: every command of the issue's "scriptable end to end"
block, with --json, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import test_cli
from tests.test_cli import Run, js, one_error_line
from xcircle.cli.profile import THEMES
from xcircle.store import Store

# The CLI fixtures of test_cli: a home, `run`, and a circle "Leaders" with a kick-off.
home, run, circle = test_cli.home, test_cli.run, test_cli.circle

DAY = "2099-12-01"


@pytest.fixture
def meeting(run: Run, circle: str) -> str:
    """The `circle` fixture's kick-off (Ada, Bob), started; returns its id."""
    run("member", "add", "lead", "Cy Young", "--org", "Gamma")
    return str(js(run("meeting", "start", DAY, "--json"))["id"])


# -- each command, --json ---------------------------------------------------------------

COMMANDS = [
    ["meeting", "attend", DAY, "Ada", "Bob"],
    ["meeting", "attend", DAY, "Cy", "--absent"],
    ["feedback", "add", DAY, "--presenter", "Bob", "--giver", "Ada", "--kind", "question", "Why?"],
    ["feedback", "edit", "Earlier", "Rephrased"],
    ["feedback", "edit", "Earlier", "--kind", "support"],
    ["feedback", "remove", "Earlier"],
    ["commitment", "add", DAY, "--owner", "Bob", "Ask twice", "--due", "2099-12-10"],
    ["commitment", "review", "Promise", "kept"],
    ["commitment", "review", "Promise", "renegotiated", "--text", "Smaller", "--due", "2099-12-20"],
    ["commitment", "list", "lead"],
    ["commitment", "due"],
    ["pulse", "add", DAY, "--member", "Bob", "--support", "4", "--confidence", "3",
     "--learning", "5"],
    ["commitment", "edit", "Promise", "--text", "Promise, kept small", "--due", "2099-12-24"],
    ["commitment", "remove", "Promise"],
    ["pulse", "edit", DAY, "--member", "Cy", "--learning", "2"],
    ["pulse", "remove", DAY, "--member", "Cy"],
    ["meeting", "show", DAY],
    ["meeting", "close", DAY],
    ["meeting", "minutes", DAY],
    ["meeting", "budget", DAY],
    ["meeting", "next", "lead"],
    ["journal", "add", "I rush to advice"],
    ["journal", "add", "About the circle", "--circle", "lead"],
    ["journal", "list"],
    ["agreement", "add", "lead", "Feedback in minutes", "We keep the round's words"],
    ["agreement", "list", "lead"],
    ["agreement", "remove", "lead", "Confid"],
]  # fmt: skip


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a[:2] + a[-1:]))
def test_every_meeting_command_prints_one_json_value(
    run: Run, meeting: str, args: list[str]
) -> None:
    run("feedback", "add", DAY, "--presenter", "Bob", "--giver", "Cy", "--kind", "advice",
        "Earlier")  # fmt: skip
    run("commitment", "add", DAY, "--owner", "Bob", "Promise")
    run("pulse", "add", DAY, "--member", "Cy", "--support", "3", "--confidence", "3",
        "--learning", "3")  # fmt: skip
    result = run(*args, "--json")
    assert isinstance(js(result), dict | list)
    assert result.stderr == ""


def test_meeting_start_fixes_the_chosen_facilitator(run: Run, circle: str) -> None:
    started = js(run("meeting", "start", DAY, "--facilitator", "Bob", "--json"))
    names = {m["id"]: m["name"] for m in js(run("member", "list", "lead", "--json"))}
    assert started["status"] == "running" and names[started["facilitator"]] == "Bob Stone"
    run("meeting", "attend", DAY, "Ada")
    assert js(run("meeting", "list", "lead", "--json"))[0]["facilitator"] == started["facilitator"]


def test_feedback_edit_and_remove_leave_tombstones(run: Run, meeting: str, home: Path) -> None:
    first = js(run("feedback", "add", DAY, "--presenter", "Bob", "--giver", "Ada",
                   "--kind", "question", "Wrong field", "--json"))  # fmt: skip
    edited = js(run("feedback", "edit", first["id"][:8], "Right words", "--kind", "challenge",
                    "--json"))  # fmt: skip
    assert (edited["kind"], edited["text"], edited["replaces"]) == (
        "challenge",
        "Right words",
        first["id"],
    )
    run("feedback", "remove", edited["id"])
    shown = js(run("circle", "show", "lead", "--json"))
    assert shown["meetings"][0]["feedback"] == []
    cid = js(run("circle", "list", "--json"))[0]["id"]
    with Store(home) as store:
        removed = {op.key for op in store.outbox(cid) if op.entity == "feedback" and op.is_delete}
    assert removed == {first["id"], edited["id"]}


def test_renegotiation_carries_the_new_commitment_forward(run: Run, meeting: str) -> None:
    made = js(run("commitment", "add", DAY, "--owner", "Bob", "Ask twice", "--json"))
    run("meeting", "close", DAY)
    run("meeting", "plan", "lead", "--at", "2099-12-15T18:00")
    run("meeting", "start", "2099-12-15")
    old = js(run("commitment", "review", "Ask", "renegotiated", "--text", "Email once",
                 "--due", "2099-12-31", "--json"))  # fmt: skip
    assert old["status"] == "renegotiated" and old["id"] == made["id"]
    items = {c["text"]: c for c in js(run("commitment", "list", "lead", "--json"))}
    assert items["Email once"]["replaces"] == made["id"]
    assert items["Email once"]["due"] == "2099-12-31" and items["Email once"]["status"] == "open"


def test_minutes_to_a_private_file(run: Run, meeting: str, tmp_path: Path) -> None:
    run("meeting", "attend", DAY, "Ada", "Bob")
    run("meeting", "close", DAY)
    target = tmp_path / "minutes.md"
    assert js(run("meeting", "minutes", DAY, "-o", str(target), "--json"))["file"] == str(target)
    text = target.read_text()
    assert (
        text.startswith("# Leaders: minutes of") and "Present (2): Ada Lovelace, Bob Stone" in text
    )
    assert target.stat().st_mode & 0o777 == 0o600


def test_the_journal_stays_private(run: Run, circle: str, home: Path) -> None:
    run("journal", "add", "Only mine", "--circle", "lead")
    run("journal", "add", "Loose thought")
    entries = {e["text"]: e["circle"] for e in js(run("journal", "list", "--json"))}
    assert entries == {"Only mine": circle, "Loose thought": None}
    with Store(home) as store:
        for cid in store.circle_ids():
            assert all(op.entity != "reflection" for op in store.outbox(cid))
            assert b"Only mine" not in store.canonical(cid)


def test_setting_an_unknown_theme_fails(run: Run, circle: str) -> None:
    assert "no theme 'nonexistent'" in one_error_line(
        run("setting", "theme", "nonexistent", code=1)
    )
    run("setting", "theme", "nord")
    assert run("setting", "theme").stdout.strip() == "nord"


def test_the_theme_list_is_textuals() -> None:
    from textual.theme import BUILTIN_THEMES

    assert set(THEMES) == set(BUILTIN_THEMES)


# -- bad input: one line on stderr, exit 1 (click's usage errors: exit 2) ----------------

ERRORS = {
    "unknown meeting": (["meeting", "start", "2098-01-01"], "no meeting matches '2098-01-01'"),
    "started twice": (["meeting", "start", DAY], "this meeting is running, not planned"),
    "unknown facilitator": (["meeting", "attend", DAY, "Zed"], "no member matches 'Zed'"),
    "close planned": (["meeting", "close", "2099-12-29"], "only a running meeting can be closed"),
    "reopen running": (["meeting", "reopen", DAY], "this meeting is running, not closed"),
    "empty feedback": (["feedback", "add", DAY, "--presenter", "Bob", "--giver", "Ada",
                        "--kind", "advice", "  "], "the feedback cannot be empty"),
    "own feedback": (["feedback", "add", DAY, "--presenter", "Bob", "--giver", "Bob",
                      "--kind", "advice", "Me"], "does not give feedback to themselves"),
    "unknown feedback": (["feedback", "remove", "nothing"], "no feedback matches 'nothing'"),
    "bad due": (["commitment", "add", DAY, "--owner", "Bob", "X", "--due", "soon"],
                "'soon' is not a date"),
    "renegotiate bare": (["commitment", "review", "Promise", "renegotiated"],
                         "renegotiating takes the new wording"),
    "renegotiate no due": (["commitment", "review", "Promise", "renegotiated", "--text", "Y"],
                           "renegotiating takes a new due date"),
    "text without renegotiation": (["commitment", "review", "Promise", "kept", "--text", "Y"],
                                   "new wording and due date go with renegotiated"),
    "pulse out of range": (["pulse", "add", DAY, "--member", "Bob", "--support", "9",
                            "--confidence", "3", "--learning", "3"],
                           "support must be between 1 and 5, not 9"),
    "empty journal": (["journal", "add", " "], "the reflection cannot be empty"),
    "no pulse to edit": (["pulse", "edit", DAY, "--member", "Ada", "--support", "2"],
                         "Ada Lovelace has no pulse for this meeting"),
    "bad corrected due": (["commitment", "edit", "Promise", "--due", "31/12"],
                          "'31/12' is not a date"),
    "empty correction": (["feedback", "edit", "nothing", "  "], "no feedback matches"),
    "past date": (["meeting", "plan", "lead", "--at", "2020-01-01T18:00"],
                  "2020-01-01 is in the past: plan a meeting from today on"),
    "duplicate circle": (["circle", "create", "leaders"], "a circle named 'Leaders' exists"),
}  # fmt: skip


@pytest.mark.parametrize("name", ERRORS)
def test_bad_input_is_one_line(run: Run, meeting: str, home: Path, name: str) -> None:
    run("commitment", "add", DAY, "--owner", "Bob", "Promise")
    run("meeting", "plan", "lead", "--at", "2099-12-29T18:00")
    args, message = ERRORS[name]
    result = run(*args, code=1)
    assert message in one_error_line(result)
    assert result.stdout == ""
    Store(home).close()  # the lock was released


def test_a_closed_meeting_refuses_changes_until_reopened(run: Run, meeting: str) -> None:
    run("meeting", "close", DAY)
    for args in (
        ["meeting", "attend", DAY, "Ada"],
        ["feedback", "add", DAY, "--presenter", "Bob", "--giver", "Ada", "--kind", "advice", "X"],
        ["commitment", "add", DAY, "--owner", "Bob", "X"],
        ["pulse", "add", DAY, "--member", "Bob", "--support", "3", "--confidence", "3",
         "--learning", "3"],
    ):  # fmt: skip
        assert "is closed: a facilitator reopens it" in one_error_line(run(*args, code=1))
    run("meeting", "reopen", DAY)
    run("meeting", "attend", DAY, "Ada")


def test_usage_errors_exit_2(run: Run, meeting: str) -> None:
    bad_kind = ["feedback", "add", DAY, "--presenter", "Bob", "--giver", "Ada", "--kind", "praise",
                "X"]  # fmt: skip
    assert "'praise' is not one of" in run(*bad_kind, code=2).stderr
    assert "--support" in run("pulse", "add", DAY, "--member", "Bob", code=2).stderr
    assert "MEMBER" in run("meeting", "attend", DAY, code=2).stderr
    assert "TEXT, --kind, or both" in run("feedback", "edit", "x", code=2).stderr
    assert "'lost' is not one of" in run("commitment", "review", "x", "lost", code=2).stderr
    assert "--text, --due, or both" in run("commitment", "edit", "x", code=2).stderr


def test_meeting_show_says_whose_pick_and_read_only(run: Run, circle: str) -> None:
    planned = run("meeting", "show", DAY).stdout
    assert "Facilitator: Ada Lovelace (the rotation's pick, fixed at the start)" in planned
    run("meeting", "start", DAY, "--facilitator", "Bob")
    run("meeting", "attend", DAY, "Ada")
    run("meeting", "close", DAY)
    shown = js(run("meeting", "show", DAY, "--json"))
    assert shown["facilitator_fixed"] and shown["read_only"] and len(shown["present"]) == 1
    assert "read-only until reopened" in run("meeting", "show", DAY).stdout


def test_an_agreement_lets_the_minutes_carry_feedback(run: Run, meeting: str) -> None:
    run("feedback", "add", DAY, "--presenter", "Bob", "--giver", "Ada", "--kind", "advice",
        "Say it plainly")  # fmt: skip
    assert "Say it plainly" not in run("meeting", "minutes", DAY).stdout
    run("agreement", "add", "lead", "feedback in minutes")
    assert (
        "| Bob Stone | Ada Lovelace | advice | Say it plainly |"
        in run("meeting", "minutes", DAY).stdout
    )
    run("agreement", "remove", "lead", "feedback in")
    assert "Say it plainly" not in run("meeting", "minutes", DAY).stdout


def test_my_overdue_commitments_say_so(run: Run, circle: str) -> None:
    run("commitment", "add", DAY, "--owner", "Ada", "Late already", "--due", "2020-01-01")
    run("commitment", "add", DAY, "--owner", "Ada", "No date")
    run("commitment", "add", DAY, "--owner", "Bob", "Not mine", "--due", "2020-01-01")
    due = js(run("commitment", "due", "--json"))
    assert [(d["text"], d["overdue"]) for d in due] == [("Late already", True), ("No date", False)]
    assert "OVERDUE by" in run("commitment", "due").stdout
