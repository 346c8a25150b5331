"""Terminal-driving characters (SEC-23): refused at input by the services and the schema,
quarantined when pulled, stripped from every CLI output."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tests.hostile import HOSTILE, RAW_MARKERS, SHOWN, unchecked
from xcircle import safetext
from xcircle.cli import cli
from xcircle.domain import validate_fields
from xcircle.errors import InvalidInput, InvalidOp
from xcircle.ops import Op, new_id
from xcircle.services import Services
from xcircle.store import Store

UNSAFE = ["\x1b", "\x07", "\x00", "\r", "\x7f", "\x9b", "\x85", "\u202e", "\u2066", "\u2069"]


@pytest.mark.parametrize("ch", UNSAFE)
def test_each_unsafe_character_is_named(ch: str) -> None:
    assert safetext.problem(f"a{ch}b") == safetext.describe(ch)
    assert safetext.problem(f"a{ch}b", multiline=True) == safetext.describe(ch)
    assert safetext.line(f"a{ch}b") == safetext.block(f"a{ch}b") == "ab"


def test_line_breaks_only_in_multiline_text() -> None:
    assert safetext.problem("a\nb") == "U+000A (a line break)"
    assert safetext.problem("a\tb") == "U+0009 (a tab)"
    assert safetext.problem("a\nb\tc", multiline=True) is None
    assert safetext.line("a\nb\tc") == "a b c"
    assert safetext.block("a\nb\tc") == "a\nb\tc"
    assert safetext.problem("Zoë 日本 — ok «»") is None  # printable text of any script


@given(st.text())
def test_stripped_text_is_always_safe(text: str) -> None:
    assert safetext.is_safe(safetext.line(text))
    assert safetext.is_safe(safetext.block(text), multiline=True)
    escaped = safetext.json_safe(orjson.dumps(text).decode())
    assert orjson.loads(escaped) == text  # escaping inside JSON keeps the value
    assert safetext.is_safe(escaped)


def test_services_refuse_unsafe_text_naming_the_field(svc: Services) -> None:
    with pytest.raises(InvalidInput, match="the circle's name contains U\\+001B"):
        svc.circles.create("Evil\x1b]0;x\x07")
    cid = svc.circles.create("Leaders", purpose="Two\nlines\tand a tab")["id"]
    with pytest.raises(InvalidInput, match="the member's name contains U\\+202E"):
        svc.members.add(cid, "Bob\u202eevil", org="Beta")
    with pytest.raises(InvalidInput, match="the member's name contains U\\+000A"):
        svc.members.add(cid, "Bob\nStone", org="Beta")
    with pytest.raises(InvalidInput, match="the organization contains U\\+009B"):
        svc.members.add(cid, "Bob", org="Beta\x9b2J")
    goal = svc.goals.add(cid, "Delegate")["id"]
    with pytest.raises(InvalidInput, match="the note contains U\\+0007"):
        svc.goals.checkin(cid, goal, progress=5, note="line\n\x07bell")
    svc.goals.checkin(cid, goal, progress=5, note="two\nlines")  # newline in a note is fine
    pasted = svc.goals.checkin(cid, goal, progress=6, note="pasted\r\nfrom Windows")
    assert pasted["note"] == "pasted\nfrom Windows"
    with pytest.raises(InvalidInput, match=r"the note contains U\+000D"):
        svc.goals.checkin(cid, goal, progress=7, note="carriage\rreturn")


def test_the_schema_refuses_what_a_service_would(svc: Services) -> None:
    with pytest.raises(InvalidOp, match=r"member\.name holds U\+001B"):
        validate_fields("member", {"name": "a\x1b[2J", "org": "x"})
    with pytest.raises(InvalidOp, match=r"meeting\.themes holds U\+202E"):
        validate_fields("meeting", {"themes": ["ok", "\u202eevil"]})
    with pytest.raises(InvalidOp, match=r"circle\.name has an invalid value"):
        validate_fields("circle", {"name": "one\nline"})
    validate_fields("meeting", {"notes": "several\nlines\tok"})


def test_pulled_ops_with_unsafe_text_are_quarantined(svc: Services, store: Store) -> None:
    cid = svc.circles.create("Leaders")["id"]
    author = store.require_profile()["node"]

    def op(fields: dict[str, object]) -> Op:
        return Op(new_id(), cid, "member", new_id(), store.hlc.now(), author, fields)

    bad = op({"name": HOSTILE, "org": "Beta"})
    good = op({"name": "Bob", "org": "Beta"})
    result = store.apply_pulled(cid, [(bad.id, bad.to_bytes()), (good.id, good.to_bytes())], 2)
    assert result.merged == 1
    assert result.quarantined == [(bad.id, "member.name holds U+0007 (a control character)")]
    assert sorted(m["name"] for m in svc.members.all(cid)) == ["Ada Lovelace", "Bob"]


# -- the CLI -------------------------------------------------------------------------------


def hostile_home(home: Path) -> str:
    """A home whose circle, member, goal and commitment texts are all HOSTILE."""
    with Store(home) as store:
        svc = Services(store)
        svc.init_profile("Ada", "Acme")
        with unchecked():
            cid = svc.circles.create(HOSTILE, purpose=HOSTILE, outcomes=[HOSTILE])["id"]
            bob = svc.members.add(cid, HOSTILE, org=HOSTILE)["id"]
            svc.goals.add(cid, HOSTILE, owner=bob)
            svc.commitments.add(cid, bob, HOSTILE)
        # Joined, with the circle shared and a hostile last error: `status` shows all three.
        from sync.state import STATE_SETTING, Credentials, mark_shared, save_credentials

        save_credentials(store, Credentials("https://ex.example.org", "xcd_t", "d", HOSTILE))
        mark_shared(store, cid, bob)
        store.save_setting(STATE_SETTING, {"last_error": HOSTILE, "last_sync": 1})
        return str(cid)


@pytest.mark.parametrize(
    "args",
    [
        ["circle", "show", "Ctl"],
        ["circle", "list"],
        ["member", "list", "Ctl"],
        ["goal", "list"],
        ["status"],
        ["status", "--json"],
        ["export", "Ctl", "--format", "markdown"],
        ["export", "Ctl", "--format", "json"],
        ["circle", "show", "Ctl", "--json"],
        ["member", "add", "Ctl", "Eve", "--org", "Beta"],  # echoes the circle's name
        ["circle", "show", "nothing\x1b]0;PWNED\x07"],  # an error quoting what was typed
    ],
)
def test_cli_output_never_carries_terminal_controls(tmp_path: Path, args: list[str]) -> None:
    home = tmp_path / "home"
    hostile_home(home)
    result = CliRunner().invoke(cli, ["--home", str(home), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for stream in (result.stdout, result.stderr):
        for marker in RAW_MARKERS:
            assert marker not in stream, (args, stream)
    if "--json" in args or "json" in args:
        assert HOSTILE in orjson.dumps(orjson.loads(result.stdout)).decode() or (
            "\\u202e" in result.stdout
        )


def test_circle_show_prints_hostile_text_literally(tmp_path: Path) -> None:
    home = tmp_path / "home"
    hostile_home(home)
    out = CliRunner().invoke(cli, ["--home", str(home), "circle", "show", "Ctl"]).stdout
    assert SHOWN in out  # what is left is shown as typed, markup included


def test_cli_refuses_unsafe_input_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    runner.invoke(cli, [*home, "init", "--name", "Ada", "--org", "Acme"])
    result = runner.invoke(cli, [*home, "circle", "create", "Evil\x1b[2J"])
    assert result.exit_code == 1
    assert result.stderr == (
        "xcircle: error: the circle's name contains U+001B (a control character), "
        "which is not allowed here\n"
    )


def test_export_json_with_json_is_not_double_encoded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cid = hostile_home(home)
    result = CliRunner().invoke(
        cli, ["--home", str(home), "export", "Ctl", "--format", "json", "--json"]
    )
    answer = orjson.loads(result.stdout)
    assert answer["format"] == "json"
    assert answer["content"]["circle"]["id"] == cid  # a JSON value, not a string of JSON
    assert answer["content"]["circle"]["name"] == HOSTILE
