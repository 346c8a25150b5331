"""SVG snapshots of the programme screen at 120×40 and at the smallest supported
terminal, 80×24: the unplaced with why, circles side by side with scores and reasons, a
locked circle, and a circle a move pushed over the per-organization cap (its broken rule
in the warning colour, the cursor on the person moved). Deterministic: participant ids
follow emails, forming follows its seed. Update with
`pytest tests/tui/test_snapshots_programme.py --snapshot-update`, then look at each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from screens.programme import ProgrammeChooser, ProgrammeScreen
from tests.tui.conftest import make_test_app, settle
from tests.tui.test_programme import formed, over_cap
from tests.tui.test_snapshots_meeting import Setup, SnapCompare, svc_of

SIZES = {"120x40": (120, 40), "80x24": (80, 24)}


def edited(tmp: Path) -> Setup:
    async def setup(pilot: Pilot[Any]) -> None:
        svc = svc_of(pilot)
        programme = formed(svc, tmp)
        source, row, target = over_cap(programme)
        person = programme.staged[source - 1].members[row]
        svc.programmes.move("spring", person, programme.staged[target - 1].id)
        svc.programmes.lock("spring", programme.staged[source - 1].id)
        await settle(pilot)
        await pilot.app.push_screen(ProgrammeScreen("spring"))
        await settle(pilot)
        after = svc.programmes.get("spring").staged[target - 1].members
        await pilot.press(*["right"] * target, *["down"] * after.index(person))
        await settle(pilot)

    return setup


def chooser(tmp: Path) -> Setup:
    async def setup(pilot: Pilot[Any]) -> None:
        svc = svc_of(pilot)
        formed(svc, tmp, "Spring 2027")
        formed(svc, tmp, "Autumn 2027", n=12)
        await settle(pilot)
        await pilot.press("P")
        await settle(pilot)
        assert isinstance(pilot.app.screen, ProgrammeChooser)

    return setup


CASES = {"programme_edited": edited, "programme_chooser": chooser}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("case", list(CASES))
def test_screen_at(
    case: str, size: str, profile_home: Path, tmp_path: Path, snap_compare: SnapCompare
) -> None:
    app = make_test_app(profile_home)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=CASES[case](tmp_path))
