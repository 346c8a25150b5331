"""The meeting's time budget in words: what the agenda needs against what the meeting
has, and, when it does not fit, the timeboxes (or the number of presenters) that do.

The numbers come from `services.rounds.budget` (xcircle/timebudget.py); this module
only says them, in the sidebar and on the round's step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content

from screens.widgets import styled
from xcircle.domain import PHASES

if TYPE_CHECKING:
    from xcircle.services import Services
    from xcircle.timebudget import TimeBudget

PHASE_WORDS = {
    "present": "present",
    "questions": "questions",
    "feedback": "feedback each",
    "reflect": "reflect",
    "commit": "commit",
}


def minutes(seconds: int) -> int:
    """Whole minutes, rounded up: a budget never hides a partial minute."""
    return -(-seconds // 60)


def duration_text(seconds: int) -> str:
    """`21 min`, or `9:50 min` when it is not whole minutes."""
    m, s = divmod(seconds, 60)
    return f"{m}:{s:02d} min" if s else f"{m} min"


def timeboxes_text(boxes: object) -> str:
    """`present 4:00 · questions 4:00 · feedback each 1:30 …`."""
    assert isinstance(boxes, dict)
    return " · ".join(
        f"{PHASE_WORDS[p]} {boxes[p] // 60}:{boxes[p] % 60:02d}" for p in PHASES if p in boxes
    )


def budget_text(services: Services, circle: str, meeting: str) -> Content:
    """The sidebar's lines: needed against available, and by how much it is over."""
    b = services.rounds.budget(circle, meeting)
    head = styled(
        "[$text-muted]Time budget[/]\n$needed of $duration min",
        needed=minutes(b.needed),
        duration=minutes(b.duration),
    )
    if b.fits:
        return head + styled("\n[$text-success]✓ fits[/]")
    return head + styled("\n[b $text-warning]$over min over[/]", over=minutes(b.over))


def proposal_text(b: TimeBudget) -> Content:
    """What the round's step says about the budget: the round's share, and when the
    agenda is over the meeting's length, the timeboxes or presenters that fit."""
    lines = [
        styled(
            "Round: $n presenters × $turn = $round min; the whole agenda needs "
            "$needed of the meeting's $duration min.",
            n=b.presenters,
            turn=duration_text(b.turn),
            round=minutes(b.round),
            needed=minutes(b.needed),
            duration=minutes(b.duration),
        )
    ]
    if b.fits:
        return Content("\n").join(lines)
    lines.append(styled("[b $text-warning]$over min over.[/b $text-warning]", over=minutes(b.over)))
    if b.proposed_timeboxes:
        lines.append(
            styled(
                "Timeboxes that fit (t uses them): $boxes",
                boxes=timeboxes_text(dict(b.proposed_timeboxes)),
            )
        )
    if b.max_presenters < b.presenters:
        lines.append(
            styled(
                "Or only $max presenters at these timeboxes.",
                max=b.max_presenters,
            )
        )
    return Content("\n").join(lines)
