"""A feature view with both plain features and aggregations (issue 16): its compiled materialize file holds the
two queries `fcompile materialize` runs - the plain features' newest values, then the tiles - in that order,
each after its own notes, in every dialect; and a materialization on DuckDB executes exactly the file's
statements (compared by sha256, header comments aside)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from fcompile.dialects import compile_statements
from fcompile.dialects.registry import DIALECTS
from fcompile.parser import load_project
from fcompile.planner.online_tiles import plan_latest_tiles
from fcompile.planner.point_in_time import plan_latest_values

PROJECT = """\
name: mixed
default_target: dev
targets:
  dev: {offline: {type: duckdb, path: offline.duckdb}, online: {type: sqlite, path: online.db}}
"""
SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: trips, table: trips, timestamp_field: event_timestamp}
feature_views:
  - name: trip_mix
    entities: [driver]
    source: trips
    features:
      - {name: fare, dtype: float64}
    aggregations:
      step: 1h
      features:
        - {name: trips_1h, function: count, window: 1h}
        - {name: fare_sum_1d, function: sum, column: fare, window: 1d}
        - {name: last_fare, function: last, column: fare, window: 1d}
"""
TILES_NOTE = "-- the view's aggregated features are loaded online as tiles"


@pytest.fixture
def root(tmp_path):
    import duckdb

    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "fcompile_project.yml").write_text(PROJECT)
    (folder / "features.yml").write_text(SPEC)
    with duckdb.connect(str(folder / "offline.duckdb")) as con:
        con.execute("CREATE TABLE trips (driver_id BIGINT, event_timestamp TIMESTAMPTZ, fare DOUBLE)")
        con.execute("INSERT INTO trips VALUES (1, '2024-03-01 10:15:00+00', 12.5), (1, '2024-03-01 11:05:00+00', 7.0),"
                    " (2, '2024-03-01 11:30:00+00', NULL), (2, '2024-03-01 09:00:00+00', 3.25)")
    return folder


def _build(root: Path, dialect: str) -> None:
    from fcompile.cli import main

    main(["build", "--project-dir", str(root), "--dialect", dialect])  # returns on success; exits 1 on errors


def _statements_of(text: str) -> list[str]:
    """The file's statements without its comment lines (statements end with `;` and a blank line)."""
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("-- "))
    return body.rstrip("\n").split(";\n\n")


def test_the_compiled_file_holds_both_queries_in_every_dialect(root):
    _build(root, "all")
    graph = load_project(root)
    view = graph.feature_view("trip_mix")
    for dialect in DIALECTS:
        text = (root / "target" / "compiled" / dialect / "materialize" / "trip_mix.sql").read_text()
        values = compile_statements(plan_latest_values(graph, view), dialect)
        tiles = compile_statements(plan_latest_tiles(graph, view), dialect)
        assert _statements_of(text) == values + tiles, dialect
        # the tile query comes second, after its own notes (the window, then what the tiles are)
        lines = text.splitlines()
        note = next(i for i, line in enumerate(lines) if line.startswith(TILES_NOTE))
        first = note
        while lines[first - 1].startswith("-- "):
            first -= 1
        assert lines[first - 1] == "" and lines[first - 2].endswith(";"), dialect  # after the first query
        assert "multiple of the step" in lines[first], dialect  # the tile query's window
        assert "\n".join(lines[note + 1:]) + "\n" == ";\n\n".join(tiles) + "\n", dialect
        assert text.index("second query, below") < text.index(values[-1]) < text.index(TILES_NOTE)
        assert lines[0].startswith("-- fcompile ") and "feature view trip_mix" in lines[0]


def test_materialize_executes_the_compiled_file(root, monkeypatch):
    import fcompile.runners
    from fcompile import FeatureStore
    from fcompile.cli import main

    _build(root, "duckdb")
    text = (root / "target" / "compiled" / "duckdb" / "materialize" / "trip_mix.sql").read_text()
    executed: list[str] = []
    connect = fcompile.runners.connect_runner

    class Recording:  # the runner's DuckDB connection, recording the SQL each call hands it
        def __init__(self, con) -> None:
            self._con = con

        def __getattr__(self, name: str):
            found = getattr(self._con, name)
            if name in ("execute", "sql"):
                def recorded(sql, *args, **kwargs):
                    executed.append(sql)
                    return found(sql, *args, **kwargs)
                return recorded
            return found

    def recording_runner(project):
        runner = connect(project)
        runner.con = Recording(runner.con)
        return runner

    monkeypatch.setattr(fcompile.runners, "connect_runner", recording_runner)
    main(["materialize", "--project-dir", str(root), "--start", "2024-03-01T00:00:00", "--end", "2024-03-01T12:00:00"])
    queries = [sql for sql in executed if isinstance(sql, str) and "__fc_event_ts" in sql]
    digest = [hashlib.sha256(s.encode()).hexdigest() for s in queries]
    assert digest == [hashlib.sha256(s.encode()).hexdigest() for s in _statements_of(text)]
    with FeatureStore(root) as fs:  # both queries' rows reached the store
        values = fs.get_online_features({"driver_id": [1, 2]}, ["trip_mix:fare", "trip_mix:trips_1h",
                                                               "trip_mix:fare_sum_1d", "trip_mix:last_fare"],
                                        now=dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.timezone.utc)).values()
    assert values["fare"] == [7.0, None] and values["trips_1h"] == [1, 1]
    assert values["fare_sum_1d"] == [19.5, 3.25] and values["last_fare"] == [7.0, 3.25]
