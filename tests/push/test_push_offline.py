"""Pushing offline: rows appended to the batch source are read by training sets and by the next
materialization - a DuckDB table (one transaction), a folder of Parquet files and a glob (a new file, in
the dataset's own schema, renamed into place after an fsync). Sources rows cannot be appended to are
refused with what to change."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from push_projects import at, online_values, stats_rows, training_values

from fcompile import FeatureStore
from fcompile.diagnostics import DiagnosticError
from fcompile.tasks.materialize import materialize_views
from fcompile.tasks.push import PushResult


def materialize(fs, view: str, end):
    (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view(view)], end)
    assert result.ok, [d.render() for d in result.diagnostics]
    return result


def test_rows_pushed_to_a_folder_source_are_read_by_training_and_materialization(project):
    with FeatureStore(project) as fs:
        result = fs.push("stats_push", stats_rows([1, 5], [at(11), at(11)], [0.9, 0.5], [9, 5], ["n", None]),
                         to="offline")
        assert result == PushResult(rows=2, views_written=(), offline_rows=2)
        assert online_values(fs, "driver_stats", ["conv_rate"], [1, 5]) == {1: None, 5: None}  # offline only
        assert training_values(fs, "driver_stats", "conv_rate", [1, 2, 5], at(12)) == [0.9, 0.2, 0.5]
        assert training_values(fs, "driver_stats", "conv_rate", [1, 5], at(10, 30)) == [0.1, None]
        # every view reading the batch source sees the rows, through the push source or not
        assert training_values(fs, "driver_stats_direct", "trips", [1, 5], at(12)) == [9, 5]
        materialize(fs, "driver_stats", at(12))
        assert online_values(fs, "driver_stats", ["conv_rate", "note"], [1, 2, 5]) == {
            1: ({"conv_rate": 0.9, "note": "n"}, "2024-01-01T11:00:00Z"),
            2: ({"conv_rate": 0.2, "note": "b"}, "2024-01-01T10:00:00Z"),
            5: ({"conv_rate": 0.5, "note": None}, "2024-01-01T11:00:00Z")}
    files = sorted(p.name for p in (project / "data" / "stats").iterdir())
    assert len(files) == 2 and files[1] == "part-0.parquet" and files[0].startswith("fcompile-push-")
    assert files[0].endswith(".parquet")
    # the new file has the dataset's schema: the same columns, in order, with the same (naive) types
    assert pq.read_schema(project / "data" / "stats" / files[0]) == pq.read_schema(
        project / "data" / "stats" / "part-0.parquet")


def test_online_and_offline_writes_both(project):
    with FeatureStore(project) as fs:
        result = fs.push("stats_push", stats_rows([1], [at(11)], [0.9], [9]), to="ONLINE_AND_OFFLINE")
        assert result == PushResult(rows=1, views_written=("driver_stats",), offline_rows=1)
        assert online_values(fs, "driver_stats", ["conv_rate"], [1]) == {1: ({"conv_rate": 0.9}, "2024-01-01T11:00:00Z")}
        assert training_values(fs, "driver_stats", "conv_rate", [1], at(12)) == [0.9]


def test_rows_pushed_to_a_duckdb_table_source_are_inserted(project):
    with FeatureStore(project) as fs:
        rows = {"driver_id": [1, 3], "ts": ["2024-01-01T11:30:00+01:00", "2024-01-01T11:00:00"], "clicks": [11, 33]}
        assert fs.push("events_push", rows, to="offline") == PushResult(2, (), 2)
        assert training_values(fs, "driver_events", "clicks", [1, 2, 3], at(10, 30)) == [11, 20, None]  # 10:30 UTC, inclusive
        assert training_values(fs, "driver_events", "clicks", [1, 3], at(12)) == [11, 33]
        materialize(fs, "driver_events", at(12))
        assert online_values(fs, "driver_events", ["clicks"], [1, 3]) == {
            1: ({"clicks": 11}, "2024-01-01T10:30:00Z"), 3: ({"clicks": 33}, "2024-01-01T11:00:00Z")}
        # a column of the table the rows leave out is NULL; one the graph does not know is kept
        fs.push("events_push", {**rows, "driver_id": [4, 4], "comment": ["hi", None]}, to="offline")
        found = fs.runner.con.sql("SELECT driver_id, ts, clicks, comment FROM raw.events ORDER BY ALL").fetchall()
    assert [r[0] for r in found] == [1, 1, 2, 3, 4, 4]
    assert [r[3] for r in found] == [None, None, None, None, "hi", None]
    assert str(found[1][1]) == "2024-01-01 10:30:00"  # the zoned text, stored in the naive UTC column


def test_rows_pushed_to_a_glob_source_get_a_file_the_glob_matches(project):
    with FeatureStore(project) as fs:
        assert fs.push("trips_push", {"driver_id": [2], "ts": [at(11)], "distance": [7]}, to="offline").offline_rows == 1
        assert training_values(fs, "driver_trips", "distance", [1, 2], at(12)) == [1.5, 7.0]
    names = sorted(p.name for p in (project / "data" / "trips").iterdir())
    assert len(names) == 2 and names[1].startswith("part-fcompile-push-") and names[1].endswith(".parquet")


def test_a_folder_source_without_files_gets_its_first_file(project):
    folder = project / "data" / "stats"
    (folder / "part-0.parquet").unlink()
    with FeatureStore(project) as fs:
        fs.push("stats_push", stats_rows([1], [at(11)], [0.9], [9], ["n"]), to="offline")
        assert training_values(fs, "driver_stats", "conv_rate", [1], at(12)) == [0.9]
    (written,) = folder.iterdir()
    assert pq.read_schema(written).field("event_timestamp").type == pa.timestamp("us", "UTC")


@pytest.mark.parametrize("source, expected", [
    ("profile_push", "is the single file 'data/profile.parquet'"),
    ("ranked_push", "is a query"),
])
def test_sources_rows_cannot_be_appended_to_are_refused_with_what_to_change(project, source, expected):
    rows = {"driver_id": [1], "ts": [at(11)], "rating": [1.0], "clicks": [1]}
    with FeatureStore(project) as fs:
        with pytest.raises(DiagnosticError) as caught:
            fs.push(source, rows, to="online_and_offline")
        (problem,) = caught.value.diagnostics
        assert problem.code.value == "FC124" and expected in problem.message
        assert problem.position is not None and problem.position.line > 0  # the source's place in the spec
        view = "driver_profile" if source == "profile_push" else "driver_ranked"
        feature = "rating" if source == "profile_push" else "clicks"
        assert online_values(fs, view, [feature], [1]) == {1: None}  # the online half did not run either
    if source == "profile_push":
        assert "path: data/profile/" in problem.hint
        assert sorted(p.name for p in (project / "data").iterdir()) == ["profile.parquet", "stats", "trips"]


def test_a_csv_source_is_refused(project):
    spec = project / "features.yml"
    spec.write_text(spec.read_text().replace("path: data/profile.parquet", "path: data/profile/*.csv"))
    with FeatureStore(project) as fs, pytest.raises(DiagnosticError) as caught:
        fs.push("profile_push", {"driver_id": [1], "ts": [at(11)], "rating": [1.0]}, to="offline")
    assert [d.code.value for d in caught.value.diagnostics] == ["FC124"]
    assert "CSV" in caught.value.diagnostics[0].message


def test_a_killed_push_never_leaves_a_partial_file_in_the_dataset(project):
    """Pushes of a large table, killed with SIGKILL at seeded random moments: every file the source reads
    is whole, and the dataset holds the original rows plus whole pushes only."""
    import random
    import signal
    import subprocess
    import sys
    import time

    rows = 300_000
    script = (
        "import sys, datetime as dt, pyarrow as pa\n"
        "from fcompile import FeatureStore\n"
        f"n = {rows}\n"
        "t = dt.datetime(2024, 1, 1, 11, tzinfo=dt.timezone.utc)\n"
        "table = pa.table({'driver_id': pa.array(range(100, 100 + n), pa.int64()), 'event_timestamp': [t] * n,\n"
        "                  'conversion': [0.5] * n, 'trips': list(range(n)), 'note': ['x' * 40] * n})\n"
        "with FeatureStore(sys.argv[1]) as fs:\n"
        "    print('ready', flush=True)\n"
        "    for _ in range(1000):\n"
        "        fs.push('stats_push', table, to='offline')\n"
    )
    rng = random.Random(20240101)
    folder = project / "data" / "stats"
    for _ in range(4):
        process = subprocess.Popen([sys.executable, "-c", script, str(project)], stdout=subprocess.PIPE,
                                   env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
        assert process.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.3, 1.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
    visible = sorted(folder.glob("**/*.parquet"))
    assert len(visible) >= 2, "no push finished: give the pushes more time"
    for path in visible:
        assert pq.read_metadata(path).num_rows in (2, rows)  # opens the footer: a cut file fails here
    ((total,),) = duckdb.sql(f"SELECT count(*) FROM read_parquet('{folder}')").fetchall()
    assert total == 2 + rows * (len(visible) - 1)
    leftovers = [p.name for p in folder.iterdir() if p.suffix != ".parquet"]
    assert all(name.startswith(".fcompile-push-") and name.endswith(".tmp") for name in leftovers)


def test_a_glob_matching_every_name_gets_its_temporary_file_outside_the_glob(project, monkeypatch):
    from fcompile.tasks import push_offline

    spec = project / "features.yml"
    spec.write_text(spec.read_text().replace('path: "data/trips/part-*.parquet"', 'path: "data/trips/*"'))
    planned = []
    original = push_offline.ParquetAppend.write
    monkeypatch.setattr(push_offline.ParquetAppend, "write", lambda self: planned.append(self) or original(self))
    with FeatureStore(project) as fs:
        fs.push("trips_push", {"driver_id": [2], "ts": [at(11)], "distance": [7]}, to="offline")
        assert training_values(fs, "driver_trips", "distance", [1, 2], at(12)) == [1.5, 7.0]
    (append,) = planned
    assert os.path.dirname(append.path) == str(project / "data" / "trips")
    assert os.path.dirname(append.temporary) == str(project / "data")  # `*` would match it in data/trips
    assert sorted(p.name for p in (project / "data").iterdir()) == ["profile.parquet", "stats", "trips"]


def test_a_missing_table_is_refused(project):
    with duckdb.connect(str(project / ".fcompile" / "offline.duckdb")) as con:
        con.execute("DROP TABLE raw.events")
    with FeatureStore(project) as fs, pytest.raises(DiagnosticError) as caught:
        fs.push("events_push", {"driver_id": [1], "ts": [at(11)], "clicks": [1]}, to="online_and_offline")
    (problem,) = caught.value.diagnostics
    assert problem.code.value == "FC124" and "table 'raw.events' cannot be read" in problem.message
    with FeatureStore(project) as fs:
        assert online_values(fs, "driver_events", ["clicks"], [1]) == {1: None}


def test_a_glob_no_new_file_name_can_match_is_refused(project):
    spec = project / "features.yml"
    spec.write_text(spec.read_text().replace('path: "data/trips/part-*.parquet"', 'path: "data/trips/*/part.parquet"'))
    with FeatureStore(project) as fs, pytest.raises(DiagnosticError) as caught:
        fs.push("trips_push", {"driver_id": [2], "ts": [at(11)], "distance": [7]}, to="offline")
    (problem,) = caught.value.diagnostics
    assert (problem.code.value, problem.message) == (
        "FC124", "push source 'trips_push': its batch source 'trips': no new file name in 'data/trips' matches the "
                 "glob 'data/trips/*/part.parquet'")
    assert "data/stats/*.parquet" in problem.hint


def test_rows_named_by_the_mapped_feature_name_are_appended_under_the_sources_column(project):
    """stats maps conversion -> conv_rate: rows may say conv_rate (as Feast's clients do); the new file
    holds the source's own column, `conversion`, and both names at once store nothing."""
    by_feature = {**stats_rows([6], [at(11)], [0.6], [6]), "conv_rate": [0.6]}
    del by_feature["conversion"]
    with FeatureStore(project) as fs:
        both = {**by_feature, "conversion": [0.1]}
        with pytest.raises(DiagnosticError) as caught:
            fs.push("stats_push", both, to="online_and_offline")
        assert [(d.code.value, d.message) for d in caught.value.diagnostics] == [
            ("FC121", "push source 'stats_push': the rows give both names of one column of source 'stats' "
                      "(field_mapping): 'conversion' and 'conv_rate'")]
        with pytest.raises(DiagnosticError):
            fs.write_to_online_store("driver_stats", both)
        assert [p.name for p in (project / "data" / "stats").iterdir()] == ["part-0.parquet"]
        assert fs.push("stats_push", by_feature, to="online_and_offline") == PushResult(1, ("driver_stats",), 1)
        assert online_values(fs, "driver_stats", ["conv_rate"], [6]) == {
            6: ({"conv_rate": 0.6}, "2024-01-01T11:00:00Z")}
        assert training_values(fs, "driver_stats", "conv_rate", [6], at(12)) == [0.6]
        assert fs.write_to_online_store("driver_stats", {**by_feature, "driver_id": [7]}) == 1
        assert online_values(fs, "driver_stats", ["conv_rate"], [7]) == {
            7: ({"conv_rate": 0.6}, "2024-01-01T11:00:00Z")}
    (added,) = [p for p in (project / "data" / "stats").iterdir() if p.name != "part-0.parquet"]
    assert pq.read_schema(added).names == ["driver_id", "event_timestamp", "created", "conversion", "trips", "note"]
