"""Trino (compile-only): no ASOF join, no QUALIFY (sqlglot would rewrite it to a subquery), no
`* EXCEPT`, no file reads, and CREATE OR REPLACE TABLE only on some connectors (so a dataset table is
built under a staging name, then swapped in by DROP and RENAME; DDL is not transactional on most
connectors).

sqlglot spells `exp.TimestampSub` as a TIMESTAMP_SUB function Trino does not have (without raising);
`exp.TimestampAdd` with a negative amount is `DATE_ADD('SECOND', -n, ts)`.
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.expressions.traits import ExpressionTraits


class TrinoDialect(SqlDialect):
    name = "trino"
    sqlglot_name = "trino"
    SESSION_TIME_ZONE = "SET TIME ZONE 'UTC'"
    SUPPORTS_CREATE_OR_REPLACE_TABLE = False
    RUNNABLE = False
    EXPRESSIONS = ExpressionTraits(int_division="slash", day_of_week="iso_modulo_seven")

    def parameter(self, name: str) -> exp.Expression:
        # Trino binds parameters by position only (`EXECUTE ... USING`): a `?`, in the order they appear.
        return exp.Placeholder()

    def ttl_lower_bound(self, timestamp: exp.Expression, seconds: int) -> exp.Expression:
        return exp.TimestampAdd(this=timestamp, expression=exp.Literal.number(-seconds), unit=exp.var("SECOND"))

    def epoch_microseconds(self, time: exp.Expression) -> exp.Expression:
        # TO_UNIXTIME gives seconds as a double, within a tenth of a microsecond of the time: rounded, exact
        seconds = exp.Anonymous(this="TO_UNIXTIME", expressions=[time])
        return exp.cast(exp.Round(this=exp.Mul(this=seconds, expression=exp.Literal.number(1_000_000))), "BIGINT")
