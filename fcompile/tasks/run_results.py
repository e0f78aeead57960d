"""`target/run_results.json`: its metadata, its timestamps, and how it is written (for `run`, `materialize` and
the server alike). A module of its own, so that `materialize` does not import the dataset machinery (SQL
compilation, training queries) to write it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import TYPE_CHECKING

from fcompile.version import __version__

if TYPE_CHECKING:
    from fcompile.graph import FeatureGraph

RUN_RESULTS_SCHEMA_VERSION = 2  # 2: a dataset's compiled_file, compiled_sha256, setup, executed, matches_..., mismatch


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
