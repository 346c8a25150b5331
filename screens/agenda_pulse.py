"""The agenda's pulse step: each present member rates the meeting, 1 to 5 per aspect."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from screens.agenda_step import AgendaStep, StepTable
from screens.widgets import MISSING, cell, styled
from xcircle.domain import PULSE_ASPECTS
from xcircle.services.pulses import MIN_AGGREGATE

if TYPE_CHECKING:
    from xcircle.merge import Record


class PulseStep(AgendaStep):
    """Each present member rates support, confidence and learning, 1 to 5."""

    TITLE = "Pulse"
    SHORT = "Pulse"
    COLUMNS = ("Member", *(a.capitalize() for a in PULSE_ASPECTS), "")
    HINT = "Type 1–5 in a cell; a pulse is saved once all three are rated · d removes · u undoes"
    WRITES = frozenset({"rate", "remove"})
    BINDINGS = [
        *(
            Binding(
                str(n),
                f"rate({n})",
                "Rate 1–5",
                key_display="1–5",
                show=n == 1,
                tooltip="Rate the highlighted cell from 1 (low) to 5 (high)",
                id=f"pulse.rate{n}",
            )
            for n in range(1, 6)
        ),
        Binding(
            "d",
            "remove",
            "Remove",
            tooltip="Remove the highlighted member's pulse (u undoes)",
            id="pulse.remove",
        ),
    ]

    def __init__(self, circle: str, meeting: str, *, id: str) -> None:
        super().__init__(circle, meeting, id=id)
        self.drafts: dict[str, dict[str, int]] = {}

    def body(self) -> ComposeResult:
        yield StepTable(cursor_type="cell", zebra_stripes=True)
        yield Static(id="pulse-aggregate", markup=False)

    def reload(self) -> None:
        super().reload()
        self.show_aggregate()

    def show_aggregate(self) -> None:
        """In a shared circle, the circle's aggregate: all that others see of a pulse."""
        aggregate = self.query_one("#pulse-aggregate", Static)
        aggregate.display = self.services.circles.is_shared(self.circle)
        if not aggregate.display:
            return
        agg = self.services.pulses.aggregate(self.circle, self.meeting)
        if agg.count < MIN_AGGREGATE:
            aggregate.update(
                styled(
                    "[b]The circle[/b]: $n rated  [$text-muted](the averages show from "
                    "$min pulses on, so each pulse stays private)[/]",
                    n=agg.count,
                    min=MIN_AGGREGATE,
                )
            )
            return
        means = " · ".join(
            f"{a} {getattr(agg, a):.1f}" for a in PULSE_ASPECTS if getattr(agg, a) is not None
        )
        aggregate.update(
            styled(
                "[b]The circle[/b]: $n rated · $means  [$text-muted](each pulse stays private)[/]",
                n=agg.count,
                means=means,
            )
        )

    def prepare(self) -> None:
        self.table.move_cursor(column=1)

    def saved(self) -> dict[str, Record]:
        """Each member's saved pulse for this meeting."""
        return self.services.pulses.for_meeting(self.circle, self.meeting)

    def private(self, saved: Record) -> bool:
        """A saved pulse another member gave on their own device: not shown here."""
        return bool(saved) and not self.services.pulses.shown(self.circle, saved)

    def values(self, member: str, saved: Record) -> tuple[dict[str, int], bool]:
        """A member's ratings (`saved`, then this session's unsaved ones) and if saved."""
        if self.private(saved):
            return {}, True
        values: dict[str, int] = {a: int(saved[a]) for a in PULSE_ASPECTS if a in saved}
        draft = self.drafts.get(member, {})
        return {**values, **draft}, bool(saved) and not draft

    def rows(self) -> Iterable[tuple[str, Sequence[object]]]:
        pulses = self.saved()  # one read for every row
        for m in self.members(present_only=True):
            values, saved = self.values(m["id"], pulses.get(m["id"], {}))
            if self.private(pulses.get(m["id"], {})):
                yield m["id"], (cell(m["name"]), *("•" for _ in PULSE_ASPECTS), "✓ given")
                continue
            ratings = [str(values.get(a, "·")) for a in PULSE_ASPECTS]
            status = "✓ saved" if saved else ("… unsaved" if values else "")
            yield m["id"], (cell(m["name"]), *ratings, status)

    def action_rate(self, value: int) -> None:
        member = self.table.current_key
        if member is None:
            return
        column = min(max(self.table.cursor_column, 1), len(PULSE_ASPECTS))
        saved = self.saved().get(member, {})
        if self.private(saved):
            self.notify(
                "They gave their pulse on their own device: only the circle's "
                "aggregate is shown, and only they can change it.",
                markup=False,
            )
            return
        values, _ = self.values(member, saved)
        values[PULSE_ASPECTS[column - 1]] = value
        if all(a in values for a in PULSE_ASPECTS):
            ratings: dict[str, Any] = {a: values[a] for a in PULSE_ASPECTS}
            pulses = self.services.pulses

            def record() -> None:
                if saved:  # a correction: the old pulse goes, in the same write
                    pulses.edit(self.circle, saved["id"], **ratings)
                    before = {a: saved[a] for a in PULSE_ASPECTS}
                    self.remember(
                        "the correction of a pulse",
                        lambda: pulses.edit(self.circle, self.latest_id(member), **before),
                    )
                else:
                    pulses.record(self.circle, self.meeting, member, **ratings)
                self.drafts.pop(member, None)  # before `attempt` shows the row again

            self.attempt(record)
        else:
            self.drafts[member] = values
            self.reload()
        row = self.table.cursor_row
        if column < len(PULSE_ASPECTS):
            self.table.move_cursor(row=row, column=column + 1)
        else:
            self.table.move_cursor(row=min(row + 1, self.table.row_count - 1), column=1)

    def latest_id(self, member: str) -> str:
        return str(self.saved()[member]["id"])

    def action_remove(self) -> None:
        member = self.table.current_key
        if member is None:
            return
        if self.drafts.pop(member, None) is not None:
            self.reload()
            return
        saved = self.saved().get(member)
        if not saved:
            return
        pulses, removed = self.services.pulses, []
        self.attempt(lambda: removed.append(pulses.remove(self.circle, saved["id"])))
        if removed:
            self.notify("Pulse removed · u undoes", timeout=3, markup=False)
            self.remember("the removal of a pulse", lambda: pulses.restore(self.circle, removed[0]))

    def unsaved(self) -> list[str]:
        names = self.services.members.names(self.circle)
        return [
            f"{names.get(m, MISSING)}'s pulse ("
            + " ".join(str(d.get(a, "·")) for a in PULSE_ASPECTS)
            + ")"
            for m, d in self.drafts.items()
            if d
        ]

    def discard(self) -> None:
        self.drafts.clear()
