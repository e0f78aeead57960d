"""Plan a profile (issue 18): per-feature statistics of a view's source rows within a window, or of a built
dataset. No SQL here; fcompile/dialects/profiles.py lowers these plans, fcompile/tasks/profiles.py runs them.

A feature is profiled by what its type lets one compute: numbers (and booleans, read as 0 and 1) get count,
NULLs, min, max, mean, standard deviation, zeros, quantiles and a histogram; strings their distinct count,
most frequent values and average length; times and dates their earliest and latest value; any other type
(bytes, arrays) only its count and NULLs."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Literal

from fcompile.diagnostics import Position
from fcompile.graph import NUMERIC_DTYPES, Dataset, DType, FeatureGraph, FeatureView
from fcompile.planner.plans import Relation
from fcompile.planner.datasets import plan_build_dataset
from fcompile.planner.point_in_time import _source_column, file_relation, source_relation

QUANTILE_BUCKETS = 10    # equal-mass buckets: 11 boundaries, at 0, 0.1, ..., 1
HISTOGRAM_BUCKETS = 10   # equal-width buckets between min and max
TOP_VALUES = 10

Kind = Literal["number", "boolean", "string", "time", "date", "other"]


def feature_kind(dtype: DType) -> Kind:
    if dtype.is_array:
        return "other"
    if dtype.name in NUMERIC_DTYPES:
        return "number"
    return {"bool": "boolean", "string": "string", "timestamp": "time", "date": "date"}.get(dtype.name, "other")  # type: ignore[return-value]


@dataclass(frozen=True)
class ProfiledColumn:
    name: str           # the feature's name, as the profile reports it
    source_column: str  # the column the relation holds it in
    dtype: DType

    @property
    def kind(self) -> Kind:
        return feature_kind(self.dtype)

    @property
    def numeric(self) -> bool:
        return self.kind in ("number", "boolean")


@dataclass(frozen=True)
class ProfileWindow:
    """Rows whose time column lies in [start, end] (both inclusive; either may be open)."""

    column: str
    zoned: bool
    start: dt.datetime | None
    end: dt.datetime | None


@dataclass(frozen=True)
class ProfilePlan:
    node: str                    # `feature_view.<name>` or `dataset.<name>`: where target/profiles/ files go
    name: str
    relation: Relation
    columns: tuple[ProfiledColumn, ...]
    window: ProfileWindow | None = None
    skipped: tuple[str, ...] = ()  # features not profiled (aggregated over a window: no source column)
    location: Position | None = None


def plan_view_profile(graph: FeatureGraph, view: FeatureView, start: dt.datetime | None = None,
                      end: dt.datetime | None = None) -> ProfilePlan:
    """A view's plain features over its source's rows whose event time lies in [start, end]."""
    source = graph.source(view.source)
    relation = source_relation(graph, source)
    columns = tuple(ProfiledColumn(f.name, _source_column(source, f.name), f.dtype) for f in view.plain_features)
    window = None
    if start is not None or end is not None:
        time = _source_column(source, source.timestamp_field)
        window = ProfileWindow(time, time in relation.zoned_times, start, end)
    return ProfilePlan(f"feature_view.{view.name}", view.name, relation, columns, window,
                       tuple(f.name for f in view.features if f.aggregation is not None), view.location)


def plan_dataset_profile(graph: FeatureGraph, dataset: Dataset, start: dt.datetime | None = None,
                         end: dt.datetime | None = None) -> ProfilePlan:
    """A built dataset's feature columns (where `fcompile run` wrote it), its rows filtered by the spine's
    time in [start, end]."""
    columns = tuple(ProfiledColumn(name, name, dtype) for name, dtype in _dataset_columns(graph, dataset))
    if dataset.output.kind == "path":
        path = dataset.output.locator
        relation = file_relation(path if os.path.isabs(path) else os.path.join(graph.project.root, path),
                                 {dataset.spine.timestamp_field})
    else:
        relation = Relation("table", dataset.output.locator)
    window = None
    if start is not None or end is not None:
        time = dataset.spine.timestamp_field
        window = ProfileWindow(time, time in relation.zoned_times, start, end)
    return ProfilePlan(f"dataset.{dataset.name}", dataset.name, relation, columns, window, (), dataset.location)


def _dataset_columns(graph: FeatureGraph, dataset: Dataset) -> list[tuple[str, DType]]:
    """A dataset's feature columns in output order with their dtypes; on-demand features (whose join is an
    `OnDemandJoin`) with the dtype their expression computes."""
    from fcompile.planner.on_demand import OnDemandJoin, OnDemandOutput

    query = plan_build_dataset(graph, dataset).query
    if isinstance(query, OnDemandJoin):
        return [(name, DType(source.node.dtype if isinstance(source, OnDemandOutput) else source[2]))
                for name, source in query.outputs]
    dtypes = {f.output_name: f.dtype for join in query.joins for f in join.features}
    return [(name, dtypes[name]) for _, name in query.output_order if name in dtypes]
