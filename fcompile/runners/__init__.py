"""Runners: execute compiled plans on an offline engine and bring the rows back as Arrow.

`connect_runner` opens the runner of a project's target. Only DuckDB runs today; the other offline types
compile (`fcompile build`) but have no runner yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError

if TYPE_CHECKING:
    from fcompile.graph import ProjectInfo
    from fcompile.runners.base import Runner

RUNNABLE_TYPES = ("duckdb",)


def runner_class(offline_type: str) -> type[Runner]:
    if offline_type == "duckdb":
        from fcompile.runners.duckdb import DuckDBRunner

        return DuckDBRunner
    raise DiagnosticError([Diagnostic(
        Code.NO_RUNNER, f"fcompile cannot run queries on offline type '{offline_type}' yet",
        None, f"runnable types: {', '.join(RUNNABLE_TYPES)}; `fcompile build` still compiles SQL for it, "
        "or pick another target with --target")])


def connect_runner(project: ProjectInfo) -> Runner:
    """A session on the project's target's offline engine."""
    settings = dict(project.target.offline)
    try:
        return runner_class(str(settings.get("type"))).connect(settings, project.root)
    except DiagnosticError as error:
        raise DiagnosticError([_in_target(d, project.target.name) for d in error.diagnostics]) from None


def _in_target(diagnostic: Diagnostic, target: str) -> Diagnostic:
    from dataclasses import replace

    return replace(diagnostic, message=f"target '{target}': {diagnostic.message}")
