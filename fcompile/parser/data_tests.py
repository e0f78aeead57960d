"""Data tests (issue 18): `tests:` on features, feature views and sources, checked and resolved into
`DataTest` nodes.

A test is written as its kind (`not_null`), or as a mapping of its kind to its arguments plus, optionally,
`severity:` (error or warn) and `where:` (a filter). Every problem is a positioned diagnostic (FC160-FC163);
a test with a problem is left out of the graph. An `expression` or a `where` is
checked once the graph is (check_data_test_expressions), with the on-demand features' expression checker. Names are `<view>__<feature>__<kind>` for a feature's tests,
`<view>__<kind>` for a view's (`<view>__<column>__null_fraction`), `<source>__<kind>` for a source's; a
name given twice gets `_2`, `_3`, ... in the order the tests are written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterator

from fcompile.diagnostics import Code, DiagnosticSink, Position, a_or_an, did_you_mean, reference_hint
from fcompile.graph import DataTest, DType, FeatureGraph, FeatureView, Source
from fcompile.parser.values import ValueProblem, parse_duration

# `Resolver` and `SpecItem` (fcompile/parser/resolve.py, which calls in here) are named in quotes only: no import
Resolver = SpecItem = Any

FEATURE_TESTS = ("not_null", "range", "accepted_values", "unique")
VIEW_TESTS = ("unique_key_time", "freshness", "row_count", "null_fraction")
SOURCE_TESTS = ("expression",)
ALL_TESTS = FEATURE_TESTS + VIEW_TESTS + SOURCE_TESTS
NO_ARGUMENTS = ("not_null", "unique", "unique_key_time")
META_KEYS = ("severity", "where")
NUMERIC_DTYPES = ("int32", "int64", "float32", "float64")
_PLACES = {"feature": FEATURE_TESTS, "view": VIEW_TESTS, "source": SOURCE_TESTS}
_PLACE_WORDS = {"feature": "a feature's tests", "view": "a feature view's tests", "source": "a source's tests"}


@dataclass(frozen=True)
class _Written:
    """One test as the spec writes it, before its name is made unique."""

    base_name: str
    test: DataTest


def resolve_data_tests(resolver: Resolver) -> tuple[DataTest, ...]:
    """Every well-formed test of the views and sources that resolved, in a stable order, uniquely named."""
    written: list[_Written] = []
    for name in sorted(resolver.views):
        item = resolver.known["feature_views"].get(name)
        if item is not None:
            written += _view_tests(resolver, item, resolver.views[name])
    for name in sorted(resolver.sources):
        item = resolver.known["sources"].get(name)
        if item is not None:
            written += _source_tests(resolver, item, resolver.sources[name])
    seen: dict[str, int] = {}
    tests = []
    for entry in written:
        count = seen[entry.base_name] = seen.get(entry.base_name, 0) + 1
        name = entry.base_name if count == 1 else f"{entry.base_name}_{count}"
        tests.append(_renamed(entry.test, name))
    return tuple(sorted(tests, key=lambda t: t.name))


def _renamed(test: DataTest, name: str) -> DataTest:
    from dataclasses import replace

    return replace(test, name=name)


def _view_tests(resolver: Resolver, item: SpecItem, view: FeatureView) -> list[_Written]:
    out: list[_Written] = []
    for i, raw in enumerate(item.data.get("features") or ()):  # a view of aggregations only has none
        feature = view.feature(raw.get("name"))
        if feature is None:
            continue
        for j, spec in _listed(resolver.sink, item, ("features", i, "tests")):
            out += _one(resolver, item, ("features", i, "tests", j), spec, "feature", view, feature.name)
    for j, spec in _listed(resolver.sink, item, ("tests",)):
        out += _one(resolver, item, ("tests", j), spec, "view", view, None)
    return out


def _source_tests(resolver: Resolver, item: SpecItem, source: Source) -> list[_Written]:
    return [w for j, spec in _listed(resolver.sink, item, ("tests",))
            for w in _one(resolver, item, ("tests", j), spec, "source", source, None)]


def _listed(sink: DiagnosticSink, item: SpecItem, path: tuple) -> Iterator[tuple[int, Any]]:
    value: Any = item.data
    for part in path:
        value = value.get(part) if isinstance(value, dict) else (value[part] if isinstance(value, list) else None)
        if value is None:
            return
    if not isinstance(value, list):
        sink.error(Code.TEST_ARGUMENT, f"{item.label}: 'tests' must be a list", item.at(*path),
                   "write tests: [not_null, {range: {min: 0, max: 1}}]")
        return
    yield from enumerate(value)


def _one(resolver: Resolver, item: SpecItem, path: tuple, spec: Any, place: str, parent: FeatureView | Source,
         feature: str | None) -> list[_Written]:
    sink = resolver.sink
    where_at = item.at(*path)
    if isinstance(spec, str):
        kind, arguments, meta = spec, None, {}
    elif isinstance(spec, dict):
        kinds = [k for k in spec if k not in META_KEYS]
        if len(kinds) != 1:
            hint = (f"write one test per entry, e.g. {{{kinds[0]}: ...}}, {{{kinds[1]}: ...}}" if kinds
                    else f"name the test: one of {', '.join(_PLACES[place])}")
            sink.error(Code.UNKNOWN_TEST if not kinds else Code.TEST_ARGUMENT,
                       f"{item.label}: a test entry must name exactly one test"
                       + (f", not {len(kinds)} ({', '.join(map(str, kinds))})" if kinds else ""), where_at, hint)
            return []
        kind, arguments = kinds[0], spec[kinds[0]]
        meta = {k: spec[k] for k in META_KEYS if k in spec}
    else:
        sink.error(Code.TEST_ARGUMENT, f"{item.label}: a test must be a name or a mapping, not {type(spec).__name__}",
                   where_at, "write not_null, or {range: {min: 0, max: 1}}")
        return []
    if not isinstance(kind, str) or kind not in _PLACES[place]:
        _unknown(sink, item, path, spec, kind, place)
        return []
    kind_at = item.at(*path, kind) if isinstance(spec, dict) else where_at
    problems_before = len(sink.items)
    checked = _arguments(resolver, item, (*path, kind), kind_at, kind, arguments, parent, feature)
    severity = meta.get("severity", "error")
    if severity not in ("error", "warn"):
        sink.error(Code.TEST_ARGUMENT, f"{item.label}: severity {severity!r} is not error or warn",
                   item.at(*path, "severity"), did_you_mean(str(severity), ["error", "warn"]) or "use error or warn")
    where = meta.get("where")
    if where is not None and not (isinstance(where, str) and where.strip()):
        sink.error(Code.TEST_ARGUMENT, f"{item.label}: where must be a boolean SQL expression",
                   item.at(*path, "where"), "write where: \"conv_rate IS NOT NULL\"")
    if len(sink.items) != problems_before or checked is None:
        return []
    column = feature if place == "feature" else checked.pop("column", None)
    texts = [(name, item.at(*path, key)) for name, key, given in (("expression", kind, kind == "expression"),
                                                                  ("where", "where", where is not None)) if given]
    parent_kind = "source" if place == "source" else "feature_view"
    base = "__".join(p for p in (parent.name, column, kind) if p)
    test = DataTest(
        name=base, kind=kind, parent_kind=parent_kind, parent=parent.name, column=column,
        arguments=tuple(sorted(checked.items())), severity=severity, where=where,
        owner=parent.owner, location=kind_at,
        _text_locations=tuple(texts),
    )
    return [_Written(base, test)]


def _unknown(sink: DiagnosticSink, item: SpecItem, path: tuple, spec: Any, kind: Any, place: str) -> None:
    at = item.doc.key_position((*item.path, *path, kind)) if isinstance(spec, dict) else item.at(*path)
    allowed = _PLACES[place]
    other = next((p for p, kinds in _PLACES.items() if kind in kinds), None)
    if other is not None:
        hint = (f"'{kind}' belongs in {_PLACE_WORDS[other]}; here: {', '.join(allowed)}")
    else:
        hint = did_you_mean(str(kind), allowed) or f"tests here: {', '.join(allowed)}"
    sink.error(Code.UNKNOWN_TEST, f"{item.label}: unknown test {str(kind)!r} in {_PLACE_WORDS[place]}", at, hint)


def _arguments(resolver: Resolver, item: SpecItem, path: tuple, at: Position, kind: str, value: Any,
               parent: FeatureView | Source, feature: str | None) -> dict[str, Any] | None:
    """The test's arguments, checked, as plain values (durations in seconds); None after reporting a problem."""
    sink = resolver.sink

    def problem(message: str, hint: str, sub: tuple = ()) -> None:
        sink.error(Code.TEST_ARGUMENT, f"{item.label}: {kind}: {message}", item.at(*path, *sub) if sub else at, hint)

    if kind in NO_ARGUMENTS:
        if value not in (None, {}):
            problem("takes no arguments", f"write {kind} alone (severity and where go beside it)")
            return None
        return {}
    if kind == "accepted_values":
        if not isinstance(value, list) or not value:
            problem("needs a non-empty list of values", "write {accepted_values: [economy, comfort]}")
            return None
        dtype = parent.feature(feature).dtype.name  # type: ignore[union-attr]
        for i, v in enumerate(value):
            if not _fits(v, dtype):
                problem(f"value {v!r} is not {a_or_an(dtype)}", f"list values of the feature's dtype ({dtype})", (i,))
                return None
        return {"values": tuple(value)}
    if kind == "expression":
        if not isinstance(value, str) or not value.strip():
            problem("needs a boolean SQL expression over the source's columns", 'write {expression: "fare >= 0"}')
            return None
        return {"expression": value}  # checked once the source's columns are known (check_data_test_expressions)
    if not isinstance(value, dict):
        problem("needs a mapping of arguments", {"range": "write {range: {min: 0, max: 1}}",
                                                 "freshness": "write {freshness: {warn_after: 2h, error_after: 1d}}",
                                                 "row_count": "write {row_count: {min: 1000}}",
                                                 "null_fraction": "write {null_fraction: {column: x, max: 0.05}}"}[kind])
        return None
    allowed = {"range": ("min", "max"), "freshness": ("warn_after", "error_after"), "row_count": ("min", "max"),
               "null_fraction": ("column", "max")}[kind]
    for key in value:
        if key not in allowed:
            sink.error(Code.TEST_ARGUMENT, f"{item.label}: {kind}: unknown argument {str(key)!r}",
                       item.doc.key_position((*item.path, *path, key)),
                       did_you_mean(str(key), allowed) or f"arguments: {', '.join(allowed)}")
            return None
    if kind in ("range", "row_count"):
        return _bounds(item, path, kind, value, feature, parent, problem)
    if kind == "freshness":
        return _freshness(resolver, item, path, value, problem)
    return _null_fraction(item, path, value, parent, problem, sink)


def _bounds(item, path, kind, value, feature, parent, problem) -> dict[str, Any] | None:
    if not ("min" in value or "max" in value):
        problem("needs min, max or both", f"write {{{kind}: {{min: 0, max: 1}}}}")
        return None
    if kind == "range":
        dtype = parent.feature(feature).dtype.name
        if dtype not in NUMERIC_DTYPES:
            problem(f"applies to numeric features, not {dtype}", "use accepted_values, or an expression on the source")
            return None
    for key in ("min", "max"):
        bound = value.get(key)
        if key not in value:
            continue
        integral = kind == "row_count"
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or (integral and not isinstance(bound, int)) \
                or bound != bound or bound in (float("inf"), float("-inf")) or (integral and bound < 0):
            problem(f"{key} must be {'a whole number of rows, 0 or more' if integral else 'a finite number'}, "
                    f"not {bound!r}", f"write {key}: {0 if integral else 0.5}", (key,))
            return None
    if "min" in value and "max" in value and value["min"] > value["max"]:
        problem(f"min {value['min']} is greater than max {value['max']}", "swap them: both bounds are inclusive",
                ("min",))
        return None
    return {key: value[key] for key in ("min", "max") if key in value}


def _freshness(resolver, item, path, value, problem) -> dict[str, Any] | None:
    if not value:
        problem("needs warn_after, error_after or both", "write {freshness: {warn_after: 2h, error_after: 1d}}")
        return None
    out: dict[str, float] = {}
    for key in ("warn_after", "error_after"):
        if key not in value:
            continue
        text = value[key]
        try:
            if not isinstance(text, str):
                raise ValueProblem(Code.BAD_DURATION, f"invalid duration {text!r}",
                                   "write a number and a unit (45s, 15m, 2h, 1d, 1w) or ISO 8601 (PT2H, P1D)")
            duration = parse_duration(text)
        except ValueProblem as bad:
            resolver.sink.error(bad.code, f"{item.label}: freshness: {key}: {bad.message}", item.at(*path, key),
                                bad.hint)
            return None
        if duration <= dt.timedelta(0):
            problem(f"{key} must be positive", "write a duration such as 2h", (key,))
            return None
        out[key] = duration.total_seconds()
    if len(out) == 2 and out["warn_after"] > out["error_after"]:
        problem("warn_after is longer than error_after", "warn before erroring: warn_after <= error_after",
                ("warn_after",))
        return None
    return out


def _null_fraction(item, path, value, parent, problem, sink) -> dict[str, Any] | None:
    column, limit = value.get("column"), value.get("max")
    if not isinstance(column, str):
        problem("needs column: the feature whose NULLs are counted", "write {null_fraction: {column: x, max: 0.05}}")
        return None
    looked_up = tuple(f.name for f in parent.features if f.aggregation is None)  # aggregated ones are no column
    if column not in looked_up:
        aggregated = parent.feature(column) is not None
        sink.error(Code.TEST_COLUMN, f"{item.label}: null_fraction: '{column}' is "
                   + ("an aggregated feature, computed from the source, not a column of it" if aggregated
                      else "not a feature of the view"),
                   item.at(*path, "column"), reference_hint(column, "feature", looked_up) if looked_up or not aggregated
                   else "test the column the aggregation reads with a test on the source, such as an expression")
        return None
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not 0 <= limit <= 1:
        problem(f"max must be a fraction between 0 and 1, not {limit!r}", "write max: 0.05", ("max",) if "max" in value
                else ())
        return None
    return {"column": column, "max": limit}


def _fits(value: Any, dtype: str) -> bool:
    if dtype == "string":
        return isinstance(value, str)
    if dtype == "bool":
        return isinstance(value, bool)
    if dtype in ("int32", "int64"):
        return isinstance(value, int) and not isinstance(value, bool)
    if dtype in ("float32", "float64"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False  # dates, times, bytes, arrays: write an expression on the source instead


# -- expressions: those of on-demand features (fcompile/expressions), over the source's columns ----------------

def check_data_test_expressions(graph: FeatureGraph, columns: dict[str, dict[str, DType | None] | None],
                                sink: DiagnosticSink) -> FeatureGraph:
    """Each test's `expression` and `where` checked as an on-demand feature's `expr` is (the same subset,
    names, types and diagnostics, FC140-FC143, pointing inside the text) over its source's columns, and a
    boolean (FC163); the graph with each test's typed trees (`DataTest.checked`). `columns`: the sources'
    columns where a seed file or a Parquet footer says what they are (check_source_schemas); a source without
    them offers the columns the graph knows (`source_scope`)."""
    from dataclasses import replace

    texts = [(t, name, text) for t in graph.tests for name, text in (("expression", t.argument("expression")),
                                                                        ("where", t.where)) if text]
    if not texts:
        return graph
    from fcompile.expressions.check import ExpressionProblems, Scope, check_expression

    scopes: dict[str, tuple[Scope, str]] = {}
    nodes: dict[str, list[tuple[str, Any]]] = {}
    for test, name, text in texts:
        source = graph.source(test.parent) if test.parent_kind == "source" else \
            graph.source(graph.feature_view(test.parent).source)
        if source.name not in scopes:
            qualified, origin = source_scope(graph, source, columns.get(source.name))
            scopes[source.name] = (Scope(qualified, unknown_hint=f"use a column of source '{source.name}' "
                                         f"({origin}): {', '.join(sorted(qualified)) or 'none known'}"), origin)
        scope, _ = scopes[source.name]
        at = test.text_location(name)
        what = f"data test '{test.name}': {name}"
        try:
            node = check_expression(text, scope)
        except ExpressionProblems as problems:
            for problem in problems.problems:
                sink.error(problem.code, f"{what}: {problem.message}", _inside(at.path, at, text, problem.offset)
                           if at is not None else None, problem.hint)
            continue
        if node.dtype not in ("bool", "null"):
            sink.error(Code.TEST_EXPRESSION, f"{what}: the expression gives {node.dtype}, not a boolean",
                       _inside(at.path, at, text, node.offset) if at is not None else None,
                       "compare it with something, e.g. \"fare >= 0\"")
            continue
        nodes.setdefault(test.name, []).append((name, node))
    return replace(graph, tests=tuple(replace(t, _nodes=tuple(nodes[t.name])) if t.name in nodes else t
                                      for t in graph.tests))


def source_scope(graph: FeatureGraph, source: Source, known: dict[str, DType | None] | None
                 ) -> tuple[dict[str, str], str]:
    """The columns a test's expression may name, with their dtypes, and where they are known from: the
    seed file's or the Parquet footer's columns when `known` (under fcompile's names and, for a column
    field_mapping renames, its own); else what the graph says of the source - its time columns and the join
    keys and plain features of the views that read it."""
    if known is not None:
        qualified = {name: str(dtype) if dtype is not None else "unsupported" for name, dtype in known.items()}
        origin = "from its data file"
    else:
        qualified = {source.timestamp_field: "timestamp"}
        if source.created_timestamp_field:
            qualified[source.created_timestamp_field] = "timestamp"
        for view in graph.feature_views:
            if view.source != source.name:
                continue
            for key in graph.join_keys(view):
                qualified.setdefault(key.name, str(key.dtype))
            for feature in view.plain_features:
                qualified.setdefault(feature.name, str(feature.dtype))
        origin = "as the views reading it declare them"
    for column, mapped in source.field_mapping:
        if mapped in qualified and column not in qualified:
            qualified[column] = qualified[mapped]
    return qualified, origin


def _inside(path: str, at: Position, text: str, offset: int) -> Position:
    """Where character `offset` of a one-line expression is written (the value's start when it is quoted
    differently, spans lines or cannot be found)."""
    if "\n" in text:
        return at
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        line = lines[at.line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return at
    start = line.find(text, at.column - 1)
    if start < 0:
        return at
    return Position(at.path, at.line, start + 1 + offset)
