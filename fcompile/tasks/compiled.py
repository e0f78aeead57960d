"""A node's compiled file for one dialect, as `fcompile build` writes it: what the tasks that run a node
(`run` for a dataset, a training set asked for by a feature service) execute as it is where the runner can,
and compare what they executed with.

The plan and statements come from the planner and renderer `build` uses (fcompile/artifacts/queries.py), so
the statements are the file's, byte for byte, without its header comments.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlglot.errors import UnsupportedError

from fcompile.artifacts.queries import QueryPlanner, compiled_path
from fcompile.artifacts.selection import NodeRef
from fcompile.diagnostics import DiagnosticError
from fcompile.dialects import compile_statements, get_dialect
from fcompile.graph import FeatureGraph
from fcompile.runners.base import Runner, first_line, reads_project_files


@dataclass(frozen=True)
class CompiledFile:
    """A node's compiled file for one dialect: its plan (paths relative to the project), statements and text;
    or why there is none (`problem`)."""

    path: str                    # relative to target/, as the manifest names it
    plan: Any | None
    statements: tuple[str, ...]
    text: str | None
    problem: str | None = None

    @property
    def sha256(self) -> str | None:
        return None if self.text is None else sha256_of(self.text)


def compiled_file(graph: FeatureGraph, ref: NodeRef, dialect: str) -> CompiledFile:
    path = f"compiled/{compiled_path(dialect, ref)}"
    sql_dialect = get_dialect(dialect)
    try:
        planned = QueryPlanner(graph).plan(ref, sql_dialect)
        statements = tuple(compile_statements(planned.plan, sql_dialect))
        then = ";\n\n".join(planned.then.statements(sql_dialect)) if planned.then is not None else None
    except (DiagnosticError, UnsupportedError) as error:
        reason = error.diagnostics[0].message if isinstance(error, DiagnosticError) else first_line(error)
        return CompiledFile(path, None, (), None, f"no compiled file: {reason}")
    text = planned.file(planned.body(";\n\n".join(statements), then)).text
    return CompiledFile(path, planned.plan, statements, text)


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def unreadable_paths(runner: Runner, plan: Any) -> str | None:
    """Why the runner cannot run a compiled plan as it is because of its paths (relative to the project
    folder, as compiled files name them); None when it can."""
    if runner.reads_project_relative_paths or not reads_project_files(plan):
        return None
    return (f"the {runner.dialect} runner cannot read paths relative to the project folder, as the compiled file "
            "names them: it runs the same plan with absolute paths")


def statements_differ(runner: Runner) -> str:
    """Why the statements a runner made of a compiled plan are not the file's: the target's setting that
    changes them, where the runner has one."""
    return runner.compiled_file_difference or f"the {runner.dialect} runner's statements differ from the compiled file's"
