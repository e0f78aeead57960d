"""Snowflake: `ASOF JOIN ... MATCH_CONDITION`, QUALIFY and `* EXCLUDE`; no local file reads.

Unquoted identifiers resolve upper-case in Snowflake, so `SqlDialect.finish` upper-cases them before
quoting (`userId` -> "USERID"): a quoted "userId" would name a different column.

Every compared time is read as a naive UTC time (TIMESTAMP_NTZ): `DATE_PART(EPOCH_MICROSECOND, ts)` is
the instant of a TIMESTAMP_LTZ or _TZ and reads a TIMESTAMP_NTZ as UTC, and `TO_TIMESTAMP_NTZ(n, 6)` turns
those microseconds back into a UTC wall-clock time. Comparisons of two TIMESTAMP_NTZ take no time zone into
account, so the session's TIMEZONE (America/Los_Angeles unless set) plays no part; a TIMESTAMP_NTZ compared
with a TIMESTAMP_LTZ as they come would be read in it.
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.expressions.traits import ExpressionTraits


class SnowflakeDialect(SqlDialect):
    name = "snowflake"
    sqlglot_name = "snowflake"
    SUPPORTS_ASOF_MATCH_CONDITION = True
    SUPPORTS_QUALIFY = True
    STAR_EXCEPT = True
    CONVERTS_TIMES_TO_UTC = True
    EXPRESSIONS = ExpressionTraits(day_of_week="iso_modulo_seven", wall_clock="utc_instant")
    ISO_DAY_OF_WEEK_FUNCTION = "DAYOFWEEKISO"

    def utc_instant(self, time: exp.Expression, zoned: bool = False) -> exp.Expression:
        # one spelling for every type: Snowflake reads no files, so a column's type is never known here
        epoch_us = exp.Anonymous(this="DATE_PART", expressions=[exp.var("EPOCH_MICROSECOND"), time])
        return exp.Anonymous(this="TO_TIMESTAMP_NTZ", expressions=[epoch_us, exp.Literal.number(6)])

    def epoch_microseconds(self, time: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this="DATE_PART", expressions=[exp.var("EPOCH_MICROSECOND"), time])

    def ttl_lower_bound(self, timestamp: exp.Expression, seconds: int) -> exp.Expression:
        # TimestampSub renders as TIMESTAMPADD(SECOND, n * -1, ts); a negative literal reads better.
        return exp.TimestampAdd(this=timestamp, expression=exp.Literal.number(-seconds), unit=exp.var("SECOND"))

    def spine_row_number(self) -> exp.Expression:
        # Snowflake documents ROW_NUMBER's ORDER BY as mandatory; a constant numbers rows as they are read.
        return exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[self.ascending_never_null(exp.Null())]))
