"""Runners: execute compiled plans on an offline engine and bring the rows back as Arrow.

`connect_runner` opens the runner of a project's target: DuckDB (embedded), PostgreSQL (psycopg), Spark
(pyspark), Snowflake (snowflake-connector-python) or BigQuery (google-cloud-bigquery). Redshift and Trino
compile (`fcompile build`) but cannot run: they are compile-only for now.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError

if TYPE_CHECKING:
    from fcompile.graph import ProjectInfo
    from fcompile.runners.base import Runner

# The one place an offline type's name maps to its runner: module and class, imported on first use to keep
# command start-up fast (each module imports its engine's client library)
_RUNNERS = {
    "duckdb": ("fcompile.runners.duckdb", "DuckDBRunner"),
    "postgres": ("fcompile.runners.postgres", "PostgresRunner"),
    "spark": ("fcompile.runners.spark", "SparkRunner"),
    "snowflake": ("fcompile.runners.snowflake", "SnowflakeRunner"),
    "bigquery": ("fcompile.runners.bigquery", "BigQueryRunner"),
}
RUNNABLE_TYPES = tuple(_RUNNERS)


def runner_class(offline_type: str) -> type[Runner]:
    """The runner of an offline type; a NO_RUNNER diagnostic when the type is compile-only."""
    if offline_type in _RUNNERS:
        module, name = _RUNNERS[offline_type]
        runner: type[Runner] = getattr(importlib.import_module(module), name)
        return runner
    raise DiagnosticError([Diagnostic(
        Code.NO_RUNNER, f"offline type '{offline_type}' is compile-only for now: fcompile cannot run queries on it yet",
        None, f"runnable types: {', '.join(RUNNABLE_TYPES)}; `fcompile build` still compiles SQL for it, "
        "or pick another target with --target")])


def appends_pushed_rows(offline_type: str) -> bool:
    """Whether the runner of an offline type appends pushed rows to its table sources (False when the type
    is compile-only): asked before connecting, so a push that cannot be written fails without a session."""
    return offline_type in _RUNNERS and runner_class(offline_type).appends_pushed_rows


def connect_runner(project: ProjectInfo) -> Runner:
    """A session on the project's target's offline engine (Spark starts on first use, not here)."""
    settings = dict(project.target.offline)
    try:
        runner = runner_class(str(settings.get("type"))).connect(settings, project.root)
    except DiagnosticError as error:
        raise DiagnosticError([_in_target(d, project.target.name) for d in error.diagnostics]) from None
    runner.target_name = project.target.name  # for failures after connecting: Spark starts on first use
    runner.project_name = project.name  # BigQuery labels its jobs with it
    return runner


def _in_target(diagnostic: Diagnostic, target: str) -> Diagnostic:
    from dataclasses import replace

    return replace(diagnostic, message=f"target '{target}': {diagnostic.message}")
