"""Runners: execute compiled plans on an offline engine and bring the rows back as Arrow.

`connect_runner` opens the runner of a project's target: DuckDB (embedded), PostgreSQL (psycopg), Spark
(pyspark), Snowflake (snowflake-connector-python) or BigQuery (google-cloud-bigquery). Redshift and Trino
compile (`fcompile build`) but cannot run: they are compile-only for now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError

if TYPE_CHECKING:
    from fcompile.graph import ProjectInfo
    from fcompile.runners.base import Runner

RUNNABLE_TYPES = ("duckdb", "postgres", "spark", "snowflake", "bigquery")


def runner_class(offline_type: str) -> type[Runner]:
    if offline_type == "duckdb":
        from fcompile.runners.duckdb import DuckDBRunner

        return DuckDBRunner
    if offline_type == "postgres":
        from fcompile.runners.postgres import PostgresRunner

        return PostgresRunner
    if offline_type == "spark":
        from fcompile.runners.spark import SparkRunner

        return SparkRunner
    if offline_type == "snowflake":
        from fcompile.runners.snowflake import SnowflakeRunner

        return SnowflakeRunner
    if offline_type == "bigquery":
        from fcompile.runners.bigquery import BigQueryRunner

        return BigQueryRunner
    raise DiagnosticError([Diagnostic(
        Code.NO_RUNNER, f"offline type '{offline_type}' is compile-only for now: fcompile cannot run queries on it yet",
        None, f"runnable types: {', '.join(RUNNABLE_TYPES)}; `fcompile build` still compiles SQL for it, "
        "or pick another target with --target")])


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
