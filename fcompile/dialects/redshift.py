"""Amazon Redshift (compile-only): QUALIFY, but no ASOF join, no `* EXCLUDE`, no CREATE OR REPLACE TABLE
and no local file reads.

sqlglot spells `exp.TimestampSub` as a TIMESTAMP_SUB function Redshift does not have (without raising),
so ttl bounds are `DATEADD(SECOND, -n, ts)`. A QUALIFY right after an unaliased FROM relation is an
error in Redshift, so a select without a WHERE ranks in a subquery (the QUALIFY_NEEDS_WHERE flag).
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.expressions.traits import ExpressionTraits


class RedshiftDialect(SqlDialect):
    name = "redshift"
    sqlglot_name = "redshift"
    SESSION_TIME_ZONE = "SET timezone TO 'UTC'"
    SUPPORTS_CREATE_OR_REPLACE_TABLE = False
    TRANSACTIONAL_DDL = True
    SUPPORTS_QUALIFY = True
    QUALIFY_NEEDS_WHERE = True
    RUNNABLE = False
    EXPRESSIONS = ExpressionTraits(int_division="slash", extremes_skip_nulls=True)
    # binary UTF-8 order by default, but a database or column may be made case-insensitive
    STRINGS_ORDER_BY_BYTES = False

    def byte_order(self, value: exp.Expression) -> exp.Expression:
        # the COLLATE function's case-sensitive collation, Redshift's default: binary UTF-8 order (sqlglot
        # spells an exp.Collate as PostgreSQL's `x COLLATE 'cs'`, which Redshift does not have)
        return exp.Anonymous(this="COLLATE", expressions=[value, exp.Literal.string("case_sensitive")])

    def ttl_lower_bound(self, timestamp: exp.Expression, seconds: int) -> exp.Expression:
        return exp.DateAdd(this=timestamp, expression=exp.Literal.number(-seconds), unit=exp.var("SECOND"))

    def epoch_microseconds(self, time: exp.Expression) -> exp.Expression:
        # DATEDIFF counts microsecond boundaries crossed: the exact difference, as a BIGINT
        epoch = exp.cast(exp.Literal.string("1970-01-01 00:00:00"), "TIMESTAMP")
        return exp.Anonymous(this="DATEDIFF", expressions=[exp.var("MICROSECOND"), epoch, time])
