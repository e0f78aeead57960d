"""`fcompile run`: build datasets into their outputs and record what happened in `run_results.json`.

Each dataset is planned, checked and written on its own: one that fails is reported and the others
still run. Outputs are replaced atomically (a table is built under a temporary name and renamed; a
file is written beside its destination and moved over it), so a failure leaves the old output intact.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

from fcompile import __version__
from fcompile.diagnostics import Diagnostic, DiagnosticError
from fcompile.graph import Dataset, FeatureGraph
from fcompile.planner.point_in_time import dataset_spine
from fcompile.runners.base import Runner
from fcompile.runners.spines import SpineInput
from fcompile.runners.training import plan_training_query

RUN_RESULTS_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class DatasetResult:
    name: str
    status: str  # "success" or "error"
    rows: int | None
    seconds: float
    output: dict[str, str]  # {"table": name} or {"path": path relative to the project}
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status == "success"


def run_dataset(graph: FeatureGraph, runner: Runner, dataset: Dataset) -> DatasetResult:
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
        if dataset.output.kind == "table":
            rows = runner.write_table(query.plan, dataset.output.locator, label, dataset.location)
        else:
            path = os.path.join(graph.project.root, dataset.output.locator)
            rows = runner.write_parquet(query.plan, path, label, dataset.location)
    except DiagnosticError as error:
        problems = tuple(_in_context(d, label, dataset) for d in error.diagnostics)
        return DatasetResult(dataset.name, "error", None, time.perf_counter() - started, output, problems)
    return DatasetResult(dataset.name, "success", rows, time.perf_counter() - started, output)


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
        } for r in results],
    }


def run_results_metadata(graph: FeatureGraph, command: str, started_at: dt.datetime,
                         finished_at: dt.datetime) -> dict:
    """The `metadata` of run_results.json, for `run` and `materialize` alike."""
    return {
        "schema_version": RUN_RESULTS_SCHEMA_VERSION,
        "fcompile_version": __version__,
        "command": command,
        "project": graph.project.name,
        "target": graph.project.target.name,
        "started_at": _timestamp(started_at),
        "finished_at": _timestamp(finished_at),
    }


def write_run_results(path: str, document: dict) -> None:
    """Written to a temporary file beside `path`, then moved over it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    os.replace(temporary, path)


def _timestamp(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with `Z`: whole seconds, or milliseconds when there is a fraction of a second."""
    moment = moment.astimezone(dt.timezone.utc)
    precision = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=precision).replace("+00:00", "Z")


def _in_context(diagnostic: Diagnostic, label: str, dataset: Dataset) -> Diagnostic:
    message = diagnostic.message if diagnostic.message.startswith(label) else f"{label}: {diagnostic.message}"
    return replace(diagnostic, message=message, position=diagnostic.position or dataset.location)
