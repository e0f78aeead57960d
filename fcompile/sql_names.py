"""What makes a name safe to use as a SQL identifier on every target warehouse.

Shared by the parser (which rejects unsafe names in specs) and the dialects (which quote what they emit).
sqlglot ships reserved-word lists for some dialects only; the others are written down here from each
warehouse's documentation of its reserved keywords.
"""

from __future__ import annotations

import functools
import re

IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

TARGET_DIALECTS = ("duckdb", "snowflake", "bigquery", "postgres", "spark", "redshift", "trino")

# Words that sqlglot 30.22 has no RESERVED_KEYWORDS list for (snowflake, postgres, spark).
_SNOWFLAKE = """
account all alter and any as between by case cast check column connect connection constraint create
cross current current_date current_time current_timestamp current_user database delete distinct drop
else exists false following for from full grant group gscluster having ilike in increment inner insert
intersect into is issue join lateral left like localtime localtimestamp minus natural not null of on or
order organization qualify regexp revoke right rlike row rows sample schema select set some start table
tablesample then to trigger true try_cast union unique update using values view when whenever where with
"""
_POSTGRES = """
all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
current_catalog current_date current_role current_time current_timestamp current_user default deferrable
desc distinct do else end except false fetch for foreign from grant group having in initially intersect
into lateral leading limit localtime localtimestamp not null offset on only or order placing primary
references returning select session_user some symmetric table then to trailing true union unique user
using variadic when where window with
"""
_SPARK_ANSI = """
all and any anti as authorization both case cast check collate column constraint create cross current_date
current_time current_timestamp current_user distinct else end escape except false fetch filter for foreign
from full grant group having in inner intersect into is join lateral leading left natural not null offset
on only or order outer overlaps primary references right select semi session_user some table then time to
trailing union unique unknown user using when where with
"""


@functools.lru_cache(maxsize=None)
def reserved_words() -> dict[str, frozenset[str]]:
    """Reserved words per target dialect, lower-case."""
    from sqlglot.dialects.dialect import Dialect

    words: dict[str, frozenset[str]] = {
        "snowflake": frozenset(_SNOWFLAKE.split()),
        "postgres": frozenset(_POSTGRES.split()),
        "spark": frozenset(_SPARK_ANSI.split()),
    }
    for name in TARGET_DIALECTS:
        generator = Dialect.get_or_raise(name).generator_class
        listed = {w.lower() for w in getattr(generator, "RESERVED_KEYWORDS", ()) or ()}
        words[name] = frozenset(words.get(name, frozenset()) | listed)
    return words


def dialects_reserving(name: str) -> list[str]:
    """The target dialects in which `name` is a reserved word (case-insensitive)."""
    lowered = name.lower()
    return [d for d, words in reserved_words().items() if lowered in words]
