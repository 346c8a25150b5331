"""Undo of the last correction made on a screen (a removed or edited feedback item,
commitment or pulse): one slot, since "undo the last thing I did" is what a facilitator
reaches for in the middle of a meeting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.widget import Widget

from screens.widgets import attempt


@dataclass(frozen=True)
class Undo:
    """What was done, in words, and the use case that takes it back."""

    done: str
    run: Callable[[], object]


class UndoSlot:
    """The last action of a screen that can be undone (a newer one replaces it)."""

    def __init__(self) -> None:
        self.last: Undo | None = None

    def remember(self, done: str, run: Callable[[], object]) -> None:
        self.last = Undo(done, run)

    def undo(self, node: Widget) -> bool:
        """Take the last action back (once); say what happened either way."""
        last, self.last = self.last, None
        if last is None:
            node.notify("Nothing to undo.", markup=False)
            return False
        if attempt(node, last.run):
            node.notify(f"Undone: {last.done}", timeout=3, markup=False)
            return True
        return False
