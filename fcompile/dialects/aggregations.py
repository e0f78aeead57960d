"""Lower an `AggregateJoin` (a view's windowed aggregations in a training set) to CTEs.

The semantics (docs/concepts/aggregations.md): for a spine row at time `t`, `e = floor(t / step) * step`,
and each feature is its function over the entity's rows with `e - window <= event time < e`. The plan:

1. `_events`: the source's rows with a key and an event time, each placed in its step by integer arithmetic
   on microseconds since the epoch (`dialect.epoch_microseconds`): `step = us - mod(us, size)`, with the
   remainder taken non-negative so times before 1970 floor too;
2. `_ranked` (only for `last`): the rank of each row within its (keys, step) by the point-in-time order;
3. `_tiles`: one row per (keys, step) with the partial aggregates of fcompile/planner/tiles.py;
4. `_points`: the spine's distinct (keys, e) - the value depends on nothing else;
5. `_pairs`: each point with the tiles of its longest window (an equi-join on the keys and a range on the
   step), with the per-point mean of each variance's window and the newest step holding a `last` value;
6. the view's CTE: the tiles of each point combined per feature (each feature takes the tiles of its own
   window), joined back to every spine row on keys and `e`.

No spine row is joined to events, only to at most window/step tiles of its key; no window frame with a
RANGE offset is needed (Redshift has none), so every dialect runs the same plan.
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.graph import DType
from fcompile.planner.durations import format_duration
from fcompile.planner.plans import (
    CREATED_TS, EVENT_TS, TIE_BREAKER, AggregateColumn, AggregateJoin, FeatureColumn, JoinStrategy, ViewJoin,
)
from fcompile.planner.tiles import TileLayout, tile_layout

STEP = "__fc_step"            # a tile's step: its first microsecond since the epoch
WINDOW_END = "__fc_window_end"  # e: a spine point's window end, in microseconds since the epoch
EVENT_US = "__fc_event_us"
MICROS = 1_000_000


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table)


def aggregate_reading(join: AggregateJoin) -> ViewJoin:
    """The join's source read as a view join reads its own (`source_select`): keys, times, and each input
    column of the tiles under its internal name."""
    layout = layout_of(join)
    inputs = tuple(FeatureColumn(column, layout.input_name(i), DType("unknown"))
                   for i, column in enumerate(layout.inputs))
    return ViewJoin(join.view, join.relation, join.keys, join.event_timestamp, join.created_timestamp, None, inputs,
                    JoinStrategy.ASOF, join.location, join.tie_breaker)


def layout_of(join: AggregateJoin) -> TileLayout:
    return tile_layout([(f.function, f.source_column) for f in join.features])


def window_end(dialect: SqlDialect, time: exp.Expression, step_seconds: int) -> exp.Expression:
    """`floor(time / step) * step` in microseconds since the epoch, by integer arithmetic."""
    return floor_to_step(dialect.epoch_microseconds(time), step_seconds)


def floor_to_step(micros: exp.Expression, step_seconds: int) -> exp.Expression:
    size = exp.Literal.number(step_seconds * MICROS)
    remainder = exp.Mod(this=exp.paren(exp.Add(this=exp.Mod(this=micros.copy(), expression=size.copy()),
                                               expression=size.copy()), copy=False), expression=size.copy())
    return exp.Sub(this=micros, expression=remainder)


def lower_aggregate_join(dialect: SqlDialect, join: AggregateJoin, name: str, spine: str, spine_ts: str,
                         source_rows: tuple[exp.Select, list[str]],
                         ctes: list[tuple[str, exp.Expression]]) -> dict[str, str]:
    """Appends the join's CTEs to `ctes`, the last named `name` with (keys, __fc_window_end, features) per
    spine point; returns the comment of each CTE. `source_rows`: the select of `aggregate_reading(join)`'s
    rows and its columns; `spine`: the spine CTE, whose time column is `spine_ts`."""
    layout = layout_of(join)
    keys = [k.name for k in join.keys]
    source = f"{name}_source"
    select, columns = source_rows
    ctes.append((source, select))

    events = f"{name}_events"
    timed = (exp.select(exp.Star(), exp.alias_(dialect.epoch_microseconds(col(EVENT_TS)), EVENT_US))
             .from_(source, copy=False))
    ctes.append((events, exp.select(*[col(c) for c in columns],
                                    exp.alias_(floor_to_step(col(EVENT_US), join.step_seconds), STEP))
                 .from_(timed.subquery("timed", copy=False), copy=False)))

    lasts = sorted({layout.inputs.index(f.source_column) for f in join.features if f.function == "last"})
    tile_input = events
    if lasts:
        tile_input = f"{name}_ranked"
        ranks = [exp.alias_(_rank_within_step(dialect, join, keys, layout.input_name(i)), f"__fc_rank_{i}")
                 for i in lasts]
        ctes.append((tile_input, exp.select(exp.Star(), *ranks).from_(events, copy=False)))

    last_dtype = {layout.inputs.index(f.source_column): f.dtype for f in join.features if f.function == "last"}
    partials = [exp.alias_(_partial(dialect, layout, p.kind, p.column, last_dtype.get(p.column)), p.name)
                for p in layout.partials]
    tiles = f"{name}_tiles"
    ctes.append((tiles, exp.select(*[col(k) for k in keys], col(STEP), *partials)
                 .from_(tile_input, copy=False).group_by(*[col(k) for k in keys], col(STEP), copy=False)))

    points = f"{name}_points"
    not_null = exp.and_(*[exp.Is(this=col(c), expression=exp.Null(), negate=True) for c in keys + [spine_ts]])
    ctes.append((points, exp.select(*[col(k) for k in keys],
                                    exp.alias_(window_end(dialect, col(spine_ts), join.step_seconds), WINDOW_END))
                 .distinct(copy=False).from_(spine, copy=False).where(not_null, copy=False)))

    pairs = f"{name}_pairs"
    ctes.append((pairs, _pairs(join, layout, keys, points, tiles)))
    ctes.append((name, _combined(dialect, join, layout, keys, pairs)))

    view = join.view
    joined_keys = ", ".join(keys)
    return {
        source: f"{view}: source rows with a key and an event time",
        events: f"{view}: each row in its step of {format_duration(join.step_seconds)} (microseconds since the epoch)",
        **({tile_input: f"{view}: each row ranked within its ({joined_keys}, step), newest first, for last"}
           if lasts else {}),
        tiles: f"{view}: partial aggregates per ({joined_keys}, step)",
        points: f"{view}: the spine's distinct ({joined_keys}, window end) with no NULL",
        pairs: f"{view}: each point with the tiles of its longest window, [end - window, end)",
        name: f"{view}: each feature combined from the tiles of its own window",
    }


def _rank_within_step(dialect: SqlDialect, join: AggregateJoin, keys: list[str], value: str) -> exp.Window:
    """Rows with a value first, then newest first by event time, created time and tie_breaker."""
    missing = exp.Case(ifs=[exp.If(this=exp.Is(this=col(value), expression=exp.Null()), true=exp.Literal.number(1))],
                       default=exp.Literal.number(0))
    order = [dialect.ascending_never_null(missing), exp.Ordered(this=col(EVENT_TS), desc=True, nulls_first=False)]
    if join.created_timestamp:
        order.append(exp.Ordered(this=col(CREATED_TS), desc=True, nulls_first=False))
    if join.tie_breaker:
        order.append(exp.Ordered(this=col(TIE_BREAKER), desc=True, nulls_first=False))
    return exp.Window(this=exp.Rank(), partition_by=[col(k) for k in keys] + [col(STEP)],
                      order=exp.Order(expressions=order))


def _double(expression: exp.Expression) -> exp.Expression:
    return exp.cast(expression, "DOUBLE")


def _partial(dialect: SqlDialect, layout: TileLayout, kind: str, column: int | None,
             last_dtype: DType | None) -> exp.Expression:
    if kind == "rows":
        return exp.Count(this=exp.Star())
    assert column is not None
    value = col(layout.input_name(column))
    if kind == "count":
        return exp.Count(this=value)
    if kind == "sum":
        return exp.Sum(this=value)
    if kind == "min":
        return exp.Min(this=value)
    if kind == "max":
        return exp.Max(this=value)
    if kind == "mean":
        return exp.Avg(this=_double(value))
    if kind == "m2":  # the tile's sum of squared deviations from its mean
        return exp.Mul(this=exp.VariancePop(this=_double(value)), expression=exp.Count(this=value.copy()))
    assert kind == "last" and last_dtype is not None
    ranked_first = exp.EQ(this=col(f"__fc_rank_{column}"), expression=exp.Literal.number(1))
    return dialect.greatest(exp.Case(ifs=[exp.If(this=ranked_first, true=value)]), last_dtype)


def _in_window(join: AggregateJoin, seconds: int) -> exp.Expression | None:
    """Whether a pair's tile lies in a window of `seconds` (None: the longest window, which every pair is in)."""
    if seconds == max(f.window_seconds for f in join.features):
        return None
    start = exp.Sub(this=col(WINDOW_END), expression=exp.Literal.number(seconds * MICROS))
    return exp.GTE(this=col(STEP), expression=start)


def _when(condition: exp.Expression | None, value: exp.Expression) -> exp.Expression:
    return value if condition is None else exp.Case(ifs=[exp.If(this=condition.copy(), true=value)])


def _mean_name(index: int) -> str:
    return f"__fc_window_mean_{index}"


def _last_step_name(index: int) -> str:
    return f"__fc_last_step_{index}"


def _pairs(join: AggregateJoin, layout: TileLayout, keys: list[str], points: str, tiles: str) -> exp.Select:
    longest = max(f.window_seconds for f in join.features)
    condition = exp.and_(
        *[exp.EQ(this=col(k, "p"), expression=col(k, "t")) for k in keys],
        exp.GTE(this=col(STEP, "t"), expression=exp.Sub(this=col(WINDOW_END, "p"),
                                                        expression=exp.Literal.number(longest * MICROS))),
        exp.LT(this=col(STEP, "t"), expression=col(WINDOW_END, "p")),
    )
    select = (exp.select(*[exp.alias_(col(k, "p"), k) for k in keys], exp.alias_(col(WINDOW_END, "p"), WINDOW_END),
                         exp.alias_(col(STEP, "t"), STEP), *[exp.alias_(col(p.name, "t"), p.name) for p in layout.partials])
              .from_(exp.alias_(exp.to_table(points), "p", table=True), copy=False)
              .join(exp.alias_(exp.to_table(tiles), "t", table=True), on=condition, copy=False))
    partition = [col(k, "p") for k in keys] + [col(WINDOW_END, "p")]

    def over(aggregate: exp.Expression) -> exp.Window:
        return exp.Window(this=aggregate, partition_by=[c.copy() for c in partition])

    def qualified(expression: exp.Expression) -> exp.Expression:
        """`expression` with the pairs' names read from the join's sides."""
        expression = expression.copy()
        for column in expression.find_all(exp.Column):
            column.set("table", exp.to_identifier("p" if column.name in keys + [WINDOW_END] else "t"))
        return expression

    for index, feature in enumerate(join.features):
        inside = _in_window(join, feature.window_seconds)
        inside = qualified(inside) if inside is not None else None
        if feature.function in ("variance", "stddev"):
            count = col(layout.partial("count", feature.source_column).name, "t")
            mean = col(layout.partial("mean", feature.source_column).name, "t")
            weighted = over(exp.Sum(this=_when(inside, exp.Mul(this=count.copy(), expression=mean))))
            total = over(exp.Sum(this=_when(inside, count)))
            select = select.select(exp.alias_(exp.Div(this=weighted, expression=exp.Nullif(
                this=total, expression=exp.Literal.number(0))), _mean_name(index)), copy=False)
        elif feature.function == "last":
            last = col(layout.partial("last", feature.source_column).name, "t")
            has = exp.Is(this=last, expression=exp.Null(), negate=True)
            if inside is not None:
                has = exp.and_(inside, has)
            select = select.select(exp.alias_(over(exp.Max(this=exp.Case(ifs=[exp.If(this=has, true=col(STEP, "t"))]))),
                                              _last_step_name(index)), copy=False)
    return select


def _combined(dialect: SqlDialect, join: AggregateJoin, layout: TileLayout, keys: list[str], pairs: str) -> exp.Select:
    values = []
    for index, feature in enumerate(join.features):
        values.append(exp.alias_(_combine(dialect, join, layout, index, feature), feature.output_name))
    return (exp.select(*[col(k) for k in keys], col(WINDOW_END), *values)
            .from_(pairs, copy=False).group_by(*[col(k) for k in keys], col(WINDOW_END), copy=False))


def _combine(dialect: SqlDialect, join: AggregateJoin, layout: TileLayout, index: int,
             feature: AggregateColumn) -> exp.Expression:
    inside = _in_window(join, feature.window_seconds)
    column = feature.source_column

    def partial(kind: str) -> exp.Expression:
        return _when(inside, col(layout.partial(kind, column).name))  # type: ignore[arg-type]

    function = feature.function
    if function == "count":
        return exp.cast(exp.Sum(this=partial("rows" if column is None else "count")), "BIGINT")
    if function == "sum":
        total = exp.Sum(this=partial("sum"))
        return exp.cast(total, "BIGINT") if feature.dtype.name == "int64" else _double(total)
    if function == "min":
        return exp.Min(this=partial("min"))
    if function == "max":
        return exp.Max(this=partial("max"))
    if function == "avg":
        return exp.Div(this=_double(exp.Sum(this=partial("sum"))),
                       expression=exp.Nullif(this=exp.Sum(this=partial("count")), expression=exp.Literal.number(0)))
    if function == "last":
        newest = exp.EQ(this=col(STEP), expression=col(_last_step_name(index)))
        return dialect.greatest(exp.Case(ifs=[exp.If(this=newest, true=col(layout.partial("last", column).name))]),
                           feature.dtype)
    assert function in ("variance", "stddev")
    count = exp.Sum(this=partial("count"))
    deviation = exp.paren(exp.Sub(this=col(layout.partial("mean", column).name), expression=col(_mean_name(index))),
                          copy=False)
    spread = exp.Mul(this=col(layout.partial("count", column).name),
                     expression=exp.Mul(this=deviation, expression=deviation.copy()))
    m2 = exp.Add(this=exp.Coalesce(this=exp.Sum(this=partial("m2")), expressions=[exp.Literal.number(0)]),
                 expression=exp.Coalesce(this=exp.Sum(this=_when(inside, spread)),
                                         expressions=[exp.Literal.number(0)]))
    at_least_two = exp.GTE(this=count.copy(), expression=exp.Literal.number(2))
    variance = exp.Div(this=_double(exp.paren(m2, copy=False)),
                       expression=exp.paren(exp.Sub(this=count, expression=exp.Literal.number(1)), copy=False))
    value = variance if function == "variance" else exp.Sqrt(this=variance)
    return exp.Case(ifs=[exp.If(this=at_least_two, true=value)])


def final_value(join: AggregateJoin, feature: AggregateColumn, alias: str) -> exp.Expression:
    """A feature as the final select reads it: counts are 0 where the spine point has no tile."""
    value = col(feature.output_name, alias)
    if feature.function == "count":
        return exp.Coalesce(this=value, expressions=[exp.cast(exp.Literal.number(0), "BIGINT")])
    return value
