"""`fcompile run`: build datasets into their outputs and record what happened in `run_results.json`.

Each dataset is planned, checked and written on its own: one that fails is reported and the others
still run. A table is written by the statements of the dataset's compiled file for the target's dialect,
as `fcompile build` writes them (they replace the table so that a failure leaves the old one, see
`SqlDialect.replace_table`); `run_results.json` records the sha256 of each executed statement and of the
file, and whether they match. A file is written beside its destination and moved over it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from fcompile.artifacts.selection import NodeRef
from fcompile.diagnostics import Diagnostic, DiagnosticError
from fcompile.graph import Dataset, DatasetOutput, FeatureGraph
from fcompile.planner.plans import BuildDataset
from fcompile.planner.point_in_time import dataset_spine
from fcompile.runners.base import Runner
from fcompile.runners.spines import SpineInput
from fcompile.tasks.compiled import CompiledFile, compiled_file, sha256_of, statements_differ, unreadable_paths
from fcompile.tasks.training import TrainingQuery, plan_training_query
from fcompile.tasks.run_results import (  # noqa: F401  (their home was here)
    RUN_RESULTS_SCHEMA_VERSION, _timestamp, run_results_metadata, write_run_results,
)



@dataclass(frozen=True)
class Executed:
    """What the engine ran for a dataset, next to the compiled file of the target's dialect: the same
    statements byte for byte when `matches_compiled_file`; else `mismatch` says why not."""

    statements: tuple[str, ...] | None   # None: the runner wrote the output without SQL of the file's kind
    setup: tuple[str, ...]               # run before, outside the file's statements (spine registration, session)
    compiled_path: str                   # relative to target/, as the manifest names it
    compiled_sha256: str | None          # of the file `build` writes; None when the dataset has no compiled file
    matches_compiled_file: bool
    mismatch: str | None = None


@dataclass(frozen=True)
class DatasetResult:
    name: str
    status: str  # "success" or "error"
    rows: int | None
    seconds: float
    output: dict[str, str]  # {"table": name} or {"path": path relative to the project}
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    executed: Executed | None = None  # None when the dataset failed

    @property
    def ok(self) -> bool:
        return self.status == "success"


def run_dataset(graph: FeatureGraph, runner: Runner, dataset: Dataset) -> DatasetResult:
    """Checks the spine and sources against the request (registering the spine as the SDK does), then runs
    the statements of the dataset's compiled file for the runner's dialect, as they are, where the runner
    can; else the runner's own plan, and the result says why."""
    started = time.perf_counter()
    output = {dataset.output.kind: dataset.output.locator}
    label = f"dataset '{dataset.name}'"
    try:
        spine = dataset_spine(graph, dataset)
        given = graph.source(dataset.spine.locator).locator if dataset.spine.kind == "source" else \
            dataset.spine.locator  # as written in the spec, relative to the project folder
        spine_input = SpineInput(spine.relation.kind, spine.relation.locator, given, "project")
        query = plan_training_query(graph, runner, spine_input,
                                    dataset.projections, dataset.full_feature_names, spine.timestamp_column,
                                    label, dataset.location)
        compiled = compiled_file(graph, NodeRef("dataset", dataset.name), runner.dialect)
        if dataset.output.kind == "table":
            rows, executed = _write_table(runner, query, compiled, dataset, label)
        else:
            path = os.path.join(graph.project.root, dataset.output.locator)
            rows = runner.write_parquet(query.plan, path, label, dataset.location)
            executed = Executed(None, query.spine.setup_sql, compiled.path, compiled.sha256, False,
                                "a Parquet output is written by the runner to a temporary file beside the "
                                "destination and moved over it, not by the compiled file's COPY")
    except DiagnosticError as error:
        problems = tuple(_in_context(d, label, dataset) for d in error.diagnostics)
        return DatasetResult(dataset.name, "error", None, time.perf_counter() - started, output, problems)
    return DatasetResult(dataset.name, "success", rows, time.perf_counter() - started, output, (), executed)


def _write_table(runner: Runner, query: TrainingQuery, compiled: CompiledFile, dataset: Dataset,
                 label: str) -> tuple[int, Executed]:
    """The compiled file's plan written by the runner where it can run it; else the runner's own plan (its
    spine as registered, its paths absolute) and the reason."""
    reason = compiled.problem or query.spine.not_as_compiled
    reason = reason or unreadable_paths(runner, compiled.plan)
    build = compiled.plan if reason is None else \
        BuildDataset(label, DatasetOutput("table", dataset.output.locator), query.plan, dataset.location)
    written = runner.write_dataset_table(build, label, dataset.location)
    matches = written.statements == compiled.statements
    if not matches and reason is None:
        reason = statements_differ(runner)
    return written.rows, Executed(written.statements, (*query.spine.setup_sql, *written.setup), compiled.path,
                                  compiled.sha256, matches, None if matches else reason)


def run_datasets(graph: FeatureGraph, runner: Runner, datasets: Sequence[Dataset],
                 on_start: Callable[[Dataset], None] = lambda d: None,
                 on_done: Callable[[DatasetResult], None] = lambda r: None) -> list[DatasetResult]:
    results = []
    for dataset in datasets:
        on_start(dataset)
        result = run_dataset(graph, runner, dataset)
        on_done(result)
        results.append(result)
    return results


def run_results_document(graph: FeatureGraph, results: Sequence[DatasetResult], started_at: dt.datetime,
                         finished_at: dt.datetime) -> dict:
    root = graph.project.root
    return {
        "metadata": run_results_metadata(graph, "run", started_at, finished_at),
        "results": [{
            "node": f"dataset.{r.name}",
            "status": r.status,
            "rows": r.rows,
            "seconds": round(r.seconds, 3),
            "output": r.output,
            "message": "\n".join(d.render(relative_to=root) for d in r.diagnostics) or None,
            **_executed_fields(r.executed),
        } for r in results],
    }


def _executed_fields(executed: Executed | None) -> dict:
    """run_results.json's record of the SQL that ran for a dataset, against its compiled file."""
    if executed is None:
        return {}
    return {
        "compiled_file": executed.compiled_path,
        "compiled_sha256": executed.compiled_sha256,
        "setup": [_statement(sql, with_text=True) for sql in executed.setup],
        "executed": None if executed.statements is None else [_statement(sql) for sql in executed.statements],
        "matches_compiled_file": executed.matches_compiled_file,
        "mismatch": executed.mismatch,
    }


def _statement(sql: str, with_text: bool = False) -> dict:
    entry = {"sha256": sha256_of(sql)}
    return {**entry, "sql": sql} if with_text else entry


def _in_context(diagnostic: Diagnostic, label: str, dataset: Dataset) -> Diagnostic:
    message = diagnostic.message if diagnostic.message.startswith(label) else f"{label}: {diagnostic.message}"
    return replace(diagnostic, message=message, position=diagnostic.position or dataset.location)
