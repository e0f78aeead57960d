"""Rows pushed offline, appended durably to a push source's batch source, where training sets and the next
materialization read them:

| batch source                        | the rows become                                                     |
| ----------------------------------- | ------------------------------------------------------------------- |
| `table:` on the DuckDB target       | one INSERT, in one transaction                                      |
| `path:` a folder, or a glob         | a new Parquet file in the folder (the glob's folder, with a name    |
|                                     | the glob matches), written beside it, fsynced and renamed into      |
|                                     | place: a reader sees the whole file or none                         |
| `path:` one file, CSV, or `query:`  | refused (FC124), saying what to change                              |

The new rows take the dataset's own schema: the types of its first file (DuckDB binds a multi-file read to
the first file's schema) or of the table; a column the rows do not give is NULL, and a pushed column the
dataset does not have is refused (FC121) rather than silently dropped.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import glob
import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from fcompile.diagnostics import Code, Diagnostic
from fcompile.graph import DType, FeatureGraph, Source
from fcompile.runners import appends_pushed_rows
from fcompile.runners.base import writing_file
from fcompile.tasks.push_values import BadValue, ColumnNeed, PushedRows, cast_checked, infer_array, show_value

if TYPE_CHECKING:
    import pyarrow as pa

    from fcompile.runners.base import Runner

Converted = dict[tuple[str, DType], "pa.Array"]
FILE_PREFIX = "fcompile-push"


@dataclass(frozen=True, eq=False)
class ParquetAppend:
    """A new Parquet file for a folder or glob source: where it goes and what it holds."""

    path: str          # the final file
    temporary: str     # written first, in the same file system, never matched by the source
    table: pa.Table

    def write(self) -> int:
        import pyarrow.parquet as pq

        try:
            with writing_file(self.path):
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                with open(self.temporary, "wb") as handle:
                    pq.write_table(self.table, handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(self.temporary, self.path)
                _fsync_folder(os.path.dirname(self.path))
        finally:
            if os.path.exists(self.temporary):
                os.remove(self.temporary)
        return self.table.num_rows


@dataclass(frozen=True, eq=False)
class TableAppend:
    """Rows for a table in the DuckDB offline database, inserted in one transaction."""

    runner: Any  # a DuckDBRunner
    table: str
    rows: pa.Table

    def write(self) -> int:
        import duckdb
        from sqlglot import exp

        con, sql_dialect = self.runner.con, self.runner.sql_dialect
        name = f"__fc_push_{uuid.uuid4().hex[:12]}"
        columns = self.rows.column_names
        insert = exp.insert(exp.select(*(exp.column(c) for c in columns)).from_(name),
                            exp.to_table(self.table, dialect=sql_dialect.sqlglot_name), columns=columns)
        con.register(name, self.rows)
        try:
            con.begin()
            con.execute(sql_dialect.generate(insert, pretty=False))
            con.commit()
        except duckdb.Error as exc:
            try:
                con.rollback()
            except duckdb.Error:
                pass  # no transaction is open any more: nothing was inserted
            from fcompile.runners.base import engine_error

            raise engine_error(f"appending pushed rows to table '{self.table}'", "DuckDB", exc, None,
                               "nothing was inserted; check the table's column types") from None
        finally:
            con.unregister(name)
        return self.rows.num_rows


def plan_offline_append(graph: FeatureGraph, source: Source, pushed: PushedRows, converted: Converted,
                        needs: Sequence[ColumnNeed], label: str, runner: Callable[[], Runner],
                        problems: list[Diagnostic]) -> ParquetAppend | TableAppend | None:
    """How the rows will be appended to `source`, checked to the last value; None (and `problems`) when
    they cannot be. `needs` are the columns the graph reads from the source (a first file gets them all)."""
    where = f"{label}: its batch source '{source.name}'"
    if source.kind == "query":
        problems.append(Diagnostic(Code.OFFLINE_PUSH_UNSUPPORTED, f"{where} is a query, which rows cannot be "
                                   "appended to", source.location, "make the batch source a table, or a folder or "
                                   "glob of Parquet files, or push online only (to='online')"))
        return None
    if source.kind == "table":
        return _plan_table_append(graph, source, pushed, converted, needs, where, runner, problems)
    return _plan_parquet_append(graph, source, pushed, converted, needs, where, problems)


def _plan_parquet_append(graph: FeatureGraph, source: Source, pushed: PushedRows, converted: Converted,
                         needs: Sequence[ColumnNeed], where: str, problems: list[Diagnostic]) -> ParquetAppend | None:
    from fcompile.parser.source_schema import source_files, source_path

    path = source_path(graph.project.root, source)
    if source.locator.lower().endswith((".csv", ".csv.gz")):
        problems.append(Diagnostic(Code.OFFLINE_PUSH_UNSUPPORTED, f"{where} reads CSV files; pushed rows are "
                                   "written as Parquet", source.location, "convert the data to Parquet files in a "
                                   "folder (path: data/stats/), or push online only (to='online')"))
        return None
    is_folder = not glob.has_magic(path) and not os.path.isfile(path) and not path.lower().endswith(".parquet")
    if not glob.has_magic(path) and not is_folder:
        folder = os.path.splitext(source.locator)[0]
        problems.append(Diagnostic(
            Code.OFFLINE_PUSH_UNSUPPORTED, f"{where} is the single file '{source.locator}'; offline push adds a "
            "new Parquet file to a dataset, which needs a folder or glob path", source.location,
            f"move the file into a folder and point the source at it: path: {folder}/ (or path: {folder}/*.parquet)"))
        return None
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    token = f"{FILE_PREFIX}-{stamp}-{uuid.uuid4().hex[:8]}"
    if is_folder:
        folder, pattern, name = path, None, f"{token}.parquet"
    else:
        folder, pattern = _glob_base(path)
        name = _name_matching(pattern, token)
        if name is None:
            shown = os.path.relpath(folder, graph.project.root)
            problems.append(Diagnostic(
                Code.OFFLINE_PUSH_UNSUPPORTED, f"{where}: no new file name in '{shown}' matches the glob "
                f"'{source.locator}'", source.location, "use a glob whose last part is the only pattern, such as "
                "data/stats/*.parquet or data/stats/**/*.parquet"))
            return None
    temporary_name = f".{token}.tmp"
    temporary_folder = folder if not _matches(pattern, temporary_name) else os.path.dirname(folder.rstrip(os.sep))
    existing = source_files(graph.project.root, source)
    schema = _parquet_schema(existing[0], where, source, problems) if existing else _first_schema(pushed, converted,
                                                                                               needs)
    table = _conformed(pushed, converted, needs, schema, where, problems)
    if table is None:
        return None
    return ParquetAppend(os.path.join(folder, name), os.path.join(temporary_folder, temporary_name), table)


def _plan_table_append(graph: FeatureGraph, source: Source, pushed: PushedRows, converted: Converted,
                       needs: Sequence[ColumnNeed], where: str, runner: Callable[[], Runner],
                       problems: list[Diagnostic]) -> TableAppend | None:
    target = graph.project.target
    if not appends_pushed_rows(target.offline_type):
        problems.append(Diagnostic(Code.OFFLINE_PUSH_UNSUPPORTED, f"{where} is a table on the {target.offline_type} "
                                   f"offline engine of target '{target.name}'; offline push appends to DuckDB "
                                   "tables only", source.location, "push online only (to='online'), or use a "
                                   "DuckDB target"))
        return None
    import duckdb
    from sqlglot import exp

    session: Any = runner()  # a DuckDBRunner: its connection and dialect
    table = exp.to_table(source.locator, dialect=session.sql_dialect.sqlglot_name)
    query = session.sql_dialect.generate(exp.select("*").from_(table).limit(0), pretty=False)
    try:
        relation = session.con.sql(query)
    except duckdb.Error as exc:
        from fcompile.runners.base import first_line

        problems.append(Diagnostic(Code.OFFLINE_PUSH_UNSUPPORTED, f"{where}: table '{source.locator}' cannot be "
                                   f"read: {first_line(exc)}", source.location,
                                   f"create the table in the target's database ({session.database}) first"))
        return None
    by_lower = {c.lower(): c for c in relation.columns}
    unknown = [c for c in pushed.columns if c.lower() not in by_lower]
    if unknown:
        problems.append(_unknown_columns(where, unknown, f"table '{source.locator}'", list(relation.columns)))
        return None
    rows = _conformed(pushed, converted, needs, None, where, problems)
    return TableAppend(session, source.locator, rows) if rows is not None else None


def _conformed(pushed: PushedRows, converted: Converted, needs: Sequence[ColumnNeed], schema: pa.Schema | None,
               where: str, problems: list[Diagnostic]) -> pa.Table | None:
    """The pushed rows as a table: converted columns as their dtypes, the others as given; with a
    `schema`, exactly its columns and types (NULL where the rows give none). A needed column that did not
    convert has been reported already: it only makes the result None."""
    import pyarrow as pa

    by_column = {column: array for (column, _), array in converted.items()}
    failed = {n.column for n in needs if n.column in pushed.columns and n.column not in by_column}
    if schema is not None:
        unknown = [c for c in pushed.columns if c not in schema.names]
        if unknown:
            problems.append(_unknown_columns(where, unknown, "its Parquet files", schema.names))
            return None
    arrays, fields, ok = [], [], not failed
    names = schema.names if schema is not None else list(pushed.columns)
    for name in names:
        if name in failed:
            continue
        wanted = schema.field(name).type if schema is not None else None
        try:
            if name in by_column:
                array = by_column[name]
            elif name in pushed.columns:
                given = pushed.columns[name]
                array = infer_array(given) if isinstance(given, list) else given
            else:
                array = pa.nulls(pushed.count, wanted)
            if wanted is not None and array.type != wanted:
                array = cast_checked(array, wanted, truncate=pa.types.is_timestamp(wanted))
        except BadValue as bad:
            problems.append(Diagnostic(Code.PUSH_VALUE_TYPE, f"{where}: column '{name}' must hold "
                                       f"{wanted if wanted is not None else 'values of one type'}, but row {bad.row} "
                                       f"holds {show_value(bad.value)}, which {bad.problem}", None,
                                       "send values of the type the source's data has"))
            ok = False
            continue
        arrays.append(array)
        fields.append(schema.field(name) if schema is not None else pa.field(name, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)) if ok else None


def _first_schema(pushed: PushedRows, converted: Converted, needs: Sequence[ColumnNeed]) -> pa.Schema | None:
    """The schema of a dataset's first file: the pushed columns, then the columns the graph reads that the
    rows leave out (the optional created timestamp), so that every later read finds them; None when a
    pushed column has no single type (`_conformed` reports it)."""
    import pyarrow as pa

    from fcompile.online.values import arrow_type

    types = {column: array.type for (column, _), array in converted.items()}
    fields = []
    for name, given in pushed.columns.items():
        if name not in types:
            try:
                types[name] = (infer_array(given) if isinstance(given, list) else given).type
            except BadValue:
                return None
        fields.append(pa.field(name, types[name]))
    fields += [pa.field(n.column, arrow_type(n.dtype)) for n in {n.column: n for n in needs}.values()
               if n.column not in pushed.columns]
    return pa.schema(fields)


def _parquet_schema(path: str, where: str, source: Source, problems: list[Diagnostic]) -> pa.Schema | None:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for unreadable files
        problems.append(Diagnostic(Code.FILE_UNREADABLE, f"{where}: cannot read the Parquet schema of {path}: {exc}",
                                   source.location, "is the file a valid Parquet file?"))
        return None


def _unknown_columns(where: str, unknown: list[str], holder: str, known: list[str]) -> Diagnostic:
    plural = "s" if len(unknown) > 1 else ""
    return Diagnostic(Code.PUSH_COLUMNS, f"{where}: {holder} have no column{plural} "
                      f"{', '.join(repr(c) for c in unknown)}", None,
                      f"push only the dataset's columns: {', '.join(known)}")


def _glob_base(pattern: str) -> tuple[str, list[str]]:
    """A glob split into the folder before its first wildcard and the pattern parts below that folder."""
    parts = pattern.split(os.sep)
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return os.sep.join(parts[:first]) or os.sep, parts[first:]


def _name_matching(pattern: list[str], token: str) -> str | None:
    """A file name, directly in the glob's folder, that the glob matches: `<token>.parquet`, or the last
    part with its first `*` replaced by the token (`part-*.parquet` -> `part-<token>.parquet`)."""
    candidates = [f"{token}.parquet"]
    if "*" in pattern[-1]:
        candidates.append(pattern[-1].replace("*", token, 1).replace("*", ""))
    return next((name for name in candidates if not glob.has_magic(name) and _matches(pattern, name)), None)


def _matches(pattern: list[str] | None, name: str) -> bool:
    """Whether the glob parts (None: a folder, read as every *.parquet below it) match a file directly in
    the glob's folder. Like DuckDB, and unlike Python's glob, `*` matches names starting with a dot."""
    if pattern is None:
        return name.endswith(".parquet")
    parts = [p for p in pattern if p != "**"] if pattern[:-1] and all(p == "**" for p in pattern[:-1]) else pattern
    return len(parts) == 1 and fnmatch.fnmatchcase(name, parts[0])


def _fsync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
