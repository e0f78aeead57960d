"""What makes a name safe to use as a SQL identifier on every target warehouse.

Shared by the parser (which rejects unsafe names in specs) and the dialects (which quote what they emit).
sqlglot ships reserved-word lists for some dialects only; the others are written down here from each
warehouse's documentation of its reserved keywords.
"""

from __future__ import annotations

import functools
import re

IDENTIFIER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # use fullmatch: "$" would accept a final newline

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


# The RESERVED_KEYWORDS lists of sqlglot 30.22's generators, copied here so that validating a project
# does not import sqlglot; tests/test_sql_names.py fails if the pinned sqlglot ever disagrees.
SQLGLOT_RESERVED = {
    "duckdb": """
all analyse analyze and any array as asc_p asymmetric both case cast check_p collate column constraint
create_p current_catalog current_date current_role current_time current_timestamp current_user default
deferrable desc_p distinct do else end_p except false_p fetch for foreign from grant group_p having in_p
initially intersect into lateral_p leading limit localtime localtimestamp not null_p offset on only or
order placing primary references returning select session_user some symmetric table then to trailing
true_p union unique user using variadic when where window with
""",
    "bigquery": """
all and any array as asc assert_rows_modified at between by case cast collate contains create cross cube
current default define desc distinct else end enum escape except exclude exists extract false fetch
following for from full group grouping groups hash having if ignore in inner intersect interval into is
join lateral left like limit lookup merge natural new no not null nulls of on or order outer over
partition preceding proto qualify range recursive respect right rollup rows select set some struct
tablesample then to treat true unbounded union unnest using when where window with within
""",
    "redshift": """
aes128 aes256 all allowoverwrite analyse analyze and any array as asc authorization az64 backup between
binary blanksasnull both bytedict bzip2 case cast check collate column constraint create credentials
cross current_date current_time current_timestamp current_user current_user_id default deferrable
deflate defrag delta delta32k desc disable distinct do else emptyasnull enable encode encrypt
encryption end except explicit false for foreign freeze from full globaldict256 globaldict64k grant
group gzip having identity ignore ilike in initially inner intersect interval into is isnull join
leading left like limit localtime localtimestamp lun luns lzo lzop minus mostly16 mostly32 mostly8
natural new not notnull null nulls off offline offset oid old on only open or order outer overlaps
parallel partition percent permissions pivot placing primary raw readratio recover references rejectlog
resort respect restore right select session_user similar snapshot some sysdate system table tag tdes
text255 text32k then timestamp to top trailing true truncatecolumns type union unique unnest unpivot
user using verbose wallet when where with without
""",
    "trino": """
alter and as between by case cast constraint create cross current_time current_timestamp deallocate
delete describe distinct drop else end escape except execute exists extract false for from full group
having in inner insert intersect into is join left like natural not null on or order outer prepare right
select table then true union using values when where with
""",
}


@functools.lru_cache(maxsize=None)
def reserved_words() -> dict[str, frozenset[str]]:
    """Reserved words per target dialect, lower-case."""
    words = {"snowflake": _SNOWFLAKE, "postgres": _POSTGRES, "spark": _SPARK_ANSI, **SQLGLOT_RESERVED}
    return {name: frozenset(words[name].split()) for name in TARGET_DIALECTS}


def dialects_reserving(name: str) -> list[str]:
    """The target dialects in which `name` is a reserved word (case-insensitive)."""
    lowered = name.lower()
    return [d for d, words in reserved_words().items() if lowered in words]
