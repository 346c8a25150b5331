"""Hostile text for tests, and a way to plant it as if it predated the schema's check
(an old home, or a peer's op written before this version refused it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

# Clear the screen, set the window title, write the clipboard (OSC 52), ring the bell,
# a C1 CSI, a bidi override, and markup that must stay text.
HOSTILE = "Ctl\x07\x1b[2JX\x1b]0;PWNED\x07\x1b]52;c;SGVsbG8=\x07\x9b31m\u202eevil[b]bold[/b]"
# What a terminal must never receive raw from it.
RAW_MARKERS = ("\x1b[2JX", "\x1b]0;PWNED", "\x1b]52;c;SGVs", "\x9b31m", "\u202e", "Ctl\x07")
# What is left of it once stripped: the visible characters, literally.
SHOWN = "Ctl[2JX]0;PWNED]52;c;SGVsbG8=31mevil[b]bold[/b]"


@contextmanager
def unchecked() -> Iterator[None]:
    """Let unsafe text past the schema and the services, to build a home as an older
    version (or a peer before this check) could have written it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("xcircle.domain.is_safe", lambda text, multiline=False: True)
        mp.setattr("xcircle.services.context.problem", lambda text, multiline=False: None)
        yield
