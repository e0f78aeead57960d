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


def rows(reader) -> list[dict]:
    return [row for batch in reader for row in batch.to_pylist()]


def test_latest_values_binds_the_window_and_picks_the_newest_row_per_key(loaded):
    graph, runner = loaded
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    (sql,) = runner.statements(plan)
    assert "$start" in sql and "$end" in sql and "2024" not in sql
    found = rows(runner.latest_values(plan, at(0), at(23), "test"))
    assert sorted(found, key=lambda r: r["driver_id"]) == [
        {"driver_id": 1, "__fc_event_ts": at(11), "__fc_created_ts": at(11, 30), "conv": 0.25, "trips": 3},
        {"driver_id": 2, "__fc_event_ts": at(9), "__fc_created_ts": at(9), "conv": 0.5, "trips": 5},
    ]
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


def test_window_stats_count_source_rows_keys_and_the_earliest_time(loaded):
    graph, runner = loaded
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    everything = runner.window_stats(plan, None, at(23), "test")
    assert (everything.rows, everything.keys, everything.earliest) == (4, 2, dt.datetime(2024, 1, 1, 9, tzinfo=UTC))
    part = runner.window_stats(plan, at(10), at(23), "test")
    assert (part.rows, part.keys, part.earliest) == (3, 1, dt.datetime(2024, 1, 1, 10, tzinfo=UTC))
    empty = runner.window_stats(plan, None, at(8), "test")
    assert (empty.rows, empty.keys, empty.earliest) == (0, 0, None)


def test_an_engine_error_while_reading_is_a_diagnostic(loaded, small_project):
    from fcompile.diagnostics import DiagnosticError

    graph, runner = loaded
    (small_project / "data" / "stats.parquet").write_bytes(b"not parquet")
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    with pytest.raises(DiagnosticError) as caught:
        rows(runner.latest_values(plan, at(0), at(23), "feature view 'stats'"))
    assert caught.value.diagnostics[0].code.value == "FC110"
    assert "feature view 'stats'" in caught.value.diagnostics[0].message


def temporary_tables(runner) -> list[str]:
    return [name for (name,) in runner.con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()]


def test_the_window_counted_is_the_window_read_and_its_table_is_dropped_once_read(loaded):
    """DuckDB counts a window's keys by running its query into a temporary table; reading the same window
    streams that table (dropped once read), so counts and rows agree even if the source changed between."""
    graph, runner = loaded
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    stats = runner.window_stats(plan, None, at(23), "test")
    (prepared,) = temporary_tables(runner)
    found = rows(runner.latest_values(plan, stats.earliest, at(23), "test"))
    assert len(found) == stats.keys == 2 and temporary_tables(runner) == []
    assert prepared.startswith("__fc_latest_")


def test_another_window_is_queried_afresh(loaded):
    graph, runner = loaded
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    runner.window_stats(plan, None, at(23), "test")
    early = rows(runner.latest_values(plan, at(9), at(10), "test"))  # not the window counted
    assert sorted((r["driver_id"], r["trips"]) for r in early) == [(1, 1), (2, 5)]
    assert len(temporary_tables(runner)) == 1  # still there for its own window, until the next count
    runner.window_stats(plan, at(10), at(23), "test")
    assert len(temporary_tables(runner)) == 1
    assert [r["trips"] for r in rows(runner.latest_values(plan, at(10), at(23), "test"))] == [3]
    assert runner.window_stats(plan, None, at(8), "test").keys == 0 and temporary_tables(runner) == []


def test_a_window_read_in_part_leaves_no_table(loaded):
    graph, runner = loaded
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    stats = runner.window_stats(plan, None, at(23), "test")
    reader = runner.latest_values(plan, stats.earliest, at(23), "test", batch_rows=1)
    next(iter(reader))
    del reader  # as materialize drops it when a store write fails
    assert temporary_tables(runner) == []
