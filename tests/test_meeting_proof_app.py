"""The app half of the proof: the meeting of `tests.test_meeting_proof.SCRIPT` run in the
app with Pilot (keys and forms, as a facilitator would) ends in the same state as the
same meeting run from the CLI alone."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Select

from screens.meeting import MeetingScreen, PlanMeetingScreen
from tests.test_meeting_proof import FIRST, MEMBERS, SECOND, meeting_state, run_cli
from tests.tui.conftest import FIXED_NOW, make_test_app
from xcircle.services import Services
from xcircle.store import Store


async def fill(pilot: Pilot[None], **values: str) -> None:
    """Fill the open form's inputs and selects by id, then save it (ctrl+s)."""
    await pilot.pause()
    form = pilot.app.screen
    for name, value in values.items():
        widget = form.query_one(f"#{name}")
        if isinstance(widget, Select):
            widget.value = value
        else:
            assert isinstance(widget, Input)
            widget.value = value
    await pilot.press("ctrl+s")
    await pilot.pause()
    assert pilot.app.screen is not form, "the form did not save"


async def plan(pilot: Pilot[None], circle: str, day: str) -> str:
    ids: list[str | None] = []
    await pilot.app.push_screen(PlanMeetingScreen(circle), ids.append)
    await fill(pilot, date=day, time="18:00", zone="Europe/Paris", themes="")
    assert ids and ids[0]
    return ids[0]


async def press(pilot: Pilot[None], *keys: str) -> None:
    await pilot.press(*keys)
    await pilot.pause()


async def test_the_same_meeting_in_the_app_ends_as_from_the_cli(tmp_path: Path) -> None:
    run_cli(tmp_path / "cli")
    home = tmp_path / "app"
    with Store(home) as store:
        svc = Services(store, clock=lambda: FIXED_NOW)
        svc.init_profile("Ada Lovelace", "Acme", zone="Europe/Paris")
        circle = svc.circles.create("Leaders")["id"]
        for name, org in MEMBERS:
            svc.members.add(circle, name, org=org)
    app = make_test_app(home)
    async with app.run_test(size=(100, 32)) as pilot:
        names = {m["name"]: m["id"] for m in app.services.members.all(circle)}
        # -- the kick-off --------------------------------------------------------------
        first = await plan(pilot, circle, FIRST)
        await app.push_screen(MeetingScreen(circle, first))
        await pilot.pause()
        await press(pilot, "s", "y")  # start, yes
        await press(pilot, "a", "down", "down", "space")  # all present, then Cy absent
        await press(pilot, "right_square_bracket", "right_square_bracket", "enter")  # round
        # Ada presents first (the rotation); Bob is her one peer.
        await press(pilot, "n", "n", "a")  # → feedback; advice, typed in the wrong field
        await fill(pilot, text="Wrong field")
        await press(pilot, "k", "e")  # correct: edit it
        await fill(pilot, kind="question", text="What would change?")
        await press(pilot, "escape", "c")
        await fill(pilot, text="Typo, remove me")
        await press(pilot, "k", "down", "d", "escape")  # correct: remove the typo
        await press(pilot, "n", "n", "m")  # → reflect → commit
        await fill(pilot, text="Write it down", due="2099-12-08")
        await press(pilot, "n", "n", "n", "s")  # Bob presents; Ada's support
        await fill(pilot, text="A bold move")
        await press(pilot, "n", "n", "m")
        await fill(pilot, text="Ask my director", due="2099-12-10")
        await press(pilot, "n", "escape")  # the round is done; back to the meeting
        await press(pilot, "right_square_bracket", "right_square_bracket")  # → pulse
        await press(pilot, "4", "4", "5", "3", "4", "4")
        await press(pilot, "x")
        await fill(pilot)  # closing notes: none
        await press(pilot, "escape")  # after closing: done
        await press(pilot, "escape")  # back to the circle
        # -- the second meeting ---------------------------------------------------------
        second = await plan(pilot, circle, SECOND)
        await app.push_screen(MeetingScreen(circle, second))
        await pilot.pause()
        await press(pilot, "s", "y", "a", "right_square_bracket")  # start, all present → review
        await press(pilot, "k", "down", "r")  # "Write it down" kept; renegotiate the other
        await fill(pilot, text="Email my director", due="2099-12-20")
        await press(pilot, *["right_square_bracket"] * 3)  # → pulse
        await press(pilot, "down", "down", "5", "3", "4")  # Cy's pulse
        await press(pilot, "x")
        await fill(pilot)
        await press(pilot, "escape")
        assert app.services.meetings.get(circle, second)["status"] == "closed"
        assert names  # the app knew the members it was given
    with Store(home, read_only=True) as store:
        in_app = meeting_state(Services(store))
    with Store(tmp_path / "cli", read_only=True) as store:
        from_cli = meeting_state(Services(store))
    assert in_app == from_cli
