"""Windowed-aggregation cases: one description turned into a project on disk (YAML parsed by fcompile), into
tables on an engine, and into the reference's terms (aggregation_reference.py). Nothing here reads the
planner's or the lowering's interpretation of the project."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from fcompile.graph import FeatureGraph, Projection
from fcompile.parser import load_project

from compiler import reference
from compiler.aggregation_reference import RefAggregate, RefAggregateView, aggregate_join
from compiler.harness import EntityDef, Table, duration_text, normalized
from compiler.reference import RefFeature, RefView


@dataclass(frozen=True)
class Agg:
    name: str
    function: str
    column: str | None
    window: dt.timedelta


@dataclass(frozen=True)
class AggViewDef:
    name: str
    entities: tuple[str, ...]
    table: Table
    step: dt.timedelta
    aggregates: tuple[Agg, ...]
    plain: tuple[tuple[str, str], ...] = ()  # plain features (name, dtype) of the same view
    ts: str = "event_ts"
    created: str | None = None
    tie_breaker: str | None = None
    online: bool = False


@dataclass(frozen=True)
class AggCase:
    name: str
    entities: tuple[EntityDef, ...]
    views: tuple[AggViewDef, ...]
    spine: Table
    projections: tuple[Projection, ...]
    spine_ts: str = "event_timestamp"
    full_feature_names: bool = False

    def view(self, name: str) -> AggViewDef:
        return next(v for v in self.views if v.name == name)

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(v.table for v in self.views)


def write_project(case: AggCase, root: Path) -> FeatureGraph:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(yaml.safe_dump({
        "name": "agg_semantics", "default_target": "dev",
        "targets": {"dev": {"offline": {"type": "duckdb", "path": "x.duckdb"},
                            "online": {"type": "sqlite", "path": "x.db"}}},
    }))
    sources, views = [], []
    for view in case.views:
        source: dict[str, Any] = {"name": f"{view.name}_src", "table": view.table.name, "timestamp_field": view.ts}
        if view.created:
            source["created_timestamp_field"] = view.created
        if view.tie_breaker:
            source["tie_breaker"] = view.tie_breaker
        sources.append(source)
        types = dict(view.table.columns)
        spec: dict[str, Any] = {"name": view.name, "entities": list(view.entities), "source": f"{view.name}_src",
                                "online": view.online}
        if view.plain:
            spec["features"] = [{"name": n, "dtype": d} for n, d in view.plain]
        features = []
        for agg in view.aggregates:
            item: dict[str, Any] = {"name": agg.name, "function": agg.function, "window": duration_text(agg.window)}
            if agg.column:
                item["column"] = agg.column
                if agg.function in ("min", "max", "last", "sum"):  # a table source: the column's type is not read
                    item["dtype"] = _result_dtype(agg.function, types[agg.column])
            features.append(item)
        spec["aggregations"] = {"step": duration_text(view.step), "features": features}
        views.append(spec)
    (root / "features.yml").write_text(yaml.safe_dump({
        "entities": [{"name": e.name, "join_keys": [{"name": k, "dtype": d} for k, d in e.keys]}
                     for e in case.entities],
        "sources": sources, "feature_views": views}, sort_keys=False))
    return load_project(root)


def _result_dtype(function: str, column_type: str) -> str:
    column_type = "timestamp" if column_type == "timestamptz" else column_type
    if function == "sum":
        return "int64" if column_type in ("int32", "int64") else "float64"
    return column_type


def ref_view(case: AggCase, view: AggViewDef) -> RefAggregateView:
    keys = tuple((k, k) for e in view.entities for k, _ in next(ent for ent in case.entities if ent.name == e).keys)
    return RefAggregateView(view.name, keys, view.ts, view.created, view.tie_breaker, view.step,
                            tuple(RefAggregate(a.name, a.function, a.column, a.window) for a in view.aggregates),
                            view.table.rows)


def expected(case: AggCase) -> tuple[list[str], list[dict[str, Any]]]:
    """The reference's rows: aggregated features by aggregation_reference, plain ones by the point-in-time
    reference (no ttl), each in request order."""
    columns = list(case.spine.column_names)
    outputs: list[tuple[str, str, str]] = []
    for projection in case.projections:
        for feature in projection.features:
            out = reference.output_name(projection.view, feature, projection.alias, case.full_feature_names)
            outputs.append((projection.view, feature, out))
    rows = []
    for spine_row in case.spine.rows:
        result = {c: spine_row[c] for c in columns}
        for view_name, feature, out in outputs:
            view = case.view(view_name)
            if any(a.name == feature for a in view.aggregates):
                one = aggregate_join([spine_row], [], case.spine_ts, [(ref_view(case, view), feature, out)])[0]
                result[out] = one[out]
            else:
                plain = RefView(view.name, tuple((k, k) for k, _ in _keys(case, view)), view.ts, view.created, None,
                                (RefFeature(feature, feature),), view.table.rows, view.tie_breaker)
                row = reference.as_of(plain, spine_row, case.spine_ts)
                result[out] = None if row is None else row[feature]
        rows.append(result)
    return columns + [o for _, _, o in outputs], rows


def _keys(case: AggCase, view: AggViewDef):
    return [k for e in view.entities for k in next(ent for ent in case.entities if ent.name == e).keys]


def float_outputs(case: AggCase) -> set[str]:
    """The output columns compared within 1e-9 relative: floats that are sums, means or deviations."""
    names = set()
    for projection in case.projections:
        view = case.view(projection.view)
        types = dict(view.table.columns)
        for feature in projection.features:
            agg = next((a for a in view.aggregates if a.name == feature), None)
            if agg is None:
                continue
            if agg.function in ("avg", "stddev", "variance") or (
                    agg.function == "sum" and types[agg.column] == "float64"):
                names.add(reference.output_name(projection.view, feature, projection.alias, case.full_feature_names))
    return names


def assert_rows_match(actual: tuple[Sequence[str], Sequence[Mapping[str, Any]]],
                      wanted: tuple[Sequence[str], Sequence[Mapping[str, Any]]], floats: set[str],
                      context: str) -> None:
    """Row by row, in spine order: floats in `floats` within 1e-9 relative, everything else exactly."""
    names, rows = actual
    wanted_names, wanted_rows = wanted
    assert list(names) == list(wanted_names), f"{context}: columns {list(names)} != {list(wanted_names)}"
    assert len(rows) == len(wanted_rows), f"{context}: {len(rows)} rows, expected {len(wanted_rows)}"
    for i, (got, want) in enumerate(zip(rows, wanted_rows)):
        for name in wanted_names:
            g, w = normalized(got[name]), normalized(want[name])
            if name in floats and g is not None and w is not None:
                ok = math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12)
            else:
                ok = g == w and (isinstance(g, int) or not isinstance(w, int))  # an int stays an int
            assert ok, f"{context}: row {i} column {name}: got {got[name]!r}, expected {want[name]!r}\n  row {got}"
