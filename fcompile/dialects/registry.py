"""The target dialects by name: the one place a dialect's name maps to its class (`get_dialect` builds one;
shapes.py asks every dialect's tokenizer which words are keywords).

A dialect's module is imported when its class is first asked for: each one loads its sqlglot dialect
(tens of milliseconds), and a command that runs on one engine needs that engine's dialect only."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from fcompile.dialects.base import SqlDialect

# name -> (module under fcompile.dialects, class); the order is the one listings show
_CLASSES = {
    "duckdb": ("duckdb", "DuckDBDialect"), "snowflake": ("snowflake", "SnowflakeDialect"),
    "bigquery": ("bigquery", "BigQueryDialect"), "postgres": ("postgres", "PostgresDialect"),
    "spark": ("spark", "SparkDialect"), "redshift": ("redshift", "RedshiftDialect"), "trino": ("trino", "TrinoDialect"),
}


class _Dialects(Mapping[str, type[SqlDialect]]):
    """A read-only mapping of dialect names to classes that imports a class's module on first access."""

    def __getitem__(self, name: str) -> type[SqlDialect]:
        module, cls = _CLASSES[name]
        found = getattr(importlib.import_module(f"fcompile.dialects.{module}"), cls)
        if found.name != name:  # the table above and the class must agree
            raise RuntimeError(f"fcompile.dialects.{module}.{cls} is named {found.name!r}, registered as {name!r}")
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(_CLASSES)

    def __len__(self) -> int:
        return len(_CLASSES)


DIALECTS: Mapping[str, type[SqlDialect]] = _Dialects()
