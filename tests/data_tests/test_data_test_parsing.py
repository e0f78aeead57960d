"""Data tests (issue 18) at parse time: each problem a positioned diagnostic (FC160-FC163, FC051) with a hint,
all of them at once; well-formed tests become DataTest nodes with deterministic names, in the manifest as
nodes whose parents are their edges, so selections reach them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile.artifacts.build import compile_project
from fcompile.artifacts.manifest import build_manifest, manifest_problems
from fcompile.artifacts.selection import select_nodes
from fcompile.parser import parse_project
from fcompile.tasks.data_tests import select_tests

PROJECT = """name: dq
default_target: dev
targets:
  dev:
    offline: {type: duckdb, path: x.duckdb}
    online: {type: sqlite, path: x.db}
"""
HEAD = """entities:
  - name: driver
    join_keys: [{name: driver_id, dtype: int64}]
sources:
  - name: trips
    path: data/trips.parquet
    timestamp_field: ts
    field_mapping: {fare_amount: fare}
"""
VIEW = """feature_views:
  - name: v
    entities: [driver]
    source: trips
"""


def project(tmp_path: Path, spec: str) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    pq.write_table(pa.table({"driver_id": [1], "ts": [dt.datetime(2024, 1, 1)], "fare_amount": [1.0],
                             "label": ["x"]}), tmp_path / "data" / "trips.parquet")
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "spec.yml").write_text(spec)
    return tmp_path


def problems(tmp_path: Path, spec: str) -> list[tuple[str, int, int, str, str]]:
    result = parse_project(project(tmp_path, spec), use_cache=False)
    return [(d.code.value, d.position.line, d.position.column, d.message, d.hint or "") for d in result.diagnostics]


BROKEN = HEAD + """    tests:
      - {expression: "fare >= 0 AND regexp_matches(label, 'X')"}
      - {expression: "fare >="}
      - {expression: "fare > 0", where: "fare IN (SELECT 1)"}
""" + VIEW + """    features:
      - name: fare
        dtype: float64
        tests: [not_nul, unique_key_time, {range: {min: 2, max: 1}}, {range: {min: 0, maxx: 1}}, {accepted_values: [a]}]
      - name: label
        dtype: string
        tests: [{range: {min: 0}}, {accepted_values: [x, 3]}, {not_null: null, severity: fatal}]
    tests:
      - {null_fraction: {column: fair, max: 0.1}}
      - {freshness: {warn_after: 2 hours}}
      - {freshness: {warn_after: 2d, error_after: 1d}}
      - {row_count: {min: -1}}
      - not_null
      - {row_count: {min: 1}, unique_key_time: null}
      - {null_fraction: {column: fare, max: 1.5}}
"""


def test_every_problem_at_once_positioned_with_a_hint(tmp_path):
    found = problems(tmp_path, BROKEN)
    by_place = {(line, column): (code, message, hint) for code, line, column, message, hint in found}
    # the expressions of on-demand features: their checker's codes, pointing inside the text
    assert by_place[(10, 37)] == ("FC141", "data test 'trips__expression': expression: 'REGEXP_MATCHES' is not in "
                                  "the portable expression subset", by_place[(10, 37)][2])
    assert by_place[(11, 29)][:2] == ("FC140", "data test 'trips__expression_2': expression: the expression does not "
                                      "parse: the expression ends too early: >= needs an operand on its right")
    assert by_place[(12, 42)][:2] == ("FC141", "data test 'trips__expression_3': where: IN takes a list of values "
                                      "here, not a query")
    assert by_place[(20, 17)] == ("FC160", "feature view 'v': unknown test 'not_nul' in a feature's tests",
                                  "did you mean 'not_null'?")
    assert by_place[(20, 26)][0] == "FC160" and "belongs in a feature view's tests" in by_place[(20, 26)][2]
    assert by_place[(20, 57)][:2] == ("FC161", "feature view 'v': range: min 2 is greater than max 1")
    assert by_place[(20, 87)] == ("FC161", "feature view 'v': range: unknown argument 'maxx'", "did you mean 'max'?")
    assert by_place[(20, 117)][:2] == ("FC161", "feature view 'v': accepted_values: value 'a' is not a float64")
    assert by_place[(23, 25)][:2] == ("FC161", "feature view 'v': range: applies to numeric features, not string")
    assert by_place[(23, 58)][:2] == ("FC161", "feature view 'v': accepted_values: value 3 is not a string")
    assert by_place[(23, 90)][0] == "FC161" and "severity 'fatal'" in by_place[(23, 90)][1]
    assert by_place[(25, 34)] == ("FC162", "feature view 'v': null_fraction: 'fair' is not a feature of the view",
                                  "did you mean 'fare'?")
    assert by_place[(26, 34)][:2] == ("FC051", "feature view 'v': freshness: warn_after: invalid duration '2 hours'")
    assert by_place[(27, 34)][:2] == ("FC161", "feature view 'v': freshness: warn_after is longer than error_after")
    assert by_place[(28, 27)][0] == "FC161" and "min must be a whole number" in by_place[(28, 27)][1]
    assert by_place[(29, 9)][0] == "FC160" and "'not_null' belongs in a feature's tests" in by_place[(29, 9)][2]
    assert by_place[(30, 9)][0] == "FC161" and "exactly one test" in by_place[(30, 9)][1]
    assert by_place[(31, 45)][0] == "FC161" and "fraction between 0 and 1" in by_place[(31, 45)][1]
    assert len(found) == 18, found


def test_a_column_the_source_does_not_have(tmp_path):
    spec = HEAD + """    tests: [{expression: "fares >= 0"}, {expression: "fare >= 0 AND label IS NOT NULL"}]
""" + VIEW + """    features: [{name: fare, dtype: float64, tests: [{not_null: {}, where: "labell = 'x'"}]}]
"""
    found = problems(tmp_path, spec)
    assert [(f[0], f[1], f[2], f[3], f[4]) for f in found] == [
        ("FC142", 9, 27, "data test 'trips__expression': expression: unknown name 'fares'", "did you mean 'fare'?"),
        ("FC142", 14, 76, "data test 'v__fare__not_null': where: unknown name 'labell'", "did you mean 'label'?"),
    ]


def test_an_unknown_column_with_nothing_close_lists_the_sources_columns(tmp_path):
    found = problems(tmp_path, HEAD + """    tests: [{expression: "tip_share > 0.1"}]\n""")
    assert [(f[0], f[1], f[2], f[3], f[4]) for f in found] == [
        ("FC142", 9, 27, "data test 'trips__expression': expression: unknown name 'tip_share'",
         "use a column of source 'trips' (from its data file): driver_id, fare, fare_amount, label, ts")]


def test_without_a_data_file_the_columns_are_those_the_views_declare(tmp_path):
    """A table source with no seed: its columns are known from its time columns and the keys and features of
    the views that read it."""
    spec = HEAD.replace("    path: data/trips.parquet\n", "    table: trips_table\n") + \
        """    tests: [{expression: "fare >= 0 AND ts IS NOT NULL AND driver_id > 0"}, {expression: "label <> 'x'"}]\n""" \
        + VIEW + """    features: [{name: fare, dtype: float64}]\n"""
    found = problems(tmp_path, spec)
    assert [(f[0], f[3], f[4]) for f in found] == [
        ("FC142", "data test 'trips__expression_2': expression: unknown name 'label'",
         "use a column of source 'trips' (as the views reading it declare them): driver_id, fare, fare_amount, ts")]


def test_a_non_boolean_expression_is_fc163_at_its_start(tmp_path):
    found = problems(tmp_path, HEAD + """    tests: [{expression: "fare * 2"}, {expression: "1", where: "label"}]\n""")
    assert [(f[0], f[1], f[2], f[3]) for f in found] == [
        ("FC163", 9, 27, "data test 'trips__expression': expression: the expression gives float64, not a boolean"),
        ("FC163", 9, 53, "data test 'trips__expression_2': expression: the expression gives int64, not a boolean"),
        ("FC163", 9, 65, "data test 'trips__expression_2': where: the expression gives string, not a boolean")]


def test_tests_are_nodes_named_deterministically_with_their_parents_as_edges(tmp_path):
    spec = HEAD + """    tests: [{expression: "fare >= 0"}, {expression: "fare_amount < 100", severity: warn}]
""" + VIEW + """    features:
      - {name: fare, dtype: float64, tests: [not_null, {range: {min: 0}}, {range: {max: 9}, where: "label = 'x'"}]}
    tests: [unique_key_time, {null_fraction: {column: fare, max: 0.5}}, {freshness: {error_after: 1d}}]
"""
    result = parse_project(project(tmp_path, spec), use_cache=False)
    assert result.ok, [d.render() for d in result.diagnostics]
    graph = result.graph
    assert [t.name for t in graph.tests] == [
        "trips__expression", "trips__expression_2", "v__fare__not_null", "v__fare__null_fraction", "v__fare__range",
        "v__fare__range_2", "v__freshness", "v__unique_key_time"]
    second = next(t for t in graph.tests if t.name == "v__fare__range_2")
    assert (second.kind, second.column, second.arguments, second.where, second.severity) == \
        ("range", "fare", (("max", 9),), "label = 'x'", "error")
    assert next(t for t in graph.tests if t.name == "v__freshness").arguments == (("error_after", 86400.0),)
    build = compile_project(graph, ["duckdb", "spark"], use_cache=False)
    assert build.ok, build.diagnostics
    assert "duckdb/tests/v__fare__range_2.sql" in build.files
    manifest = build_manifest(graph, build.files)
    assert manifest_problems(manifest) == []
    assert manifest["nodes"]["test"]["v__fare__range_2"]["depends_on"] == ["feature_view.v"]
    assert manifest["nodes"]["test"]["trips__expression"]["depends_on"] == ["source.trips"]
    assert {f["node"] for f in manifest["compiled"]} >= {"test.v__unique_key_time", "test.trips__expression_2"}
    # selections: downstream of a source reaches its tests and its views' tests; a view selects its own tests
    downstream = {r.name for r in select_nodes(graph, ["trips+"]) if r.kind == "test"}
    assert downstream == {t.name for t in graph.tests}
    assert [t.name for t in select_tests(graph, ["trips"])] == ["trips__expression", "trips__expression_2"]
    assert len(select_tests(graph, ["v"], ["v__freshness"])) == 5


def test_field_mapping_names_are_the_sources_columns_in_the_sql(tmp_path):
    spec = HEAD + VIEW + """    features: [{name: fare, dtype: float64, tests: [{range: {max: 9}, where: "fare > 1"}]}]
"""
    graph = parse_project(project(tmp_path, spec), use_cache=False).graph
    sql = compile_project(graph, ["spark"], use_cache=False).files["spark/tests/v__fare__range.sql"].decode()
    assert "`source`.`fare_amount` > 1" in sql and "`source`.`fare_amount` AS `fare`" in sql
    assert "`fare` >" not in sql


@pytest.mark.parametrize("text, code", [
    ("fare >= 0 AND (fare < 1 OR NOT label IS NULL)", None),
    ("fare + driver_id * 2 - fare / 4 BETWEEN -1 AND 1", None),
    ("label IN ('x', 'y') AND driver_id % 2 = 0", None),
    ("upper(label) = 'X' AND ROUND(fare, 2) > 0", None),        # the functions of on-demand expressions
    ("fare_amount > 0 AND ts IS NOT NULL", None),               # the source's own name of a renamed column
    ("fare = (SELECT 1)", "FC141"),
    ("trips.fare = 1", "FC142"),
    ("CAST(fare AS INT) = 1", "FC141"),
    ("fare = 1; DROP TABLE x", "FC140"),
    ("label LIKE '%x'", "FC141"),
    ("regexp_matches(label, 'x')", "FC141"),
    ("label + 1 > 0", "FC143"),
    ("fare * 2", "FC163"),
])
def test_the_expression_subset_is_that_of_on_demand_features(tmp_path, text, code):
    found = problems(tmp_path, HEAD + f"    tests: [{{expression: \"{text}\"}}]\n")
    assert [f[0] for f in found] == ([code] if code else []), found


def test_a_view_of_aggregations_only_takes_view_tests(tmp_path):
    """A view with `aggregations:` and no `features:` (issue 16) takes view-level tests; they read its source."""
    spec = HEAD + VIEW + """    aggregations:
      step: 1h
      features:
        - {name: fare_sum_1d, function: sum, column: fare, window: 1d}
    tests:
      - {row_count: {min: 1}}
"""
    result = parse_project(project(tmp_path, spec), use_cache=False)
    assert result.diagnostics == [] and result.graph is not None
    assert [t.parent for t in result.graph.tests] == ["v"]
    # an aggregated feature is no column of the source: a null_fraction on it is refused where it is named
    found = problems(tmp_path, spec.replace("{row_count: {min: 1}}", "{null_fraction: {column: fare_sum_1d, max: 0.5}}"))
    assert [(code, line) for code, line, *_ in found] == [("FC162", 18)]
    assert "aggregated feature" in found[0][3]
