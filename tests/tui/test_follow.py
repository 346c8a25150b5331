"""Screens follow the data on one device: changes are gathered into one signal per turn
of the event loop, and a refresh keeps the cursor and the scroll where they were."""

from __future__ import annotations

from pathlib import Path

from screens.circle import CircleScreen
from screens.follow import DataChanged
from screens.widgets import Table
from tests.tui.conftest import SIZE, make_test_app, settle


async def test_changes_are_gathered_into_one_signal_per_loop_turn(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        seen: list[DataChanged] = []
        app.data_changed.subscribe(app.screen, seen.append)
        svc = app.services
        cid = svc.circles.all()[0]["id"]
        goal = svc.goals.add(cid, "Delegate")["id"]
        svc.goals.checkin(cid, goal, progress=10)
        svc.goals.update(cid, goal, title="Delegate more")
        await pilot.pause()
        assert len(seen) == 1
        assert seen[0].circles == {cid} and seen[0].entities == {"goal", "checkin"}
        assert seen[0].concerns(cid, {"checkin"}) and not seen[0].concerns(cid, {"pulse"})
        assert not seen[0].concerns("another circle")


async def test_a_refresh_keeps_the_cursor_on_its_row_and_the_scroll(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        svc = app.services
        cid = svc.circles.all()[0]["id"]
        for n in range(40):
            svc.goals.add(cid, f"Goal {n:02d}")
        circle = CircleScreen(cid, tab="goals")
        await app.push_screen(circle)
        await circle.loaded.wait()
        await settle(pilot)
        table = circle.query_one("#goal-table", Table)
        table.move_cursor(row=30)
        await settle(pilot)
        key, scroll = table.current_key, table.scroll_y
        assert scroll > 0
        svc.goals.add(cid, "A goal from elsewhere")  # another screen, a sync: a change
        await settle(pilot)
        await settle(pilot)
        assert any(
            "A goal from elsewhere" in str(table.get_row_at(i)[0]) for i in range(table.row_count)
        )
        assert table.current_key == key and table.scroll_y == scroll


async def test_a_refill_touches_only_what_changed(demo_home: Path) -> None:
    """The rows shown, in order, plus new ones at the end: only the changed cells are
    updated and the new rows added (the others are not measured again); a cell whose
    text is the same but whose style changed counts as changed. Rows in another order
    are refilled whole, the cursor still on its row."""
    from rich.text import Text

    from screens.widgets import cell

    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = Table()
        await app.screen.mount(table)
        table.add_columns("Title", "Status")
        rows = [(f"g{i}", (cell(f"Goal {i}"), "active")) for i in range(5)]
        table.fill(rows)
        await pilot.pause()
        table.move_cursor(row=3)
        kept = {key: table.rows[key] for key in table.rows}  # the Row objects shown
        done = (cell("Goal 1", "dim"), "done")
        table.fill([*rows[:1], ("g1", done), *rows[2:], ("g5", (cell("Goal 5"), "active"))])
        await pilot.pause()
        assert [str(k.value) for k in table.rows] == [f"g{i}" for i in range(6)]
        assert all(table.rows[key] is row for key, row in kept.items())  # not re-added
        title = table.get_row("g1")[0]
        assert isinstance(title, Text) and title.style == "dim"
        assert table.get_row("g1")[1] == "done"
        assert table.current_key == "g3"
        table.fill(list(reversed(rows)))  # another order: refilled whole
        await pilot.pause()
        assert [str(k.value) for k in table.rows] == [f"g{i}" for i in reversed(range(5))]
        assert table.current_key == "g3"
