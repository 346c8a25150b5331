"""Pilot tests of the programme screen: a move updates both circles' scores and rule
checks at once, a locked circle survives a re-form, the unplaced are listed with why,
and the screen is reachable from the home and the command palette."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from textual.pilot import Pilot

from screens.app import XCircleApp
from screens.commands import ProgrammeCommands
from screens.forms import ConfirmScreen
from screens.programme import WINDOW, CircleColumn, ProgrammeChooser, ProgrammeScreen
from tests.programme_pools import pool, row, write_csv
from tests.tui.conftest import SIZE, make_test_app, screen_text, settle
from xcircle.programmes.model import Programme
from xcircle.services import Services
from xcircle.services.programmes import MOVED_OUT


def formed(svc: Services, tmp: Path, name: str = "Spring 2027", n: int = 24) -> Programme:
    """A programme of `n` people in four organizations, formed with seed 1; one person
    far from everyone's working hours stays unplaced."""
    svc.programmes.create(name)
    rows = [*pool(n), row(n, **{"time zone": "Pacific/Kiritimati"})]
    svc.programmes.import_csv(name, write_csv(tmp / f"{name}.csv", rows))
    return svc.programmes.form(name, seed=1)


def column_text(screen: ProgrammeScreen, index: int) -> str:
    return str(screen.query_one(f"#col-{index}", CircleColumn).body)


async def select(pilot: Pilot[object], column: int, row: int) -> None:
    """Walk the cursor there with the arrows, from the top of the first column."""
    await pilot.press(*["right"] * column, *["down"] * row)
    await settle(pilot)


async def open_screen(app: XCircleApp, pilot: Pilot[object], ref: str) -> ProgrammeScreen:
    await app.push_screen(ProgrammeScreen(ref))
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, ProgrammeScreen)
    return screen


def over_cap(p: Programme) -> tuple[int, int, int]:
    """(source column, row, target column): a person whose organization the target
    circle already has at the cap, so moving them breaks the per-organization rule."""
    people = p.participants
    for t, target in enumerate(p.staged):
        orgs = Counter(people[m].organization for m in target.members)
        full = {o for o, k in orgs.items() if k >= p.rules.max_per_org}
        for s, source in enumerate(p.staged):
            for r, m in enumerate(source.members):
                if s != t and people[m].organization in full:
                    return s + 1, r, t + 1
    raise AssertionError("no circle at the per-organization cap")


async def test_a_move_updates_both_circles_scores_and_rule_checks(
    profile_home: Path, tmp_path: Path
) -> None:
    app = make_test_app(profile_home)
    svc = app.services
    before = formed(svc, tmp_path)
    assert not any(c.violations for c in before.staged)
    source, row_index, target = over_cap(before)
    person = before.staged[source - 1].members[row_index]
    name = before.participants[person].name
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "spring")
        assert f"score {before.staged[target - 1].score:.2f}" in column_text(screen, target)
        assert "⚠" not in column_text(screen, target)
        await select(pilot, source, row_index)
        assert screen.selected() == person
        assert "space Pick up" in screen_text(app)
        await pilot.press("space")  # pick up
        await settle(pilot)
        assert "space Drop here" in screen_text(app)  # the same key now drops
        assert f"moving {name}" in str(screen.query_one("TopBar").text)  # type: ignore[attr-defined]
        await pilot.press(*["right" if target > source else "left"] * abs(target - source))
        await pilot.press("space")  # drop
        await settle(pilot)
        after = svc.programmes.get("spring")
        moved_to, moved_from = after.staged[target - 1], after.staged[source - 1]
        assert person in moved_to.members and person not in moved_from.members
        assert moved_to.violations  # the per-organization cap is broken, and shown
        text = column_text(screen, target)
        assert f"score {moved_to.score:.2f}" in text
        assert all(f"⚠ {v}" in text for v in moved_to.violations)
        assert name in text and "▶ " + name in text  # the cursor followed the person
        assert f"score {moved_from.score:.2f}" in column_text(screen, source)
        assert name not in column_text(screen, source)
        assert "1 breaking a rule" in str(screen.query_one("TopBar").text)  # type: ignore[attr-defined]

        await pilot.press("shift+left" if target > source else "shift+right")
        await settle(pilot)  # a circle over: the rule holds again where it was broken
        assert not svc.programmes.get("spring").staged[target - 1].violations
        assert "⚠" not in column_text(screen, target)


async def test_a_locked_circle_survives_a_re_form(profile_home: Path, tmp_path: Path) -> None:
    app = make_test_app(profile_home)
    svc = app.services
    before = formed(svc, tmp_path)
    kept = before.staged[1]
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "spring")
        await select(pilot, 2, 0)
        await pilot.press("l")
        await settle(pilot)
        assert svc.programmes.get("spring").staged[1].locked
        assert "■ locked" in column_text(screen, 2)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is screen
        after = svc.programmes.get("spring")
        (locked,) = [c for c in after.staged if c.locked]
        assert locked.members == kept.members  # kept as it was
        shown = [column_text(screen, i + 1) for i in range(len(after.staged))]
        (text,) = [t for t in shown if "■ locked" in t]
        assert all(after.participants[m].name in text for m in kept.members)
        # a locked circle takes no one in and lets no one out
        index = after.staged.index(locked) + 1
        await pilot.press(*["left"] * 9, *["up"] * 9)
        await select(pilot, index, 0)
        await pilot.press("shift+right")
        await settle(pilot)
        assert svc.programmes.get("spring").staged[index - 1].members == kept.members


async def test_the_unplaced_are_listed_with_why_and_can_be_taken_out(
    profile_home: Path, tmp_path: Path
) -> None:
    app = make_test_app(profile_home)
    svc = app.services
    before = formed(svc, tmp_path)
    assert before.unplaced  # the person far away
    far = before.unplaced[0]
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "spring")
        text = column_text(screen, 0)
        assert f"Unplaced · {len(before.unplaced)}" in text
        assert before.participants[far.participant].name in text
        assert far.reason[:30] in text.replace("\n", " ")
        out = before.staged[0].members[0]
        await select(pilot, 1, 0)
        await pilot.press("shift+left")  # out of every circle
        await settle(pilot)
        after = svc.programmes.get("spring")
        assert out not in after.staged[0].members
        assert any(u.participant == out and u.reason == MOVED_OUT for u in after.unplaced)
        assert before.participants[out].name in column_text(screen, 0)
        assert MOVED_OUT in column_text(screen, 0).replace("\n", " ")


async def test_the_home_opens_the_programme_or_asks_which(
    profile_home: Path, tmp_path: Path
) -> None:
    app = make_test_app(profile_home)
    svc = app.services
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("P")  # none yet: a notice, no screen
        await settle(pilot)
        assert not isinstance(app.screen, ProgrammeScreen)
        assert any("No programme yet" in str(n.message) for n in app._notifications)
        formed(svc, tmp_path)
        await pilot.press("P")
        await settle(pilot)
        assert isinstance(app.screen, ProgrammeScreen)
        assert "Spring 2027" in str(app.screen.query_one("TopBar").text)  # type: ignore[attr-defined]
        await pilot.press("escape")
        await settle(pilot)
        formed(svc, tmp_path, "Autumn 2027", n=12)
        await pilot.press("P")
        await settle(pilot)
        assert isinstance(app.screen, ProgrammeChooser)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ProgrammeScreen)


@pytest.mark.parametrize("programmes", [0, 2])
async def test_the_palette_lists_each_programme(
    profile_home: Path, tmp_path: Path, programmes: int
) -> None:
    app = make_test_app(profile_home)
    for name in ("Spring 2027", "Autumn 2027")[:programmes]:
        formed(app.services, tmp_path, name, n=12)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        provider = ProgrammeCommands(app.screen)
        names = [name for name, _, _ in provider.actions()]
        assert sorted(names) == sorted(
            f"Edit programme: {n}" for n in ("Spring 2027", "Autumn 2027")[:programmes]
        )


async def test_a_large_programme_mounts_a_window_that_follows_the_cursor(
    profile_home: Path, tmp_path: Path
) -> None:
    app = make_test_app(profile_home)
    svc = app.services
    big = formed(svc, tmp_path, n=120)
    assert len(big.staged) + 1 > WINDOW
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(app, pilot, "spring")
        assert len(screen.query(CircleColumn)) == WINDOW
        await pilot.press(*["right"] * len(big.staged))  # to the last circle
        await settle(pilot)
        last = big.staged[-1]
        assert screen.selected() == last.members[0]
        top = str(screen.query_one("TopBar").text)  # type: ignore[attr-defined]
        assert f"showing circles {len(big.staged) - WINDOW + 1}–{len(big.staged)}" in top
        shown = [str(c.body) for c in screen.query(CircleColumn)]
        assert f"▶ {big.participants[last.members[0]].name}" in shown[-1]
        await pilot.press("shift+left")
        await settle(pilot)
        after = svc.programmes.get("spring")
        assert last.members[0] in after.staged[-2].members
        assert screen.selected() == last.members[0]  # the cursor went with them


def test_programme_edit_opens_the_app_on_the_programme_or_says_why_not(
    profile_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import xcircle.cli.programme_edit as edit_module
    from xcircle.cli import cli

    app = make_test_app(profile_home)
    made = formed(app.services, tmp_path)
    app.services.store.close()
    opened: list[tuple[Path, str | None]] = []
    monkeypatch.setattr(
        edit_module,
        "open_tui",
        lambda home, *, demo, programme=None: opened.append((home, programme)) or 0,
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(profile_home), "programme", "edit", "spring"])
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert opened == [(profile_home, made.id)]
    result = runner.invoke(cli, ["--home", str(profile_home), "programme", "edit", "autumn"])
    assert result.exit_code != 0
    (line,) = result.stderr.splitlines()
    assert line.startswith("xcircle: error: ") and "autumn" in line


async def test_the_app_opens_on_the_programme_it_is_given(
    profile_home: Path, tmp_path: Path
) -> None:
    app = make_test_app(profile_home)
    app.opening = formed(app.services, tmp_path).id
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await settle(pilot)
        assert isinstance(app.screen, ProgrammeScreen)
        assert "Spring 2027" in str(app.screen.query_one("TopBar").text)  # type: ignore[attr-defined]
