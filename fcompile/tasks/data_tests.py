"""`fcompile test`, and the tests `fcompile run` runs first (issue 18).

Each data test runs the query of its compiled file for the runner's dialect (fcompile/dialects/data_tests.py):
the failing rows are counted and up to `SAMPLE_ROWS` of them read back; with `store_failures` they are first
written to a table of the target's schema (`fcompile_failures__<test>`, replaced each run) and counted and
sampled there. A freshness test's query returns the newest event time, compared here with `now`. A test
whose query fails on the engine is an error naming the engine's first line, and the other tests still run.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Sequence

from fcompile.artifacts.selection import DependencyGraph, NodeRef, select_nodes
from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.graph import DataTest, Dataset, FeatureGraph, FeatureView
from fcompile.runners.base import Runner

SAMPLE_ROWS = 5
FAILURES_PREFIX = "fcompile_failures__"
PASS, WARN, FAIL, ERROR = "pass", "warn", "fail", "error"


@dataclass(frozen=True)
class DataTestResult:
    name: str
    status: str                      # pass, warn, fail or error
    severity: str
    failures: int | None             # failing rows (aggregate tests: 1 when the figure fails); None on error
    columns: tuple[str, ...] = ()
    sample: tuple[tuple, ...] = ()   # up to SAMPLE_ROWS failing rows
    seconds: float = 0.0
    message: str | None = None       # a figure's failure, or the engine's error
    stored_in: str | None = None     # the table the failing rows were written to (--store-failures)
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    # a check that is no test node of the manifest (a schema check) says what it checks: the catalog and the
    # counts read these from its run_results entry
    kind: str | None = None          # "schema"
    parent: str | None = None        # the node it checks, as "feature_view.NAME"
    column: str | None = None        # the feature, when it checks one
    float32_columns: frozenset[str] = frozenset()  # sampled columns the specs declare float32

    def sample_lines(self) -> list[str]:
        """The sampled failing rows for people, `column=value, ...` each; a float32 column's values by the
        shortest text that reads back as them (`fcompile.float32_text`), not the double they widen to."""
        from fcompile.float32_text import float32_text

        def shown(column: str, value: Any) -> str:
            if value is None:
                return "NULL"
            if isinstance(value, float) and column in self.float32_columns:
                return float32_text(value)
            return str(value)

        return [", ".join(f"{c}={shown(c, v)}" for c, v in zip(self.columns, row)) for row in self.sample]

    @property
    def blocks(self) -> bool:
        """Whether it stops `fcompile test` (exit 1) and what `fcompile run` builds from the tested node."""
        return self.status in (FAIL, ERROR)


def select_tests(graph: FeatureGraph, select: Sequence[str] = (), exclude: Sequence[str] = (),
                 state=None) -> list[DataTest]:
    """The tests a selection names: those selected themselves, and those on a selected view or source (as dbt
    runs a model's tests when the model is selected); minus excluded tests. `state`: what `state:modified` names
    (`select_nodes`). Raises `DiagnosticError` (FC090)."""
    chosen = set(select_nodes(graph, select, (), state))
    dropped = set(select_nodes(graph, exclude, (), state)) if any(s.split() for s in exclude) else set()
    return [t for t in graph.tests
            if (NodeRef("test", t.name) in chosen or NodeRef(t.parent_kind, t.parent) in chosen)
            and NodeRef("test", t.name) not in dropped]


def tests_on(graph: FeatureGraph, nodes: Iterable[NodeRef]) -> list[DataTest]:
    """The tests on these views and sources, in the graph's order."""
    wanted = set(nodes)
    return [t for t in graph.tests if NodeRef(t.parent_kind, t.parent) in wanted]


def inputs_of(graph: FeatureGraph, node: Dataset | FeatureView) -> set[NodeRef]:
    """The views and sources a dataset reads (through its service), or a view and its source."""
    kind = "dataset" if isinstance(node, Dataset) else "feature_view"
    upstream = DependencyGraph.of(graph).closure([NodeRef(kind, node.name)], "up")
    return {r for r in upstream if r.kind in ("feature_view", "source")}


def run_data_tests(graph: FeatureGraph, runner: Runner, tests: Sequence[DataTest], now: dt.datetime | None = None,
                   store_failures: bool = False,
                   on_done: Callable[[DataTestResult], None] = lambda r: None) -> list[DataTestResult]:
    now = now or dt.datetime.now(dt.timezone.utc)
    results = []
    for test in tests:
        result = run_data_test(graph, runner, test, now, store_failures)
        on_done(result)
        results.append(result)
    return results


def run_data_test(graph: FeatureGraph, runner: Runner, test: DataTest, now: dt.datetime,
                  store_failures: bool = False) -> DataTestResult:
    from fcompile.dialects import get_dialect, query_statement
    from fcompile.planner.data_tests import plan_data_test

    started = time.perf_counter()
    label = f"data test '{test.name}'"
    dialect = get_dialect(runner.dialect)
    try:
        leading, sql = query_statement(runner.statements(plan_data_test(graph, test)), dialect)
        for statement in leading:
            runner.run_session_statement(statement)
        query = dialect.parse_query(sql, test.location)
        stored = None
        if store_failures:
            table = dialect.table(FAILURES_PREFIX + test.name)
            for statement in dialect.replace_table(table, query):
                runner.run_statement(dialect.generate(statement, pretty=False), label, test.location)
            stored = table.sql(dialect=dialect.sqlglot_name)
            query = _select_all(dialect.table(FAILURES_PREFIX + test.name))
        if test.kind == "freshness":
            columns, rows = runner.query_rows(dialect.generate(query, pretty=False), label, test.location)
            result = _freshness(test, columns, rows, now)
        else:
            result = _count_and_sample(test, runner, dialect, query, label)
    except DiagnosticError as error:
        problems = tuple(d if d.message.startswith(label) else replace(d, message=f"{label}: {d.message}")
                         for d in error.diagnostics)
        reason = problems[0].message if problems else "failed"
        return DataTestResult(test.name, ERROR, test.severity, None, seconds=time.perf_counter() - started,
                          message=reason, diagnostics=problems)
    return replace(result, seconds=time.perf_counter() - started, stored_in=stored,
                   float32_columns=_float32_columns(graph, test) if result.sample else frozenset())


def _float32_columns(graph: FeatureGraph, test: DataTest) -> frozenset[str]:
    """The columns of a test's failing rows that the specs declare float32: its view's float32 features, or
    the columns of its source that views read as float32 features (by their field mapping)."""
    if test.parent_kind == "feature_view":
        views, renamed = [graph.feature_view(test.parent)], {}
    else:
        views = [v for v in graph.feature_views if v.source == test.parent]
        renamed = dict(graph.source(test.parent).field_mapping)  # source column -> the views' name for it
    declared = {f.name for view in views for f in view.plain_features if f.dtype.name == "float32"}
    if test.parent_kind == "feature_view":
        return frozenset(declared)
    return frozenset(column for column in {*declared, *renamed} if renamed.get(column, column) in declared)


def _select_all(relation) -> Any:
    from sqlglot import exp

    return exp.select(exp.Star()).from_(relation)


def _count_and_sample(test: DataTest, runner: Runner, dialect, query, label: str) -> DataTestResult:
    from sqlglot import exp

    counted = exp.select(exp.alias_(exp.Count(this=exp.Star()), "failures")).from_(
        query.subquery("failing", copy=True))
    _, rows = runner.query_rows(dialect.generate(counted, pretty=False), label, test.location)
    failures = int(rows[0][0]) if rows else 0
    columns: tuple[str, ...] = ()
    sample: list[tuple] = []
    if failures:
        sampled = exp.select(exp.Star()).from_(query.subquery("failing", copy=True)).limit(SAMPLE_ROWS)
        columns, sample = runner.query_rows(dialect.generate(sampled, pretty=False), label, test.location)
    status = PASS if not failures else (FAIL if test.severity == "error" else WARN)
    message = None
    if failures and test.kind in ("row_count", "null_fraction"):
        message = _figure_message(test, dict(zip(columns, sample[0])) if sample else {})
    return DataTestResult(test.name, status, test.severity, failures, tuple(columns), tuple(tuple(r) for r in sample),
                      message=message)


def _figure_message(test: DataTest, figures: dict[str, Any]) -> str:
    lowered = {k.lower(): v for k, v in figures.items()}
    if test.kind == "row_count":
        bounds = " and ".join(f"{'at least' if k == 'min' else 'at most'} {v:,}" for k, v in test.arguments)
        return f"{lowered.get('row_count', 0):,} rows; expected {bounds}"
    return (f"{lowered.get('null_rows', 0):,} of {lowered.get('row_count', 0):,} rows have a NULL "
            f"{test.argument('column')} ({float(lowered.get('null_fraction') or 0):.4f} > {test.argument('max')})")


def _freshness(test: DataTest, columns: Sequence[str], rows: list[tuple], now: dt.datetime) -> DataTestResult:
    figures = {c.lower(): v for c, v in zip(columns, rows[0])} if rows else {}
    newest = as_utc(figures.get("newest_event_time"))
    warn_after, error_after = test.argument("warn_after"), test.argument("error_after")
    if newest is None:
        status = FAIL if error_after is not None and test.severity == "error" else WARN
        return DataTestResult(test.name, status, test.severity, 1, tuple(columns), tuple(map(tuple, rows)),
                          message="no rows: no event time to be fresh")
    age = (as_utc(now) - newest).total_seconds()  # type: ignore[operator]
    status = PASS
    if error_after is not None and age > error_after:
        status = FAIL if test.severity == "error" else WARN
    elif warn_after is not None and age > warn_after:
        status = WARN
    message = None
    if status != PASS:
        limit = error_after if error_after is not None and age > error_after else warn_after
        message = f"newest event time {newest.isoformat()} is {_age(age)} old (more than {_age(limit)})"
    return DataTestResult(test.name, status, test.severity, int(status != PASS), tuple(columns),
                      tuple(map(tuple, rows)), message=message)


def as_utc(value: Any) -> dt.datetime | None:
    """A time an engine returned as a UTC-aware datetime (naive times are UTC, as fcompile reads them)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        return None
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


def _age(seconds: float) -> str:
    """A duration for people: 3d 4h, 2h 5m, 4m 10s."""
    whole = int(seconds)
    for big, small, big_unit, small_unit in ((86400, 3600, "d", "h"), (3600, 60, "h", "m"), (60, 1, "m", "s")):
        if whole >= big:
            rest = (whole % big) // small
            return f"{whole // big}{big_unit}" + (f" {rest}{small_unit}" if rest else "")
    return f"{whole}s"


# -- fcompile run: the tests of what it builds, first --------------------------------------------------------

@dataclass(frozen=True)
class RunGate:
    """The tests `fcompile run` ran, and which of its datasets and views an error-severity failure (or a test
    that could not run) keeps from being replaced or moved on: by name, with the tests that block them."""

    results: tuple[DataTestResult, ...]
    blocked_datasets: dict[str, tuple[str, ...]]
    blocked_views: dict[str, tuple[str, ...]]


def gate_run(graph: FeatureGraph, runner: Runner, datasets: Sequence[Dataset], views: Sequence[FeatureView],
             now: dt.datetime | None = None, on_done: Callable[[DataTestResult], None] = lambda r: None) -> RunGate:
    """Run the tests on the inputs of `datasets` and on `views` (and their sources), each test once."""
    inputs = _gated_inputs(graph, datasets, views)
    tests = gate_tests(graph, datasets, views)
    results = run_data_tests(graph, runner, tests, now, on_done=on_done)
    failing = {t.name: t for t, r in zip(tests, results) if r.blocks}
    blocked: dict[tuple[str, str], tuple[str, ...]] = {}
    for key, refs in inputs.items():
        names = tuple(t.name for t in tests_on(graph, refs) if t.name in failing)
        if names:
            blocked[key] = names
    return RunGate(tuple(results), {n: v for (k, n), v in blocked.items() if k == "dataset"},
                   {n: v for (k, n), v in blocked.items() if k == "feature_view"})


def gate_tests(graph: FeatureGraph, datasets: Sequence[Dataset], views: Sequence[FeatureView]) -> list[DataTest]:
    """The tests `fcompile run` runs first for `datasets` and `views`: those on their inputs, each once."""
    inputs = _gated_inputs(graph, datasets, views)
    return tests_on(graph, set().union(*inputs.values())) if inputs else []


def _gated_inputs(graph: FeatureGraph, datasets: Sequence[Dataset],
                  views: Sequence[FeatureView]) -> dict[tuple[str, str], set[NodeRef]]:
    inputs = {("dataset", d.name): inputs_of(graph, d) for d in datasets}
    inputs.update({("feature_view", v.name): inputs_of(graph, v) for v in views})
    return inputs


def blocked_diagnostic(kind: str, name: str, tests: Sequence[str], location) -> Diagnostic:
    what = "not replaced" if kind == "dataset" else "not materialized (its watermark stays)"
    return Diagnostic(Code.TEST_FAILED, f"{kind.replace('_', ' ')} '{name}': {what}: data test"
                      f"{'s' if len(tests) > 1 else ''} {', '.join(tests)} failed on its inputs", location,
                      "fix the data (fcompile test --store-failures keeps the failing rows), or run with "
                      "--skip-tests to build anyway")


def data_test_entries(results: Sequence[DataTestResult], root: str) -> list[dict]:
    """`run_results.json` entries of data tests (for `fcompile test` and `fcompile run`)."""
    return [{
        "node": f"test.{r.name}",
        "status": r.status,
        "severity": r.severity,
        "failures": r.failures,
        "seconds": round(r.seconds, 3),
        "message": "\n".join(d.render(relative_to=root) for d in r.diagnostics) or r.message,
        "stored_in": r.stored_in,
        "sample": [dict(zip(r.columns, (_plain(v) for v in row))) for row in r.sample],
        **({"kind": r.kind, "parent": r.parent, "column": r.column} if r.kind is not None else {}),
    } for r in results]


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def data_test_document(graph: FeatureGraph, results: Sequence[DataTestResult], started_at: dt.datetime,
                          finished_at: dt.datetime) -> dict:
    from fcompile.tasks.datasets import run_results_metadata

    return {"metadata": run_results_metadata(graph, "test", started_at, finished_at),
            "results": data_test_entries(results, graph.project.root)}
