"""Characters that can break a line or hide text, in text that came from a spec.

A `--` comment in SQL ends at a line break, so a spec value holding one (a dataset path written as a YAML
double-quoted string with `\\n`) would turn the rest of the value into a statement of a compiled file.
The parser refuses such characters where a value is a name, path or locator (`first_control`), and every
comment line fcompile writes shows them as backslash escapes (`comment_line`). What counts: control
characters (Unicode Cc), line and paragraph separators (Zl, Zp) and format characters such as
bidirectional overrides (Cf), which can make a line read differently from what it holds.
"""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
LINE_WHITESPACE = frozenset("\n\r\t")  # what free text and SQL queries may hold


def is_control(char: str) -> bool:
    return unicodedata.category(char) in _CATEGORIES


def first_control(text: str, allowed: frozenset[str] = frozenset()) -> int | None:
    """The index of the first control character in `text` that is not in `allowed`, or None."""
    return next((i for i, c in enumerate(text) if c not in allowed and is_control(c)), None)


def escape_controls(text: str) -> str:
    """`text` on one line, each control character written as an escape (`\\n`, `\\x1b`, `\\u202e`)."""
    return "".join(_escape(c) if is_control(c) else c for c in text)


def comment_line(text: str) -> str:
    """A `-- ` comment line holding `text`, which cannot end the comment (see `escape_controls`)."""
    return "-- " + escape_controls(text)


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
