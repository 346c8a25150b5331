"""The `xcircle` CLI: the scriptable path through the services, its errors and its output."""

from __future__ import annotations

import importlib.machinery
import os
import stat
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson
import pytest
from click.testing import CliRunner, Result

from xcircle.cli import TUI_MISSING, cli
from xcircle.errors import StoreError
from xcircle.services import Services
from xcircle.store import Store

Run = Callable[..., Result]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def run(home: Path) -> Run:
    """Invoke `xcircle --home HOME ARGS…`; `code` is the exit code the test expects."""
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        result = runner.invoke(cli, ["--home", str(home), *args])
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        if code == 0:
            assert result.exception is None
        return result

    return invoke


@pytest.fixture
def circle(run: Run) -> str:
    """A home with a profile and one circle: me, Bob from Beta, a goal, a planned kick-off."""
    run("init", "--name", "Ada Lovelace", "--org", "Acme", "--tz", "Europe/Paris")
    out = run("circle", "create", "Leaders", "--purpose", "Grow together", "--json")
    cid: str = orjson.loads(out.stdout)["id"]
    run("member", "add", "lead", "Bob Stone", "--org", "Beta", "--topic", "data")
    run("meeting", "plan", "lead", "--at", "2099-12-01T18:00", "--theme", "Trust")
    run("goal", "add", "lead", "Delegate more", "--due", "2099-12-31")
    return cid


def js(result: Result) -> Any:
    """The one JSON value a `--json` command printed (orjson rejects trailing data)."""
    return orjson.loads(result.stdout)


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("xcircle: error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


# -- the main path -----------------------------------------------------------------------


def test_a_circle_from_init_to_show(run: Run, home: Path) -> None:
    run("init", "--name", "Ada Lovelace", "--org", "Acme", "--seniority", "senior")
    created = js(
        run(
            "circle", "create", "Leading Through Change", "--purpose", "Lead well",
            "--outcome", "Confidence", "--outcome", "A playbook", "--cadence", "weekly",
            "--duration", "60", "--mode", "hybrid", "--json",
        )
    )  # fmt: skip
    cid = created["id"]
    bob = js(run("member", "add", "leading", "Bob Stone", "--org", "Beta", "--json"))
    planned = js(
        run(
            "meeting", "plan", cid[:6], "--at", "2099-12-01T18:00", "--tz", "Europe/Paris",
            "--theme", "Trust", "--json",
        )
    )  # fmt: skip
    goal = js(run("goal", "add", "Leading", "Delegate more", "--owner", "bob", "--json"))
    group = js(run("goal", "add", "Leading", "Feedback habit", "--group", "--json"))
    checkin = js(run("goal", "checkin", "Deleg", "--progress", "40", "--confidence", "4",
                     "--note", "first step", "--json"))  # fmt: skip
    with Store(home) as store:  # a commitment is made in a round (TUI); add one directly
        Services(store).commitments.add(cid, bob["id"], "Say no once", due="2099-12-10")

    detail = js(run("circle", "show", "Leading", "--json"))
    c = detail["circle"]
    assert (c["name"], c["purpose"], c["outcomes"]) == (
        "Leading Through Change",
        "Lead well",
        ["Confidence", "A playbook"],
    )
    assert (c["frequency"], c["duration"], c["mode"]) == ("weekly", 60, "hybrid")
    members = {m["name"]: m for m in detail["members"]}  # joined in the same second: any order
    assert sorted(members) == ["Ada Lovelace", "Bob Stone"]
    assert members["Ada Lovelace"]["seniority"] == "senior"
    [m] = detail["meetings"]
    assert m["id"] == planned["id"] and m["kickoff"] and m["tz"] == "Europe/Paris"
    assert m["at"] == "2099-12-01T18:00+01:00" and m["themes"] == ["Trust"]
    goals = {g["id"]: g for g in detail["goals"]}
    assert goals[goal["id"]]["owner"] == bob["id"]
    assert goals[group["id"]]["owner"] is None
    assert goals[goal["id"]]["progress"] == 40
    assert [ci["id"] for ci in goals[goal["id"]]["checkins"]] == [checkin["id"]]
    assert goals[goal["id"]]["checkins"][0]["note"] == "first step"
    assert [x["text"] for x in detail["commitments"]] == ["Say no once"]
    assert len(detail["agreements"]) >= 4


def test_human_output_is_aligned_and_local(run: Run, circle: str) -> None:
    out = run("circle", "list").stdout.splitlines()
    assert out[0].split() == ["ID", "NAME", "MEMBERS", "ORGS", "GOALS", "NEXT", "MEETING"]
    assert out[1].startswith(circle[:8]) and "Leaders" in out[1]
    assert out[0].index("NAME") == out[1].index("Leaders")  # aligned columns
    listed = run("member", "list", "lead").stdout
    assert "Ada Lovelace (you)" in listed and "Bob Stone" in listed
    assert "Dec 2099" in run("meeting", "list", "lead").stdout
    assert "Delegate more" in run("goal", "list").stdout
    shown = run("circle", "show", "lead").stdout
    assert "Leaders" in shown and "Bob Stone" in shown and "Next meeting:" in shown


def test_edit_archive_and_remove(run: Run, circle: str, home: Path) -> None:
    edited = js(run("circle", "edit", "lead", "--name", "Leaders Two", "--mode", "online",
                    "--json"))  # fmt: skip
    assert edited["name"] == "Leaders Two" and edited["purpose"] == "Grow together"
    run("circle", "archive", "lead")
    assert js(run("circle", "list", "--json")) == []
    assert [c["id"] for c in js(run("circle", "list", "--all", "--json"))] == [circle]
    run("circle", "archive", "lead", "--undo")
    removed = js(run("member", "remove", "lead", "bob", "--json"))
    assert removed["name"] == "Bob Stone" and removed["exchange"] == "not shared"
    assert [m["name"] for m in js(run("member", "list", "lead", "--json"))] == ["Ada Lovelace"]


# -- --json everywhere -------------------------------------------------------------------

JSON_COMMANDS = [
    ["init", "--name", "Ada", "--org", "Acme"],
    ["circle", "create", "Another"],
    ["circle", "list"],
    ["circle", "list", "--all"],
    ["circle", "show", "lead"],
    ["circle", "edit", "lead", "--purpose", "New"],
    ["circle", "archive", "lead"],
    ["member", "add", "lead", "Cy", "--org", "Gamma"],
    ["member", "list", "lead"],
    ["member", "remove", "lead", "Bob"],
    ["meeting", "plan", "lead", "--at", "2099-12-15T18:00+01:00"],
    ["meeting", "list", "lead"],
    ["goal", "add", "lead", "Listen more", "--group"],
    ["goal", "list"],
    ["goal", "list", "lead"],
    ["goal", "checkin", "Delegate", "--progress", "10"],
    ["export", "lead", "--format", "markdown"],
    ["export", "lead", "--format", "csv"],
    ["export", "lead", "--format", "csv", "--what", "goals"],
    ["export", "lead", "--format", "ics"],
    ["export", "lead", "--format", "json"],
    ["export", "lead", "--format", "markdown", "-o", "{tmp}/report.md"],
    ["demo", "--no-tui"],
]


@pytest.mark.parametrize("args", JSON_COMMANDS, ids=lambda a: " ".join(a[:3]))
def test_every_command_prints_one_json_value(
    run: Run, circle: str, tmp_path: Path, args: list[str]
) -> None:
    result = run(*[a.format(tmp=tmp_path) for a in args], "--json")
    value = js(result)
    assert isinstance(value, dict | list)
    assert result.stderr == ""
    if args[0] in ("circle", "member", "meeting", "goal") and args[1] in ("create", "add", "plan"):
        assert len(value["id"]) == 32  # what a command creates comes back with its id


def test_export_json_is_the_detail(run: Run, circle: str) -> None:
    exported = js(run("export", "lead", "--format", "json"))
    assert exported == js(run("circle", "show", "lead", "--json"))


# -- errors: one line, exit 1, never a traceback -----------------------------------------

ERRORS = {
    "unknown circle": (["circle", "show", "nope"], "no circle matches 'nope'"),
    "ambiguous prefix": (["member", "list", "Lea"], "matches several circles"),
    "bad date-time": (["meeting", "plan", "lead", "--at", "tomorrow"], "not a date-time"),
    "bad date": (["goal", "add", "lead", "Go", "--due", "31/12/2026"], "not a date"),
    "progress 140": (["goal", "checkin", "Delegate", "--progress", "140"], "between 0 and 100"),
    "unknown zone": (["meeting", "plan", "lead", "--at", "2099-12-01T18:00", "--tz", "Mars/Base"],
                     "unknown time zone"),
    "unknown goal": (["goal", "checkin", "Nothing", "--progress", "5"], "no goal matches"),
}  # fmt: skip


@pytest.mark.parametrize("name", ERRORS)
def test_user_errors_are_one_line(run: Run, circle: str, home: Path, name: str) -> None:
    run("circle", "create", "Learners")  # "Lea" now matches two circles
    args, message = ERRORS[name]
    result = run(*args, code=1)
    assert message in one_error_line(result)
    assert result.stdout == ""
    Store(home).close()  # the command released the lock on its way out


def test_no_profile_yet(run: Run) -> None:
    result = run("circle", "list", code=1)
    assert "xcircle init" in one_error_line(result)


def test_usage_errors_exit_2_as_click_does(run: Run, circle: str) -> None:
    assert "--org" in run("member", "add", "lead", "Cy", code=2).stderr
    assert "--owner and --group" in run("goal", "add", "lead", "X", "--owner", "Bob",
                                         "--group", code=2).stderr  # fmt: skip
    assert "--what" in run("export", "lead", "--format", "csv", code=2).stderr
    assert "Traceback" not in run("circle", "create", code=2).output


def test_a_second_process_gets_a_clear_error(run: Run, circle: str, home: Path) -> None:
    with Store(home):  # another xcircle holds the home
        result = run("member", "add", "lead", "Cy", "--org", "Gamma", code=1)
    line = one_error_line(result)
    assert "in use by another xcircle" in line and "commands that only read work" in line
    assert result.stdout == ""
    run("member", "add", "lead", "Cy", "--org", "Gamma")  # once it is gone, it opens again


READ_ONLY_COMMANDS = [
    ["circle", "list"],
    ["circle", "show", "lead"],
    ["member", "list", "lead"],
    ["meeting", "list", "lead"],
    ["goal", "list"],
    ["commitment", "list", "lead"],
    ["journal", "list"],
    ["setting", "theme"],
    ["export", "lead", "--format", "json"],
    ["meeting", "budget", "2099-12-01"],
    ["meeting", "minutes", "2099-12-01"],
    ["meeting", "show", "2099-12-01"],
    ["agreement", "list", "lead"],
    ["status"],
]


@pytest.mark.parametrize("args", READ_ONLY_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_reads_work_while_the_app_has_the_home_open(
    run: Run, circle: str, home: Path, args: list[str]
) -> None:
    with Store(home) as app:  # the app holds the home, and writes while we read
        Services(app).members.add(circle, "Dee", org="Delta")
        result = run(*args)
        assert result.stderr == ""
        if args[:2] == ["member", "list"]:
            assert "Dee" in result.stdout  # the app's latest write is seen
        Services(app).members.add(circle, "Eli", org="Delta")  # the app still writes
    assert [m["name"] for m in js(run("member", "list", "lead", "--json"))][-2:] == ["Dee", "Eli"]


def test_a_read_only_home_refuses_writes_and_changes_no_file(circle: str, home: Path) -> None:
    files = {p: p.read_bytes() for p in home.rglob("*") if p.is_file() and p.name != "lock"}
    with Store(home, read_only=True) as reader:
        with pytest.raises(StoreError, match="open read-only here: nothing was saved"):
            Services(reader).members.add(circle, "Zed", org="Zeta")
        with pytest.raises(StoreError, match="read-only"):
            Services(reader).circles.create("Another")
    assert {p: p.read_bytes() for p in files} == files
    assert {p for p in home.rglob("*") if p.is_file() and p.name != "lock"} == set(files)


def test_a_damaged_file_is_a_warning_on_every_command(run: Run, circle: str, home: Path) -> None:
    journal = home / "circles" / f"{circle}.journal"
    journal.write_bytes(b"this is not json\n" + journal.read_bytes())
    result = run("circle", "list", "--json")
    assert js(result) == []
    assert "xcircle: warning:" in result.stderr and "damaged" in result.stderr
    assert "Traceback" not in result.output


# -- the TUI and lazily loaded commands --------------------------------------------------


def fake_module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attrs)
    return module


def test_no_command_opens_the_tui(run: Run, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Path | None, bool]] = []

    def run_tui(home: Path | None, demo: bool) -> int:
        calls.append((home, demo))
        return 3

    monkeypatch.setitem(sys.modules, "screens.app", fake_module("screens.app", run_tui=run_tui))
    run(code=3)
    run("demo", code=3)
    assert calls[0] == (home, False)
    assert calls[1] == (home, True)


def test_without_the_tui_a_clear_message(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "screens.app", None)  # import fails
    result = run(code=1)
    assert one_error_line(result).endswith(TUI_MISSING)


def test_sync_commands_load_lazily_and_missing_ones_are_not_listed(
    run: Run, circle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    @click.command()
    def status() -> None:
        click.echo("all synced")

    @click.command()
    @click.argument("circle")
    def share(circle: str) -> None:
        click.echo(f"shared {circle}")

    monkeypatch.setitem(
        sys.modules, "sync.commands", fake_module("sync.commands", status=status, share=share)
    )
    monkeypatch.setitem(cli.lazy, "ghost", "xcircle_no_such_module:ghost")
    helped = run("--help").stdout
    assert "status" in helped and "Show what is waiting to sync." in helped
    assert "ghost" not in helped
    assert run("status").stdout == "all synced\n"
    assert "share" in run("circle", "--help").stdout
    assert run("circle", "share", "lead").stdout == "shared lead\n"
    assert "No such command 'ghost'" in run("ghost", code=2).stderr


def test_removing_from_a_shared_circle_tells_the_exchange(
    run: Run, circle: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store(home) as store:
        store.set_meta(circle, shared=True)
    told: list[tuple[str, str]] = []

    def remove_member_remote(store: Store, circle: str, member: str) -> None:
        told.append((circle, member))

    fake = fake_module("sync.commands", remove_member_remote=remove_member_remote)
    monkeypatch.setitem(sys.modules, "sync.commands", fake)
    bob = js(run("member", "remove", "lead", "Bob", "--json"))
    assert bob["exchange"] == "told" and told == [(circle, bob["removed"])]

    monkeypatch.setitem(sys.modules, "sync.commands", None)  # sync not in this build
    run("member", "add", "lead", "Cy", "--org", "Gamma")
    result = run("member", "remove", "lead", "Cy")
    assert "the exchange was not told" in result.stderr
    assert [m["name"] for m in js(run("member", "list", "lead", "--json"))] == ["Ada Lovelace"]


# -- the demo, files on disk -------------------------------------------------------------


def test_demo_seeds_three_circles_from_two_organizations_once(run: Run, home: Path) -> None:
    first = js(run("demo", "--no-tui", "--json"))
    assert first["seeded"] and len(first["circles"]) == 3
    orgs = {o for c in first["circles"] for o in c["organizations"]}
    assert len(orgs) == 2
    second = js(run("demo", "--no-tui", "--json"))
    assert not second["seeded"]
    assert [c["id"] for c in second["circles"]] == [c["id"] for c in first["circles"]]
    assert sum(c["members"] for c in second["circles"]) == sum(
        c["members"] for c in first["circles"]
    )


def test_demo_without_home_never_touches_the_real_home(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--no-tui"])  # XCIRCLE_HOME is per test
    assert result.exit_code == 0, result.output
    real = Path(os.environ["XCIRCLE_HOME"])
    demo_home = Path(os.environ["XCIRCLE_DEMO_HOME"])
    assert "Seeded 3 demo circles" in result.stdout and str(demo_home) in result.stdout
    assert len(list((demo_home / "circles").glob("*.journal"))) == 3
    assert not (real / "circles").exists()


def test_demo_refuses_a_home_with_someone_in_it(run: Run) -> None:
    run("init", "--name", "Ada", "--org", "Acme")
    assert "already has a profile" in one_error_line(run("demo", "--no-tui", code=1))


def test_files_are_private(run: Run, circle: str, home: Path, tmp_path: Path) -> None:
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    files = [p for p in home.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in [p for p in home.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    report = tmp_path / "report.md"
    report.write_text("old")
    report.chmod(0o644)
    run("export", "lead", "--format", "markdown", "-o", str(report))
    assert stat.S_IMODE(report.stat().st_mode) == 0o600
    assert report.read_text().startswith("# Leaders")


def test_csv_to_a_file_writes_both_tables(run: Run, circle: str, tmp_path: Path) -> None:
    out = js(run("export", "lead", "--format", "csv", "-o", str(tmp_path / "lead.csv"), "--json"))
    assert out["files"] == [str(tmp_path / "lead-goals.csv"), str(tmp_path / "lead-attendance.csv")]
    for name in out["files"]:
        assert stat.S_IMODE(Path(name).stat().st_mode) == 0o600
    run("export", "lead", "--format", "csv", "--what", "attendance", "-o", str(tmp_path / "a.csv"))
    assert (tmp_path / "a.csv").read_bytes().startswith(b"meeting_id,")


def test_an_unwritable_output_is_one_line(run: Run, circle: str, tmp_path: Path) -> None:
    result = run("export", "lead", "--format", "ics", "-o", str(tmp_path / "no" / "x.ics"), code=1)
    assert "cannot write" in one_error_line(result)


# -- the real process --------------------------------------------------------------------


def test_the_installed_command_in_a_real_process(tmp_path: Path) -> None:
    """Exit codes and stderr as a shell sees them, and a `--help` that imports no
    TUI, HTTP client or server (start-up time)."""
    env = {**os.environ, "XCIRCLE_HOME": str(tmp_path / "home")}
    helped = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "xcircle", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert helped.returncode == 0 and "circle" in helped.stdout
    imported = {line.split("|")[-1].strip() for line in helped.stderr.splitlines()}
    assert not {"textual", "httpx", "fastapi", "starlette", "icalendar"} & imported

    script = Path(sys.executable).with_name("xcircle")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "xcircle"]
    failed = subprocess.run(
        [*command, "circle", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("xcircle: error: no profile yet")
    assert failed.stderr.count("\n") == 1
    done = subprocess.run(
        [*command, "init", "--name", "Ada", "--org", "Acme", "--json"],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0 and orjson.loads(done.stdout)["name"] == "Ada"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], (True, None)),
        (["--home", "/tmp/h"], (True, Path("/tmp/h"))),
        (["--home=/tmp/h"], (True, Path("/tmp/h"))),
        (["--home", "/tmp/h", "circle", "list"], (False, None)),
        (["demo"], (False, None)),
        (["--help"], (False, None)),
        (["--home"], (False, None)),
    ],
)
def test_only_a_bare_start_skips_the_cli(
    args: list[str], expected: tuple[bool, Path | None]
) -> None:
    from xcircle.entry import tui_home

    assert tui_home(args) == expected


def test_the_console_entry_opens_the_tui_with_one_line_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Store(home):  # another process holds the home
        done = subprocess.run(
            [sys.executable, "-m", "xcircle", "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[1],
        )
    assert done.returncode == 1
    assert done.stderr.startswith("xcircle: error: ") and "in use" in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_settings_are_shown_set_and_checked(run: Run, home: Path) -> None:
    assert run("setting", "sync_interval", "30").stdout.strip() == "30"
    assert js(run("setting", "keymap", '{"home.new": "ctrl+n"}')) == {"home.new": "ctrl+n"}
    assert "number of seconds" in run("setting", "sync_interval", "soon", code=1).stderr
    assert js(run("setting", "--json")) == {
        "ca_file": None,
        "exchange_url": None,  # not joined yet
        "export_dir": None,
        "keymap": {"home.new": "ctrl+n"},
        "sync_interval": 30,
        "theme": None,
    }
    with Store(home) as store:
        assert store.setting("sync_interval") == 30
