"""The target's offline engine as the front ends ask for it: whether it can run anything (FC111 for a
compile-only type, before anything runs), what it can do (capability flags of its runner class, read
without connecting), and a session on it. The runner's module, and its engine's client library, load
only when one of these is called."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from fcompile.diagnostics import DiagnosticError

if TYPE_CHECKING:
    from fcompile.graph import ProjectInfo
    from fcompile.runners.base import Runner


def check_runnable(project: ProjectInfo, refused: str | None = None) -> None:
    """FC111 when the target's offline type is compile-only; `refused` (e.g. "cannot load seeds") begins
    its message, naming the target."""
    from fcompile import runners

    try:
        runners.runner_class(project.target.offline_type)
    except DiagnosticError as error:
        if refused is None:
            raise
        raise DiagnosticError([replace(d, message=f"{refused} on target '{project.target.name}': {d.message}")
                               for d in error.diagnostics]) from None


def prices_queries(project: ProjectInfo) -> bool:
    """Whether the target's engine tells what a query would scan before running it (`Runner.dry_run`)."""
    from fcompile import runners

    return runners.runner_class(project.target.offline_type).prices_queries


def open_runner(project: ProjectInfo, notify: Callable[[str], None] | None = None) -> Runner:
    """A session on the target's offline engine; `notify` is told what a slow start (Spark) is doing."""
    from fcompile import runners

    runner = runners.connect_runner(project)
    if notify is not None:
        runner.notify = notify
    return runner
