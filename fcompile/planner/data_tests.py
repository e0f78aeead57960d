"""Plan data tests (issue 18): which rows of which relation a test reads and what makes a row (or the
whole relation) fail. No SQL here; fcompile/dialects/data_tests.py lowers these plans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fcompile.diagnostics import Position
from fcompile.graph import DataTest, FeatureGraph, Source
from fcompile.planner.plans import FeatureColumn, KeyColumn, Relation
from fcompile.planner.point_in_time import _keys, _source_column, source_relation

# Columns fcompile adds to a test's failing rows or figure: plain words, as a reader of the failures sees them.
DUPLICATE_ROWS = "duplicate_rows"
ROW_COUNT = "row_count"
NULL_ROWS = "null_rows"
NULL_FRACTION = "null_fraction"
NEWEST_EVENT_TIME = "newest_event_time"

# Tests whose query returns one row with a figure rather than the failing rows.
AGGREGATE_KINDS = ("row_count", "null_fraction", "freshness")


@dataclass(frozen=True)
class TimeColumn:
    source_column: str
    output_name: str


@dataclass(frozen=True)
class DataTestPlan:
    """One test: its rows are the relation's (filtered by `where`); the query returns the failing rows, or for
    row_count and null_fraction one row with the failing figure (none when it passes), or for freshness the
    newest event time, which the task compares with now."""

    name: str
    kind: str
    relation: Relation
    keys: tuple[KeyColumn, ...] = ()
    event_time: TimeColumn | None = None
    created_time: TimeColumn | None = None
    column: FeatureColumn | None = None
    arguments: tuple[tuple[str, Any], ...] = ()
    where: Any = None       # the `where` filter, checked and typed (fcompile/expressions/tree.py), or None
    expression: Any = None  # the `expression` test's condition, the same
    renames: tuple[tuple[str, str], ...] = ()  # fcompile name -> column in the source, for where and expression
    location: Position | None = None

    def argument(self, name: str, default: Any = None) -> Any:
        return dict(self.arguments).get(name, default)


def plan_data_test(graph: FeatureGraph, test: DataTest) -> DataTestPlan:
    if test.parent_kind == "source":
        source = graph.source(test.parent)
        keys: tuple[KeyColumn, ...] = ()
        column = None
    else:
        view = graph.feature_view(test.parent)
        source = graph.source(view.source)
        keys = _keys(graph, view, source)
        feature = view.feature(test.column) if test.column else None
        column = None if feature is None else \
            FeatureColumn(_source_column(source, feature.name), feature.name, feature.dtype)
    return DataTestPlan(
        name=test.name, kind=test.kind, relation=source_relation(graph, source), keys=keys,
        event_time=_time(source, source.timestamp_field),
        created_time=_time(source, source.created_timestamp_field) if source.created_timestamp_field else None,
        column=column,
        arguments=tuple((k, v) for k, v in test.arguments if k not in ("column", "expression")),
        where=_checked(test, "where"), expression=_checked(test, "expression"),
        renames=tuple((mapped, column) for column, mapped in source.field_mapping), location=test.location,
    )


def _checked(test: DataTest, name: str) -> Any:
    """The typed tree of a test's `expression` or `where`; an error when the text was not checked (a graph
    that did not come from the parser's check_data_test_expressions)."""
    written = test.argument("expression") if name == "expression" else test.where
    node = test.checked(name)
    if written and node is None:
        raise ValueError(f"data test '{test.name}': its {name} reached the planner unchecked")
    return node


def _time(source: Source, name: str) -> TimeColumn:
    return TimeColumn(_source_column(source, name), name)


def describe_test(plan: DataTestPlan) -> str:
    """What the test's query returns, for the compiled file's header."""
    if plan.kind == "freshness":
        limits = ", ".join(f"{k.replace('_', ' ')} {_duration(v)}" for k, v in plan.arguments)
        return (f"returns the newest event time ({NEWEST_EVENT_TIME}) and the rows counted; fcompile test compares "
                f"it with now or --now: {limits}")
    if plan.kind in AGGREGATE_KINDS:
        return "returns one row with the failing figure when the test fails, none when it passes"
    return "returns the failing rows: none when the test passes"


def _duration(seconds: float) -> str:
    from fcompile.planner.durations import format_duration

    return format_duration(seconds)
