"""A feature view's `aggregations:` resolved into aggregated `Feature`s (docs/concepts/aggregations.md).

Two passes. `resolve_aggregations` runs with the rest of the resolver and checks what the spec alone says:
the step, each function, window, name and declared dtype, and the types of columns the view also looks
up as plain features. `settle_aggregations` runs once the source's real columns are known (a Parquet
footer, a seed file) and checks the columns against them: present, of a type the function takes, the
timestamp field a timestamp; it then fills in each dtype that follows from a column's type. A dtype that
is still unknown after both (a table or query source whose columns cannot be read at parse time) must be
declared.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Mapping

from fcompile.diagnostics import Code, DiagnosticSink, Position, did_you_mean
from fcompile.graph import (
    AGGREGATE_FUNCTIONS, NUMERIC_DTYPES, NUMERIC_FUNCTIONS, Aggregation, DType, Feature, FeatureGraph, FeatureView,
    aggregate_dtype,
)
from fcompile.parser.values import ValueProblem, parse_dtype, parse_duration
from fcompile.planner.durations import format_duration

DAY = dt.timedelta(days=1)
# A dtype that follows from a column whose type is not known yet: never left in a finished graph.
PENDING = DType("__fc_pending")


@dataclass(frozen=True)
class ResolvedAggregations:
    step: dt.timedelta
    features: tuple[Feature, ...]
    locations: tuple[tuple[str, str, Position], ...]


def step_problem(step: dt.timedelta) -> str | None:
    """Why `step` cannot be a step, or None: it must be a whole number of seconds that divides a day, or a
    whole number of days, so that steps tile every day alike from the epoch."""
    if step <= dt.timedelta(0):
        return "must be positive"
    if step.microseconds:
        return "must be a whole number of seconds"
    if step < DAY and DAY % step:
        return "neither divides one day nor is a whole number of days"
    if step > DAY and step % DAY:
        return "neither divides one day nor is a whole number of days"
    return None


def resolve_aggregations(item, sink: DiagnosticSink, taken: Mapping[str, str],
                         plain: Mapping[str, DType]) -> ResolvedAggregations | None:
    """The view's aggregated features, or None after reporting why they cannot be built. `item` is the
    resolver's SpecItem; `taken` maps names already used in the view (features, join keys) to what they
    are; `plain` is the dtype of each plain feature (a column whose type is then known)."""
    raw = item.data["aggregations"]
    label = item.label
    ok = True
    locations: list[tuple[str, str, Position]] = [("", "aggregations", item.doc.key_position(item.path + ("aggregations",))),
                                                  ("", "step", item.at("aggregations", "step"))]
    step = _duration(item, sink, ("aggregations", "step"))
    if step is not None:
        problem = step_problem(step)
        if problem:
            sink.error(Code.AGGREGATE_STEP, f"{label}: the aggregations step '{raw['step']}' {problem}",
                       item.at("aggregations", "step"),
                       "use a step such as 1m, 5m, 15m, 1h, 6h, 1d or 2d: windows end on its multiples from the epoch")
            step = None
    if step is None:
        ok = False
    features: list[Feature] = []
    names = dict(taken)
    for i, spec in enumerate(raw["features"]):
        at = lambda *sub: item.at("aggregations", "features", i, *sub)  # noqa: E731
        name = spec["name"]
        for key in ("name", "function", "column", "window", "dtype"):
            if key in spec:
                locations.append((name, key, at(key)))
        if name in names:
            sink.error(Code.AGGREGATE_NAME, f"{label}: aggregated feature '{name}' has the name of {names[name]}",
                       at("name"), "give each feature of a view, plain or aggregated, its own name")
            ok = False
            continue
        names[name] = f"aggregated feature '{name}' (line {at('name').line})"
        feature = _feature(item, sink, spec, step, plain, at)
        if feature is None:
            ok = False
            continue
        features.append(feature)
    if not ok or step is None:
        return None
    return ResolvedAggregations(step, tuple(features), tuple(locations))


def _feature(item, sink: DiagnosticSink, spec: dict, step: dt.timedelta | None, plain: Mapping[str, DType],
             at) -> Feature | None:
    label, name = item.label, spec["name"]
    function = spec["function"]
    ok = True
    if function not in AGGREGATE_FUNCTIONS:
        hint = did_you_mean(function, AGGREGATE_FUNCTIONS) or f"use one of {', '.join(AGGREGATE_FUNCTIONS)}"
        if function == "count_distinct":
            hint = ("an exact distinct count cannot be merged from per-step partial results; " +
                    f"use one of {', '.join(AGGREGATE_FUNCTIONS)}")
        sink.error(Code.UNKNOWN_AGGREGATE_FUNCTION, f"{label}: aggregated feature '{name}' has unknown function "
                   f"'{function}'", at("function"), hint)
        return None
    column = spec.get("column")
    if column is None and function != "count":
        sink.error(Code.AGGREGATE_COLUMN, f"{label}: aggregated feature '{name}' ({function}) names no column",
                   at(), f"add 'column:', the source column whose values {function} takes")
        ok = False
    window = _duration(item, sink, at("window"), spec["window"], name)
    if window is not None and step is not None and (window <= dt.timedelta(0) or window % step):
        every = format_duration(step.total_seconds())
        sink.error(Code.AGGREGATE_WINDOW, f"{label}: aggregated feature '{name}' has window '{spec['window']}', "
                   f"not a whole multiple of the step ({every})", at("window"),
                   f"make the window a positive whole multiple of {every}, e.g. "
                   f"{format_duration(step.total_seconds() * max(1, round(window / step)))}")
        ok = False
    if window is None:
        ok = False
    declared = None
    if "dtype" in spec:
        try:
            declared = parse_dtype(spec["dtype"])
        except ValueProblem as problem:
            sink.error(problem.code, f"{label}: {problem.message}", at("dtype"), problem.hint)
            ok = False
    column_dtype = plain.get(column) if column is not None else None
    if column_dtype is not None and not input_type_ok(sink, label, name, function, column, column_dtype, at("column")):
        ok = False
    if not ok:
        return None
    implied = aggregate_dtype(function, column_dtype)
    if declared is not None and implied is not None and declared != implied:
        dtype_mismatch(sink, label, name, function, declared, implied, at("dtype"))
        return None
    if declared is not None and implied is None and function == "sum" and declared.name not in ("int64", "float64"):
        dtype_mismatch(sink, label, name, function, declared, DType("int64 or float64"), at("dtype"))
        return None
    aggregation = Aggregation(function, column, window)  # type: ignore[arg-type]
    tags = tuple(sorted((str(k), str(v).lower() if isinstance(v, bool) else str(v))
                        for k, v in (spec.get("tags") or {}).items()))
    return Feature(name, implied or declared or PENDING, spec.get("description", ""), tags, aggregation)


def _duration(item, sink: DiagnosticSink, where, text=None, name: str | None = None) -> dt.timedelta | None:
    """A duration of the aggregations (the step at a spec path, or a feature's window at a position)."""
    if isinstance(where, tuple):
        position, text = item.at(*where), item.data["aggregations"]["step"]
    else:
        position = where
    try:
        return parse_duration(text)
    except ValueProblem as problem:
        owner = f"aggregated feature '{name}': " if name else "aggregations step: "
        sink.error(problem.code, f"{item.label}: {owner}{problem.message}", position, problem.hint)
        return None


def input_type_ok(sink: DiagnosticSink, label: str, name: str, function: str, column: str, dtype: DType,
                  where: Position | None) -> bool:
    """Whether `function` can take a column of `dtype`; reports why not."""
    if dtype.is_array:
        sink.error(Code.AGGREGATE_INPUT_TYPE, f"{label}: aggregated feature '{name}' takes {function} of "
                   f"'{column}', an array ({dtype})", where, "aggregate a scalar column")
        return False
    if function in NUMERIC_FUNCTIONS and dtype.name not in NUMERIC_DTYPES:
        sink.error(Code.AGGREGATE_INPUT_TYPE, f"{label}: aggregated feature '{name}' takes {function} of "
                   f"'{column}', which is {dtype}, not a number", where,
                   "sum, avg, stddev and variance take int or float columns; count, min, max and last take others")
        return False
    if function in ("min", "max") and dtype.name in ("bool", "bytes"):
        sink.error(Code.AGGREGATE_INPUT_TYPE, f"{label}: aggregated feature '{name}' takes {function} of "
                   f"'{column}', which is {dtype} and not ordered alike on every warehouse", where,
                   "take min or max of a number, string, date or timestamp column")
        return False
    return True


def dtype_mismatch(sink: DiagnosticSink, label: str, name: str, function: str, declared: DType, implied,
                   where: Position | None) -> None:
    sink.error(Code.AGGREGATE_DTYPE, f"{label}: aggregated feature '{name}' declares dtype {declared}, but "
               f"{function} gives {implied}", where, f"declare dtype {implied}, or leave dtype out")


def settle_aggregations(graph: FeatureGraph, columns_of: Mapping[str, Mapping[str, DType | None] | None],
                        sink: DiagnosticSink) -> FeatureGraph:
    """The graph with every aggregated feature's dtype known, after checking the aggregations against the
    source columns that can be known at parse time (`columns_of`: source name -> column -> dtype, None
    where the source's columns cannot be read)."""
    views = []
    changed = False
    for view in graph.feature_views:
        if not view.has_aggregations:
            views.append(view)
            continue
        settled = _settle_view(graph, view, columns_of.get(view.source), sink)
        changed = changed or settled is not view
        views.append(settled)
    return replace(graph, feature_views=tuple(views)) if changed else graph


def _settle_view(graph: FeatureGraph, view: FeatureView, columns: Mapping[str, DType | None] | None,
                 sink: DiagnosticSink) -> FeatureView:
    label = f"feature view '{view.name}'"
    source = graph.source(view.source)
    if columns is not None:
        ts_type = columns.get(source.timestamp_field, PENDING) if source.timestamp_field in columns else None
        if source.timestamp_field not in columns or (ts_type is not None and ts_type.name != "timestamp"):
            what = "is not a column of its data" if source.timestamp_field not in columns else f"holds {ts_type}"
            sink.error(Code.AGGREGATE_TIMESTAMP, f"{label} has aggregations, but the timestamp_field "
                       f"'{source.timestamp_field}' of source '{source.name}' {what}",
                       view.aggregation_location("", "aggregations"),
                       "aggregations need a source with one row per event and a timestamp column as its "
                       "timestamp_field")
    features = []
    for feature in view.features:
        aggregation = feature.aggregation
        if aggregation is None:
            features.append(feature)
            continue
        column_dtype = None
        if aggregation.column is not None and columns is not None:
            if aggregation.column not in columns:
                sink.error(Code.AGGREGATE_COLUMN, f"{label}: aggregated feature '{feature.name}' takes "
                           f"{aggregation.function} of '{aggregation.column}', which is not a column of source "
                           f"'{source.name}'", view.aggregation_location(feature.name, "column"),
                           did_you_mean(aggregation.column, [c for c in columns]) or
                           f"columns: {', '.join(sorted(columns))}")
                features.append(feature)
                continue
            column_dtype = columns[aggregation.column]
            if column_dtype is not None and not input_type_ok(
                    sink, label, feature.name, aggregation.function, aggregation.column, column_dtype,
                    view.aggregation_location(feature.name, "column")):
                features.append(feature)
                continue
        implied = aggregate_dtype(aggregation.function, column_dtype)
        declared = feature.dtype if feature.dtype != PENDING else None
        where = view.aggregation_location(feature.name, "dtype")
        if implied is not None and declared is not None and implied != declared:
            dtype_mismatch(sink, label, feature.name, aggregation.function, declared, implied, where)
        elif implied is None and declared is None:
            sink.error(Code.AGGREGATE_DTYPE, f"{label}: the dtype of aggregated feature '{feature.name}' "
                       f"({aggregation.function} of '{aggregation.column}') follows from the column's type, which "
                       f"cannot be read from source '{source.name}' when parsing",
                       view.aggregation_location(feature.name, "name"),
                       "declare it with 'dtype:' (sum: int64 over integers, float64 over floats; min, max, last: "
                       "the column's type)")
        features.append(replace(feature, dtype=implied or declared or PENDING))
    return replace(view, features=tuple(features))
