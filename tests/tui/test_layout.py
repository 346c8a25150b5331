"""What the screens show, and that it is true and fits: one header per table, trends on
absolute scales, a year where it is not this year, overdue said, footers that fit at
80×24, agreements that wrap, forms that start where the work is, codes shown whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, TextArea
from textual.widgets._footer import FooterKey

from screens.agenda import AgreementsStep, PulseStep
from screens.forms import MemberForm
from screens.meeting import MeetingScreen
from screens.syncforms import InviteModal
from screens.widgets import Footer, LabelledSparkline, WrappedList, trend, when_text
from tests.tui.conftest import SIZE, make_test_app, next_meeting, screen_text, settle
from tests.tui.test_circle import open_leading

SMALL = (80, 24)


def test_trend_is_drawn_on_the_absolute_scale() -> None:
    # Attendance from 100% to 80% is a small step down, not full to empty.
    assert trend([100, 80], 0, 100, 2) == "█▇"
    assert trend([5, 4, 1], 1, 5, 3) == "█▆▁"
    assert trend([3, 3], 1, 5, 2) == "▅▅"  # a flat series sits mid-scale, not at the top
    assert trend(list(range(0, 101, 10)), 0, 100, 4) == "▆▇▇█"  # the latest values fit
    assert trend([100, 80], 0, 100, 10) == "███▇▇▇"  # few values: wider bars


async def test_insights_draw_attendance_and_pulses_on_fixed_scales(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_leading(pilot)
        await pilot.press("5")
        await settle(pilot)
        attendance = screen.query_one("#attendance", LabelledSparkline)
        data = app.services.insights.attendance(screen.circle)
        assert attendance.bars and attendance.bars == trend(data, 0, 100, len(attendance.bars))
        support = screen.query_one("#support", LabelledSparkline)
        assert support.scale == (1, 5)
        assert attendance.bars in screen_text(app)
        # "% kept" counts reviewed commitments only: an open one is not yet missed.
        kept = app.services.insights.kept(screen.circle)
        counts = app.services.insights.commitments(screen.circle)
        assert kept.reviewed == sum(counts.values()) - counts["open"] and counts["open"]
        assert f"{kept.percent}% kept of {kept.reviewed} reviewed" in screen_text(app)


async def test_agreement_and_pulse_steps_have_one_header(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    async with app.run_test(size=SIZE) as pilot:
        for prefix, step_type in (("Data", AgreementsStep), ("Leading", PulseStep)):
            circle, meeting = next_meeting(svc, prefix)
            await app.push_screen(MeetingScreen(circle, meeting))
            await settle(pilot)
            step = app.screen.query_one(step_type)
            assert len(step.table.columns) == len(step_type.COLUMNS)
            app.pop_screen()
            await settle(pilot)


async def test_next_meeting_shows_the_year_only_when_not_this_year(demo_home: Path) -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert when_text("2026-11-26T18:00+00:00", now=now) == "Thu 26 Nov 18:00"
    assert when_text("2027-01-06T18:00+00:00", now=now) == "Wed 06 Jan 2027 18:00"
    app = make_test_app(demo_home)
    svc = app.services
    circle = svc.circles.create("Winter Circle")["id"]
    svc.meetings.plan(circle, now + timedelta(days=44))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "Wed 06 Jan 2027 18:00".replace("18:00", "10:00") in text
        assert "Thu 26 Nov 18:00" in text and "Thu 26 Nov 2026" not in text


async def test_due_soon_says_which_commitments_are_overdue(demo_home: Path) -> None:
    app = make_test_app(demo_home)  # the demo's 17 Nov commitment, seen on 23 Nov
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "17 Nov 2026 · overdue" in screen_text(app)


def visible_keys(footer: Footer) -> list[FooterKey]:
    return [k for k in footer.query(FooterKey) if k.display]


async def assert_footer_fits(pilot: Pilot[object]) -> None:
    await settle(pilot)
    footer = pilot.app.screen.query_one(Footer)
    keys = visible_keys(footer)
    assert keys
    right = footer.region.right
    assert all(k.region.right <= right for k in keys)
    assert all(k.region.width >= len(k.description) for k in keys)
    # The palette key is docked right: no key may run under it.
    palette = [k for k in keys if k.has_class("-command-palette")]
    others = [k for k in keys if not k.has_class("-command-palette")]
    if palette:
        assert all(k.region.right <= palette[0].region.x for k in others)
    assert any(k.action in ("help", "app.help") for k in others)  # Help lists what was left out


async def test_footers_fit_at_80x24(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SMALL) as pilot:
        await assert_footer_fits(pilot)  # home
        await open_leading(pilot)
        await assert_footer_fits(pilot)
        circle, meeting = next_meeting(app.services, "Leading")
        await app.push_screen(MeetingScreen(circle, meeting))
        await assert_footer_fits(pilot)  # planned: Start, Reschedule…
        app.pop_screen()
        app.services.meetings.start(circle, meeting)
        for step in (0, 1, 2, 3, 4):
            app.services.meetings.set_step(circle, meeting, step)
            await app.push_screen(MeetingScreen(circle, meeting))
            await assert_footer_fits(pilot)
            app.pop_screen()


async def test_agreements_wrap_at_80x24(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    async with app.run_test(size=SMALL) as pilot:
        screen = await open_leading(pilot)
        agreements = screen.query_one("#agreements", WrappedList)
        assert agreements.option_count
        text = " ".join(screen_text(app).split())
        for a in app.services.circles.agreements(screen.circle)[:2]:
            assert " ".join(a["text"].split()) in text or a["text"].split()[-1] in text
        first = app.services.circles.agreements(screen.circle)[0]["text"]
        assert first.split()[-1].rstrip(".") in text  # its last word is on screen


async def test_member_org_tab_takes_the_known_organization(demo_home: Path) -> None:
    app = make_test_app(demo_home)
    svc = app.services
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        circle = svc.circles.resolve("Leading")
        orgs = {m["org"] for m in svc.members.all(circle)}
        for typed in ("northwind health", "Northw"):
            await app.push_screen(MemberForm(circle))
            await settle(pilot)
            keys = ["space" if c == " " else c for c in typed]
            await pilot.press(*"Zoe", "tab", *keys)
            form = app.screen
            await pilot.pause()
            await pilot.press("tab")
            await pilot.pause()
            assert form.query_one("#org", Input).value == "Northwind Health"
            await pilot.press("ctrl+s")
            await settle(pilot)
        assert {m["org"] for m in svc.members.all(circle)} == orgs


async def test_invite_code_is_shown_whole_and_copy_says_so(demo_home: Path) -> None:
    code = "xci_3q2PZkWm9xV0c1bR7tY4uA8sE6dF5gH2jK0lN9oQ@https://exchange.example.org"
    app = make_test_app(demo_home)
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await app.push_screen(InviteModal(code))
        await settle(pilot)
        area = app.screen.query_one("#code", TextArea)
        assert area.text == code and area.read_only
        # Wrapped, never scrolled: every character of it is on screen.
        assert area.virtual_size.width <= area.size.width
        assert area.wrapped_document.height == area.size.height > 1
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert copied == [code]
        assert isinstance(app.screen, InviteModal)  # still there to select by hand
        assert "OSC 52" in screen_text(app)
