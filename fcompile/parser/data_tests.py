"""Data tests (issue 18): `tests:` on features, feature views and sources, checked and resolved into
`DataTest` nodes.

A test is written as its kind (`not_null`), or as a mapping of its kind to its arguments plus, optionally,
`severity:` (error or warn) and `where:` (a filter). Every problem is a positioned diagnostic (FC160-FC163);
a test with a problem is left out of the graph. Names are `<view>__<feature>__<kind>` for a feature's tests,
`<view>__<kind>` for a view's (`<view>__<column>__null_fraction`), `<source>__<kind>` for a source's; a
name given twice gets `_2`, `_3`, ... in the order the tests are written.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterator

from fcompile.diagnostics import Code, DiagnosticSink, Position, did_you_mean, reference_hint
from fcompile.graph import DataTest, FeatureGraph, FeatureView, Source
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
    for i, raw in enumerate(item.data.get("features") or ()):  # a view may have only aggregations
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
    elif where is not None:
        _expression(resolver, item, (*path, "where"), where)
    if len(sink.items) != problems_before or checked is None:
        return []
    column = feature if place == "feature" else checked.pop("column", None)
    parent_kind = "source" if place == "source" else "feature_view"
    base = "__".join(p for p in (parent.name, column, kind) if p)
    test = DataTest(
        name=base, kind=kind, parent_kind=parent_kind, parent=parent.name, column=column,
        arguments=tuple(sorted(checked.items())), severity=severity, where=where,
        owner=parent.owner, location=kind_at,
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
                problem(f"value {v!r} is not a {dtype}", f"list values of the feature's dtype ({dtype})", (i,))
                return None
        return {"values": tuple(value)}
    if kind == "expression":
        if not isinstance(value, str) or not value.strip():
            problem("needs a boolean SQL expression over the source's columns", 'write {expression: "fare >= 0"}')
            return None
        _expression(resolver, item, path, value)
        return {"expression": value}
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
    if parent.feature(column) is None:
        sink.error(Code.TEST_COLUMN, f"{item.label}: null_fraction: '{column}' is not a feature of the view",
                   item.at(*path, "column"), reference_hint(column, "feature", parent.feature_names))
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


# -- expressions: the small subset a test may write until fcompile has its own expression language -------------

def _expression(resolver: Resolver, item: SpecItem, path: tuple, text: str) -> None:
    problem = expression_problem(text, resolver.project.target.offline_type)
    if problem is not None:
        offset, message, hint = problem
        resolver.sink.error(Code.TEST_EXPRESSION, f"{item.label}: {message}",
                            _inside(item.doc.path, item.at(*path), text, offset), hint)


def expression_problem(text: str, dialect_name: str) -> tuple[int, str, str] | None:
    """Why `text` is no boolean filter a test may use, as (offset in text, message, hint); None when it is one.
    The one place that says what a test's expression may hold (column references, literals, comparisons,
    AND/OR/NOT, arithmetic, IS NULL, IN, BETWEEN)."""
    node = parse_expression(text, dialect_name)
    if isinstance(node, tuple):
        return node
    for sub in node.walk():
        if isinstance(sub, _ALLOWED):
            if isinstance(sub, _exp().Column) and sub.table:
                return (_offset(sub, text), f"column '{sub.sql()}' is qualified",
                        "name the source's columns without a table")
            continue
        what = type(sub).__name__.upper() if not isinstance(sub, _exp().Func) else f"function {sub.sql_name()}"
        return (_offset(sub, text), f"{what} is not allowed in a test's expression",
                "use column names, literals, comparisons, AND/OR/NOT, + - * /, IS NULL, IN and BETWEEN")
    return None


def parse_expression(text: str, dialect_name: str):
    """The expression's sqlglot tree in the dialect, or (offset, message, hint) when it does not parse."""
    import sqlglot
    from sqlglot.errors import ParseError, TokenError

    from fcompile.dialects.registry import DIALECTS

    try:
        return sqlglot.condition(text, dialect=DIALECTS[dialect_name].sqlglot_name)
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        line, col = first.get("line", 1), first.get("col", 1)
        offset = sum(len(row) + 1 for row in text.split("\n")[:line - 1]) + max(col - 1, 0)
        reason = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", str(first.get("description", error)))
        return (offset, f"expression does not parse as {dialect_name} SQL: {reason}",
                "write a boolean SQL condition such as \"fare >= 0 AND fare < 1000\"")
    except TokenError as error:
        return (0, f"expression does not parse as {dialect_name} SQL: {error}", "check the quotes")


def expression_columns(node) -> list:
    """The column references of a parsed expression."""
    return list(node.find_all(_exp().Column))


def _offset(node, text: str) -> int:
    for sub in node.walk():
        meta = sub._meta or {}
        if "start" in meta:
            return meta["start"]
    return 0


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


def _exp():
    from sqlglot import exp

    return exp


def _allowed_nodes() -> tuple[type, ...]:
    exp = _exp()
    return (exp.Column, exp.Identifier, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.And, exp.Or, exp.Not,
            exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Is, exp.In, exp.Between, exp.Add, exp.Sub,
            exp.Mul, exp.Div, exp.Mod, exp.Neg)


class _AllowedNodes:
    """`isinstance(x, _ALLOWED)` without importing sqlglot when this module loads."""

    def __instancecheck__(self, instance: Any) -> bool:
        return isinstance(instance, _allowed_nodes())


_ALLOWED: Any = _AllowedNodes()


# -- columns, once the sources' columns are known ----------------------------------------------------------------

def check_data_test_columns(graph: FeatureGraph, sink: DiagnosticSink) -> None:
    """FC162 for a column in a test's expression or where filter that its source does not have, where the source's
    columns are known without running anything (a seed file, a Parquet footer)."""
    known: dict[str, set[str] | None] = {}
    for test in graph.tests:
        texts = [t for t in (test.argument("expression"), test.where) if t]
        if not texts:
            continue
        source = graph.source(test.parent) if test.parent_kind == "source" else \
            graph.source(graph.feature_view(test.parent).source)
        if source.name not in known:
            known[source.name] = source_columns(graph, source)
        columns = known[source.name]
        if columns is None:
            continue
        for text in texts:
            node = parse_expression(text, graph.project.target.offline_type)
            if isinstance(node, tuple):
                continue
            for column in expression_columns(node):
                if column.name.lower() not in {c.lower() for c in columns}:
                    sink.error(Code.TEST_COLUMN, f"data test '{test.name}': '{column.name}' is not a column of "
                               f"source '{source.name}'", test.location,
                               reference_hint(column.name, "column", sorted(columns)))


def source_columns(graph: FeatureGraph, source: Source) -> set[str] | None:
    """The source's columns by their names in the data and under field_mapping, where a seed file or a Parquet
    footer says what they are; None otherwise."""
    from fcompile.parser.file_schemas import parquet_schema
    from fcompile.parser.seeds import find_seeds, seed_columns
    from fcompile.parser.source_schema import source_files

    names: list[str] | None = None
    try:
        if source.kind == "table":
            seed = find_seeds(graph.project.root).get(source.locator)
            names = list(seed_columns(seed)) if seed is not None else None
        elif source.kind == "path":
            files = source_files(graph.project.root, source)
            if files and files[0].endswith(".parquet"):
                names = [name for name, _ in parquet_schema(files[0]).columns]
    except Exception:  # unreadable files are reported by check_source_schemas
        return None
    if names is None:
        return None
    renamed = dict(source.field_mapping)
    return set(names) | {renamed[n] for n in names if n in renamed}
