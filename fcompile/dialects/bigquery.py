"""BigQuery: QUALIFY (only next to a WHERE, GROUP BY or HAVING: a select without one ranks in a
subquery) and `* EXCEPT`; no ASOF join (lowered to the window plan) and no local file reads.

ttl bounds use the base `TimestampSub`, which sqlglot spells `TIMESTAMP_SUB(ts, INTERVAL n SECOND)`.
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.expressions.traits import ExpressionTraits


class BigQueryDialect(SqlDialect):
    name = "bigquery"
    sqlglot_name = "bigquery"
    PRESERVES_IDENTIFIER_CASE = True
    SUPPORTS_QUALIFY = True
    QUALIFY_NEEDS_WHERE = True
    STAR_EXCEPT = True
    EXPRESSIONS = ExpressionTraits(day_of_week="dayofweek_minus_one")

    def quantiles(self, value: exp.Expression, buckets: int) -> list[exp.Expression]:
        # APPROX_QUANTILES(v, 10): the 11 approximate boundaries, minimum and maximum exact, as one array
        return [exp.ApproxQuantiles(this=value, expression=exp.Literal.number(buckets))]

    def epoch_microseconds(self, time: exp.Expression) -> exp.Expression:
        # a DATETIME (naive) cast to TIMESTAMP is read as UTC; sqlglot spells BigQuery's TIMESTAMP as TIMESTAMPTZ
        return exp.UnixMicros(this=exp.cast(time, exp.DataType.build("TIMESTAMPTZ")))
