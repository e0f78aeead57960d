"""The DuckDB runner's materialization reads: `LatestValues` with the window bound as parameters, streamed
in bounded batches, and the counts taken before it runs."""

from __future__ import annotations

import datetime as dt

import pytest
from runner_projects import UTC, at

from fcompile.parser import load_project
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.runners import connect_runner


@pytest.fixture
def loaded(small_project):
    graph = load_project(small_project)
    with connect_runner(graph.project) as runner:
        yield graph, runner


def utc(hour: int, minute: int = 0) -> dt.datetime:
    return at(hour, minute).replace(tzinfo=UTC)


def rows(reader) -> list[dict]:
    return [row for batch in reader for row in batch.to_pylist()]


def test_latest_values_binds_the_window_and_picks_the_newest_row_per_key(loaded):
    graph, runner = loaded
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    (sql,) = runner.statements(plan)
    assert "$start" in sql and "$end" in sql and "2024" not in sql
    found = rows(runner.latest_values(plan, at(0), at(23), "test"))
    assert sorted(found, key=lambda r: r["driver_id"]) == [
        {"driver_id": 1, "__fc_event_ts": utc(11), "__fc_created_ts": utc(11, 30), "conv": 0.25, "trips": 3},
        {"driver_id": 2, "__fc_event_ts": utc(9), "__fc_created_ts": utc(9), "conv": 0.5, "trips": 5},
    ]  # times as read: zoned UTC instants, whatever the source's type (naive here)
    # both ends inclusive; a window before 11:00 sees driver 1's 10:00 row
    early = rows(runner.latest_values(plan, at(9), at(10), "test"))
    assert sorted((r["driver_id"], r["trips"]) for r in early) == [(1, 1), (2, 5)]
    assert rows(runner.latest_values(plan, at(9, 1), at(9, 59), "test")) == []


def test_zoned_and_naive_bounds_mean_the_same_instant(loaded):
    graph, runner = loaded
    plan = plan_latest_values(graph, graph.feature_view("rider"))  # a table source with zoned event times
    paris = dt.timezone(dt.timedelta(hours=1))
    naive = rows(runner.latest_values(plan, at(10), at(10), "test"))
    zoned = rows(runner.latest_values(plan, dt.datetime(2024, 1, 1, 11, tzinfo=paris),
                                      dt.datetime(2024, 1, 1, 10, tzinfo=UTC), "test"))
    assert sorted(r["rider_id"] for r in naive) == sorted(r["rider_id"] for r in zoned) == ["a", "b"]


def test_batches_never_exceed_the_requested_size(loaded):
    graph, runner = loaded
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    sizes = [batch.num_rows for batch in runner.latest_values(plan, at(0), at(23), "test", batch_rows=1)]
    assert sum(sizes) == 2 and max(sizes) == 1


def test_window_stats_count_source_rows_and_the_earliest_time_not_the_keys(loaded):
    """DuckDB counts the rows and the times of the window, not its keys (None: counting or estimating them cost
    20 times the rest, for a progress total); a window without rows has 0 keys."""
    graph, runner = loaded
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    everything = runner.window_stats(plan, None, at(23), "test")
    assert (everything.rows, everything.keys, everything.earliest) == (4, None, dt.datetime(2024, 1, 1, 9, tzinfo=UTC))
    part = runner.window_stats(plan, at(10), at(23), "test")
    assert (part.rows, part.keys, part.earliest) == (3, None, dt.datetime(2024, 1, 1, 10, tzinfo=UTC))
    assert everything.latest == part.latest == dt.datetime(2024, 1, 1, 11, tzinfo=UTC)
    newest = runner.window_stats(plan, None, at(10, 30), "test").latest  # the newest up to the end
    assert newest == dt.datetime(2024, 1, 1, 10, tzinfo=UTC)
    empty = runner.window_stats(plan, None, at(8), "test")
    assert (empty.rows, empty.keys, empty.earliest, empty.latest) == (0, 0, None, None)


def test_an_engine_error_while_reading_is_a_diagnostic(loaded, small_project):
    from fcompile.diagnostics import DiagnosticError

    graph, runner = loaded
    (small_project / "data" / "stats.parquet").write_bytes(b"not parquet")
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    with pytest.raises(DiagnosticError) as caught:
        rows(runner.latest_values(plan, at(0), at(23), "feature view 'stats'"))
    assert caught.value.diagnostics[0].code.value == "FC110"
    assert "feature view 'stats'" in caught.value.diagnostics[0].message



def test_window_stats_count_the_rows_of_many_keys_without_counting_the_keys(tmp_path):
    """DuckDB counts the rows exactly with one or several key columns, and leaves the keys uncounted."""
    from fcompile.runners.duckdb import DuckDBRunner

    with DuckDBRunner() as runner:
        runner.con.execute("""CREATE TABLE rows_in AS SELECT i % 100000 AS a, i % 3 AS b, TIMESTAMP '2024-01-01'
                              + to_seconds(i) AS ts, 1.0 AS f FROM range(300000) t(i)""")
        graph = load_project(write_keys_project(tmp_path))
        for view in ("one_key", "two_keys"):
            stats = runner.window_stats(plan_latest_values(graph, graph.feature_view(view)), None,
                                        dt.datetime(2030, 1, 1), "test")
            assert (stats.rows, stats.keys, stats.keys_exact) == (300_000, None, False)
            assert stats.earliest == dt.datetime(2024, 1, 1, tzinfo=UTC)
            assert stats.latest == dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=299_999)


def write_keys_project(root):
    (root / "fcompile_project.yml").write_text("name: k\ntargets:\n  dev: {offline: {type: duckdb}, "
                                               "online: {type: sqlite}}\n")
    (root / "features").mkdir()
    (root / "features" / "k.yml").write_text("""
entities:
  - {name: a, join_keys: [{name: a, dtype: int64}]}
  - {name: b, join_keys: [{name: b, dtype: int64}]}
sources:
  - {name: rows_in, table: rows_in, timestamp_field: ts}
feature_views:
  - {name: one_key, entities: [a], source: rows_in, features: [{name: f, dtype: float64}]}
  - {name: two_keys, entities: [a, b], source: rows_in, features: [{name: f, dtype: float64}]}
""")
    return root
