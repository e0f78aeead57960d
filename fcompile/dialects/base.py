"""What a SQL dialect is to fcompile: capability flags plus the few spellings sqlglot gets wrong.

A dialect module subclasses `SqlDialect`, sets the flags that are true for its warehouse and overrides
a lowering only where the generic tree does not transpile faithfully (each such case is pinned by
tests/dialects/test_sqlglot_pitfalls.py). Everything else is shared: the point-in-time and
materialization lowerings read the flags, never the dialect's name.
"""

from __future__ import annotations

from typing import ClassVar

from sqlglot import exp, parse
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.dialects import layout
from fcompile.expressions.traits import ExpressionTraits
from fcompile.graph import DType
from fcompile.planner.plans import Relation


# What a query source or spine may not hold anywhere in its tree (a data-modifying CTE such as
# `WITH gone AS (DELETE ... RETURNING *) SELECT ...` is a Query at the top and a Delete inside).
WRITING_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.AlterColumn,
    exp.TruncateTable, exp.Copy, exp.Command, exp.Set, exp.Pragma, exp.Use, exp.Transaction, exp.Commit,
    exp.Rollback, exp.Grant, exp.Revoke, exp.LoadData, exp.Analyze, exp.Cache, exp.Uncache, exp.Refresh,
    exp.Attach, exp.Detach, exp.Install, exp.Export, exp.Declare, exp.Execute, exp.Kill, exp.Comment,
    exp.Into,
)


def parse_table_name(text: str, sqlglot_dialect: str) -> exp.Table | None:
    """`text` as a table name (`name`, `schema.name`, `catalog.schema.name`, parts quoted as the dialect
    quotes them), or None when it is no table name in that dialect."""
    try:
        table = exp.to_table(text, dialect=sqlglot_dialect)
    except (SqlglotError, ValueError):  # a token error; ValueError: sqlglot's split of 4+ dotted parts
        return None
    if not isinstance(table, exp.Table) or not all(isinstance(part, exp.Identifier) for part in table.parts):
        return None
    return table


def staging_table(table: exp.Table) -> exp.Table:
    """Where a table's new rows are built before they replace it: `__fc_building_<name>` beside it, a name
    no spec can give (user names hold no `__`)."""
    staging = table.copy()
    quoted = table.this.args.get("quoted", False) if isinstance(table.this, exp.Identifier) else False
    staging.set("this", exp.to_identifier(f"__fc_building_{table.name}", quoted=quoted))
    return staging


def swap_in(staging: exp.Table, table: exp.Table) -> list[exp.Expression]:
    """`table` dropped and `staging` renamed to it (sqlglot writes the new name as each dialect's RENAME TO
    takes it: unqualified on PostgreSQL)."""
    return [exp.Drop(tables=[table.copy()], kind="TABLE", exists=True),
            exp.Alter(this=staging.copy(), kind="TABLE", actions=[exp.AlterRename(this=table.copy())])]


def fraction_literal(index: int, buckets: int) -> exp.Literal:
    """index / buckets as a decimal literal (0.1, not 0.1000000000000000055...)."""
    return exp.Literal.number(repr(round(index / buckets, 12)))


def _first_words(node: exp.Expression, limit: int = 60) -> str:
    """The start of a node's SQL on one line, for a message."""
    text = " ".join(node.sql().split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


class SqlDialect:
    name: ClassVar[str]
    sqlglot_name: ClassVar[str]
    # A LEFT ASOF join that keeps spine rows without a match: DuckDB's `ASOF LEFT JOIN`.
    SUPPORTS_ASOF_LEFT_JOIN: ClassVar[bool] = False
    # Snowflake's `ASOF JOIN ... MATCH_CONDITION (...)`, which keeps unmatched left rows.
    SUPPORTS_ASOF_MATCH_CONDITION: ClassVar[bool] = False
    SUPPORTS_QUALIFY: ClassVar[bool] = False
    # QUALIFY is refused unless the SELECT also has a WHERE, GROUP BY or HAVING (BigQuery), or is
    # misread right after an unaliased FROM relation (Redshift): such selects rank in a subquery instead
    # (no `WHERE TRUE` that a reader has to see through).
    QUALIFY_NEEDS_WHERE: ClassVar[bool] = False
    # `SELECT * EXCLUDE (...)` (DuckDB, Snowflake) or `* EXCEPT (...)` (BigQuery). sqlglot spells a
    # star-except for every dialect without raising (`* EXCEPT` on Postgres), so only this flag guards it.
    STAR_EXCEPT: ClassVar[bool] = False
    # Reads Parquet/CSV paths directly in a FROM clause.
    READS_FILES: ClassVar[bool] = False
    # Reads a Parquet file with a timestamp column in nanoseconds (Spark 3.5 refuses the whole file).
    READS_NANOSECOND_PARQUET: ClassVar[bool] = True
    # `CREATE OR REPLACE TABLE ... AS`, which replaces a table atomically; else the table is built under a
    # staging name and swapped in (`replace_table`). sqlglot prints CREATE OR REPLACE for Postgres and
    # Redshift (which have none) without raising.
    SUPPORTS_CREATE_OR_REPLACE_TABLE: ClassVar[bool] = True
    # DDL takes part in transactions (PostgreSQL, Redshift): the swap is one transaction, so readers see the
    # old table or the new one and a failure anywhere leaves the old one.
    TRANSACTIONAL_DDL: ClassVar[bool] = False
    # Names resolve case-insensitively even when quoted, and results keep the case a name was written
    # in (DuckDB, Spark, BigQuery columns): names are quoted as written, not normalized, so a feature
    # `convRate` comes out as `convRate` rather than `convrate`.
    PRESERVES_IDENTIFIER_CASE: ClassVar[bool] = False
    # A compile-only dialect: fcompile emits its SQL but cannot run it.
    RUNNABLE: ClassVar[bool] = True
    # `utc_instant` spells every time as a UTC instant of one type, whatever its type and precision and
    # whatever the session's time zone, so a naive time never meets a zoned one in a comparison the engine
    # would settle with an implicit cast in the session's zone. False: times are compared as they come.
    CONVERTS_TIMES_TO_UTC: ClassVar[bool] = False
    # Where the warehouse has no spelling of "this time as a UTC instant" that works for naive and zoned
    # columns alike (a column's type is unknown at compile time) and times are compared as they come: the
    # statement that sets the session's time zone to UTC, which every compiled statement list begins with.
    SESSION_TIME_ZONE: ClassVar[str | None] = None
    # MAX orders arrays element by element (DuckDB and PostgreSQL: a NULL element greatest; Spark: lowest).
    # False: a full tie gives any one of the tied arrays (BigQuery's and Snowflake's MAX take no array;
    # Trino's comparison fails on a NULL element).
    ORDERS_ARRAYS: ClassVar[bool] = False
    # Strings compare by their UTF-8 bytes whatever the column (DuckDB, Spark, BigQuery, Trino; Snowflake
    # without a collation specification). False where a column's or the database's collation may order them
    # otherwise (PostgreSQL's language collations, Redshift's case-insensitive one): a string tie_breaker is
    # then ordered by `byte_order`, as the online tiles order it.
    STRINGS_ORDER_BY_BYTES: ClassVar[bool] = True
    # A tile's exact moments (variance, stddev; fcompile/dialects/tiles.py) from a list of its values per
    # (keys, step), with lambdas (DuckDB's LIST, LIST_AVG, LIST_TRANSFORM): the mean and then the deviations
    # from it in one grouping. False: the mean comes first from a window AVG over each (keys, step), a pass
    # of its own over the rows.
    TILE_MOMENTS_FROM_LISTS: ClassVar[bool] = False
    # How the warehouse's SQL differs from the one meaning of an on-demand expression (expressions/traits.py),
    # and its function numbering days of the week 1 (Monday) to 7 where `day_of_week` is `iso_modulo_seven`.
    EXPRESSIONS: ClassVar[ExpressionTraits] = ExpressionTraits()
    ISO_DAY_OF_WEEK_FUNCTION: ClassVar[str] = "DAY_OF_WEEK"
    # Profiles (issue 18): whether `quantiles` and `distinct_count` are exact (else the warehouse's
    # approximate aggregates, and the profile says so).
    EXACT_QUANTILES: ClassVar[bool] = False
    EXACT_DISTINCT_COUNT: ClassVar[bool] = False

    # -- lowerings a dialect may override --------------------------------------------------------

    def ttl_lower_bound(self, timestamp: exp.Expression, seconds: int) -> exp.Expression:
        """`timestamp - ttl`, built as a timestamp node, never as `INTERVAL (col) SECOND` text."""
        return exp.TimestampSub(this=timestamp, expression=exp.Literal.number(seconds), unit=exp.var("SECOND"))

    def epoch_microseconds(self, time: exp.Expression) -> exp.Expression:
        """`time` (as `utc_instant` gives it, or as it comes where times are not converted) as the exact whole
        number of microseconds since the Unix epoch, a BIGINT: windowed aggregations place rows and spine
        times in steps by integer arithmetic on it. Here: UNIX_MICROS of the time as an instant (Spark reads
        a naive time in the session's zone, which its statements set to UTC)."""
        return exp.UnixMicros(this=exp.cast(time, "TIMESTAMP"))

    def utc_instant(self, time: exp.Expression, zoned: bool = False) -> exp.Expression:
        """`time` (naive: read as UTC; zoned: converted) as the engine's microsecond zoned type, spelled so
        the session's time zone plays no part (only when CONVERTS_TIMES_TO_UTC). `zoned`: the column is
        known to hold a zoned type (a Parquet footer says so), which a dialect may spell more cheaply."""
        return time

    def can_qualify(self, select: exp.Select) -> bool:
        """Whether `select` can be filtered by a window condition with QUALIFY as it stands."""
        if not self.SUPPORTS_QUALIFY:
            return False
        return not self.QUALIFY_NEEDS_WHERE or any(select.args.get(k) for k in ("where", "group", "having"))

    def qualify(self, select: exp.Select, condition: exp.Expression) -> exp.Select:
        """`select` filtered by a window `condition` with QUALIFY (only called when `can_qualify`);
        changes `select` in place."""
        return select.qualify(condition, copy=False)

    def greatest(self, value: exp.Expression, dtype: DType) -> exp.Expression:
        """The greatest of a full tie's values of a feature: MAX, which ignores NULLs and gives NaN where
        there is one on every warehouse; BOOL_OR for booleans (sqlglot spells it per dialect: PostgreSQL
        and Redshift have no MAX of a boolean); arrays where the dialect cannot order them: any one."""
        if dtype.name == "bool":
            return exp.LogicalOr(this=value)
        if dtype.is_array and not self.ORDERS_ARRAYS:
            return exp.AnyValue(this=value)
        return exp.Max(this=value)

    def quantiles(self, value: exp.Expression, buckets: int) -> list[exp.Expression]:
        """Aggregates giving the `buckets + 1` boundaries of equal-mass buckets of `value` (a DOUBLE) - at 0,
        1/buckets, ..., 1 - read in order, each a number or a list of numbers. Here one approximate percentile
        aggregate per boundary (Snowflake's APPROX_PERCENTILE, t-digest)."""
        return [exp.ApproxQuantile(this=value.copy(), quantile=fraction_literal(i, buckets)) for i in range(buckets + 1)]

    def distinct_count(self, value: exp.Expression) -> exp.Expression:
        """The number of distinct non-NULL values: HyperLogLog here (APPROX_COUNT_DISTINCT)."""
        return exp.ApproxDistinct(this=value)

    def byte_order(self, value: exp.Expression) -> exp.Expression:
        """A string sort key that orders as the bytes do, whatever the column's collation."""
        return value

    def tie_breaker_order(self, value: exp.Expression, dtype: DType | None) -> exp.Expression:
        """The sort key of a tie_breaker of type `dtype` (None: unknown, ordered as the column is): a string's
        bytes where the dialect's strings may order otherwise."""
        if dtype is not None and dtype.name == "string" and not self.STRINGS_ORDER_BY_BYTES:
            return self.byte_order(value)
        return value

    def parameter(self, name: str) -> exp.Expression:
        """A bound parameter, named where the warehouse's drivers bind by name ($start, :start, @start,
        %(start)s)."""
        return exp.Placeholder(this=name)

    def spine_row_number(self) -> exp.Expression:
        """Numbers the spine's rows in the order they are read (when it has no row-id column)."""
        return exp.Window(this=exp.RowNumber())

    def ascending_never_null(self, expression: exp.Expression) -> exp.Ordered:
        """An ascending sort key over a column that is never NULL, spelled without a NULLS clause.

        A tree built without a dialect reads an unstated NULL placement as NULLS LAST, which sqlglot
        must then spell out where the warehouse sorts NULLs first, and BigQuery refuses NULLS LAST in
        an aggregate window with a frame. For a never-NULL key the placement is moot: take the
        warehouse's own."""
        nulls_first = Dialect.get_or_raise(self.sqlglot_name).NULL_ORDERING == "nulls_are_small"
        return exp.Ordered(this=expression, nulls_first=nulls_first)

    def file_relation(self, relation: Relation) -> exp.Expression:
        raise self.unsupported(f"reading files ('{relation.locator}') in a query",
                               "use a table or query source for this target")

    def table_properties(self) -> exp.Properties | None:
        """What a CREATE TABLE ... AS must say beyond the query, where the warehouse's default would make
        the wrong kind of table."""
        return None

    def spine_view(self, name: str, query: exp.Query) -> list[exp.Expression]:
        """The statements that make `name` a temporary view of `query` for this session, replacing the session's
        earlier one: how a runner supplies the spine relation a compiled retrieve file reads by name."""
        return [exp.Create(this=exp.to_table(name), kind="VIEW", replace=True, expression=query,
                           properties=exp.Properties(expressions=[exp.TemporaryProperty()]))]

    def replace_table(self, table: exp.Table, query: exp.Expression) -> list[exp.Expression]:
        """The statements that (re)create `table` with the rows of `query`, the old table kept if the query
        fails: one CREATE OR REPLACE where the dialect has it; else the rows go into a staging table
        (`__fc_building_<name>`, a name no spec can give: user names hold no `__`), which then replaces
        `table` by a DROP and a RENAME - in one transaction where DDL is transactional, else with a moment
        between the two in which there is no table."""
        if self.SUPPORTS_CREATE_OR_REPLACE_TABLE:
            return [exp.Create(this=table, kind="TABLE", expression=query, replace=True,
                               properties=self.table_properties())]
        staging = staging_table(table)
        statements: list[exp.Expression] = [
            exp.Drop(tables=[staging.copy()], kind="TABLE", exists=True),
            exp.Create(this=staging.copy(), kind="TABLE", expression=query, properties=self.table_properties()),
            *swap_in(staging, table),
        ]
        if self.TRANSACTIONAL_DDL:
            return [exp.Transaction(), *statements, exp.Commit()]
        return statements

    def copy_to_file(self, query: exp.Expression, path: str) -> exp.Expression:
        raise self.unsupported(f"writing query results to a file ('{path}')", "write to a table instead")

    # -- shared machinery ------------------------------------------------------------------------

    def unsupported(self, what: str, hint: str, position: Position | None = None) -> DiagnosticError:
        return DiagnosticError([Diagnostic(Code.UNSUPPORTED_BY_DIALECT,
                                           f"dialect '{self.name}' does not support {what}", position, hint)])

    def parse_query(self, text: str, position: Position | None = None) -> exp.Query:
        """A user query (source or spine), parsed in this dialect so it can be embedded as a tree."""
        try:
            statements = [s for s in parse(text, read=self.sqlglot_name) if s is not None]
        except SqlglotError as exc:
            raise DiagnosticError([Diagnostic(Code.INVALID_QUERY, f"query does not parse as {self.name} SQL: "
                                              f"{str(exc).splitlines()[0]}", position,
                                              "fix the query, or use a table source")]) from None
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise DiagnosticError([Diagnostic(Code.INVALID_QUERY, "a query source must be one SELECT statement",
                                              position, "remove extra statements and trailing DDL")])
        writing = next(statements[0].find_all(*WRITING_NODES), None)
        if writing is not None:
            what = writing.key.upper().replace("TRUNCATETABLE", "TRUNCATE")
            raise DiagnosticError([Diagnostic(
                Code.INVALID_QUERY, f"a query must only read data, but it holds {what} ({_first_words(writing)})",
                position, "a query source or spine is run as part of other statements: write data elsewhere "
                "and read it here with a SELECT")])
        return statements[0]

    def table(self, locator: str) -> exp.Table:
        """A `table:` locator (`name`, `schema.name`, `catalog.schema.name`, parts quoted as the dialect
        quotes) as a table; text that is no table name in this dialect is one quoted name, never SQL."""
        return parse_table_name(locator, self.sqlglot_name) or exp.Table(this=exp.to_identifier(locator, quoted=True))

    def relation(self, relation: Relation, alias: str, position: Position | None = None) -> exp.Expression:
        if relation.kind == "path":
            if relation.nanosecond_times and not self.READS_NANOSECOND_PARQUET:
                raise self.unsupported(
                    f"reading Parquet files with times in nanoseconds ('{relation.locator}': "
                    f"{', '.join(relation.nanosecond_times)})",
                    "write the file's times in microseconds (pyarrow: pq.write_table(..., coerce_timestamps='us', "
                    "allow_truncated_timestamps=True); pandas: the same arguments to to_parquet), or use a table "
                    "source", position)
            source: exp.Expression = self.file_relation(relation)
        elif relation.kind == "query":
            source = self.parse_query(relation.locator, position).subquery()
        else:
            source = self.table(relation.locator)
        if isinstance(source, exp.Subquery):
            return source.as_(alias)
        if not isinstance(source, exp.Table):  # a table function such as read_parquet(...)
            return exp.Table(this=source, alias=exp.TableAlias(this=exp.to_identifier(alias)))
        return exp.alias_(source, alias, table=True)

    def finish(self, expression: exp.Expression) -> exp.Expression:
        """Normalize identifiers to the warehouse's case rules, then quote them all: a name in a spec
        means what it would unquoted (`userId` is "USERID" on Snowflake, "userid" on Postgres)."""
        normalized = (expression if self.PRESERVES_IDENTIFIER_CASE
                      else normalize_identifiers(expression, dialect=self.sqlglot_name))
        # what sqlglot's optimizer `quote_identifiers` does, without importing the optimizer's type
        # annotation modules with it (20 ms of every command's start)
        dialect = Dialect.get_or_raise(self.sqlglot_name)
        for node in normalized.walk():
            if isinstance(node, exp.Identifier):
                dialect.quote_identifier(node, identify=True)
        return normalized

    def generate(self, expression: exp.Expression, pretty: bool = True, copy: bool = True) -> str:
        """SQL text, refusing anything sqlglot cannot express in this dialect; re-parsed as a check.
        `copy=False` lets identifier normalization change `expression` in place."""
        text = layout.generate(self.finish(expression.copy() if copy else expression), self.sqlglot_name,
                               pretty=pretty, unsupported_level=ErrorLevel.RAISE)
        parse(text, read=self.sqlglot_name)
        return text
