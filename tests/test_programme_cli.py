"""`xcircle programme …`: create, list, import, form, show, and one-line errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from tests.programme_pools import pool, write_csv
from xcircle.cli import cli

Run = Callable[..., Result]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(cli, ["--home", str(tmp_path / "home"), *args])
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        if code == 0:
            assert result.exception is None
        return result

    return invoke


def js(result: Result) -> Any:
    return orjson.loads(result.stdout)


def one_line_error(result: Result) -> str:
    """The whole of stderr: one line starting `xcircle: error:`, never a traceback."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("xcircle: error: ")
    assert "Traceback" not in result.stderr + result.stdout
    return lines[0]


def test_create_import_form_show_and_list(run: Run, tmp_path: Path) -> None:
    assert "Programme Spring 2027 created" in run("programme", "create", "Spring 2027").stdout
    csv = write_csv(tmp_path / "p.csv", pool(18))
    out = run("programme", "import", "spring", str(csv)).stdout
    assert "18 participants from 4 organizations imported" in out
    formed = js(run("programme", "form", "spring", "--size", "6", "--seed", "4", "--json"))
    assert len(formed["circles"]) == 3 and formed["unplaced"] == []
    circle = formed["circles"][0]
    assert set(circle) >= {"id", "score", "reasons", "slot", "members", "violations"}
    assert circle["reasons"][1].startswith("seniorities ")
    text = run("programme", "show", "spring").stdout
    assert "Spring 2027: 18 participants, 3 circles, 0 unplaced" in text
    assert f"{circle['id']}  score {circle['score']:.2f}  {circle['slot']}" in text
    assert ", ".join(circle["reasons"]) in text
    listed = js(run("programme", "list", "--json"))
    assert listed[0]["name"] == "Spring 2027" and listed[0]["circles"] == 3
    assert "Spring 2027" in run("programme", "list").stdout


def test_form_prints_unplaced_people_and_why(run: Run, tmp_path: Path) -> None:
    rows = pool(6)
    rows[5]["time zone"] = "Pacific/Auckland"
    run("programme", "create", "Small")
    run("programme", "import", "Small", str(write_csv(tmp_path / "p.csv", rows)))
    out = run("programme", "form", "Small", "--size", "4").stdout
    assert "Not placed:\n  - Person 5 (Org 1): no circle has a weekly hour" in out


def test_move_lock_and_reform_from_the_cli(run: Run, tmp_path: Path) -> None:
    run("programme", "create", "P")
    run("programme", "import", "P", str(write_csv(tmp_path / "p.csv", pool(12))))
    first = js(run("programme", "form", "P", "--json"))
    a, b = first["circles"]
    run("programme", "lock", "P", a["id"])
    error = one_line_error(run("programme", "move", "P", b["members"][0]["email"], a["id"], code=1))
    assert error == f"xcircle: error: circle {a['id']} is locked: unlock it first"
    run("programme", "unlock", "P", a["id"])
    moved = js(run("programme", "move", "P", b["members"][0]["email"], a["id"], "--json"))
    assert len(moved["circles"][0]["members"]) == 7
    run("programme", "lock", "P", a["id"])
    again = js(run("programme", "reform", "P", "--seed", "8", "--json"))
    assert again["circles"][0]["members"] == moved["circles"][0]["members"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("programme", "form", "nope"), "no programme 'nope'"),
        (("programme", "form", "P"), "P has no participants yet"),
        (("programme", "create", ""), "a programme needs a name"),
        (("programme", "import", "P", "missing.csv"), "no file missing.csv"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    run: Run, args: tuple[str, ...], words: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run("programme", "create", "P")
    assert words in one_line_error(run(*args, code=1))


def test_a_bad_csv_names_row_and_column_and_imports_nothing(run: Run, tmp_path: Path) -> None:
    run("programme", "create", "P")
    rows = pool(6)
    rows[2]["time zone"] = "Mars/Base"
    error = one_line_error(
        run("programme", "import", "P", str(write_csv(tmp_path / "b.csv", rows)), code=1)
    )
    assert error == (
        "xcircle: error: row 4, column 'time zone': unknown time zone 'Mars/Base' "
        "(e.g. Europe/Paris); nothing was imported"
    )
    assert js(run("programme", "list", "--json"))[0]["participants"] == 0
    binary = tmp_path / "b.xlsx"
    binary.write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe")
    assert "not UTF-8" in one_line_error(run("programme", "import", "P", str(binary), code=1))


def test_bad_options_are_refused_in_one_line(run: Run, tmp_path: Path) -> None:
    run("programme", "create", "P")
    run("programme", "import", "P", str(write_csv(tmp_path / "p.csv", pool(8))))
    error = one_line_error(run("programme", "form", "P", "--size", "12", code=1))
    assert "--size must be between 4 and 8" in error
    error = one_line_error(run("programme", "form", "P", "--max-per-org", "0", code=1))
    assert "at least 1 member per organization" in error


def test_soft_goals_can_be_weighed(run: Run, tmp_path: Path) -> None:
    run("programme", "create", "P")
    run("programme", "import", "P", str(write_csv(tmp_path / "p.csv", pool(12))))
    formed = js(
        run("programme", "form", "P", "--weight", "topic=3", "--weight", "Function=0", "--json")
    )
    assert formed["rules"]["weights"] == {
        "organization": 1.0,
        "seniority": 1.0,
        "function": 0.0,
        "topic": 3.0,
    }
    again = js(run("programme", "form", "P", "--json"))
    assert again["rules"]["weights"] == formed["rules"]["weights"]  # kept until changed
    for bad, words in [
        ("colour=1", "no soft goal 'colour'"),
        ("topic=x", "--weight takes GOAL=NUMBER"),
        ("topic=11", "between 0 and 10"),
        ("topic=nan", "between 0 and 10"),
    ]:
        assert words in one_line_error(run("programme", "form", "P", "--weight", bad, code=1))
    zero = ["--weight", "organization=0", "--weight", "seniority=0", "--weight", "topic=0"]
    error = one_line_error(run("programme", "form", "P", *zero, code=1))
    assert "at least one soft goal needs a weight above 0" in error
