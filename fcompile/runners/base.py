"""What a runner is: an offline engine that executes plans. It gets SQL only from the dialects stage.

A runner connects from a target's offline settings, registers spines (numbering their rows so the
output keeps their order, docs/concepts/point-in-time.md), runs point-in-time joins and streams the rows back as
Arrow, or writes them into a table or a Parquet file. One runner is one engine session; it is not
shared between threads.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Mapping, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.graph import DType
from fcompile.online.values import as_utc
from fcompile.planner.plans import BuildDataset, LatestValues, PointInTimeJoin, Relation, SpinePlan
from fcompile.runners.spines import SpineInput

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, eq=False)
class RegisteredSpine:
    """A spine the engine can read: where, its columns and their types, and how its rows are numbered."""

    relation: Relation
    columns: tuple[str, ...]          # in order, without the row-id column
    types: Mapping[str, str]          # column -> the engine's type name (BIGINT, TIMESTAMP WITH TIME ZONE, ...)
    row_id_column: str | None         # numbers the rows in spine order; None: the engine numbers them as read
    description: str                  # how messages name it: "the spine file /data/orders.parquet"
    arrow_types: Mapping[str, str] | None = None  # for Arrow spines, the Arrow type of each column
    setup_sql: tuple[str, ...] = ()   # statements that were run to register it (part of what ran)
    read_once: bool = False           # a RecordBatchReader: the engine can read it a single time
    # Why a compiled file, which reads the spine where it is, cannot read it as registered (the engine reads
    # it through a conversion); None when it can.
    not_as_compiled: str | None = None

    def plan(self, timestamp_column: str) -> SpinePlan:
        return SpinePlan(self.relation, timestamp_column, self.columns, self.row_id_column)

    def type_text(self, column: str) -> str:
        """The column's type for a message: the engine's, and the Arrow type where the spine is Arrow."""
        found = self.types[column]
        if self.arrow_types and column in self.arrow_types:
            found += f" (Arrow {self.arrow_types[column]})"
        return found


@dataclass(frozen=True)
class LoadedTable:
    """What `Runner.load_table` did: the table as the engine names it (with its schema or dataset, where the
    target sets one) and the rows it now holds."""

    table: str
    rows: int


@dataclass(frozen=True)
class WrittenTable:
    """What `Runner.write_dataset_table` did: the rows the table now holds, the statements the engine executed
    for it (a dataset file's, in order), and any set-up run before them that is no part of the file."""

    rows: int
    statements: tuple[str, ...]
    setup: tuple[str, ...] = ()


@dataclass(frozen=True)
class WindowStats:
    """What a materialization window holds in a view's source, counted before it is read."""

    rows: int                     # source rows with an event time in the window (and no NULL key)
    keys: int | None              # distinct entity keys among them (the rows `latest_values` returns); None:
                                  # not counted (DuckDB: a count or an estimate costs more than the rest)
    earliest: dt.datetime | None  # their earliest event time (UTC, aware); None when there are none
    keys_exact: bool = True       # False: `keys` is an estimate, or not counted
    latest: dt.datetime | None = None  # their newest event time (UTC, aware); None when there are none


class Runner(abc.ABC):
    """An offline engine session. Use it as a context manager, or call `close()`."""

    dialect: str  # the dialect whose SQL the runner executes
    # whether `write_dataset_table` reads a plan's file paths relative to the project folder, as compiled
    # files name them (the planner's own plans name them absolute)
    reads_project_relative_paths: bool = False
    # why the statements this runner executes for a plan are not those of the compiled file of its dialect
    # (a setting of the target that changes the SQL); None: they are the file's
    compiled_file_difference: str | None = None
    engine_types: Mapping[str, str] = {}  # dtype name -> the engine's name for it (hints)
    # whether offline push can append rows to the engine's table sources (`push_offline.TableAppend`
    # inserts them through the runner's connection in one transaction)
    appends_pushed_rows: ClassVar[bool] = False
    # whether the runner has `dry_run(plan, label, location)`: the bytes a plan would scan, asked of the
    # engine without running it (`run --dry-run` prints them)
    prices_queries: ClassVar[bool] = False
    # whether the runner can supply a registered spine under the name a compiled retrieve file reads it by (a
    # temporary view of the session), so that a feature service's training set runs that file as it is
    supplies_named_spine: ClassVar[bool] = False
    # where the engine is when the target's settings name nothing (`fcompile debug` shows it)
    default_location: ClassVar[str] = "default settings"
    target_name: str | None = None   # set by `connect_runner`: names the target in failures after connecting
    project_name: str | None = None  # set by `connect_runner` (BigQuery labels its jobs with it)

    def notify(self, message: str) -> None:
        """Told what the user should know while they wait (Spark: that it is starting); the CLI prints
        it on stderr by replacing this method on the instance. Silent by default."""

    @classmethod
    @abc.abstractmethod
    def connect(cls, settings: Mapping[str, Any], project_root: str) -> Runner:
        """A session from a target's offline settings (`{type: duckdb, path: ...}`); relative paths are
        relative to the project root. Raises `DiagnosticError` when the engine cannot be reached."""

    @abc.abstractmethod
    def register_spine(self, spine: SpineInput) -> RegisteredSpine:
        """Make the spine readable by the engine's SQL, numbering its rows in order. Raises
        `DiagnosticError` for a missing file or table, or a spine query that does not parse or run."""

    @abc.abstractmethod
    def execute(self, plan: PointInTimeJoin, label: str, location: Position | None = None) -> pa.RecordBatchReader:
        """The plan's rows, streamed in batches (never all in memory at once)."""

    @abc.abstractmethod
    def to_arrow(self, plan: PointInTimeJoin, label: str, location: Position | None = None) -> pa.Table:
        """The plan's rows as one table."""

    @abc.abstractmethod
    def write_dataset_table(self, build: BuildDataset, label: str, location: Position | None = None) -> WrittenTable:
        """Run `statements(build)` - for a dataset's compiled plan, the statements of its compiled file, as
        they are - one by one: they replace the table as the dialect does (CREATE OR REPLACE, or a staging
        table swapped in), so the old table stays when the rows cannot be built. Returns what ran."""

    @abc.abstractmethod
    def write_parquet(self, plan: PointInTimeJoin, path: str, label: str, location: Position | None = None) -> int:
        """Write the plan's rows to a Parquet file, streaming, atomically (a temporary file in the same
        folder, then renamed). Returns the number of rows written."""

    @abc.abstractmethod
    def window_stats(self, plan: LatestValues, start: dt.datetime | None, end: dt.datetime, label: str,
                     location: Position | None = None) -> WindowStats:
        """Counts of the source rows whose event time lies in [start, end] (no lower bound when `start`
        is None); `start` and `end` are bound parameters, naive ones read as UTC."""

    @abc.abstractmethod
    def latest_values(self, plan: LatestValues, start: dt.datetime, end: dt.datetime, label: str,
                      location: Position | None = None, batch_rows: int = 100_000) -> pa.RecordBatchReader:
        """The plan's rows for the window [start, end], bound as parameters (never pasted into the SQL),
        streamed in batches of at most `batch_rows` rows. Naive `start`/`end` are read as UTC."""

    def load_table(self, data: pa.RecordBatchReader, table: str, description: str) -> LoadedTable:
        """Create or replace the table `table` (an unqualified name, placed where the target's tables are
        read from and written to) with `data`'s rows, its columns typed from `data`'s Arrow schema
        (`fcompile seed`). A failure leaves an existing table of that name as it was: the rows are loaded
        under another name and swapped in (each runner says what its engine guarantees). `description`
        names the data in messages ("the seed file seeds/orders.csv")."""
        raise DiagnosticError([Diagnostic(Code.NO_RUNNER, f"the {self.dialect} runner cannot load tables", None,
                                          "load the data with the engine's own tools")])

    def is_timestamp_type(self, engine_type: str) -> bool:
        """Whether a column of this engine type can be a spine's timestamp (`TIMESTAMP...` by default)."""
        return engine_type.lower().startswith("timestamp")

    @abc.abstractmethod
    def key_type_fits(self, dtype: DType, engine_type: str) -> bool:
        """Whether a spine column of this engine type compares correctly with a join key of `dtype`."""

    def engine_type(self, dtype: DType) -> str:
        """The engine's name for a dtype, for hints (from the runner's `engine_types`)."""
        return self.engine_types.get(dtype.name, dtype.name.upper())

    @abc.abstractmethod
    def close(self) -> None:
        """End the session; registered spines are forgotten."""

    def ping(self) -> None:
        """Reach the engine now (`fcompile debug`); raises `DiagnosticError` as `connect` does. Most
        runners reached it when connecting; one that starts on first use (Spark) starts here."""

    def statements(self, plan: Any) -> list[str]:
        """The SQL the runner executes for a plan, from the dialects stage."""
        from fcompile.dialects import compile_statements

        return compile_statements(plan, self.dialect)

    def single_statement(self, plan: Any) -> str:
        """The query of a plan that compiles to one (a PointInTimeJoin, a LatestValues). The statements the
        compiled file has before it (setting the session's time zone, where the dialect needs one) are run
        here first, with `run_session_statement`: what the engine executes is the file's statements."""
        leading, sql = self.query_parts(plan)
        for statement in leading:
            self.run_session_statement(statement)
        return sql

    def query_parts(self, plan: Any) -> tuple[list[str], str]:
        """The session statements and the query of a plan that compiles to one, as the dialects stage writes
        them (a runner may take them from elsewhere when they are the same text: DuckDB's shipped templates)."""
        from fcompile.dialects import query_statement

        return query_statement(self.statements(plan), self.dialect)

    def spine_view_statements(self, spine: RegisteredSpine, name: str, columns: Sequence[str]) -> tuple[str, ...]:
        """What makes `name` a temporary view of the registered spine's `columns`, in spine order: the relation
        a compiled retrieve file reads (`fcompile_spine`), supplied at run time."""
        from sqlglot import exp

        from fcompile.dialects import get_dialect

        dialect = get_dialect(self.dialect)
        query = exp.select(*[exp.column(c) for c in columns]).from_(dialect.relation(spine.relation, "spine_source"))
        if spine.row_id_column:
            query = query.order_by(exp.column(spine.row_id_column), copy=False)
        return tuple(dialect.generate(statement) for statement in dialect.spine_view(name, query))

    def compiled_file_setup(self, plan: Any) -> tuple[str, ...]:
        """Statements the session needs before it runs a compiled file's plan as it is (DuckDB: where to read
        the file's paths relative to the project folder from)."""
        return ()

    def run_session_statement(self, statement: str) -> None:
        """Run a statement that sets up the session: the time zone a compiled file sets, the view that supplies
        its spine (only on a runner that has them)."""
        raise NotImplementedError(f"the {self.dialect} runner runs no session statement")

    # -- data tests (issue 18): a compiled test's query, and the statements that store its failures --------

    def query_rows(self, sql: str, label: str, location: Position | None = None) -> tuple[tuple[str, ...], list[tuple]]:
        """The column names and every row of one query (a data test's: its failing rows, few by design);
        times as the driver gives them. Raises `DiagnosticError` (FC110) quoting the engine's first line."""
        raise DiagnosticError([Diagnostic(Code.NO_RUNNER, f"the {self.dialect} runner cannot run data tests", None,
                                          "run them on a target whose engine fcompile runs")])

    def run_statement(self, sql: str, label: str, location: Position | None = None) -> None:
        """Run one statement that returns nothing to read (a data test's failures stored in a table)."""
        self.query_rows(sql, label, location)

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def reads_project_files(plan: BuildDataset | PointInTimeJoin) -> bool:
    """Whether the plan reads a file by a path relative to the project folder, as compiled files name them
    (the planner's own plans name them absolute)."""
    query = plan.query if isinstance(plan, BuildDataset) else plan
    relations = [query.spine.relation, *(join.relation for join in query.joins)]
    return any(r.kind == "path" and not os.path.isabs(r.locator) for r in relations)


def engine_error(label: str, engine: str, error: BaseException | str, location: Position | None = None,
                 hint: str | None = None) -> DiagnosticError:
    """An engine's error while running `label`, as a diagnostic quoting its first line (or the reason, when
    given as text: a driver whose message needs cleaning up first)."""
    reason = error if isinstance(error, str) else first_line(error)
    return DiagnosticError([Diagnostic(Code.ENGINE_ERROR, f"{label}: {engine} failed: {reason}", location,
                                       hint or "to read the SQL that ran: `job.sql` in the SDK, "
                                       "`fcompile compile --dataset NAME` for a dataset")])


@contextlib.contextmanager
def writing_file(path: str) -> Iterator[None]:
    """Within: an OSError from making, writing or renaming the output file `path` is FC135 naming it."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or first_line(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)) and exc.filename and exc.filename != path:
            reason = f"{exc.filename} is a file, not a folder"  # a file where a folder on the path should be
        raise DiagnosticError([Diagnostic(Code.OUTPUT_UNWRITABLE, f"cannot write {path}: {reason}", None,
                                          "give a path in a folder you can write to (or create), with space to "
                                          "spare, where no folder of that name exists")]) from None


def first_line(error: BaseException) -> str:
    """An engine error's first line (DuckDB adds context and suggestions below it)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def window_parameters(plan: LatestValues, start: dt.datetime | None, end: dt.datetime) -> dict[str, dt.datetime]:
    """The window's bound parameters by the plan's names, as aware UTC times; no start parameter for a
    window without a lower bound (`window_stats_select(..., with_start=False)`)."""
    parameters = {plan.end_parameter: as_utc(end)}
    if start is not None:
        parameters[plan.start_parameter] = as_utc(start)
    return parameters


def window_stats_of(*, rows: Any, keys: Any, earliest: Any, latest: Any = None, keys_exact: bool = True) -> WindowStats:
    """The counts as `WindowStats`, the earliest and newest event times as aware UTC datetimes (a DATE
    event time as its midnight); `keys` None: not counted (0 when there is no row)."""
    def moment(value: Any) -> dt.datetime | None:
        if value is not None and not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, dt.time())
        return as_utc(value)

    rows = int(rows or 0)
    counted = 0 if not rows else None if keys is None else int(keys)
    return WindowStats(rows, counted, moment(earliest), keys_exact or counted == 0, moment(latest))
