"""A meeting run together on every member's device: the facilitator's device drives it,
the others follow.

What a meeting is at any moment (its agenda step, the round's presenter, phase, peer
and timer) is synced data: the `meeting` and `round` records, written only by the
device that drives (`Meetings.drives`). A following device shows that state as it
arrives and offers only its own member's input (feedback, reflection, commitment,
pulse, attendance); the countdown is derived from the synced start time, never ticked.
This module holds what the meeting and round screens share to do it.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.widget import Widget

from screens.sync import SyncController


def on_data_change(node: Widget, callback: Callable[[], None]) -> None:
    """Call `callback` (on the UI thread) whenever a sync may have changed the store.

    The app's sync controller sets its `state` at the start and the end of every sync,
    after the pulled ops are applied; an app without one (a test harness) never calls."""
    controller = getattr(node.app, "sync", None)
    if isinstance(controller, SyncController):
        node.watch(controller, "state", lambda _state: callback(), init=False)


def following_text(name: str) -> str:
    """The line a following device shows: whose device runs the meeting."""
    return f"Following {name}, who runs the meeting"
