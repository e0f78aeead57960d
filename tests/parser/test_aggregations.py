"""Parsing `aggregations:` (issue 16): the graph it gives, and one positioned diagnostic per mistake."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile.artifacts.manifest import build_manifest, manifest_problems
from fcompile.graph import Aggregation, DType
from fcompile.parser import parse_project

PROJECT = """\
name: aggs
default_target: dev
targets:
  dev:
    offline: {type: duckdb, path: x.duckdb}
    online: {type: sqlite, path: x.db}
"""

TRIPS_SCHEMA = pa.schema([("driver_id", pa.int64()), ("event_timestamp", pa.timestamp("us")),
                          ("fare", pa.float64()), ("distance_km", pa.int64()), ("city", pa.string()),
                          ("day", pa.date32())])


def project(tmp_path: Path, view: str, *, source_extra: str = "", ts: str = "event_timestamp",
            path: bool = True) -> Path:
    """A project with a trips source (Parquet when `path`, else a table) and the view given as YAML text."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "data").mkdir(exist_ok=True)
    pq.write_table(TRIPS_SCHEMA.empty_table(), tmp_path / "data" / "trips.parquet")
    where = "path: data/trips.parquet" if path else "table: trips"
    (tmp_path / "features.yml").write_text(textwrap.dedent(f"""\
        entities:
          - name: driver
            join_keys: [{{name: driver_id, dtype: int64}}]
        sources:
          - name: trips
            {where}
            timestamp_field: {ts}{source_extra}
        feature_views:
        """) + textwrap.indent(textwrap.dedent(view), "  "))
    return tmp_path


GOOD = """\
- name: trip_windows
  entities: [driver]
  source: trips
  features:
    - {name: fare, dtype: float64}
  aggregations:
    step: 1h
    features:
      - {name: trips_1h, function: count, window: 1h}
      - {name: fare_sum_1d, function: sum, column: fare, window: 1d}
      - {name: km_sum_1d, function: sum, column: distance_km, window: 1d}
      - {name: fare_avg_7d, function: avg, column: fare, window: 7d, description: mean fare}
      - {name: city_max, function: max, column: city, window: 2h}
      - {name: km_std, function: stddev, column: distance_km, window: 1d}
      - {name: last_fare, function: last, column: fare, window: 7d, dtype: float64}
"""


def test_aggregated_features_are_features_of_the_view(tmp_path):
    result = parse_project(project(tmp_path, GOOD))
    assert result.ok, result.diagnostics
    view = result.graph.feature_view("trip_windows")
    assert view.aggregation_step == dt.timedelta(hours=1)
    assert view.feature_names == ("fare", "trips_1h", "fare_sum_1d", "km_sum_1d", "fare_avg_7d", "city_max",
                                  "km_std", "last_fare")
    dtypes = {f.name: str(f.dtype) for f in view.features}
    assert dtypes == {"fare": "float64", "trips_1h": "int64", "fare_sum_1d": "float64", "km_sum_1d": "int64",
                      "fare_avg_7d": "float64", "city_max": "string", "km_std": "float64", "last_fare": "float64"}
    assert view.feature("fare_sum_1d").aggregation == Aggregation("sum", "fare", dt.timedelta(days=1))
    assert view.feature("trips_1h").aggregation == Aggregation("count", None, dt.timedelta(hours=1))
    assert view.feature("fare").aggregation is None
    assert [f.name for f in view.plain_features] == ["fare"]


def test_the_manifest_holds_aggregations_and_keeps_plain_views_as_they_were(tmp_path):
    graph = parse_project(project(tmp_path, GOOD)).graph
    manifest = build_manifest(graph, {})
    assert manifest_problems(json.loads(json.dumps(manifest))) == []
    spec = manifest["nodes"]["feature_view"]["trip_windows"]["spec"]
    assert spec["aggregation_step"] == 3600
    assert spec["features"][2]["aggregation"] == {"function": "sum", "column": "fare", "window": 86400.0}
    assert "aggregation" not in spec["features"][0]
    plain = project(tmp_path / "plain", """\
        - name: plain
          entities: [driver]
          source: trips
          features: [{name: fare, dtype: float64}]
        """)
    plain_spec = build_manifest(parse_project(plain).graph, {})["nodes"]["feature_view"]["plain"]["spec"]
    assert "aggregation_step" not in plain_spec and "aggregation" not in plain_spec["features"][0]


def test_a_table_source_needs_dtypes_it_cannot_read_and_takes_those_it_can_infer(tmp_path):
    view = """\
    - name: w
      entities: [driver]
      source: trips
      aggregations:
        step: 15m
        features:
          - {name: n, function: count, column: fare, window: 1h}
          - {name: a, function: avg, column: fare, window: 1h}
          - {name: s, function: sum, column: fare, window: 1h, dtype: float64}
          - {name: m, function: max, column: fare, window: 1h}
    """
    result = parse_project(project(tmp_path, view, path=False))
    assert [(d.code.value, d.position.line, d.position.column) for d in result.diagnostics] == [("FC155", 18, 18)]
    assert "declare it with 'dtype:'" in result.diagnostics[0].hint


def one(tmp_path, view, **kwargs):
    result = parse_project(project(tmp_path, view, **kwargs))
    errors = [d for d in result.diagnostics if d.severity.value == "error"]
    assert len(errors) == 1, errors
    d = errors[0]
    return d.code.value, d.position.line, d.position.column, d.message, d.hint or ""


def agg_view(line: str, step: str = "1h", features: str = "") -> str:
    return f"""\
    - name: w
      entities: [driver]
      source: trips{features}
      aggregations:
        step: {step}
        features:
          - {line}
    """


def test_unknown_function_says_which_is_close(tmp_path):
    code, line, column, message, hint = one(tmp_path, agg_view("{name: a, function: avgg, column: fare, window: 1h}"))
    assert (code, line, column) == ("FC150", 15, 31)
    assert "unknown function 'avgg'" in message and hint == "did you mean 'avg'?"


def test_count_distinct_is_refused_saying_why(tmp_path):
    code, _, _, _, hint = one(tmp_path, agg_view("{name: a, function: count_distinct, column: city, window: 1h}"))
    assert code == "FC150" and "cannot be merged" in hint


def test_column_missing_from_the_parquet_file(tmp_path):
    code, line, column, message, hint = one(tmp_path, agg_view("{name: a, function: sum, column: fair, window: 1h}"))
    assert (code, line, column) == ("FC151", 15, 44)
    assert "'fair', which is not a column of source 'trips'" in message and hint == "did you mean 'fare'?"


def test_a_function_other_than_count_needs_a_column(tmp_path):
    code, line, _, message, _ = one(tmp_path, agg_view("{name: a, function: max, window: 1h}"))
    assert (code, line) == ("FC151", 15) and "names no column" in message


def test_window_not_a_multiple_of_the_step(tmp_path):
    code, line, column, message, hint = one(tmp_path, agg_view("{name: a, function: count, window: 90m}"))
    assert (code, line, column) == ("FC152", 15, 46) and "'90m', not a whole multiple of the step (1h)" in message
    assert hint == "make the window a positive whole multiple of 1h, e.g. 2h"


@pytest.mark.parametrize("step", ["7m", "25h", "0s"])
def test_step_neither_dividing_a_day_nor_a_multiple_of_it(tmp_path, step):
    code, line, column, message, _ = one(tmp_path, agg_view("{name: a, function: count, window: 50h}", step=step))
    assert (code, line, column) == ("FC153", 13, 13) and f"step '{step}'" in message


@pytest.mark.parametrize("step", ["15m", "1h", "1d", "2d", "45s"])
def test_steps_that_tile_days(tmp_path, step):
    window = {"15m": "1h", "1h": "1d", "1d": "2d", "2d": "4d", "45s": "90s"}[step]
    result = parse_project(project(tmp_path, agg_view(f"{{name: a, function: count, window: {window}}}", step=step)))
    assert result.ok, result.diagnostics


@pytest.mark.parametrize("function", ["sum", "avg", "stddev", "variance"])
def test_numeric_functions_over_a_string(tmp_path, function):
    code, line, column, message, _ = one(tmp_path, agg_view(f"{{name: a, function: {function}, column: city, "
                                                            "window: 1h}"))
    assert code == "FC154" and line == 15 and f"{function} of 'city', which is string, not a number" in message


def test_numeric_function_over_a_plain_string_feature_is_caught_before_reading_data(tmp_path):
    view = agg_view("{name: a, function: sum, column: city, window: 1h}",
                    features="\n      features: [{name: city, dtype: string}]")
    code, line, _, _, _ = one(tmp_path, view, path=False)
    assert (code, line) == ("FC154", 16)


@pytest.mark.parametrize("line, implied", [
    ("{name: a, function: count, window: 1h, dtype: float64}", "int64"),
    ("{name: a, function: avg, column: distance_km, window: 1h, dtype: int64}", "float64"),
    ("{name: a, function: sum, column: distance_km, window: 1h, dtype: float64}", "int64"),
    ("{name: a, function: max, column: city, window: 1h, dtype: int64}", "string"),
])
def test_declared_dtype_that_contradicts_the_function(tmp_path, line, implied):
    code, row, _, message, hint = one(tmp_path, agg_view(line))
    assert (code, row) == ("FC155", 15) and f"gives {implied}" in message and f"declare dtype {implied}" in hint


def test_name_colliding_with_a_plain_feature(tmp_path):
    view = agg_view("{name: fare, function: sum, column: fare, window: 1h}",
                    features="\n      features: [{name: fare, dtype: float64}]")
    code, line, column, message, _ = one(tmp_path, view)
    assert (code, line, column) == ("FC156", 16, 18) and "has the name of feature 'fare' (line 12)" in message


def test_name_colliding_with_another_aggregated_feature_or_a_join_key(tmp_path):
    view = """\
    - name: w
      entities: [driver]
      source: trips
      aggregations:
        step: 1h
        features:
          - {name: n, function: count, window: 1h}
          - {name: n, function: count, window: 2h}
          - {name: driver_id, function: count, window: 2h}
    """
    result = parse_project(project(tmp_path, view))
    assert [(d.code.value, d.position.line) for d in result.diagnostics] == [("FC156", 16), ("FC156", 17)]
    assert "has the name of aggregated feature 'n' (line 15)" in result.diagnostics[0].message
    assert "join key 'driver_id'" in result.diagnostics[1].message


def test_aggregations_over_a_source_whose_timestamp_field_is_no_timestamp(tmp_path):
    code, line, column, message, _ = one(tmp_path, agg_view("{name: a, function: count, window: 1h}"), ts="day")
    assert (code, line, column) == ("FC157", 12, 5) and "timestamp_field 'day' of source 'trips' holds date" in message


def test_a_view_needs_features_or_aggregations(tmp_path):
    code, line, _, message, _ = one(tmp_path, """\
    - name: w
      entities: [driver]
      source: trips
    """)
    assert (code, line) == ("FC158", 9) and "neither features nor aggregations" in message


def test_unknown_key_in_an_aggregated_feature(tmp_path):
    result = parse_project(project(tmp_path, agg_view("{name: a, function: count, windw: 1h}")))
    assert [(d.code.value, d.position.line) for d in result.diagnostics] == [("FC012", 15), ("FC010", 15)]
    assert result.diagnostics[1].hint == "did you mean 'window'?"


def test_dtype_rules():
    from fcompile.graph import aggregate_dtype

    assert aggregate_dtype("count", None) == DType("int64")
    assert aggregate_dtype("sum", DType("int32")) == DType("int64")
    assert aggregate_dtype("sum", DType("float32")) == DType("float64")
    assert aggregate_dtype("variance", DType("int64")) == DType("float64")
    assert aggregate_dtype("last", DType("timestamp")) == DType("timestamp")
    assert aggregate_dtype("min", None) is None
