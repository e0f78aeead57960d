"""Plan point-in-time joins (training sets), materialization reads and dataset builds."""

from __future__ import annotations

import datetime as dt
import os
from typing import Mapping, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.graph import Dataset, FeatureGraph, FeatureView, Projection, Source
from fcompile.parser.source_schema import nanosecond_time_columns, zoned_time_columns
from fcompile.planner.durations import format_duration
from fcompile.planner.plans import (
    RANGE_JOIN_MAX_TTL_SECONDS, AggregateColumn, AggregateJoin, FeatureColumn, JoinStrategy, KeyColumn,
    LatestValues, PointInTimeJoin, Relation, SpinePlan, ViewJoin,
)


def source_relation(graph: FeatureGraph, source: Source) -> Relation:
    if source.kind == "path":
        path = source.locator if os.path.isabs(source.locator) else os.path.join(graph.project.root, source.locator)
        times = {_source_column(source, source.timestamp_field)}
        if source.created_timestamp_field:
            times.add(_source_column(source, source.created_timestamp_field))
        return file_relation(path, times)
    return Relation(source.kind, source.locator)


def file_relation(path: str, times: set[str]) -> Relation:
    """Files read in place, with which of their `times` columns the footer says are zoned, and which of their
    columns hold nanoseconds."""
    return Relation("path", path, tuple(c for c in zoned_time_columns(path) if c in times),
                    nanosecond_time_columns(path))


def choose_strategy(view: FeatureView) -> tuple[JoinStrategy, str]:
    """The view's join strategy and why: the one its spec declares, else chosen from the view's facts, not
    the dialect: a short ttl bounds the candidates, so a range join touches few rows; a long or unbounded
    look-back wants the newest-row plans. The reason is written for people (`ls --json`, file headers)."""
    if view.strategy is not None:
        return JoinStrategy(view.strategy), "declared"
    limit = format_duration(RANGE_JOIN_MAX_TTL_SECONDS)
    if view.ttl is None:
        return JoinStrategy.ASOF, "no ttl: unbounded look-back"
    ttl = format_duration(view.ttl.total_seconds())
    if view.ttl.total_seconds() <= RANGE_JOIN_MAX_TTL_SECONDS:
        return JoinStrategy.RANGE, f"ttl {ttl} <= {limit}, the range-join limit"
    return JoinStrategy.ASOF, f"ttl {ttl} > {limit}, the range-join limit"


def plan_point_in_time_join(
    graph: FeatureGraph,
    spine: SpinePlan,
    projections: Sequence[Projection],
    full_feature_names: bool = False,
    strategy: JoinStrategy | Mapping[str, JoinStrategy] | None = None,
    location: Position | None = None,
) -> PointInTimeJoin:
    """One view join per feature view for its plain features (features of one view requested twice share the
    join), and one aggregate join per view for its aggregated features."""
    joins: list[ViewJoin | AggregateJoin] = []
    index_of: dict[tuple[str, bool], int] = {}  # (view, aggregated) -> join index
    pending: dict[tuple[str, bool], list] = {}
    output_order: list[tuple[int, str]] = []
    owners: dict[str, str] = {}
    problems: list[Diagnostic] = []
    spine_columns = set(spine.columns or ())
    for projection in projections:
        view = graph.feature_view(projection.view)
        source = graph.source(view.source)
        renamed = {fc_name: column for column, fc_name in source.field_mapping}
        for feature_name, output in zip(projection.features, projection.output_names(full_feature_names)):
            where = f"'{projection.prefix}:{feature_name}'"
            if output in owners or output in spine_columns:
                other = owners.get(output, "the spine")
                problems.append(Diagnostic(
                    Code.FEATURE_NAME_COLLISION, f"output column '{output}' of {where} collides with {other}",
                    location, "use full_feature_names, or alias a view ({view: ..., features: [...], alias: ...})"))
                continue
            owners[output] = where
            feature = view.feature(feature_name)
            assert feature is not None
            slot = (view.name, feature.aggregation is not None)
            if slot not in index_of:
                index_of[slot] = len(index_of)
                pending[slot] = []
                if not slot[1] and view.ttl is not None and view.ttl % dt.timedelta(seconds=1):
                    problems.append(Diagnostic(
                        Code.BAD_DURATION, f"feature view '{view.name}': ttl {view.ttl.total_seconds():g}s is not "
                        "a whole number of seconds", view.location,
                        "round the ttl to whole seconds: the generated SQL subtracts it in seconds"))
            aggregation = feature.aggregation
            if aggregation is None:
                pending[slot].append(FeatureColumn(renamed.get(feature_name, feature_name), output, feature.dtype))
            else:
                column = renamed.get(aggregation.column, aggregation.column) if aggregation.column else None
                pending[slot].append(AggregateColumn(aggregation.function, column,
                                                     int(aggregation.window.total_seconds()), output, feature.dtype))
            output_order.append((index_of[slot], output))
    if problems:
        raise DiagnosticError(problems)
    for (view_name, aggregated), index in index_of.items():
        view = graph.feature_view(view_name)
        source = graph.source(view.source)
        if aggregated:
            assert view.aggregation_step is not None
            joins.append(AggregateJoin(
                **_source_reading(graph, view, source), step_seconds=int(view.aggregation_step.total_seconds()),
                features=tuple(pending[(view_name, aggregated)]), location=view.location,
                known_dtypes=tuple((renamed_of(source).get(f.name, f.name), f.dtype) for f in view.plain_features)))
            continue
        requested = strategy.get(view_name) if isinstance(strategy, Mapping) else strategy
        chosen, reason = (requested, "requested by the caller") if requested else choose_strategy(view)
        joins.append(ViewJoin(
            **_source_reading(graph, view, source),
            ttl_seconds=int(view.ttl.total_seconds()) if view.ttl is not None else None,
            features=tuple(pending[(view_name, aggregated)]),
            strategy=chosen,
            location=view.location,
            strategy_reason=reason,
        ))
    return PointInTimeJoin(spine, tuple(joins), tuple(output_order), location)


def renamed_of(source) -> dict[str, str]:
    """A source's field_mapping as {feature name: source column}."""
    return {fc_name: column for column, fc_name in source.field_mapping}


def plan_latest_values(graph: FeatureGraph, view: FeatureView) -> LatestValues:
    source = graph.source(view.source)
    renamed = {fc_name: column for column, fc_name in source.field_mapping}
    return LatestValues(
        **_source_reading(graph, view, source),
        # aggregated features are computed per request time (training sets), not read as latest values
        features=tuple(FeatureColumn(renamed.get(f.name, f.name), f.name, f.dtype) for f in view.plain_features),
        location=view.location,
    )


def dataset_spine(graph: FeatureGraph, dataset: Dataset, columns: tuple[str, ...] | None = None) -> SpinePlan:
    spine = dataset.spine
    if spine.kind == "source":
        source = graph.source(spine.locator)
        return SpinePlan(source_relation(graph, source), source.timestamp_field, columns)
    relation = Relation(spine.kind, spine.locator)  # type: ignore[arg-type]
    if spine.kind == "path":
        relation = file_relation(spine.locator if os.path.isabs(spine.locator)
                                 else os.path.join(graph.project.root, spine.locator), {spine.timestamp_field})
    return SpinePlan(relation, spine.timestamp_field, columns)


def _source_reading(graph: FeatureGraph, view: FeatureView, source: Source) -> dict:
    """What every plan reading a view's source needs: where it is, its keys, its time columns and its
    tie_breaker."""
    created = source.created_timestamp_field
    return {
        "view": view.name,
        "relation": source_relation(graph, source),
        "keys": _keys(graph, view, source),
        "event_timestamp": _source_column(source, source.timestamp_field),
        "created_timestamp": _source_column(source, created) if created else None,
        "tie_breaker": _source_column(source, source.tie_breaker) if source.tie_breaker else None,
        "tie_breaker_dtype": source.tie_breaker_dtype if source.tie_breaker else None,
    }


def _keys(graph: FeatureGraph, view: FeatureView, source: Source) -> tuple[KeyColumn, ...]:
    return tuple(KeyColumn(k.name, _source_column(source, k.name), k.dtype) for k in graph.join_keys(view))


def _source_column(source: Source, name: str) -> str:
    """The column in the source's data that fcompile knows as `name` (field_mapping undone)."""
    for column, mapped in source.field_mapping:
        if mapped == name:
            return column
    return name

