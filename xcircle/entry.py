"""The `xcircle` console script: open the TUI at once, or hand over to the CLI.

Bare `xcircle` (optionally with `--home DIR`) is the most common start and only needs
the TUI, so it skips importing click and the command modules (~60 ms measured);
everything else goes through the click CLI in `xcircle.cli`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path


def tui_home(args: Sequence[str]) -> tuple[bool, Path | None]:
    """`(True, home)` when `args` only ask for the TUI, else `(False, None)`."""
    if not args:
        return True, None
    if len(args) == 2 and args[0] == "--home" and args[1] and not args[1].startswith("-"):
        return True, Path(args[1])
    if len(args) == 1 and args[0].startswith("--home=") and len(args[0]) > len("--home="):
        return True, Path(args[0].removeprefix("--home="))
    return False, None


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    only_tui, home = tui_home(args)
    if only_tui:
        try:
            from screens.app import run_tui
        except ImportError:
            pass  # a build without the TUI: the CLI says so in its own words
        else:
            sys.exit(run_tui(home, demo=False))
    from xcircle.cli import main as cli_main

    cli_main(args)
