"""Lower a `LatestTiles` plan (fcompile/planner/online_tiles.py): a view's tiles for the steps of a
materialization window, one row per (keys, step), for serving to merge.

1. the source's rows with a key and an event time in [start, end] (read as `lower_latest_values` reads them);
2. each row's event time in microseconds since the epoch and its step (`us - ((us % size) + size) % size`,
   so times before 1970 floor too), a timestamp input in microseconds as well;
3. for each input that `last` reads: the rank of each row in its (keys, step), rows with a value first, then
   newest first by event time, created time and tie_breaker (the point-in-time order);
4. the tiles: the partials grouped by (keys, step).
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.dialects.lowering import coarse_window, col, source_select
from fcompile.planner.online_tiles import ROWS, STEP, LatestTiles, input_name, partial_name
from fcompile.planner.plans import CREATED_TS, EVENT_TS, TIE_BREAKER

EVENT_US = "__fc_event_us"
CREATED_US = "__fc_created_us"
MICROS = 1_000_000


def floor_to_step(micros: exp.Expression, step_seconds: int) -> exp.Expression:
    size = exp.Literal.number(step_seconds * MICROS)
    remainder = exp.Mod(this=exp.paren(exp.Add(this=exp.Mod(this=micros.copy(), expression=size.copy()),
                                               expression=size.copy()), copy=False), expression=size.copy())
    return exp.Sub(this=micros, expression=remainder)


def _rank(name: str) -> str:
    return f"__fc_rank_{name}"


def lower_latest_tiles(dialect: SqlDialect, plan: LatestTiles) -> exp.Select:
    source, columns = source_select(dialect, plan, "src")
    if dialect.CONVERTS_TIMES_TO_UTC:
        source = source.where(coarse_window(dialect, plan), copy=False)  # type: ignore[arg-type]
    window = exp.and_(
        exp.GTE(this=col(EVENT_TS), expression=dialect.utc_instant(dialect.parameter(plan.start_parameter))),
        exp.LTE(this=col(EVENT_TS), expression=dialect.utc_instant(dialect.parameter(plan.end_parameter))),
    )
    keys = [k.name for k in plan.keys]
    timed = [exp.alias_(dialect.epoch_microseconds(col(EVENT_TS)), EVENT_US)]
    if plan.created_timestamp:
        timed.append(exp.alias_(dialect.epoch_microseconds(col(CREATED_TS)), CREATED_US))
    values = []
    for index, tile_input in enumerate(plan.inputs):
        value: exp.Expression = col(input_name(index))
        if tile_input.dtype.name == "timestamp":
            value = dialect.epoch_microseconds(dialect.utc_instant(value))
        values.append(exp.alias_(value, input_name(index)))
    others = [c for c in columns if c not in {input_name(i) for i in range(len(plan.inputs))}]
    in_window = (exp.select(*[col(c) for c in others], *values, *timed)
                 .from_(source.subquery("in_window", copy=False), copy=False).where(window, copy=False))
    stepped = exp.select(exp.Star(), exp.alias_(floor_to_step(col(EVENT_US), plan.step_seconds), STEP)) \
        .from_(in_window.subquery("timed", copy=False), copy=False)
    lasts = [i for i, tile_input in enumerate(plan.inputs) if "last" in tile_input.kinds]
    rows: exp.Expression = stepped.subquery("stepped", copy=False)
    if lasts:
        ranks = [exp.alias_(_rank_within_step(dialect, plan, keys, input_name(i)), _rank(input_name(i))) for i in lasts]
        rows = exp.select(exp.Star(), *ranks).from_(rows, copy=False).subquery("ranked", copy=False)
    partials: list[exp.Expression] = [exp.alias_(exp.Count(this=exp.Star()), ROWS)]
    for kind, index in plan.partials[1:]:
        assert index is not None
        partials.append(exp.alias_(_partial(dialect, plan, index, kind), partial_name(kind, index)))
    return (exp.select(*[col(k) for k in keys], col(STEP), *partials)
            .from_(rows, copy=False)
            .group_by(*[col(k) for k in keys], col(STEP), copy=False)
            .order_by(*[col(k) for k in keys], col(STEP), copy=False))  # an entity's tiles arrive together


def _rank_within_step(dialect: SqlDialect, plan: LatestTiles, keys: list[str], value: str) -> exp.Window:
    missing = exp.Case(ifs=[exp.If(this=exp.Is(this=col(value), expression=exp.Null()), true=exp.Literal.number(1))],
                       default=exp.Literal.number(0))
    order = [dialect.ascending_never_null(missing), exp.Ordered(this=col(EVENT_TS), desc=True, nulls_first=False)]
    if plan.created_timestamp:
        order.append(exp.Ordered(this=col(CREATED_TS), desc=True, nulls_first=False))
    if plan.tie_breaker:
        order.append(exp.Ordered(this=col(TIE_BREAKER), desc=True, nulls_first=False))
    return exp.Window(this=exp.Rank(), partition_by=[col(k) for k in keys] + [col(STEP)],
                      order=exp.Order(expressions=order))


def _partial(dialect: SqlDialect, plan: LatestTiles, index: int, kind: str) -> exp.Expression:
    tile_input = plan.inputs[index]
    value = col(input_name(index))
    double = exp.cast(value.copy(), "DOUBLE")
    integer = tile_input.dtype.name in ("int32", "int64")
    if kind == "count":
        return exp.Count(this=value)
    if kind == "sum":
        return exp.cast(exp.Sum(this=value), "BIGINT" if integer else "DOUBLE")
    if kind == "min":
        return exp.Min(this=value)
    if kind == "max":
        return exp.Max(this=value)
    if kind == "mean":
        return exp.Avg(this=double)
    if kind == "m2":  # the step's sum of squared deviations from its mean
        return exp.Mul(this=exp.VariancePop(this=double), expression=exp.Count(this=value.copy()))
    first = exp.EQ(this=col(_rank(input_name(index))), expression=exp.Literal.number(1))

    def of_first(expression: exp.Expression) -> exp.Expression:
        return exp.Case(ifs=[exp.If(this=first.copy(), true=expression)])

    if kind == "last":
        return dialect.greatest(of_first(value), tile_input.dtype)
    if kind == "last_event":
        return exp.Max(this=of_first(col(EVENT_US)))
    if kind == "last_created":
        return exp.Max(this=of_first(col(CREATED_US)))
    assert kind == "last_tie"
    return exp.Max(this=of_first(col(TIE_BREAKER)))
