"""Request sources and on-demand views (issue 17) at parse time: graph nodes with their checked expressions,
every problem a diagnostic pointing into the spec (inside the `expr` string for the expression's own), and
the manifest's edges from inputs to on-demand views, so selections reach them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fcompile.artifacts.build import compile_project
from fcompile.artifacts.manifest import build_manifest, manifest_problems
from fcompile.artifacts.selection import NodeRef, select_nodes
from fcompile.graph import DType
from fcompile.parser import parse_project

PROJECT = """name: odv
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
feature_views:
  - name: stats
    entities: [driver]
    source: trips
    features:
      - {name: trips, dtype: int64}
      - {name: rate, dtype: float64}
  - name: other
    entities: [driver]
    source: trips
    features:
      - {name: rate, dtype: float64}
request_sources:
  - name: req
    fields:
      - {name: amount, dtype: float64}
      - {name: hour, dtype: int64}
"""


def project(tmp_path: Path, spec: str) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    pq.write_table(pa.table({"driver_id": [1], "ts": [dt.datetime(2024, 1, 1)], "trips": [1], "rate": [0.5]}),
                   tmp_path / "data" / "trips.parquet")
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "spec.yml").write_text(spec)
    return tmp_path


def problems(tmp_path: Path, spec: str) -> list[tuple[str, int, int, str, str]]:
    result = parse_project(project(tmp_path, spec), use_cache=False)
    return [(d.code.value, d.position.line, d.position.column, d.message, d.hint or "") for d in result.diagnostics]


GOOD = HEAD + """on_demand_views:
  - name: order_features
    inputs: [stats, req]
    features:
      - {name: per_trip, dtype: float64, expr: "amount / trips"}
      - {name: night, dtype: bool, expr: "hour < 6 OR hour >= 22", description: at night}
  - name: derived
    inputs: [order_features, other]
    tags: {team: x}
    features:
      - {name: doubled, dtype: float64, expr: "per_trip * 2 + other.rate"}
"""


def test_nodes_hold_fields_inputs_and_checked_expressions(tmp_path):
    result = parse_project(project(tmp_path, GOOD), use_cache=False)
    assert result.diagnostics == []
    graph = result.graph
    order = graph.request_source("req")
    assert [(f.name, f.dtype) for f in order.fields] == [("amount", DType("float64")), ("hour", DType("int64"))]
    view = graph.on_demand_view("order_features")
    assert view.inputs == ("stats", "req")
    per_trip = view.feature("per_trip")
    assert per_trip.reads == ("req.amount", "stats.trips")
    assert per_trip.node.dtype == "float64"
    assert view.feature("night").description == "at night"
    derived = graph.on_demand_view("derived")
    assert derived.feature("doubled").reads == ("order_features.per_trip", "other.rate")
    assert derived.tags == (("team", "x"),)


def test_manifest_edges_and_selection(tmp_path):
    graph = parse_project(project(tmp_path, GOOD), use_cache=False).graph
    manifest = build_manifest(graph, compile_project(graph, ["duckdb"], use_cache=False).files)
    assert manifest_problems(manifest) == []
    nodes = manifest["nodes"]
    assert nodes["on_demand_view"]["order_features"]["depends_on"] == [
        "feature_view.stats", "request_source.req"]
    assert nodes["on_demand_view"]["derived"]["depends_on"] == [
        "feature_view.other", "on_demand_view.order_features"]
    assert nodes["request_source"]["req"]["spec"]["fields"][0] == {"name": "amount", "dtype": "float64",
                                                                      "description": ""}
    assert nodes["on_demand_view"]["derived"]["spec"]["features"][0]["expr"] == "per_trip * 2 + other.rate"
    upstream = select_nodes(graph, ["+derived"])
    assert {NodeRef("request_source", "req"), NodeRef("feature_view", "stats"), NodeRef("feature_view", "other"),
            NodeRef("on_demand_view", "order_features"), NodeRef("source", "trips")} <= set(upstream)
    assert NodeRef("on_demand_view", "derived") in select_nodes(graph, ["req+"])
    assert NodeRef("on_demand_view", "derived") not in select_nodes(graph, ["+order_features"])


def line_of(spec: str, needle: str) -> tuple[int, int]:
    """1-based line and column of `needle` in `spec`."""
    for number, line in enumerate(spec.split("\n"), 1):
        if needle in line:
            return number, line.index(needle) + 1
    raise AssertionError(needle)


def test_expression_problems_point_inside_the_expr(tmp_path):
    spec = HEAD + """on_demand_views:
  - name: bad
    inputs: [stats, other, req]
    features:
      - {name: a, dtype: float64, expr: "amount / tripz"}
      - {name: b, dtype: float64, expr: "rate + 1"}
      - {name: c, dtype: float64, expr: "MD5(amount)"}
      - {name: d, dtype: float64, expr: "'x' + amount"}
      - {name: e, dtype: bool, expr: "amount * 2"}
      - {name: f, dtype: float64, expr: "amount +"}
"""
    found = problems(tmp_path, spec)
    by_code = {code: (line, column, message, hint) for code, line, column, message, hint in found}
    assert sorted(by_code) == ["FC140", "FC141", "FC142", "FC143", "FC144"]
    line, column = line_of(spec, "tripz")
    assert any(f[:3] == ("FC142", line, column) and "did you mean 'trips'" in f[4] for f in found)
    line, column = line_of(spec, "rate + 1")
    assert any(f[:3] == ("FC142", line, column) and "ambiguous" in f[3] for f in found)
    line, column = line_of(spec, "MD5(")
    assert by_code["FC141"][:2] == (line, column)
    line, column = line_of(spec, "'x' + amount")
    assert by_code["FC143"][0] == line and column <= by_code["FC143"][1] <= column + len("'x' + amount")
    line, column = line_of(spec, "amount * 2")
    assert by_code["FC144"][:2] == (line, column)
    assert "feature 'e'" in by_code["FC144"][2]
    line, _ = line_of(spec, '"amount +"')
    assert by_code["FC140"][0] == line


def test_unknown_input_with_did_you_mean(tmp_path):
    spec = HEAD + """on_demand_views:
  - name: bad
    inputs: [stats, rq]
    features:
      - {name: a, dtype: float64, expr: "trips + 1"}
"""
    found = problems(tmp_path, spec)
    line, column = line_of(spec, "[stats, rq]")
    column += len("[stats, ")
    assert [f[:3] for f in found] == [("FC032", line, column)]
    assert "unknown input 'rq'" in found[0][3] and "did you mean 'req'?" in found[0][4]


def test_cycle_between_on_demand_views(tmp_path):
    spec = HEAD + """on_demand_views:
  - name: first
    inputs: [second]
    features:
      - {name: a, dtype: int64, expr: "b + 1"}
  - name: second
    inputs: [first, stats]
    features:
      - {name: b, dtype: int64, expr: "a + trips"}
"""
    found = problems(tmp_path, spec)
    cycles = [f for f in found if f[0] == "FC145"]
    assert len(cycles) == 1
    assert "first -> second -> first" in cycles[0][3] or "second -> first -> second" in cycles[0][3]
    assert cycles[0][1:3] in (line_of(spec, "[second]"), (line_of(spec, "[first, stats]")[0],
                                                         line_of(spec, "[first, stats]")[1] + 1))
    assert parse_project(project(tmp_path, spec), use_cache=False).graph is None


def test_names_collide_across_views_and_request_sources(tmp_path):
    spec = HEAD + """on_demand_views:
  - name: stats
    inputs: [req]
    features:
      - {name: a, dtype: float64, expr: "amount"}
  - name: dup
    inputs: [req, req]
    features:
      - {name: a, dtype: float64, expr: "amount"}
      - {name: a, dtype: float64, expr: "amount"}
"""
    found = problems(tmp_path, spec)
    # the second `name: stats` is the on-demand view's
    odv_line = spec.split("\n").index("  - name: stats", 15) + 1
    assert ("FC020", odv_line, 11) in [f[:3] for f in found]
    assert any(f[0] == "FC021" and "input 'req' twice" in f[3] for f in found)
    assert any(f[0] == "FC021" and "feature 'a' twice" in f[3] for f in found)


def test_request_source_problems(tmp_path):
    spec = HEAD.replace("      - {name: hour, dtype: int64}",
                        "      - {name: hour, dtype: int64}\n      - {name: hour, dtype: int64}\n"
                        "      - {name: day, dtype: int65}")
    found = problems(tmp_path, spec)
    line, _ = line_of(spec, "{name: day")
    assert ("FC021", line - 1) in [f[:2] for f in found]
    assert any(f[1] == line and "int65" in f[3] for f in found)


def test_a_service_takes_on_demand_features_as_it_takes_a_views(tmp_path):
    from fcompile.graph import Projection

    spec = GOOD + """feature_services:
  - name: svc
    features: [stats:trips, order_features:per_trip]
"""
    graph = parse_project(project(tmp_path, spec), use_cache=False).graph
    assert graph.feature_service("svc").projections == (
        Projection("stats", ("trips",)), Projection("order_features", ("per_trip",)))
    edges = build_manifest(graph, {})["nodes"]["feature_service"]["svc"]["depends_on"]
    assert edges == ["feature_view.stats", "on_demand_view.order_features"]


def test_an_unknown_on_demand_feature_or_view_is_positioned_with_did_you_mean(tmp_path):
    spec = GOOD + """feature_services:
  - name: svc
    features: [order_features:per_trip_x, order_featurez:per_trip]
"""
    found = problems(tmp_path, spec)
    line, column = line_of(spec, "order_features:per_trip_x")
    assert [f[:3] for f in found] == [("FC033", line, column), ("FC032", line, column + len("order_features:per_trip_x, "))]
    assert "did you mean 'per_trip'?" in found[0][4]
    assert "did you mean 'order_features'?" in found[1][4]


def test_a_request_resolves_on_demand_features(tmp_path):
    from fcompile.graph import Projection
    from fcompile.parser.resolve import resolve_feature_references

    graph = parse_project(project(tmp_path, GOOD), use_cache=False).graph
    assert resolve_feature_references(graph, ["order_features:per_trip"]) == (
        Projection("order_features", ("per_trip",)),)


def test_ls_lists_them_and_build_selects_through_their_edges(tmp_path):
    import json

    from typer.testing import CliRunner

    from fcompile.cli import app

    root = str(project(tmp_path, GOOD))
    run = CliRunner().invoke
    listed = run(app, ["ls", "--project-dir", root, "--kind", "on_demand_view"])
    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t")[:3] for line in listed.output.strip().split("\n")]
    assert lines == [["on_demand_view", "derived", "1 on-demand features from order_features, other"],
                     ["on_demand_view", "order_features", "2 on-demand features from stats, req"]]
    selected = run(app, ["ls", "--project-dir", root, "--json", "-s", "+derived"])
    assert selected.exit_code == 0, selected.output
    kinds = {(row["kind"], row["name"]) for row in json.loads(selected.output)}
    assert ("request_source", "req") in kinds and ("feature_view", "stats") in kinds
    assert ("feature_view", "other") in kinds and ("entity", "driver") in kinds
    built = run(app, ["build", "--project-dir", root, "-s", "+order_features"])
    assert built.exit_code == 0, built.output
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert set(manifest["nodes"]["on_demand_view"]) == {"derived", "order_features"}


def test_an_expr_may_span_lines_and_its_problems_point_at_its_value(tmp_path):
    spec = HEAD + """on_demand_views:
  - name: multi
    inputs: [stats]
    features:
      - name: band
        dtype: string
        expr: |
          CASE WHEN trips > 10
          THEN 'busy' ELSE 'quiet' END
      - name: bad
        dtype: string
        expr: |
          CASE WHEN trips > 10
          THEN 'busy' ELSE 2 END
"""
    found = problems(tmp_path, spec)
    second = [n for n, text in enumerate(spec.split("\n"), 1) if "expr: |" in text][1]
    assert [f[:2] for f in found] == [("FC143", second)]
    spec_ok = spec[:spec.index("      - name: bad")]
    assert problems(tmp_path, spec_ok) == []
    view = parse_project(project(tmp_path, spec_ok), use_cache=False).graph.on_demand_view("multi")
    assert view.feature("band").expr.startswith("CASE WHEN trips > 10\nTHEN")
