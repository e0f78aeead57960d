"""The target dialects by name: the one place a dialect's name maps to its class (`get_dialect` builds one;
shapes.py asks every dialect's tokenizer which words are keywords)."""

from __future__ import annotations

from fcompile.dialects.base import SqlDialect
from fcompile.dialects.bigquery import BigQueryDialect
from fcompile.dialects.duckdb import DuckDBDialect
from fcompile.dialects.postgres import PostgresDialect
from fcompile.dialects.redshift import RedshiftDialect
from fcompile.dialects.snowflake import SnowflakeDialect
from fcompile.dialects.spark import SparkDialect
from fcompile.dialects.trino import TrinoDialect

DIALECTS: dict[str, type[SqlDialect]] = {
    cls.name: cls for cls in (DuckDBDialect, SnowflakeDialect, BigQueryDialect, PostgresDialect, SparkDialect,
                              RedshiftDialect, TrinoDialect)
}
