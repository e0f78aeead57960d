"""`target/test_results.json`: the latest result of each data test, whatever ran after it.

`target/run_results.json` says what the last command did, and only that: a `materialize` after a `test`
replaces it with a file without tests. The catalog site shows each test's latest result, so `fcompile test`,
`fcompile run` (which runs the tests on its inputs first) and `fcompile profile --compare` (the checks of
declared drift thresholds) also merge their results into this file: an entry per test, as run_results.json
writes it, plus the command and the time that run finished. A test run
again replaces its entry; tests not in the run keep theirs; tests the project no longer has are dropped.

The file is read, merged and replaced (through a temporary file) under an exclusive lock on
`target/.test_results.lock`, so two commands finishing together both land.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from typing import Any, Iterator, Sequence

from fcompile.graph import FeatureGraph

TEST_RESULTS = "test_results.json"
TEST_RESULTS_SCHEMA_VERSION = 1


def test_results_path(graph: FeatureGraph) -> str:
    return os.path.join(graph.project.root, "target", TEST_RESULTS)


def record_test_results(graph: FeatureGraph, entries: Sequence[dict], command: str, finished_at: dt.datetime) -> dict:
    """Merge a run's data-test entries (`data_test_entries`) into target/test_results.json; returns the file's
    new document."""
    from fcompile.tasks.datasets import _timestamp, write_run_results
    from fcompile.version import __version__

    path = test_results_path(graph)
    from fcompile.tasks.drift_checks import drift_result_names
    from fcompile.tasks.schema_checks import schema_result_names

    known = {f"test.{t.name}" for t in graph.tests} | {f"test.{n}" for n in schema_result_names(graph)} | \
        {f"test.{n}" for n in drift_result_names(graph)}
    finished = _timestamp(finished_at)
    with _locked(os.path.join(os.path.dirname(path), ".test_results.lock")):
        kept = {entry["node"]: entry for entry in read_test_results(path).get("results", ())
                if isinstance(entry, dict) and entry.get("node") in known}
        for entry in entries:
            kept[entry["node"]] = {**entry, "command": command, "finished_at": finished}
        document = {
            "metadata": {"schema_version": TEST_RESULTS_SCHEMA_VERSION, "fcompile_version": __version__,
                         "project": graph.project.name, "target": graph.project.target.name, "updated_at": finished},
            "results": [kept[node] for node in sorted(kept)],
        }
        write_run_results(path, document)
    return document


def read_test_results(path: str) -> dict[str, Any]:
    """The document at `path`, or an empty one when there is none or it cannot be read (a damaged file is
    replaced by the next run's results)."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return document if isinstance(document, dict) and isinstance(document.get("results"), list) else {}


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """An exclusive `flock` on `path`, waited for (the merge it guards takes milliseconds)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)
