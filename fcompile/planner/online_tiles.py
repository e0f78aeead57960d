"""Plan the tiles that serving merges windowed aggregations from (docs/concepts/aggregations.md).

`fcompile materialize` keeps, per (entity key, step) of a view with aggregations, the partial aggregates of
the source rows in that step: a tile. A request at time `t` takes the tiles of steps in `[e - window, e)`,
`e = floor(t / step) * step`, and combines them (fcompile/online/tiles.py), which gives the training set's
value because a window is exactly a run of whole steps.

`LatestTiles` is the query that computes the tiles of the steps in a materialization window, read through
the runners' `latest_values` like a `LatestValues` plan (it carries the same reading fields and window
parameters). What each tile keeps, per input column of the view's aggregations:

| partial | kept for | column |
| --- | --- | --- |
| rows | every view | `__fc_rows`: rows of the step |
| count | every input | `__fc_count_<i>`: non-NULL values |
| sum | sum, avg | `__fc_sum_<i>` |
| min, max | min, max | `__fc_min_<i>`, `__fc_max_<i>` |
| mean, m2 | variance, stddev | `__fc_mean_<i>`, `__fc_m2_<i>`: the step's mean and sum of squared deviations |
| last | last | `__fc_last_<i>`, and where rows are pushed its order `__fc_last_event_<i>`, `__fc_last_created_<i>`, `__fc_last_tie_<i>` |

The step of a tile is `__fc_step`, its first microsecond since the epoch (UTC). The layout is the one
definition of fcompile/planner/tiles.py in its serving form (a count per input - a step's sum, min, max or
last is NULL when it is 0 - and the order of each `last` value, so a pushed row can be merged into a stored
tile), and the query is the training plan's tile step (fcompile/dialects/tiles.py) over the window's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from fcompile.diagnostics import Position
from fcompile.graph import DType, FeatureGraph, FeatureView
from fcompile.planner.plans import FeatureColumn, KeyColumn, Relation
from fcompile.planner.tiles import (
    ROWS, STEP, Partial, TileInput, TileLayout, input_name, partial_name, tile_layout,
)

__all__ = ["ROWS", "STEP", "LatestTiles", "TileFeature", "TileInput", "input_name", "partial_name",
           "plan_latest_tiles"]


@dataclass(frozen=True)
class TileFeature:
    """One aggregated feature: its function over input `input` (None: count rows) in `window_steps` steps."""

    name: str
    function: str
    input: int | None
    window_steps: int
    dtype: DType


@dataclass(frozen=True)
class LatestTiles:
    """The tiles of a view for the steps of a window: one row per (keys, step) holding a source row whose event
    time lies in [start, end] (both bound parameters; the task floors `start` to a step, so each tile it
    writes is whole up to `end`)."""

    view: str
    relation: Relation
    keys: tuple[KeyColumn, ...]
    event_timestamp: str
    created_timestamp: str | None
    step_seconds: int
    inputs: tuple[TileInput, ...]
    aggregates: tuple[TileFeature, ...]
    start_parameter: str = "start"
    end_parameter: str = "end"
    location: Position | None = None
    tie_breaker: str | None = None
    tie_breaker_dtype: DType | None = None

    @property
    def features(self) -> tuple[FeatureColumn, ...]:
        """The input columns as a reading's features (what `source_select` reads), named `__fc_in_<i>`."""
        return tuple(FeatureColumn(i.source_column, input_name(n), i.dtype) for n, i in enumerate(self.inputs))

    @property
    def keeps_tie(self) -> bool:
        """Whether the tiles can keep the tie_breaker (beside a `last` value, for pushed rows): the source has
        one, of a known type (the parser's FC148 makes sure of it where rows are pushed to a `last`)."""
        return self.tie_breaker is not None and self.tie_breaker_dtype is not None

    @property
    def layout(self) -> TileLayout:
        """The tiles' layout (fcompile/planner/tiles.py): `rows`, then each input's kinds (no `last_created`
        without a created timestamp, no `last_tie` without a tie_breaker of known type)."""
        partials = [Partial("rows", None)]
        for index, tile_input in enumerate(self.inputs):
            for kind in tile_input.kinds:
                if (kind == "last_created" and not self.created_timestamp) or (kind == "last_tie" and not self.keeps_tie):
                    continue
                partials.append(Partial(kind, index))
        return TileLayout(self.inputs, tuple(partials))

    @property
    def partials(self) -> tuple[tuple[str, int | None], ...]:
        """The tile's partial columns as (kind, input index), in the query's order."""
        return tuple((p.kind, p.column) for p in self.layout.partials)

    @property
    def output_names(self) -> list[str]:
        """The query's columns: the join keys, the step, the partials."""
        return [k.name for k in self.keys] + [STEP] + [p.name for p in self.layout.partials]

    @property
    def longest_window_steps(self) -> int:
        return max(f.window_steps for f in self.aggregates)


def plan_latest_tiles(graph: FeatureGraph, view: FeatureView) -> LatestTiles:
    """The tile query of a view with aggregations."""
    from fcompile.planner.point_in_time import _source_reading as source_reading

    assert view.aggregation_step is not None
    source = graph.source(view.source)
    renamed = {fc_name: column for column, fc_name in source.field_mapping}
    plain = {renamed.get(f.name, f.name): f.dtype for f in view.plain_features}
    step = int(view.aggregation_step.total_seconds())
    reading = source_reading(graph, view, source)
    aggregates = []
    for feature in view.aggregated_features:
        aggregation = feature.aggregation
        assert aggregation is not None
        column = renamed.get(aggregation.column, aggregation.column) if aggregation.column is not None else None
        aggregates.append((aggregation.function, column, feature.dtype))
    # a last's order only where rows are pushed; `LatestTiles.layout` drops what the source has not
    layout = tile_layout(aggregates, serving=True, pushed=view.push_source is not None, known_dtype=plain.get)
    features = tuple(
        TileFeature(feature.name, function, None if column is None else layout.index(column),
                    int(feature.aggregation.window.total_seconds()) // step, feature.dtype)  # type: ignore[union-attr]
        for feature, (function, column, _) in zip(view.aggregated_features, aggregates))
    return LatestTiles(**reading, step_seconds=step, inputs=layout.inputs, aggregates=features,
                       location=view.location)
