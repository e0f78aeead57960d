"""One materialization at a time per project: `fcompile materialize` and the server's materialize endpoints
hold an exclusive `flock` on `target/.materialize.lock` for a whole run.

Two runs over the same views would each be correct (writes keep the newer row), but they would race on
the watermark and do the work twice; the second one is refused at once with FC129 instead of waiting.
The lock belongs to the open file, so a run killed with SIGKILL releases it with its process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import Iterator

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.graph import FeatureGraph

LOCK_FILE = ".materialize.lock"


def lock_path(graph: FeatureGraph) -> str:
    return os.path.join(graph.project.root, "target", LOCK_FILE)


@contextlib.contextmanager
def materialization_lock(path: str) -> Iterator[None]:
    """Held for the run; raises `DiagnosticError` (FC129) at once when another run holds it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DiagnosticError([Diagnostic(
                Code.MATERIALIZE_BUSY, "a materialization of this project is already running", None,
                "wait for it to finish (its results go to target/run_results.json), then run again")]) from None
        yield
    finally:
        os.close(handle)  # closing the file releases the lock
