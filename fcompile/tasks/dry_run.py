"""`fcompile run --dry-run`: what `run` would do, worked out without running or writing anything - each
dataset's compiled SQL in the target's dialect, each view's window as far as it is known without reading
the offline engine (the watermark comes from the online store), and, on an engine that prices queries
before running them (BigQuery: `Runner.prices_queries`), the bytes each would scan."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from fcompile.diagnostics import Diagnostic, DiagnosticError

if TYPE_CHECKING:
    from fcompile.graph import Dataset, FeatureGraph, FeatureView
    from fcompile.runners.base import Runner
    from fcompile.tasks.materialize import Window


@dataclass(frozen=True)
class DatasetDryRun:
    name: str
    output: str                # where it is written: "table <name>" or "file <path>"
    sql: str                   # its compiled file's SQL, in the target's dialect
    scanned_bytes: int | None  # what it would scan, where the engine prices queries


@dataclass(frozen=True)
class ViewDryRun:
    name: str
    window: Window             # the window a run would read, as far as known without the offline engine
    watermark_known: bool      # False: the online store could not be read, so its watermark is unknown
    scanned_bytes: int | None


@dataclass(frozen=True)
class TestDryRun:
    name: str
    severity: str              # error: a failure holds back what reads the tested node; warn: reported only
    tested: str                # "feature view <name>" or "source <name>"


@dataclass(frozen=True)
class DryRun:
    dialect: str
    datasets: tuple[DatasetDryRun, ...]
    views: tuple[ViewDryRun, ...]
    tests: tuple[TestDryRun, ...] = ()  # the data tests run would run first (none with --skip-tests)
    store_problem: str | None = None  # why the online store could not be read (the watermarks are unknown)
    diagnostics: tuple[Diagnostic, ...] = field(default=())  # datasets that do not compile, failed pricing


def dry_run(graph: FeatureGraph, datasets: Sequence[Dataset], views: Sequence[FeatureView], end: dt.datetime,
            notify: Callable[[str], None] | None = None, skip_tests: bool = False) -> DryRun:
    """What `run` would do for `datasets` and `views` up to `end`, its data tests first (unless `skip_tests`).
    A session on the offline engine is opened only to price queries, and closed before returning."""
    from fcompile.tasks.data_tests import gate_tests

    from fcompile.artifacts.queries import compile_node
    from fcompile.artifacts.selection import NodeRef
    from fcompile.dialects import get_dialect
    from fcompile.planner.datasets import plan_build_dataset
    from fcompile.planner.point_in_time import plan_latest_values
    from fcompile.tasks.materialize import choose_window
    from fcompile.tasks.offline_engine import open_runner, prices_queries

    dialect = get_dialect(graph.project.target.offline_type)
    priced = prices_queries(graph.project)
    problems: list[Diagnostic] = []
    runner: Runner | None = None

    def scanned(plan, label: str, location) -> int | None:
        nonlocal runner
        if not priced:
            return None
        try:
            runner = runner or open_runner(graph.project, notify)
            return runner.dry_run(plan, label, location)
        except DiagnosticError as error:
            problems.extend(error.diagnostics)
            return None

    planned_datasets, planned_views = [], []
    store_problem = None
    try:
        for dataset in datasets:
            try:
                text = compile_node(graph, NodeRef("dataset", dataset.name), dialect).text.rstrip()
            except DiagnosticError as error:
                problems.extend(error.diagnostics)
                continue
            cost = scanned(plan_build_dataset(graph, dataset), f"dataset '{dataset.name}'", dataset.location)
            planned_datasets.append(DatasetDryRun(dataset.name, f"{dataset.output.kind} {dataset.output.locator}",
                                                  text, cost))
        if views:
            states, store_problem = _watermarks(graph, views)
            for view in views:
                window = choose_window(view, end, None, states.get(view.name))
                cost = scanned(plan_latest_values(graph, view), f"feature view '{view.name}'", view.location)
                planned_views.append(ViewDryRun(view.name, window, store_problem is None, cost))
    finally:
        if runner is not None:
            runner.close()
    tests = () if skip_tests else tuple(
        TestDryRun(t.name, t.severity, f"{t.parent_kind.replace('_', ' ')} {t.parent}")
        for t in gate_tests(graph, datasets, views))
    return DryRun(dialect.name, tuple(planned_datasets), tuple(planned_views), tests, store_problem,
                  tuple(problems))


def _watermarks(graph: FeatureGraph, views: Sequence[FeatureView]) -> tuple[dict[str, dt.datetime | None], str | None]:
    """Each view's watermark in the online store, or no watermarks and why the store could not be read."""
    from fcompile.online import connect_online_store

    try:
        with connect_online_store(graph.project) as store:
            states = {view.name: store.get_state(view.name) for view in views}
    except DiagnosticError as error:
        return {}, error.diagnostics[0].message
    return {name: state.watermark if state is not None else None for name, state in states.items()}, None
