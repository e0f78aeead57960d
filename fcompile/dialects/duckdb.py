"""DuckDB, the embedded default: native ASOF LEFT JOIN, QUALIFY, `* EXCLUDE`, and direct file reads."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

from fcompile.dialects.base import SqlDialect, fraction_literal
from fcompile.expressions.traits import ExpressionTraits
from fcompile.planner.plans import Relation


class DuckDBExplicitNulls(DuckDB):
    """DuckDB as sqlglot knows it, except that `NULLS LAST` is always written out.

    sqlglot leaves out a NULL placement that equals the dialect's default, and DuckDB's default is a
    session setting (`default_null_order`): the newest-row and tie-break orderings would change meaning
    in a session that sorts NULLs first. Declaring NULLs as large makes every `DESC NULLS LAST` explicit.
    (sqlglot registers this class as the dialect name `duckdbexplicitnulls`.)"""

    NULL_ORDERING = "nulls_are_large"


class DuckDBDialect(SqlDialect):
    name = "duckdb"
    sqlglot_name = "duckdbexplicitnulls"
    PRESERVES_IDENTIFIER_CASE = True
    SUPPORTS_ASOF_LEFT_JOIN = True
    SUPPORTS_QUALIFY = True
    STAR_EXCEPT = True
    READS_FILES = True
    ORDERS_ARRAYS = True
    TILE_MOMENTS_FROM_LISTS = True

    CONVERTS_TIMES_TO_UTC = True
    EXPRESSIONS = ExpressionTraits(extremes_skip_nulls=True, wall_clock="from_epoch_us")
    EXACT_QUANTILES = True
    EXACT_DISTINCT_COUNT = True

    def quantiles(self, value: exp.Expression, buckets: int) -> list[exp.Expression]:
        # QUANTILE_CONT(v, [0.0, 0.1, ...]): exact, interpolated between neighbours, one sort for every boundary
        fractions = [fraction_literal(i, buckets) for i in range(buckets + 1)]
        return [exp.PercentileCont(this=value, expression=exp.Array(expressions=fractions))]

    def distinct_count(self, value: exp.Expression) -> exp.Expression:
        return exp.Count(this=exp.Distinct(expressions=[value]))

    def utc_instant(self, time: exp.Expression, zoned: bool = False) -> exp.Expression:
        # A zoned time of any precision (TIMESTAMPTZ, TIMESTAMPTZ_NS) cast to TIMESTAMPTZ keeps its instant.
        # A naive one would be read in the session's zone by that cast (and by a comparison with a zoned
        # time); EPOCH_US reads it as UTC, in every precision (TIMESTAMP_S, _MS, _NS), and a TIMESTAMPTZ as
        # its instant - but it has no TIMESTAMPTZ_NS overload, so a time of unknown type must not be one:
        # the runner brings spines and loaded tables to microseconds, and a source's column known (from a
        # Parquet footer) to be zoned comes here with `zoned`. (DATE_TRUNC, which would accept both, runs
        # through ICU on a zoned time: 50 times slower.)
        if zoned:
            return exp.cast(time, exp.DataType.build("TIMESTAMPTZ"))
        return exp.Anonymous(this="MAKE_TIMESTAMPTZ", expressions=[exp.Anonymous(this="EPOCH_US", expressions=[time])])

    def epoch_microseconds(self, time: exp.Expression) -> exp.Expression:
        return exp.Anonymous(this="EPOCH_US", expressions=[time])  # a TIMESTAMPTZ from utc_instant

    def file_relation(self, relation: Relation) -> exp.Expression:
        reader = "read_csv_auto" if relation.file_format == "csv" else "read_parquet"
        return exp.Anonymous(this=reader, expressions=[exp.Literal.string(relation.locator)])

    def copy_to_file(self, query: exp.Expression, path: str) -> exp.Expression:
        return exp.Copy(this=exp.Subquery(this=query), kind=False, credentials=exp.Credentials(),
                        files=[exp.Literal.string(path)],
                        params=[exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("PARQUET"))])
