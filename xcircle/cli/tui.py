"""Opening the TUI from the CLI (bare `xcircle` and `xcircle demo`)."""

from __future__ import annotations

from pathlib import Path

import click

TUI_MISSING = "the TUI is not available in this build"


def open_tui(home: Path, *, demo: bool, programme: str | None = None) -> int:
    """Run the TUI (imported only now: textual costs start-up time); `programme` (an
    id) opens its editing screen over the home."""
    try:
        from screens.app import run_tui
    except ImportError:
        click.echo(f"xcircle: error: {TUI_MISSING}", err=True)
        return 1
    if programme is None:
        return run_tui(home, demo=demo)
    return run_tui(home, demo=demo, programme=programme)
