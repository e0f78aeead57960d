"""Comment lines in SQL that fcompile writes: text from a spec can never end the comment.

A `--` comment ends at a line break, so a spec value holding one (a dataset path written as a YAML
double-quoted string with `\\n`) would turn the rest of the value into a statement of the file. Every
character that can break a line or hide text from a reader (control characters, Unicode line and paragraph
separators, format characters such as bidirectional overrides) is written as a backslash escape instead.
"""

from __future__ import annotations

import unicodedata

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def comment_text(text: str) -> str:
    """`text` on one line, each control, separator or format character written as an escape."""
    return "".join(_escape(c) if unicodedata.category(c) in _ESCAPED_CATEGORIES else c for c in text)


def comment_line(text: str) -> str:
    """A `-- ` comment line holding `text` (escaped with `comment_text`)."""
    return "-- " + comment_text(text)


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
