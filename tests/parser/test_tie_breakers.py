"""A source's tie_breaker typed at parse time (issue 16: online tiles keep it beside each `last` value of a
view that rows are pushed to): from the Parquet footer, else from a plain feature of that name; FC148 where a
pushed view with a `last` needs it and nothing gives it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile.artifacts.manifest import build_manifest, manifest_problems
from fcompile.parser import parse_project

PROJECT = """\
name: ties
default_target: dev
targets:
  dev:
    offline: {type: duckdb, path: x.duckdb}
    online: {type: sqlite, path: x.db}
"""
SCHEMA = pa.schema([("driver_id", pa.int64()), ("event_timestamp", pa.timestamp("us")), ("fare", pa.float64()),
                    ("lane", pa.string()), ("logged", pa.timestamp("us", "UTC")), ("day", pa.date32()),
                    ("seq", pa.int32())])


def _project(tmp_path: Path, tie: str, *, path: bool = True, features: str = "", last: bool = True) -> Path:
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "data").mkdir(exist_ok=True)
    pq.write_table(SCHEMA.empty_table(), tmp_path / "data" / "trips.parquet")
    where = "path: data/trips.parquet" if path else "table: trips"
    function = "{name: last_fare, function: last, column: fare, window: 1d, dtype: float64}" if last else \
        "{name: fare_sum, function: sum, column: fare, window: 1d, dtype: float64}"
    (tmp_path / "features.yml").write_text(textwrap.dedent(f"""\
        entities:
          - {{name: driver, join_keys: [{{name: driver_id, dtype: int64}}]}}
        sources:
          - {{name: trips, {where}, timestamp_field: event_timestamp, tie_breaker: {tie}}}
          - {{name: trips_push, push: {{batch_source: trips}}}}
        feature_views:
          - name: trip_windows
            entities: [driver]
            source: trips_push{features}
            aggregations:
              step: 1h
              features:
                - {function}
        """))
    return tmp_path


@pytest.mark.parametrize("tie, dtype", [("lane", "string"), ("logged", "timestamp"), ("day", "date"),
                                        ("seq", "int32")])
def test_the_parquet_footer_types_the_tie_breaker(tmp_path, tie, dtype):
    result = parse_project(_project(tmp_path, tie))
    assert result.ok, [d.render() for d in result.diagnostics]
    source = result.graph.source("trips")
    assert str(source.tie_breaker_dtype) == dtype
    manifest = build_manifest(result.graph, {})
    assert manifest["nodes"]["source"]["trips"]["spec"]["tie_breaker_dtype"] == dtype
    assert manifest_problems(manifest) == []


def test_a_plain_feature_types_the_tie_breaker_of_a_table_source(tmp_path):
    features = "\n            features:\n              - {name: lane, dtype: string}"
    result = parse_project(_project(tmp_path, "lane", path=False, features=features))
    assert result.ok, [d.render() for d in result.diagnostics]
    assert str(result.graph.source("trips").tie_breaker_dtype) == "string"


def test_fc148_a_pushed_last_needs_the_tie_breakers_type(tmp_path):
    result = parse_project(_project(tmp_path, "lane", path=False))
    assert not result.ok
    (diagnostic,) = result.diagnostics
    text = diagnostic.render()
    assert "error[FC148]" in text and "features.yml:13:18:" in text, text
    assert "'last_fare'" in text and "tie_breaker 'lane'" in text and "cannot be read when parsing" in text
    assert "add 'lane' to the view's features with its dtype" in diagnostic.hint


def test_no_fc148_where_nothing_needs_the_tie_breakers_type(tmp_path):
    result = parse_project(_project(tmp_path, "lane", path=False, last=False))
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.graph.source("trips").tie_breaker_dtype is None
    plan = build_manifest(result.graph, {})["nodes"]["source"]["trips"]["spec"]
    assert "tie_breaker_dtype" not in plan  # left out, so that the source's content hash is what it was


def test_fc148_plain_features_that_disagree_or_a_float(tmp_path):
    features = "\n            features:\n              - {name: lane, dtype: float64}"
    result = parse_project(_project(tmp_path, "lane", path=False, features=features))
    assert [d.code.value for d in result.diagnostics] == ["FC148"]
    assert "float64" in result.diagnostics[0].message
