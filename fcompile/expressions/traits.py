"""How a warehouse's SQL differs from the one meaning of an expression: flags a dialect class sets
(`SqlDialect.EXPRESSIONS`), read by to_sql.py, never the dialect's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ExpressionTraits:
    # Integer division that truncates toward zero: `a / b` on two BIGINTs (PostgreSQL, Redshift, Trino), or
    # the dialect's integer-division spelling sqlglot writes for `exp.IntDiv` (DuckDB `//`, Spark `DIV`,
    # BigQuery `DIV`, Snowflake `TRUNC(a / b)`), where `/` gives a float or a decimal.
    int_division: Literal["slash", "intdiv"] = "intdiv"
    # LEAST and GREATEST skip NULL arguments (PostgreSQL, DuckDB, Spark, Redshift): guarded to give NULL.
    extremes_skip_nulls: bool = False
    # FLOOR and CEIL of a DOUBLE give a BIGINT (Spark): NaN, infinities and large values must not go through it.
    float_floor_gives_integer: bool = False
    # CAST(double AS BIGINT) truncates toward zero (Spark); elsewhere it rounds, so TRUNC comes first.
    float_to_integer_truncates: bool = False
    # EXP raises on overflow and underflow instead of giving infinity or zero (PostgreSQL).
    exp_raises_out_of_range: bool = False
    # Text ordering follows the column's collation unless told otherwise (PostgreSQL): the collation that
    # orders by code point.
    code_point_collation: str | None = None
    # Day of the week numbered 0 (Sunday) to 6: `EXTRACT(DOW ...)` (DuckDB, PostgreSQL, Redshift), the 1
    # (Sunday) to 7 `DAYOFWEEK` minus one (Spark, BigQuery), or the ISO 1 (Monday) to 7 day modulo 7
    # (Snowflake's DAYOFWEEKISO, whatever WEEK_START says; Trino's DAY_OF_WEEK).
    day_of_week: Literal["extract_dow", "dayofweek_minus_one", "iso_modulo_seven"] = "extract_dow"
    # The UTC wall-clock time of a timestamp that may be naive (read as UTC) or zoned, for EXTRACT:
    # as it is where the session's time zone is set to UTC (Spark, Trino, Redshift) or a TIMESTAMP is an
    # instant read in UTC (BigQuery); the dialect's UTC instant read at UTC (PostgreSQL); the dialect's UTC
    # instant, a naive UTC time (Snowflake); a naive time from the epoch microseconds (DuckDB).
    wall_clock: Literal["as_is", "instant_at_utc", "utc_instant", "from_epoch_us"] = "as_is"
