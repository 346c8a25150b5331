"""What every command shares: one-line errors, output helpers, and the home opened per command.

Only click and the domain's vocabulary are imported here; the services and the store are
imported when a command opens a `session`, so `xcircle --help` stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from xcircle import safetext

if TYPE_CHECKING:
    from xcircle.services import Services

F = TypeVar("F", bound=Callable[..., Any])


# -- errors and output -------------------------------------------------------------------


def echo(text: object = "", *, err: bool = False) -> None:
    """Text for people on stdout (or stderr), without any character that could drive
    the terminal: names and messages may come from other organizations or the exchange
    (`xcircle.safetext`). Every line a command prints goes through here."""
    click.echo(safetext.block(text), err=err)


class UserError(click.ClickException):
    """An error the user can fix: one line `xcircle: error: …` on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        echo(f"xcircle: error: {safetext.line(self.format_message())}", err=True)


def fail(message: str) -> NoReturn:
    raise UserError(message)


def warn(message: str) -> None:
    echo(f"xcircle: warning: {safetext.line(message)}", err=True)


def json_text(value: Any) -> str:
    """One JSON document, indented, with terminal-driving characters escaped."""
    import orjson

    encoded = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    return safetext.json_safe(encoded.decode())


def emit_json(value: Any) -> None:
    """Exactly one JSON value on stdout."""
    click.echo(json_text(value))


def out(as_json: bool, value: Any, text: str) -> None:
    """What a command did: `value` as one JSON value with --json, else `text` for people."""
    if as_json:
        emit_json(value)
    else:
        echo(text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Aligned columns for people; the last column is never padded. A cell is one line
    (a line break in a name would shift every column after it)."""
    cells = [[str(h) for h in headers], *[[safetext.line(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for i, row in enumerate(cells):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        click.echo(click.style(line, bold=True) if i == 0 else line)


def when(at: str | None) -> str:
    """An ISO date-time in this machine's zone, for people."""
    if not at:
        return "-"
    return datetime.fromisoformat(at).astimezone().strftime("%a %d %b %Y %H:%M %Z").strip()


def short(record_id: str) -> str:
    return record_id[:8]


def json_option(f: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print one JSON value instead of text."
    )(f)


# -- the home, opened per command --------------------------------------------------------


@dataclass
class Settings:
    """What the top-level options decided, passed to every command via the context."""

    home_option: Path | None

    @property
    def home(self) -> Path:
        from xcircle.paths import home_dir

        return home_dir(self.home_option)


@contextmanager
def session(
    *, need_profile: bool = True, home: Path | None = None, read_only: bool = False
) -> Iterator[Services]:
    """Open the store for one command: notices become warnings, the lock always released.
    `read_only`: a command that only reads opens the home without its lock, so it works
    while the app has the home open."""
    from xcircle.services import Services
    from xcircle.store import open_store

    settings = click.get_current_context().find_object(Settings)
    home = home or (settings.home if settings else Settings(None).home)
    store = open_store(home, read_only=read_only)
    try:
        for notice in store.notices:
            warn(notice.message)
        if need_profile:
            store.require_profile()
        yield Services(store)
    finally:
        store.close()


def check_zone(zone: str | None) -> str:
    """An IANA zone name the machine knows, or a clear error ("" when not given)."""
    if not zone:
        return ""
    from xcircle.services.meetings import zone_info

    zone_info(zone)
    return zone
