"""Compiled SQL as highlighted HTML: sqlglot's tokenizer for the file's dialect says what each word is.

Keywords, strings, numbers and quoted identifiers get a class each; what lies between tokens (spaces and
`--` comments) is kept as written, comments in a class of their own. Every character of the file is in
the output, HTML-escaped, in order, so the page shows exactly the SQL a build writes.
"""

from __future__ import annotations

from markupsafe import Markup, escape

STRING_TYPES = frozenset({"STRING", "NATIONAL_STRING", "RAW_STRING", "BIT_STRING", "HEX_STRING", "BYTE_STRING",
                          "UNICODE_STRING", "HEREDOC_STRING"})
NUMBER_TYPES = frozenset({"NUMBER"})
NAME_TYPES = frozenset({"IDENTIFIER", "VAR"})


def highlight_sql(text: str, dialect: str) -> Markup:
    """`text` as HTML with `<span class="sql-…">` around keywords, strings, numbers, identifiers and comments."""
    from sqlglot.dialects.dialect import Dialect

    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(text)
    except Exception:  # a file sqlglot cannot tokenize is still shown, plain (it was re-parsed when built)
        return Markup(escape(text))
    keyword_types = _keyword_types(dialect)
    parts: list[str] = []
    at = 0
    for token in tokens:
        start, end = token.start, token.end + 1
        if start < at or text[start:end].strip() == "":  # a token sqlglot made up (no text of its own)
            continue
        parts.append(_between(text[at:start]))
        name = token.token_type.name
        if name in STRING_TYPES:
            css = "s"
        elif name in NUMBER_TYPES:
            css = "n"
        elif name == "IDENTIFIER":
            css = "i"
        elif name not in NAME_TYPES and token.token_type in keyword_types:
            css = "k"
        else:
            css = ""
        word = escape(text[start:end])
        parts.append(f'<span class="sql-{css}">{word}</span>' if css else str(word))
        at = end
    parts.append(_between(text[at:]))
    return Markup("".join(parts))


def _between(gap: str) -> str:
    """Spaces as they are; any other text between tokens is a comment."""
    if not gap.strip():
        return str(escape(gap))
    lead = len(gap) - len(gap.lstrip())
    trail = len(gap.rstrip())
    return f'{escape(gap[:lead])}<span class="sql-c">{escape(gap[lead:trail])}</span>{escape(gap[trail:])}'


_KEYWORDS: dict[str, frozenset] = {}


def _keyword_types(dialect: str) -> frozenset:
    if dialect not in _KEYWORDS:
        from sqlglot.dialects.dialect import Dialect

        tokenizer = Dialect.get_or_raise(dialect).tokenizer_class
        _KEYWORDS[dialect] = frozenset(tokenizer.KEYWORDS.values())
    return _KEYWORDS[dialect]
