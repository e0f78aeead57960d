"""The conversion rules of pushed values (fcompile/tasks/push_values.py), dtype by dtype: what a column
may hold, and the row and reason given for what it may not."""

from __future__ import annotations

import datetime as dt
import decimal

import pandas as pd
import pyarrow as pa
import pytest

from fcompile.graph import DType
from fcompile.parser.values import parse_dtype
from fcompile.tasks.push_values import BadValue, convert_column, read_rows

UTC = dt.timezone.utc
T = dt.datetime(2024, 1, 1, 11, tzinfo=UTC)


@pytest.mark.parametrize("dtype, given, expected", [
    ("int64", [1, None, 2**40], [1, None, 2**40]),
    ("int64", [1.0, 2.0], [1, 2]),  # pandas makes an int column with gaps float
    ("int32", pa.array([1, 2], pa.int8()), [1, 2]),
    ("float64", [1, 2.5], [1.0, 2.5]),
    ("float32", [0.5], [0.5]),
    ("float64", pa.array([decimal.Decimal("1.25")]), [1.25]),
    ("string", ["a", None], ["a", None]),
    ("bytes", [b"\x00\xff", "ok"], [b"\x00\xff", b"ok"]),  # text is stored as UTF-8
    ("bytes", pa.array(["ok"]), [b"ok"]),
    ("bool", [True, False, None], [True, False, None]),
    ("date", ["2024-01-02", dt.date(2024, 1, 3)], [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]),
    ("timestamp", ["2024-01-01T11:00:00Z", "2024-01-01T13:00:00+02:00", "2024-01-01 11:00"], [T, T, T]),
    ("timestamp", [dt.datetime(2024, 1, 1, 11), dt.date(2024, 1, 1)], [T, T.replace(hour=0)]),
    ("timestamp", pa.array([T.replace(tzinfo=None)], pa.timestamp("ns")), [T]),
    ("timestamp", pa.array([T], pa.timestamp("s", "Asia/Tokyo")), [T]),
    ("timestamp", pa.array([dt.date(2024, 1, 1)]), [T.replace(hour=0)]),
    ("timestamp", pa.array(["2024-01-01T11:00:00Z"], pa.large_string()), [T]),
    ("array<float64>", [[1, 2.5], None, []], [[1.0, 2.5], None, []]),
    ("array<string>", [["a"], ["b", None]], [["a"], ["b", None]]),
    ("int64", [None, None], [None, None]),
    ("string", pa.array(["x", "y", "x"]).dictionary_encode(), ["x", "y", "x"]),
])
def test_values_that_convert(dtype, given, expected):
    assert convert_column(given, parse_dtype(dtype)).to_pylist() == expected


@pytest.mark.parametrize("dtype, given, row, problem", [
    ("int64", ["1"], 0, "is text"),
    ("int64", [True], 0, "is a boolean"),
    ("int64", [1, 2.5], 1, "does not fit int64"),
    ("int32", [1, 2**40], 1, "does not fit int32"),
    ("float64", [None, "x"], 1, "is text"),
    ("float64", [1.5, "x"], 1, "does not have the type of the rows before it (float)"),
    ("string", [1], 0, "is an integer"),
    ("bool", [1], 0, "is an integer"),
    ("date", ["2024-02-30"], 0, "is not an ISO 8601 date"),
    ("timestamp", ["soon"], 0, "is not an ISO 8601 timestamp"),
    ("timestamp", [1704106800], 0, "is an integer"),
    ("timestamp", pa.array([1.5]), 0, "is a number"),
    ("array<int64>", [1], 0, "is an integer"),
    ("array<int64>", [[1], [1.5]], 1, "does not fit list<item: int64>"),
])
def test_values_that_do_not(dtype, given, row, problem):
    with pytest.raises(BadValue) as caught:
        convert_column(given, parse_dtype(dtype))
    assert (caught.value.row, caught.value.problem) == (row, problem)


def test_a_dataframe_column_arrow_cannot_take_whole_is_checked_value_by_value():
    frame = pd.DataFrame({"x": [1, "two", 3]})
    rows = read_rows(frame, "the test")
    assert rows.count == 3 and rows.columns["x"] == [1, "two", 3]
    with pytest.raises(BadValue) as caught:
        convert_column(rows.columns["x"], DType("int64"))
    assert caught.value.row == 1


def test_feast_time_columns_are_renamed_to_the_source_columns_the_view_reads(tmp_path):
    """Feast's remote online store names the time columns `event_timestamp` and `created` whatever the
    source calls them; the rename follows the view's plan, field mapping included."""
    from fcompile.parser import load_project
    from fcompile.tasks.push import with_feast_time_columns

    (tmp_path / "fcompile_project.yml").write_text(
        "name: feast_names\ndefault_target: dev\n"
        "targets: {dev: {offline: {type: duckdb}, online: {type: sqlite, path: online.db}}}\n")
    (tmp_path / "features.yml").write_text("""\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - name: trips
    path: data/trips.parquet
    timestamp_field: event_ts
    created_timestamp_field: loaded
    field_mapping: {happened_at: event_ts, loaded_at: loaded}
  - {name: plain, path: data/plain.parquet, timestamp_field: ts}
feature_views:
  - {name: trip_stats, entities: [driver], source: trips, features: [{name: fare, dtype: float64}]}
  - {name: plain_stats, entities: [driver], source: plain, features: [{name: fare, dtype: float64}]}
""")
    graph = load_project(tmp_path)
    sent = {"driver_id": [1], "event_timestamp": ["2024-01-01T00:00:00Z"], "created": [None], "fare": [2.5]}
    assert set(with_feast_time_columns(graph, "trip_stats", sent)) == {"driver_id", "happened_at", "loaded_at", "fare"}
    assert set(with_feast_time_columns(graph, "plain_stats", sent)) == {"driver_id", "ts", "fare"}  # no created
    own = {"driver_id": [1], "happened_at": ["2024-01-01T00:00:00Z"], "event_timestamp": ["x"], "fare": [2.5]}
    assert with_feast_time_columns(graph, "trip_stats", own)["happened_at"] == own["happened_at"]  # kept as sent
    assert with_feast_time_columns(graph, "nope", sent) is sent  # the write names the unknown view
