"""Lower a `LatestTiles` plan (fcompile/planner/online_tiles.py): a view's tiles for the steps of a
materialization window, one row per (keys, step), for serving to merge.

The query is the tile step of the training plan (fcompile/dialects/tiles.py, the same CTEs) over the
source's rows with a key and an event time in [start, end] (read as `lower_latest_values` reads them, a
timestamp input in microseconds since the epoch), ordered by (keys, step) so an entity's tiles arrive
together.
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.dialects.lowering import coarse_window, col, source_select
from fcompile.dialects.tiles import tile_step
from fcompile.planner.online_tiles import STEP, LatestTiles, input_name
from fcompile.planner.plans import EVENT_TS


def lower_latest_tiles(dialect: SqlDialect, plan: LatestTiles) -> exp.Select:
    source, columns = source_select(dialect, plan, "src")
    if dialect.CONVERTS_TIMES_TO_UTC:
        source = source.where(coarse_window(dialect, plan), copy=False)  # type: ignore[arg-type]
    window = exp.and_(
        exp.GTE(this=col(EVENT_TS), expression=dialect.utc_instant(dialect.parameter(plan.start_parameter))),
        exp.LTE(this=col(EVENT_TS), expression=dialect.utc_instant(dialect.parameter(plan.end_parameter))),
    )
    inputs = {input_name(i) for i in range(len(plan.inputs))}
    values: list[exp.Expression] = []
    for index, tile_input in enumerate(plan.inputs):
        value: exp.Expression = col(input_name(index))
        if tile_input.dtype.name == "timestamp":  # a timestamp input in microseconds since the epoch
            value = exp.alias_(dialect.epoch_microseconds(dialect.utc_instant(value)), input_name(index))
        values.append(value)
    in_window = (exp.select(*[col(c) for c in columns if c not in inputs], *values)
                 .from_(source.subquery("in_window", copy=False), copy=False).where(window, copy=False))
    keys = [k.name for k in plan.keys]
    stages = tile_step(dialect, plan.layout, keys, plan.step_seconds, exp.to_table("__fc_window_rows"), "__fc",
                       created=bool(plan.created_timestamp), tie_breaker=bool(plan.tie_breaker),
                       tie_breaker_dtype=plan.tie_breaker_dtype)
    query = exp.select(exp.Star()).from_(stages.tiles[0], copy=False)
    for name, select in [("__fc_window_rows", in_window), *stages.ctes]:
        query = query.with_(name, as_=select, copy=False)
    return query.order_by(*[col(k) for k in keys], col(STEP), copy=False)  # an entity's tiles arrive together
