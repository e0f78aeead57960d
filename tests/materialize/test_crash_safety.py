"""A materialization killed at any point loses nothing, and a re-run converges (docs/concepts/point-in-time.md).

`fcompile materialize` runs as a real subprocess on a project large enough to take a second or two, and is
killed with SIGKILL after seeded random delays (counted from the moment it starts writing), many
times over - plain runs from an empty store, then --full-refresh runs - in batches of a few thousand rows,
so kills land inside and between batch commits, in the state update and between views. After each
round, an uninterrupted run must leave exactly the online state of one uninterrupted run into a fresh store:
every key's values, event time and created time, and every view's watermark. SQLite store.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fcompile.online import connect_online_store, online_view
from fcompile.parser import load_project

PROJECT = """\
name: crash_test
default_target: dev
targets:
  dev: {offline: {type: duckdb}, online: {type: sqlite, path: .fcompile/online.db}}
"""
SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: stats_src, path: data/stats.parquet, timestamp_field: ts, created_timestamp_field: created}
feature_views:
  - name: stats
    entities: [driver]
    source: stats_src
    lateness: 2h
    features: [{name: conv, dtype: float64}, {name: trips, dtype: int64}, {name: label, dtype: string}]
  - name: recent
    entities: [driver]
    source: stats_src
    ttl: 1d
    features: [{name: conv, dtype: float64}]
"""
END = "2024-01-10T00:00:00"
BATCH_ROWS = 3_000  # many commits per view, so kills land between batches as well as inside them


def write_project(root: Path, keys: int) -> Path:
    """`keys` drivers with three rows each over nine days, one of them re-sent with a later created time."""
    import duckdb

    (root / "data").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(PROJECT)
    (root / "features.yml").write_text(SPEC)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(f"""
        COPY (
            SELECT k AS driver_id,
                   TIMESTAMP '2024-01-01' + to_minutes(CAST(hash(k, r) % 12960 AS BIGINT)) AS ts,
                   TIMESTAMP '2024-01-01' + to_minutes(CAST(r AS BIGINT)) AS created,
                   (hash(k, r, 1) % 1000) / 1000.0 AS conv,
                   CAST(hash(k, r, 2) % 100 AS BIGINT) AS trips,
                   'driver-' || k || '-' || r AS label
            FROM range({keys}) AS d(k), range(3) AS n(r)
            UNION ALL  -- a correction of row 0: same event time, created later
            SELECT k, TIMESTAMP '2024-01-01' + to_minutes(CAST(hash(k, 0) % 12960 AS BIGINT)),
                   TIMESTAMP '2024-01-01 01:00', 0.5, 7, 'corrected'
            FROM range({keys}) AS d(k) WHERE k % 7 = 0
        ) TO '{root / "data" / "stats.parquet"}' (FORMAT parquet)
    """)
    con.close()
    return root


def materialize_command(root: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "fcompile", "materialize", "--project-dir", str(root), "--end", END,
            "--batch-rows", str(BATCH_ROWS), *extra]


def timed_run(root: Path) -> tuple[float, float]:
    """An uninterrupted run: seconds until it starts writing its first view, and until it ends."""
    started = time.monotonic()
    process = subprocess.Popen(materialize_command(root), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    writing = None
    for line in process.stderr:  # plain progress lines: stderr is not a terminal
        if writing is None and line.startswith("materializing feature view"):
            writing = time.monotonic() - started
    assert process.wait() == 0
    return writing or 0.0, time.monotonic() - started


def wait_for_line(process: subprocess.Popen, log: Path, text: str, timeout: float = 120.0) -> None:
    """Until the process has written `text` to its log, or ended."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and text not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.005)


def online_state(root: Path, keys: int) -> dict:
    """Every key's stored row in every view, and every view's watermark."""
    graph = load_project(root)
    state: dict = {}
    with connect_online_store(graph.project) as store:
        for view in graph.feature_views:
            target = online_view(graph, view)
            rows = store.read(target, [(k,) for k in range(keys)], [name for name, _ in target.features])
            state[view.name] = [None if r is None else (dict(r.values), r.event_ts, r.created_ts) for r in rows]
            view_state = store.get_state(view.name)
            state[f"{view.name} watermark"] = view_state.watermark if view_state else None
    return state


def run_kill_loop(tmp_path: Path, keys: int, kills: int, seed: int) -> None:
    """Two rounds on one store, each ending with an uninterrupted run and a comparison: plain runs from an
    empty store (a watermark that moved before its window committed would make the later, incremental runs
    skip rows), then --full-refresh runs over the stored values (each rewrites a whole window)."""
    reference = write_project(tmp_path / "reference", keys)
    killed = Path(shutil.copytree(reference, tmp_path / "killed"))
    writing, full = timed_run(reference)
    expected = online_state(reference, keys)
    assert expected["stats"][0] is not None and expected["stats watermark"] is not None
    rng = random.Random(seed)
    for round_kills, extra in ((kills // 2, ()), (kills - kills // 2, ("--full-refresh",))):
        mid_view = 0  # kills that landed after a view started writing
        for attempt in range(round_kills):
            log = tmp_path / f"kill-{extra}-{attempt}.log"
            with log.open("w") as stderr:
                process = subprocess.Popen(materialize_command(killed, *extra), stdout=subprocess.DEVNULL,
                                           stderr=stderr)
                # counted from the moment the run says it is writing, not from its start: on a loaded machine
                # the start takes longer than the reference's, and kills timed from it land before any write
                wait_for_line(process, log, "materializing feature view")
                try:
                    process.wait(timeout=rng.uniform(0, (full - writing) * 1.05))
                except subprocess.TimeoutExpired:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    mid_view += "materializing feature view" in log.read_text()
        assert mid_view >= 2, f"only {mid_view} of {round_kills} kills landed while a view was being written"
        final = subprocess.run(materialize_command(killed), capture_output=True, text=True)
        assert final.returncode == 0, final.stderr
        found = online_state(killed, keys)
        for name in expected:
            assert found[name] == expected[name], f"{name}, after the kills of {extra or 'plain runs'}"


def test_killed_runs_converge_to_an_uninterrupted_run(tmp_path):
    run_kill_loop(tmp_path, keys=30_000, kills=15, seed=20240110)


@pytest.mark.slow
def test_killed_runs_converge_at_scale(tmp_path):
    run_kill_loop(tmp_path, keys=200_000, kills=25, seed=7)
