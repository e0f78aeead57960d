"""Lower an `AggregateJoin` (a view's windowed aggregations in a training set) to CTEs.

The semantics (docs/concepts/aggregations.md): for a spine row at time `t`, `e = floor(t / step) * step`,
and each feature is its function over the entity's rows with `e - window <= event time < e`. The plan:

1. `_source`: the source's rows with a key and an event time;
2. `_events`, `_ranked` (only for `last`) and `_tiles`: one row per (keys, step) with the partial aggregates
   of fcompile/planner/tiles.py - the tile step of fcompile/dialects/tiles.py, which materialization runs
   too;
3. `_points`: the spine's distinct (keys, e) - the value depends on nothing else;
4. `_marks` (only for variance, stddev and last): per point, the mean of each variance's window and the
   newest step holding a value of each `last`, grouped from a join of the points to the tiles of their longest
   window that carries only the columns these need;
5. `_pairs`: each point (with its marks) beside the tiles of its longest window, by the same join;
6. the view's CTE: the tiles of each point combined per feature (each feature takes the tiles of its own
   window), joined back to every spine row on keys and `e`.

The join of points to tiles is an equi-join on the keys and on a bucket, and a range on the step. A bucket
is a run of steps as long as the longest window, counted from the epoch: a point's window touches one or two
of them, so the point is joined once per bucket it touches and meets only the tiles of those buckets, at most
twice its window's worth, instead of every tile of its key (the whole history) filtered by the range.

The marks are a second, narrow join rather than window aggregates over the pairs: a window partitioned by
point sorts and keeps every pair with all its columns (on DuckDB the largest step of the plan, in time and
memory), where a join and a grouping stream.

No spine row is joined to events, only to at most window/step tiles of its key; no window frame with a
RANGE offset is needed (Redshift has none), so every dialect runs the same plan.
"""

from __future__ import annotations

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.graph import DType
from fcompile.planner.durations import format_duration
from fcompile.dialects.tiles import MICROS, col, floor_to_step, tile_step
from fcompile.planner.plans import AggregateColumn, AggregateJoin, FeatureColumn, JoinStrategy, ViewJoin
from fcompile.planner.tiles import STEP, TileLayout, tile_layout

WINDOW_END = "__fc_window_end"  # e: a spine point's window end, in microseconds since the epoch


def aggregate_reading(join: AggregateJoin) -> ViewJoin:
    """The join's source read as a view join reads its own (`source_select`): keys, times, and each input
    column of the tiles under its internal name."""
    layout = layout_of(join)
    inputs = tuple(FeatureColumn(tile_input.source_column, layout.input_name(i), DType("unknown"))
                   for i, tile_input in enumerate(layout.inputs))
    return ViewJoin(join.view, join.relation, join.keys, join.event_timestamp, join.created_timestamp, None, inputs,
                    JoinStrategy.ASOF, join.location, join.tie_breaker, join.tie_breaker_dtype)


def layout_of(join: AggregateJoin) -> TileLayout:
    return tile_layout([(f.function, f.source_column, f.dtype) for f in join.features],
                       known_dtype=dict(join.known_dtypes).get)


def window_end(dialect: SqlDialect, time: exp.Expression, step_seconds: int) -> exp.Expression:
    """`floor(time / step) * step` in microseconds since the epoch, by integer arithmetic."""
    return floor_to_step(dialect.epoch_microseconds(time), step_seconds)


def lower_aggregate_join(dialect: SqlDialect, join: AggregateJoin, name: str, spine: str, spine_ts: str,
                         source_rows: tuple[exp.Select, list[str]],
                         ctes: list[tuple[str, exp.Expression]]) -> dict[str, str]:
    """Appends the join's CTEs to `ctes`, the last named `name` with (keys, __fc_window_end, features) per
    spine point; returns the comment of each CTE. `source_rows`: the select of `aggregate_reading(join)`'s
    rows and its columns; `spine`: the spine CTE, whose time column is `spine_ts`."""
    layout = layout_of(join)
    keys = [k.name for k in join.keys]
    source = f"{name}_source"
    select, _ = source_rows
    ctes.append((source, select))

    stages = tile_step(dialect, layout, keys, join.step_seconds, exp.to_table(source), name,
                       created=bool(join.created_timestamp), tie_breaker=bool(join.tie_breaker),
                       tie_breaker_dtype=join.tie_breaker_dtype)
    ctes.extend(stages.ctes)
    tiles = stages.tiles[0]

    points = f"{name}_points"
    not_null = exp.and_(*[exp.Is(this=col(c), expression=exp.Null(), negate=True) for c in keys + [spine_ts]])
    ctes.append((points, exp.select(*[col(k) for k in keys],
                                    exp.alias_(window_end(dialect, col(spine_ts), join.step_seconds), WINDOW_END))
                 .distinct(copy=False).from_(spine, copy=False).where(not_null, copy=False)))

    marks = f"{name}_marks"
    if _needs_marks(join):
        ctes.append((marks, _marks(join, layout, keys, points, tiles)))
    pairs = f"{name}_pairs"
    ctes.append((pairs, _pairs(join, layout, keys, marks if _needs_marks(join) else points, tiles)))
    ctes.append((name, _combined(dialect, join, layout, keys, pairs)))

    view = join.view
    joined_keys = ", ".join(keys)
    return {
        source: f"{view}: source rows with a key and an event time",
        stages.events[0]: f"{view}: each row in its step of {format_duration(join.step_seconds)} "
                          "(microseconds since the epoch)",
        **({stages.ranked[0]: f"{view}: each row ranked within its ({joined_keys}, step), newest first, for last"}
           if stages.ranked else {}),
        tiles: f"{view}: partial aggregates per ({joined_keys}, step)",
        points: f"{view}: the spine's distinct ({joined_keys}, window end) with no NULL",
        **({marks: f"{view}: {_marks_rule(join)}"} if _needs_marks(join) else {}),
        pairs: f"{view}: each point with the tiles of its longest window, [end - window, end), joined by bucket",
        name: f"{view}: each feature combined from the tiles of its own window",
    }


def _double(expression: exp.Expression) -> exp.Expression:
    return exp.cast(expression, "DOUBLE")


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


def _needs_marks(join: AggregateJoin) -> bool:
    return any(f.function in ("variance", "stddev", "last") for f in join.features)


def _in_longest(keys: list[str], points: str, tiles: str, longest: int) -> exp.Expression:
    """A point `p` (one row per bucket its window touches, `_by_bucket`) and a tile `t` of its key in that
    bucket and in its longest window, [end - window, end)."""
    return exp.and_(
        *[exp.EQ(this=col(k, points), expression=col(k, tiles)) for k in keys],
        exp.EQ(this=floor_to_step(col(STEP, tiles), longest), expression=col(BUCKET, points)),
        exp.GTE(this=col(STEP, tiles), expression=exp.Sub(this=col(WINDOW_END, points),
                                                          expression=exp.Literal.number(longest * MICROS))),
        exp.LT(this=col(STEP, tiles), expression=col(WINDOW_END, points)),
    )


BUCKET = "__fc_bucket"  # the first microsecond of a bucket of steps that a point's window touches
OFFSET = "__fc_offset"


def _by_bucket(points: str, longest: int, alias: str) -> exp.Expression:
    """`points`, each row once per bucket its longest window touches (as `alias`). A bucket is a run of
    `longest` seconds counted from the epoch, so the window [end - longest, end) starts in the bucket before
    the one holding `end`, and reaches into the one holding `end` unless `end` is that bucket's first
    microsecond. Each tile lies in one bucket, so a point meets each tile of its window once."""
    size = exp.Literal.number(longest * MICROS)
    offsets = exp.union(exp.select(exp.alias_(exp.Literal.number(0), OFFSET)),
                        exp.select(exp.alias_(exp.Literal.number(1), OFFSET)), distinct=False)
    end = col(WINDOW_END, "w")
    bucket = exp.Sub(this=floor_to_step(end, longest), expression=exp.Mul(this=col(OFFSET, "o"), expression=size))
    touched = exp.or_(exp.EQ(this=col(OFFSET, "o"), expression=exp.Literal.number(1)),
                      exp.NEQ(this=exp.Mod(this=end.copy(), expression=size.copy()), expression=exp.Literal.number(0)))
    return (exp.select(exp.Star(), exp.alias_(bucket, BUCKET))
            .from_(exp.alias_(exp.to_table(points), "w", table=True), copy=False)
            .join(offsets.subquery("o", copy=False), join_type="cross", copy=False)
            .where(touched, copy=False)
            .subquery(alias, copy=False))


def _marks_rule(join: AggregateJoin) -> str:
    functions = {f.function for f in join.features}
    marks = ([f"the mean of each {'variance' if 'variance' in functions else 'stddev'}'s window"]
             if functions & {"variance", "stddev"} else [])
    marks += ["the newest step with a value of each last"] if "last" in functions else []
    return "per point, " + " and ".join(marks) + ", from the tiles of its longest window"


def _marks(join: AggregateJoin, layout: TileLayout, keys: list[str], points: str, tiles: str) -> exp.Select:
    """Each point with what its tiles are combined against, from a join that carries only the columns
    needed: the mean of each variance's window (its tiles' means weighted by their counts) and the newest
    step holding a value of each `last` in its window. A point with no tile has no row (nor pairs)."""
    longest = max(f.window_seconds for f in join.features)
    marks = []
    for index, feature in enumerate(join.features):
        inside = _in_window(join, feature.window_seconds)
        if feature.function in ("variance", "stddev"):
            count = col(layout.partial("count", feature.source_column).name)
            mean = col(layout.partial("mean", feature.source_column).name)
            weighted = exp.Sum(this=_when(inside, exp.Mul(this=count.copy(), expression=mean)))
            total = exp.Sum(this=_when(inside, count))
            marks.append(exp.alias_(exp.Div(this=weighted, expression=exp.Nullif(
                this=total, expression=exp.Literal.number(0))), _mean_name(index)))
        elif feature.function == "last":
            has = exp.Is(this=col(layout.partial("last", feature.source_column).name), expression=exp.Null(),
                         negate=True)
            if inside is not None:
                has = exp.and_(inside, has)
            marks.append(exp.alias_(exp.Max(this=exp.Case(ifs=[exp.If(this=has, true=col(STEP))])),
                                    _last_step_name(index)))
    return _qualified(
        exp.select(*[exp.alias_(col(k, "p"), k) for k in keys], exp.alias_(col(WINDOW_END, "p"), WINDOW_END), *marks)
        .from_(_by_bucket(points, longest, "p"), copy=False)
        .join(exp.alias_(exp.to_table(tiles), "t", table=True), on=_in_longest(keys, "p", "t", longest), copy=False)
        .group_by(*[col(k, "p") for k in keys], col(WINDOW_END, "p"), copy=False), keys)


def _qualified(select: exp.Select, keys: list[str]) -> exp.Select:
    """`select` with each unqualified column read from the join's side that has it: a point's keys and
    window end from `p`, the rest from the tile `t`."""
    for column in select.find_all(exp.Column):
        if not column.table:
            column.set("table", exp.to_identifier("p" if column.name in keys + [WINDOW_END] else "t"))
    return select


def _pairs(join: AggregateJoin, layout: TileLayout, keys: list[str], points: str, tiles: str) -> exp.Select:
    """Each point (with its marks, where `points` is the marks CTE) beside each tile of its longest window."""
    longest = max(f.window_seconds for f in join.features)
    carried = [_mean_name(i) if f.function in ("variance", "stddev") else _last_step_name(i)
               for i, f in enumerate(join.features) if f.function in ("variance", "stddev", "last")]
    return (exp.select(*[exp.alias_(col(k, "p"), k) for k in keys], exp.alias_(col(WINDOW_END, "p"), WINDOW_END),
                       *[exp.alias_(col(c, "p"), c) for c in carried],
                       exp.alias_(col(STEP, "t"), STEP), *[exp.alias_(col(p.name, "t"), p.name) for p in layout.partials])
            .from_(_by_bucket(points, longest, "p"), copy=False)
            .join(exp.alias_(exp.to_table(tiles), "t", table=True), on=_in_longest(keys, "p", "t", longest),
                  copy=False))


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
    # each tile's deviation from the window's centre c: (mean - c) + mean_lo, its mean's two parts
    # (fcompile/planner/tiles.py); c is near the window's mean, and the correction below takes its error out
    deviation = exp.paren(exp.Add(
        this=exp.paren(exp.Sub(this=col(layout.partial("mean", column).name), expression=col(_mean_name(index))),
                       copy=False),
        expression=col(layout.partial("mean_lo", column).name)), copy=False)
    weighted = exp.Mul(this=col(layout.partial("count", column).name), expression=deviation)
    spread = exp.Mul(this=weighted.copy(), expression=deviation.copy())
    shift = exp.Coalesce(this=exp.Sum(this=_when(inside, weighted)), expressions=[exp.Literal.number(0)])
    correction = exp.Div(this=exp.Mul(this=shift, expression=shift.copy()),
                         expression=exp.Nullif(this=count.copy(), expression=exp.Literal.number(0)))
    m2 = exp.Sub(this=exp.Add(
        this=exp.Coalesce(this=exp.Sum(this=partial("m2")), expressions=[exp.Literal.number(0)]),
        expression=exp.Coalesce(this=exp.Sum(this=_when(inside, spread)), expressions=[exp.Literal.number(0)])),
        expression=correction)
    at_least_two = exp.GTE(this=count.copy(), expression=exp.Literal.number(2))
    # the correction may leave a rounding error below 0 where every value is equal
    nonnegative = exp.Greatest(this=_double(m2), expressions=[exp.cast(exp.Literal.number(0), "DOUBLE")])
    variance = exp.Div(this=nonnegative,
                       expression=exp.paren(exp.Sub(this=count, expression=exp.Literal.number(1)), copy=False))
    value = variance if function == "variance" else exp.Sqrt(this=variance)
    return exp.Case(ifs=[exp.If(this=at_least_two, true=value)])


def final_value(join: AggregateJoin, feature: AggregateColumn, alias: str) -> exp.Expression:
    """A feature as the final select reads it: counts are 0 where the spine point has no tile."""
    value = col(feature.output_name, alias)
    if feature.function == "count":
        return exp.Coalesce(this=value, expressions=[exp.cast(exp.Literal.number(0), "BIGINT")])
    return value
