"""`POST /materialize` and `POST /materialize-incremental`: the same run as `fcompile materialize`, one at
a time per project.

A run holds the project's materialization locks (fcompile/tasks/locks.py: the folder's, then the online
store's) for its whole length, as `fcompile materialize` does: a second run, from any worker process of any
server on that folder, from the command, or from a clone of the project writing the same online store,
finds a lock taken and gets 409 (FC129) at once. The run opens its own offline engine and online-store connections (a worker's read
connection stays with the event loop) and, like the command, writes `target/run_results.json`.
"""

from __future__ import annotations

from fcompile.diagnostics import Diagnostic
from fcompile.graph import FeatureGraph
from fcompile.serving.requests import MaterializeCall
from fcompile.tasks.materialize import materialize_and_record


def run_materialization(graph: FeatureGraph, call: MaterializeCall) -> tuple[dict, list[Diagnostic]]:
    """Run the views of `call` (blocking; the server calls it in a thread). Returns the response body,
    `{"results": [{"feature_view", "status", "window", "rows_read", "keys_written", "seconds", "message",
    "errors"}]}` (`message`: what happened, as the command prints it - e.g. that the window held no rows, or
    that the watermark is past `end_ts` - None for a failure), and the diagnostics of the views that failed
    (each view runs on its own, as in the command)."""
    results, document = materialize_and_record(graph, None, call.feature_views, call.end, call.start)
    body = {"results": [{
        "feature_view": r.view,
        "status": r.status,
        "window": entry["window"],
        "rows_read": r.rows_read,
        "keys_written": r.keys_written,
        "seconds": entry["seconds"],
        "message": r.message,
        "errors": [{"code": d.code.value, "message": d.message, "hint": d.hint} for d in r.diagnostics],
    } for r, entry in zip(results, document["results"])]}
    return body, [d for r in results for d in r.diagnostics]
