"""A meeting run together on every member's device: the facilitator's device drives it,
the others follow.

What a meeting is at any moment (its agenda step, the round's presenter, phase, peer
and timer) is synced data: the `meeting` and `round` records, written only by the
device that drives (`Meetings.drives`). A following device shows that state as it
arrives and offers only its own member's input (feedback, reflection, commitment,
pulse, attendance); the countdown is derived from the synced start time, never ticked.
Both screens refresh on the app's `data_changed` signal (`screens.follow.Follows`).
"""

from __future__ import annotations


def following_text(name: str) -> str:
    """The line a following device shows: whose device runs the meeting."""
    return f"Following {name}, who runs the meeting"
