"""Small reusable widgets and formatters shared by xcircle's screens.

Everything a member typed passes through `Content` (never markup parsing), and every
time is shown in the member's local zone, so these helpers are the one place that
decides how names, dates and trends look.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.segment import Segment
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Horizontal
from textual.content import Content
from textual.filter import LineFilter
from textual.widget import Widget
from textual.widgets import DataTable, Label, OptionList, Static
from textual.widgets import Footer as TextualFooter
from textual.widgets._footer import FooterKey
from textual.widgets.option_list import Option

from xcircle import safetext
from xcircle.errors import XCircleError

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.screen import Screen

    from screens.sync import SyncController
    from xcircle.services import Services

MISSING = "—"


def literal(text: object) -> Content:
    """User text as plain content: `[b]` in a member's name stays `[b]`, and control
    characters and bidi overrides are dropped (`xcircle.safetext`)."""
    return Content(safetext.block(text))


def cell(text: object, style: str = "") -> Text:
    """A DataTable cell of user text: a Rich `Text`, so it is measured and never parsed;
    one line, without control characters or bidi overrides."""
    return Text(safetext.line(text), style=style, no_wrap=True)


def styled(markup: str, **values: object) -> Content:
    """Our own markup with `$name` slots filled by user text, inserted literally and
    without control characters or bidi overrides."""
    return Content.from_markup(markup, **{k: safetext.block(v) for k, v in values.items()})


class TerminalSafe(LineFilter):
    """The last line of defence: drops control characters and bidi overrides from every
    rendered line, whatever widget (an Input, a title, a toast) let them through.

    Every such character is zero cells wide, so a line keeps its width."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        if not any(safetext.needs_strip(seg.text) for seg in segments):
            return segments
        out = []
        for seg in segments:
            if seg.control or not safetext.needs_strip(seg.text):
                out.append(seg)
            elif text := safetext.strip_all(seg.text):
                out.append(Segment(text, seg.style))
        return out


def to_local(iso: str, zone: str = "") -> datetime:
    """A stored, zoned ISO time in `zone` (the profile's), else the machine's zone."""
    when = datetime.fromisoformat(iso)
    if zone:
        try:
            return when.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return when.astimezone()


def when_text(
    iso: str | None, zone: str = "", *, year: bool = False, now: datetime | None = None
) -> str:
    """A meeting time as people say it: `Thu 26 Nov 18:00` in the local zone, with the
    year when asked, or when it is not the year of `now`."""
    if not iso:
        return MISSING
    local = to_local(iso, zone)
    if now is not None and to_local(now.isoformat(), zone).year != local.year:
        year = True
    return local.strftime("%a %d %b %Y %H:%M" if year else "%a %d %b %H:%M")


def date_text(iso: str | None) -> str:
    """A date (or the date of a date-time) as `26 Nov 2026`."""
    if not iso:
        return MISSING
    day = datetime.fromisoformat(iso).date() if "T" in iso else date.fromisoformat(iso)
    return day.strftime("%d %b %Y")


def counts_text(counts: dict[str, int]) -> str:
    """`Northwind 3 · Riverside 2` from a name→count mapping."""
    return " · ".join(f"{name} {n}" for name, n in counts.items()) or MISSING


def bar(value: float, width: int = 10) -> str:
    """A progress bar of block characters for a 0–100 value."""
    filled = round(max(0.0, min(100.0, value)) / 100 * width)
    return "█" * filled + "░" * (width - filled)


def _same_cell(old: object, new: object) -> bool:
    """Whether a cell shows the same: Rich's `Text ==` ignores the base style (a goal's
    title dims when it is done), so compare that too."""
    if isinstance(old, Text) and isinstance(new, Text):
        return old.plain == new.plain and old.style == new.style and old.spans == new.spans
    return type(old) is type(new) and old == new


class CursorTable(DataTable[object]):
    """A DataTable that keeps its cursor where it was when its rows are replaced."""

    def fill(self, rows: Iterable[tuple[str, Sequence[object]]]) -> None:
        """Replace every row, keeping the cursor on the same row (by key; by place when
        that row is gone) and the scroll where it was: a refresh never moves the view.

        When the rows are the shown ones in the same order, perhaps with more at the end
        (what a live change to a list mostly is), only the changed cells and the new rows
        are touched: DataTable measures every added row on the event loop, so refilling
        200 rows for one new goal cost as much again as painting them."""
        items = list(rows)
        if self._update_in_place(items):
            return
        keep, key = self.cursor_coordinate, self.current_key
        scroll = (self.scroll_x, self.scroll_y)
        self.clear()
        for row_key, cells in items:
            self.add_row(*cells, key=row_key)
        if self.row_count:
            row = min(keep.row, self.row_count - 1)
            if key is not None and key in self.rows:
                row = self.get_row_index(key)
            self.move_cursor(row=row, column=keep.column, animate=False, scroll=False)
            if scroll != (0, 0):  # once the new rows are measured (the scroll is clamped)
                self.call_after_refresh(self.scroll_to, *scroll, animate=False)

    def _update_in_place(self, items: list[tuple[str, Sequence[object]]]) -> bool:
        """Update the changed cells and append the new rows, if the table shows a prefix
        of `items` (same keys, same order, same columns); False (nothing done) else."""
        shown = [str(row.key.value) for row in self.ordered_rows]
        columns = self.ordered_columns
        if not shown or len(items) < len(shown):
            return False
        if [k for k, _ in items[: len(shown)]] != shown:
            return False
        if any(len(cells) != len(columns) for _, cells in items):
            return False
        for row_key, cells in items[: len(shown)]:
            current = self.get_row(row_key)
            for column, old, new in zip(columns, current, cells, strict=True):
                if not _same_cell(old, new):
                    self.update_cell(row_key, column.key, new, update_width=True)
        for row_key, cells in items[len(shown) :]:
            self.add_row(*cells, key=row_key)
        return True

    @property
    def current_key(self) -> str | None:
        """The key of the highlighted row, or None for an empty table."""
        if not self.row_count:
            return None
        key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        return str(key) if key is not None else None


class Table(CursorTable):
    """A row-cursor DataTable whose Enter is shown in the footer as "Open"."""

    BINDINGS = [
        Binding(
            "enter",
            "select_cursor",
            "Open",
            tooltip="Open the highlighted row",
            id="table.open",
        ),
    ]

    DEFAULT_CSS = """
    Table {
        height: 1fr;
        background: $surface;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)


class WrappedList(OptionList):
    """A list of keyed items whose long text wraps (a table row would cut it off at
    80 columns); Enter selects the highlighted one."""

    DEFAULT_CSS = """
    WrappedList { height: auto; background: $surface; }
    """

    def fill(self, items: Iterable[tuple[str, Content]]) -> None:
        """Replace the items, keeping the highlight on the same item (by key; by place
        when it is gone) and the scroll where it was."""
        keep, key, scroll = self.highlighted or 0, self.current_key, self.scroll_y
        self.set_options(Option(text, id=key) for key, text in items)
        if self.option_count:
            index = min(keep, self.option_count - 1)
            if key is not None and key in self.keys:
                index = self.get_option_index(key)
            self.highlighted = index
            if scroll:
                self.call_after_refresh(self.scroll_to, None, scroll, animate=False)

    @property
    def current_key(self) -> str | None:
        """The key of the highlighted item, or None for an empty list."""
        if self.highlighted is None or not self.option_count:
            return None
        return self.get_option_at_index(self.highlighted).id

    @property
    def keys(self) -> list[str]:
        return [str(self.get_option_at_index(i).id) for i in range(self.option_count)]


class TopBar(Horizontal):
    """The screen's title line: where you are, in words, with user text kept literal,
    and on the right the sync state (when this device has joined an exchange)."""

    DEFAULT_CSS = """
    TopBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
        & > .title { width: 1fr; height: 1; padding: 0 1; }
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("", classes="title")
        controller = sync_of(self)
        if controller is not None:
            from screens.sync import SyncStatus  # sync's widgets, never its network code

            yield SyncStatus(controller)

    def show(self, title: str, detail: str = "") -> None:
        """Show `title` (bold) and `detail` (muted), both literal."""
        markup = "[b]$title[/b]" + ("  [$text-muted]$detail[/]" if detail else "")
        self.query_one(".title", Static).update(styled(markup, title=title, detail=detail))

    @property
    def text(self) -> str:
        """The title line as plain text."""
        return str(self.query_one(".title", Static).render())


BARS = "▁▂▃▄▅▆▇█"


def trend(data: Sequence[float], low: float, high: float, width: int) -> str:
    """The last `width` values as bars on the fixed scale `low`–`high`.

    A fixed scale, not the series' own min–max: attendance falling from 100% to 80%
    is a small step down, not full to empty.
    """
    span = (high - low) or 1
    top = len(BARS) - 1
    points = list(data)[-max(width, 0) :] if width > 0 else []
    each = max(1, min(3, width // len(points))) if points else 1  # a few points: wider bars
    return "".join(BARS[round((min(max(v, low), high) - low) / span * top)] * each for v in points)


class Trend(Widget):
    """One bar per value on a fixed scale, the latest on the right."""

    DEFAULT_CSS = """
    Trend { height: 1; color: $success; }
    """

    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = low, high
        self.data: list[float] = []

    def render(self) -> Content:
        return Content(trend(self.data, self.low, self.high, self.size.width))


class LabelledSparkline(Widget):
    """A trend with its name and its latest value, e.g. `Attendance ▂▅▇ 83%`, drawn on
    the absolute scale of what it measures (`scale`, e.g. 0–100 % or a 1–5 rating)."""

    DEFAULT_CSS = """
    LabelledSparkline {
        layout: horizontal;
        height: 1;
        margin: 0 0 1 0;
        & > .name { width: 14; color: $text-muted; }
        & > Trend { width: 1fr; height: 1; }
        & > .value { width: 10; padding: 0 0 0 1; text-align: right; }
    }
    """

    def __init__(
        self,
        title: str,
        data: Sequence[float] = (),
        *,
        scale: tuple[float, float],
        unit: str = "",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.label = title
        self.unit = unit
        self.scale = scale
        self._data = list(data)

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="name")
        line = Trend(*self.scale)
        line.data = self._data
        yield line
        yield Label(self._value_text(), classes="value")

    def _value_text(self) -> str:
        if not self._data:
            return "no data"
        last = self._data[-1]
        shown = f"{last:.0f}" if float(last).is_integer() else f"{last:.1f}"
        return f"{shown}{self.unit}"

    @property
    def bars(self) -> str:
        """The bars as drawn now."""
        line = self.query_one(Trend)
        return trend(self._data, line.low, line.high, line.size.width)

    def set_data(self, data: Sequence[float]) -> None:
        """Replace the series (and the latest value shown beside it)."""
        self._data = list(data)
        if self.is_mounted:
            line = self.query_one(Trend)
            line.data = self._data
            line.refresh()
            self.query_one(".value", Label).update(self._value_text())


def services_of(node: DOMNode) -> Services:
    """The use cases of the running XCircleApp (screens never reach the store directly)."""
    return node.app.services  # type: ignore[attr-defined, no-any-return]


def sync_of(node: DOMNode) -> SyncController | None:
    """The running app's sync controller (None in an app that has none, as in tests)."""
    return getattr(node.app, "sync", None)


def zone_of(node: DOMNode) -> str:
    """The member's zone from their profile ('' means the machine's local zone)."""
    profile = services_of(node).profile() or {}
    return str(profile.get("tz") or "")


def attempt(node: Widget, action: Callable[[], object]) -> bool:
    """Run one use case; its error becomes one line for the user, never a traceback."""
    try:
        action()
    except XCircleError as exc:
        node.notify(str(exc), severity="error", markup=False)
        return False
    return True


def notify_saved(node: Widget) -> Callable[[object], None]:
    """A form's callback that only confirms a save (not an Escape): the screens that
    open forms read their data again when they resume."""

    def after(result: object) -> None:
        if result:
            node.notify("Saved", timeout=2)

    return after


class Footer(TextualFooter):
    """Textual's footer, recomposed only when the keys it shows change.

    The stock footer rebuilds every key widget on each focus change (~3 ms a key); on
    start-up that is most of the time spent after the imports. Same keys, no rebuild.
    """

    _pending = False
    _shown: tuple[object, ...] = ()

    def _signature(self) -> tuple[object, ...]:
        return tuple(
            (key, active.binding.description, active.binding.show, active.enabled)
            for key, active in self.screen.active_bindings.items()
        )

    def bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus or self._pending:
            return
        if self.is_attached and screen is self.screen:
            self._pending = True
            self.call_after_refresh(self._refresh_keys)

    async def _refresh_keys(self) -> None:
        self._pending = False
        if self.is_attached and (shown := self._signature()) != self._shown:
            self._shown = shown
            await self.recompose()
            self.fit()

    def on_resize(self) -> None:
        self.fit()

    def fit(self) -> None:
        """Show only the keys that fit whole: the last ones (the app's) go first, but
        Help stays, since it lists every key. A truncated key teaches nothing.

        Widths are measured from the keys' text and styles, not from a layout, so the
        keys are right from the first frame."""
        every = list(self.query(FooterKey))
        keys = [k for k in every if not k.has_class("-command-palette")]
        room = (self.size.width or self.app.size.width) - sum(
            self.width_of(k) for k in every if k not in keys
        )
        widths = [self.width_of(k) for k in keys]
        room += keys[0].styles.margin.right if keys else 0  # the last key's margin may go
        for i in reversed(range(len(keys))):
            if sum(widths) <= room:
                break
            if keys[i].action not in ("help", "app.help"):
                widths[i] = 0
        for k, width in zip(keys, widths, strict=True):
            k.display = width > 0

    def width_of(self, key: FooterKey) -> int:
        size = self.app.size
        return key.get_content_width(size, size) + key.styles.gutter.width + key.styles.margin.width
