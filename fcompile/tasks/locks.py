"""One materialization at a time per project folder and per online store (docs/concepts/materialization.md,
"One run at a time").

`fcompile materialize`, `fcompile run` (when it materializes) and the server's materialize endpoints take,
before they open the offline engine:
1. an exclusive `flock` on `target/.materialize.lock`: one run per project folder (`fcompile clean` takes it
   too);
2. the online store's own lock (`OnlineStore.materialization_lock`), for runs from other folders - two clones
   of the project - or other machines writing the same store: a lock file next to a SQLite database, a
   PostgreSQL advisory lock, a Redis key with an expiry.

Two runs over the same views would each be correct (writes keep the newer row), but they would race on
the watermark and do the work twice; the second one is refused at once with FC129 instead of waiting, and
before the offline engine is opened (an embedded DuckDB file admits one process: a second run would
otherwise fail on that lock, FC110, without saying that a materialization is running). Every lock belongs
to its holder's process: a run killed with SIGKILL releases the file locks and the PostgreSQL lock with its
process, and the Redis lock when its expiry passes.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Iterator

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.file_lock import exclusive_file_lock
from fcompile.graph import FeatureGraph

if TYPE_CHECKING:
    from fcompile.online.base import OnlineStore

LOCK_FILE = ".materialize.lock"


def lock_path(graph: FeatureGraph) -> str:
    return os.path.join(graph.project.root, "target", LOCK_FILE)


@contextlib.contextmanager
def materialization_lock(path: str) -> Iterator[None]:
    """The project folder's lock, held for the run; raises `DiagnosticError` (FC129) at once when another run
    holds it."""
    busy = DiagnosticError([Diagnostic(
        Code.MATERIALIZE_BUSY, "a materialization of this project is already running", None,
        "wait for it to finish (its results go to target/run_results.json), then run again")])
    with exclusive_file_lock(path, busy):
        yield


@contextlib.contextmanager
def hold_materialization(graph: FeatureGraph) -> Iterator[OnlineStore]:
    """The project folder's lock, then the target's online store, connected, and its lock: every lock a
    materialization holds, taken in that order (FC129 when one is held elsewhere, FC113 when the store cannot
    be reached). Yields the store; closes it and releases the locks at the end."""
    from fcompile.online import connect_online_store

    with contextlib.ExitStack() as stack:
        stack.enter_context(materialization_lock(lock_path(graph)))
        store = stack.enter_context(connect_online_store(graph.project))
        stack.enter_context(store.materialization_lock())
        yield store
