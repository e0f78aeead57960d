"""Snowflake: `ASOF JOIN ... MATCH_CONDITION`, QUALIFY and `* EXCLUDE`; no local file reads.

Unquoted identifiers resolve upper-case in Snowflake, so `SqlDialect.finish` upper-cases them before
quoting (`userId` -> "USERID"): a quoted "userId" would name a different column.
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect


class SnowflakeDialect(SqlDialect):
    name = "snowflake"
    sqlglot_name = "snowflake"
    SESSION_TIME_ZONE = "ALTER SESSION SET TIMEZONE = 'UTC'"
    SUPPORTS_ASOF_MATCH_CONDITION = True
    SUPPORTS_QUALIFY = True
    STAR_EXCEPT = True

    def ttl_lower_bound(self, timestamp: exp.Expression, seconds: int) -> exp.Expression:
        # TimestampSub renders as TIMESTAMPADD(SECOND, n * -1, ts); a negative literal reads better.
        return exp.TimestampAdd(this=timestamp, expression=exp.Literal.number(-seconds), unit=exp.var("SECOND"))

    def spine_row_number(self) -> exp.Expression:
        # Snowflake documents ROW_NUMBER's ORDER BY as mandatory; a constant numbers rows as they are read.
        return exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[self.ascending_never_null(exp.Null())]))
