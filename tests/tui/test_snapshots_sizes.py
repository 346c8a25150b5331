"""SVG snapshots of the screens a facilitator uses most, at a roomy 120×40 and at the
smallest supported terminal, 80×24 (footers fit, long text wraps, nothing cut off).

The cases are those of the area's own snapshot modules; update with
`pytest tests/tui/test_snapshots_sizes.py --snapshot-update`, and look at each changed
one rendered before accepting it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.tui import test_snapshots_main as main
from tests.tui import test_snapshots_meeting as meeting
from tests.tui import test_snapshots_sync as sync
from tests.tui.conftest import make_test_app

SnapCompare = Callable[..., bool]
Setup = Callable[[Pilot[Any]], Awaitable[None]]

SIZES = {"120x40": (120, 40), "80x24": (80, 24)}

CASES: dict[str, Setup] = {
    **{
        name: main.keys_then_settle(main.CASES[name])
        for name in (
            "home",
            "circle_overview",
            "circle_insights",
            "goal_detail",
            "form_member",
            "form_checkin",
        )
    },
    **{
        name: meeting.then_settle(meeting.CASES[name])
        for name in (
            "meeting_checkin",
            "meeting_review",
            "meeting_kickoff_agreements",
            "meeting_pulse",
        )
    },
    "invite": sync.push_then_settle(sync.MODALS["invite"]),
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("case", list(CASES))
def test_screen_at(case: str, size: str, demo_home: Path, snap_compare: SnapCompare) -> None:
    app = make_test_app(demo_home)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=CASES[case])
