"""Checks against a source's real columns, where they can be known without running a query.

For file sources in Parquet the schema is in the file footer, so reading it is cheap; a table source that
names one of the project's seeds (fcompile/parser/seeds.py) is checked against the seed file. Other table
and query sources, and CSV files, are checked later by the runner that reads them.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from dataclasses import replace

from fcompile.diagnostics import Code, DiagnosticError, DiagnosticSink, Position
from fcompile.graph import DType, FeatureGraph, Source
from fcompile.parser.file_schemas import parquet_schema
from fcompile.user_paths import looked_for


def source_files(root: str, source: Source) -> list[str]:
    """The files a path source names, sorted: a glob may name many, and a folder names every Parquet
    file below it (as DuckDB reads a folder)."""
    return _files(source_path(root, source))


def _files(pattern: str) -> list[str]:
    if glob.has_magic(pattern):
        return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
    if os.path.isdir(pattern):
        return sorted(os.path.join(folder, name) for folder, _, names in os.walk(pattern)
                      for name in names if name.endswith(".parquet"))
    return [pattern] if os.path.isfile(pattern) else []


def source_path(root: str, source: Source) -> str:
    """A path source's locator as an absolute path (or glob)."""
    return source.locator if os.path.isabs(source.locator) else os.path.join(root, source.locator)


def zoned_time_columns(pattern: str) -> tuple[str, ...]:
    """The columns of zoned timestamp type in the first Parquet file that `pattern` (a path, glob or folder)
    names, as its footer says (engines read a set of files with the first one's schema); none for CSV
    files, which say nothing of types, or when no file can be read (validation says why)."""
    return _footer_times(pattern)[0]


def nanosecond_time_columns(pattern: str) -> tuple[str, ...]:
    """The columns of timestamp type in nanoseconds (naive or zoned) in the first Parquet file that `pattern`
    names, as its footer says; none for CSV files or when no file can be read."""
    return _footer_times(pattern)[1]


def _footer_times(pattern: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    files = _files(pattern)
    if not files or not files[0].endswith(".parquet"):
        return (), ()
    return _time_columns(files[0])


def _time_columns(path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The zoned and the nanosecond timestamp columns of a Parquet file (its summary is cached: a build asks
    once per source, view and dialect)."""
    try:
        schema = parquet_schema(path)
    except Exception:  # pyarrow raises several types for unreadable files; check_source_schemas reports them
        return (), ()
    return schema.zoned_times, schema.nanosecond_times


# The types a tie_breaker may have: ordered alike on every warehouse (a float's NaN is not).
TIE_BREAKER_DTYPES = frozenset({"int32", "int64", "string", "timestamp", "date"})


def check_source_schemas(graph: FeatureGraph, sink: DiagnosticSink) -> dict[str, dict[str, DType | None] | None]:
    """Checks every source against its real columns where they can be read; returns those columns by source
    name (None for a source whose columns cannot be known at parse time), under fcompile's names."""
    from fcompile.parser.seeds import find_seeds

    seeds = find_seeds(graph.project.root)
    sink.extend(seeds.problems)
    known: dict[str, dict[str, DType | None] | None] = {}
    for source in graph.sources:
        known[source.name] = None
        if source.kind == "table" and seeds.get(source.locator) is not None:
            known[source.name] = _check_seed_source(graph, source, seeds.get(source.locator), sink)
        if source.kind != "path":
            continue
        files = source_files(graph.project.root, source)
        if not files:
            where = looked_for(source.locator, source_path(graph.project.root, source))
            sink.warning(Code.SOURCE_FILE_NOT_FOUND,
                         f"source '{source.name}': no file matches '{source.locator}'{where}; column checks skipped",
                         source.location, "generate or copy the data there before running (paths in spec files "
                         "are relative to the project folder)")
            continue
        if not files[0].endswith(".parquet"):
            continue
        columns = _parquet_columns(files[0], source, sink)
        if columns is not None:
            _check_columns(graph, source, columns, files[0], sink)
        known[source.name] = columns
    return known


def _check_seed_source(graph: FeatureGraph, source: Source, seed, sink: DiagnosticSink) -> dict | None:
    from fcompile.parser.seeds import seed_columns

    try:
        columns = seed_columns(seed)
    except DiagnosticError as error:
        sink.extend(replace(d, message=f"source '{source.name}': {d.message}", position=source.location)
                    for d in error.diagnostics)
        return None
    renames = dict(source.field_mapping)
    mapped = {renames.get(name, name): dtype for name, dtype in columns.items()}
    _check_columns(graph, source, mapped, seed.path, sink)
    return mapped


def _parquet_columns(path: str, source: Source, sink: DiagnosticSink) -> dict[str, DType | None] | None:
    try:
        schema = parquet_schema(path)
    except Exception as exc:  # pyarrow raises several types for unreadable files
        sink.error(Code.FILE_UNREADABLE, f"source '{source.name}': cannot read Parquet schema of "
                   f"{Path(path).name}: {exc}", source.location, "is the file a valid Parquet file?")
        return None
    renames = dict(source.field_mapping)
    return {renames.get(name, name): dtype for name, dtype in schema.columns}


def _check_columns(graph: FeatureGraph, source: Source, columns: dict[str, DType | None], path: str,
                   sink: DiagnosticSink) -> None:
    file_name = Path(path).name
    available = ", ".join(sorted(columns))

    def missing(column: str, role: str, where: Position | None, owner: str = "") -> None:
        sink.error(Code.MISSING_COLUMN,
                   f"source '{source.name}': {role} '{column}'{owner} is not a column of {file_name}",
                   where, f"columns: {available}")

    for role, column in (("timestamp_field", source.timestamp_field),
                         ("created_timestamp_field", source.created_timestamp_field),
                         ("tie_breaker", source.tie_breaker)):
        if column and column not in columns:
            missing(column, role, source.column_location(role))
    tie_type = columns.get(source.tie_breaker) if source.tie_breaker else None
    if tie_type is not None and tie_type.name not in TIE_BREAKER_DTYPES:
        sink.error(Code.BAD_DTYPE, f"source '{source.name}': tie_breaker '{source.tie_breaker}' is {tie_type} in "
                   f"{file_name}, which cannot break ties the same way on every warehouse",
                   source.column_location("tie_breaker"),
                   "name an int, string, timestamp or date column (floats: BigQuery sorts NaN lowest where the "
                   "others sort it highest; booleans and arrays are not ordered everywhere)")
    for view in graph.feature_views:
        if view.source != source.name:
            continue
        for entity_name in view.entities:
            for key in graph.entity(entity_name).join_keys:
                if key.name not in columns:
                    missing(key.name, "join key", view.location, f" of view '{view.name}'")
                elif columns[key.name] is not None and columns[key.name] != key.dtype:
                    sink.error(Code.JOIN_KEY_DTYPE_MISMATCH,
                               f"join key '{key.name}' is {key.dtype} in entity '{entity_name}' but "
                               f"{columns[key.name]} in source '{source.name}' ({file_name})",
                               view.location, "make the entity's dtype match the data, or cast in a query source")
        for feature in view.plain_features:
            if feature.name not in columns:
                missing(feature.name, "feature", view.location, f" of view '{view.name}'")
