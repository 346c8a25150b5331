"""Text that cannot take over a terminal: the one place that knows which characters are unsafe.

A member's name, a circle's purpose or an exchange's error message may come from anyone
(typed here, synced from another organization, answered by a hostile server). Written to
a terminal, C0/C1 control characters start escape sequences (clear the screen, set the
window title, write the clipboard with OSC 52…) and bidi overrides reorder what a reader
sees. So:

- at input, `problem()` names the first unsafe character, and services and the schema
  refuse it (newline and tab are allowed only in multi-line fields);
- at output, `line()`/`block()` strip whatever got past (old data, a peer's op written
  before this check, an error message), and `json_safe()` escapes it inside JSON text.

Every unsafe character is zero cells wide, so stripping never changes a layout.
"""

from __future__ import annotations

import re
from typing import Final

# C0 controls but newline and tab, DEL, and the C1 controls (U+0080–U+009F: U+009B is a
# one-character CSI on some terminals).
_C0: Final = "".join(chr(c) for c in range(0x20))
_C1: Final = "".join(chr(c) for c in range(0x80, 0xA0))
_CONTROLS: Final = _C0 + "\x7f" + _C1
# Bidi embeddings, overrides and isolates ("Trojan Source", CVE-2021-42574).
BIDI: Final = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_MULTILINE_OK: Final = "\n\t"

_UNSAFE_BLOCK: Final = re.compile(
    "[" + re.escape("".join(c for c in _CONTROLS if c not in _MULTILINE_OK) + BIDI) + "]"
)
_UNSAFE_LINE: Final = re.compile("[" + re.escape(_CONTROLS + BIDI) + "]")
_LINE_BREAKS: Final = str.maketrans({"\n": " ", "\t": " "})
_JSON_UNSAFE: Final = re.compile("[" + re.escape("\x7f" + _C1 + BIDI) + "]")


def describe(ch: str) -> str:
    """How an error names an unsafe character: `U+001B (a control character)`."""
    kind = {"\n": "a line break", "\t": "a tab"}.get(
        ch, "a bidi override" if ch in BIDI else "a control character"
    )
    return f"U+{ord(ch):04X} ({kind})"


def problem(text: str, *, multiline: bool = False) -> str | None:
    """The first unsafe character of `text`, described, or None if it is safe to keep."""
    found = (_UNSAFE_BLOCK if multiline else _UNSAFE_LINE).search(text)
    return describe(found.group()) if found else None


def is_safe(text: str, *, multiline: bool = False) -> bool:
    """True if `text` holds no character a terminal would act on (schema check)."""
    return (_UNSAFE_BLOCK if multiline else _UNSAFE_LINE).search(text) is None


def line(text: object) -> str:
    """`text` for one line of a terminal: line breaks and tabs become spaces, every
    other control character and bidi override is dropped."""
    return _UNSAFE_LINE.sub("", str(text).translate(_LINE_BREAKS))


def block(text: object) -> str:
    """`text` for several lines: newlines and tabs stay, every other control character
    and bidi override is dropped."""
    return _UNSAFE_BLOCK.sub("", str(text))


def needs_strip(text: str) -> bool:
    """True if `text` holds any control character (newline and tab too) or bidi override."""
    return _UNSAFE_LINE.search(text) is not None


def strip_all(text: str) -> str:
    """`text` without any control character (newline and tab too) or bidi override: what
    may sit inside one rendered terminal line."""
    return _UNSAFE_LINE.sub("", text)


def json_safe(encoded: str) -> str:
    """JSON text with DEL, C1 controls and bidi overrides written as `\\uXXXX` escapes.

    Such characters can only sit inside JSON strings, where the escape means the same
    character: the value is unchanged, the terminal sees only ASCII for them. (JSON
    encoders already escape C0 controls.)
    """
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)
