"""How compiled SQL is laid out: sqlglot's pretty printer, with lists one item per line so that a
one-feature change is a one-line diff.

sqlglot prints a SELECT list one item per line, but a window's ORDER BY on one line whatever its
length (the tie-break order of a wide view reached 236 characters), and keeps the parts of a window or
a function's arguments on one line unless their text passes `max_text_width`, even when one of them
already spans lines. The generator here differs in exactly those two places:

- a window's ORDER BY with more than one key lists them one per line;
- a window or function whose parts include one that spans lines puts every part on a line of its own.

Everything else, the dialect's spelling included, is the dialect's own generator.
"""

from __future__ import annotations

import functools
from typing import Iterable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.generator import Generator


@functools.lru_cache(maxsize=None)
def readable_generator(sqlglot_name: str) -> type[Generator]:
    """The dialect's generator class with the layout rules above (made once per dialect)."""
    base = Dialect.get_or_raise(sqlglot_name).generator_class

    class ReadableGenerator(base):  # type: ignore[misc, valid-type]
        def order_sql(self, expression: exp.Order, flat: bool = False) -> str:
            if not (self.pretty and isinstance(expression.parent, exp.Window) and len(expression.expressions) > 1):
                return super().order_sql(expression, flat)
            keys = ",\n".join(self.sql(key) for key in expression.expressions)
            return f"ORDER BY\n{self.indent(keys)}"

        def too_wide(self, args: Iterable[str]) -> bool:
            args = list(args)
            return any("\n" in arg for arg in args) or super().too_wide(args)

    ReadableGenerator.__name__ = f"Readable{base.__name__}"
    return ReadableGenerator


def generate(expression: exp.Expression, sqlglot_name: str, **options) -> str:
    """`expression.sql(dialect=sqlglot_name, **options)`, laid out by `readable_generator`."""
    dialect = Dialect.get_or_raise(sqlglot_name)
    return readable_generator(sqlglot_name)(dialect=dialect, **options).generate(expression)
