"""Spark SQL (open-source Spark 3.5): no ASOF join, no QUALIFY, no `* EXCEPT` (those are Databricks
extensions), no CREATE OR REPLACE TABLE on the session catalog; reads Parquet paths as `parquet.`/path``.

ttl bounds use the base `TimestampSub` (`ts - INTERVAL n SECOND`). Never `exp.DateAdd`: sqlglot spells
it `DATE_ADD(ts, n)`, which Spark reads as n days.
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect, fraction_literal
from fcompile.expressions.traits import ExpressionTraits
from fcompile.planner.plans import Relation


class SparkDialect(SqlDialect):
    name = "spark"
    sqlglot_name = "spark"
    SESSION_TIME_ZONE = "SET spark.sql.session.timeZone = UTC"
    PRESERVES_IDENTIFIER_CASE = True
    SUPPORTS_CREATE_OR_REPLACE_TABLE = False
    READS_FILES = True
    READS_NANOSECOND_PARQUET = False  # "Illegal Parquet type: INT64 (TIMESTAMP(NANOS,...))" on Spark 3.5
    ORDERS_ARRAYS = True
    EXPRESSIONS = ExpressionTraits(extremes_skip_nulls=True, float_floor_gives_integer=True,
                                   float_to_integer_truncates=True, day_of_week="dayofweek_minus_one")
    # Spark's percentile_approx at its default accuracy (10000: a rank error of at most 1/10000 of the rows)
    QUANTILE_ACCURACY = 10000

    def quantiles(self, value: exp.Expression, buckets: int) -> list[exp.Expression]:
        fractions = exp.Array(expressions=[fraction_literal(i, buckets) for i in range(buckets + 1)])
        return [exp.ApproxQuantile(this=value, quantile=fractions,
                                   accuracy=exp.Literal.number(self.QUANTILE_ACCURACY))]

    def file_relation(self, relation: Relation) -> exp.Expression:
        if relation.file_format != "parquet":
            # `csv.`path`` has no header option: columns would be named _c0, _c1, ...
            raise self.unsupported(f"reading CSV files ('{relation.locator}') in a query",
                                   "convert the file to Parquet, or use a table source for this target")
        path = exp.to_identifier(relation.locator, quoted=True)
        path.meta["case_sensitive"] = True  # a path keeps its case even where names are normalized
        return exp.Table(this=path, db=exp.to_identifier("parquet"))

    def table_properties(self) -> exp.Properties:
        # Without USING, Spark 3.5 makes a Hive table (or refuses: NOT_SUPPORTED_COMMAND_WITHOUT_HIVE_SUPPORT)
        # unless spark.sql.legacy.createHiveTableByDefault is false: the file says what it means.
        return exp.Properties(expressions=[exp.FileFormatProperty(this=exp.var("PARQUET"))])

    def spine_row_number(self) -> exp.Expression:
        # `ROW_NUMBER() OVER ()` fails ("requires window to be ordered"), and any ORDER BY would be a
        # global sort that need not keep the read order; these ids increase in read order (with gaps).
        return exp.Anonymous(this="MONOTONICALLY_INCREASING_ID", expressions=[])
