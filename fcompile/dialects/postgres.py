"""PostgreSQL: no ASOF join, no QUALIFY, no `* EXCLUDE`, no CREATE OR REPLACE TABLE; ttl bounds as
`ts - INTERVAL '<n> SECOND'` (sqlglot spells TimestampSub as a TIMESTAMP_SUB function Postgres does not
have)."""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect


class PostgresDialect(SqlDialect):
    name = "postgres"
    sqlglot_name = "postgres"
    SUPPORTS_CREATE_OR_REPLACE_TABLE = False

    def ttl_lower_bound(self, timestamp: exp.Expression, seconds: int) -> exp.Expression:
        return exp.Sub(this=timestamp, expression=exp.Interval(this=exp.Literal.string(f"{seconds} SECOND")))
