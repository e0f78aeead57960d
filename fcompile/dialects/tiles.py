"""The tile step: a view's source rows to one row per (keys, step) holding the partial aggregates of a
`TileLayout` (fcompile/planner/tiles.py). Training sets (fcompile/dialects/aggregations.py) combine these
tiles per spine point; materialization (fcompile/dialects/online_tiles.py) runs the same step over the rows
of its window and writes the tiles online.

1. `events`: each row's event time in microseconds since the epoch (and its created time, where a `last` keeps it),
   and its step by integer arithmetic: `step = us - mod(us, size)`, the remainder taken non-negative so
   times before 1970 floor too;
2. `ranked`, for each input that `last` reads: the rank of each row within its (keys, step), rows with a value first,
   then newest first by event time, created time and tie_breaker (the point-in-time order); and for each input
   whose moments are kept (variance, stddev): its mean over the row's (keys, step), the shift that the tile's
   `mean_lo` and `m2` are computed from (fcompile/planner/tiles.py) - except where the dialect takes the
   moments from a list of each step's values (`TILE_MOMENTS_FROM_LISTS`: DuckDB), with no pass for the mean;
3. `tiles`: the partials, grouped by (keys, step).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.graph import DType
from fcompile.planner.plans import CREATED_TS, EVENT_TS, TIE_BREAKER
from fcompile.planner.tiles import STEP, TileLayout, input_name, partial_name

EVENT_US = "__fc_event_us"
CREATED_US = "__fc_created_us"
MICROS = 1_000_000


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table)


def floor_to_step(micros: exp.Expression, step_seconds: int) -> exp.Expression:
    """`floor(micros / size) * size` for a step of `step_seconds`, by integer arithmetic."""
    size = exp.Literal.number(step_seconds * MICROS)
    remainder = exp.Mod(this=exp.paren(exp.Add(this=exp.Mod(this=micros.copy(), expression=size.copy()),
                                               expression=size.copy()), copy=False), expression=size.copy())
    return exp.Sub(this=micros, expression=remainder)


def _rank(index: int) -> str:
    return f"__fc_rank_{index}"


def _shift(index: int) -> str:
    return f"__fc_shift_{index}"


@dataclass(frozen=True)
class TileStages:
    """The tile step as named selects, each reading the one before: `events` (each row with its step),
    `ranked` (only where a `last` or moments are kept) and `tiles` (grouped by keys and step). A training set
    makes them CTEs of its query; materialization makes them the CTEs of its own."""

    events: tuple[str, exp.Select]
    ranked: tuple[str, exp.Select] | None
    tiles: tuple[str, exp.Select]

    @property
    def ctes(self) -> list[tuple[str, exp.Select]]:
        return [self.events, *([self.ranked] if self.ranked else []), self.tiles]


def tile_step(dialect: SqlDialect, layout: TileLayout, keys: list[str], step_seconds: int, rows: exp.Expression,
              prefix: str, created: bool, tie_breaker: bool, tie_breaker_dtype: DType | None = None) -> TileStages:
    """The tiles of `rows` (a table or subquery with the keys, `__fc_event_ts`, `__fc_created_ts` where
    `created`, `__fc_tie_breaker` where `tie_breaker` (of type `tie_breaker_dtype`, None: unknown), and each
    input as `__fc_in_<i>`), in stages named `<prefix>_events`, `<prefix>_ranked`, `<prefix>_tiles`."""
    timed = [exp.alias_(dialect.epoch_microseconds(col(EVENT_TS)), EVENT_US)]
    if any(p.kind == "last_created" for p in layout.partials):
        timed.append(exp.alias_(dialect.epoch_microseconds(col(CREATED_TS)), CREATED_US))
    events = (f"{prefix}_events", exp.select(exp.Star(), exp.alias_(floor_to_step(col(EVENT_US), step_seconds), STEP))
              .from_(exp.select(exp.Star(), *timed).from_(rows, copy=False).subquery("timed", copy=False), copy=False))
    grouped = events[0]
    ranked = None
    lasts = sorted({p.column for p in layout.partials if p.kind == "last" and p.column is not None})
    moments = sorted({p.column for p in layout.partials if p.kind == "mean" and p.column is not None})
    from_lists = dialect.TILE_MOMENTS_FROM_LISTS
    shifted = [] if from_lists else moments
    if lasts or shifted:
        ranks = [exp.alias_(_rank_within_step(dialect, keys, input_name(i), created, tie_breaker, tie_breaker_dtype),
                            _rank(i)) for i in lasts]
        shifts = [exp.alias_(exp.Window(this=exp.Avg(this=exp.cast(col(input_name(i)), "DOUBLE")),
                                        partition_by=[col(k) for k in keys] + [col(STEP)]), _shift(i))
                  for i in shifted]
        ranked = (f"{prefix}_ranked", exp.select(exp.Star(), *ranks, *shifts).from_(grouped, copy=False))
        grouped = ranked[0]
    if from_lists and moments:
        return TileStages(events, ranked, (f"{prefix}_tiles", _tiles_from_lists(dialect, layout, keys, grouped,
                                                                                   moments)))
    partials = [exp.alias_(_partial(dialect, layout, p.kind, p.column), p.name) for p in layout.partials]
    tiles = (f"{prefix}_tiles", exp.select(*[col(k) for k in keys], col(STEP), *partials)
             .from_(grouped, copy=False).group_by(*[col(k) for k in keys], col(STEP), copy=False))
    return TileStages(events, ranked, tiles)


_MOMENTS = ("mean", "mean_lo", "m2")
_LIST_ELEMENT = "__fc_value"


def _values(index: int) -> str:
    return f"__fc_values_{index}"


def _tiles_from_lists(dialect: SqlDialect, layout: TileLayout, keys: list[str], grouped: str,
                      moments: list[int]) -> exp.Select:
    """The tiles where the dialect keeps a list of each moment input's values per (keys, step): one grouping
    gives the other partials and the lists (of the inputs `moments`), then the mean is the list's average, `mean_lo` the average of each
    value less the mean and M2 the sum of squares of each value less both - the same two-pass arithmetic as
    the window AVG's shift (fcompile/planner/tiles.py), without a pass over the rows to find the mean."""
    key_columns = [col(k) for k in keys]
    values = [exp.alias_(exp.Filter(this=exp.ArrayAgg(this=exp.cast(col(input_name(i)), "DOUBLE")),
                                    expression=exp.Where(this=exp.Not(this=exp.Is(this=col(input_name(i)),
                                                                                  expression=exp.Null())))),
                         _values(i)) for i in moments]
    others = [exp.alias_(_partial(dialect, layout, p.kind, p.column), p.name) for p in layout.partials
              if p.kind not in _MOMENTS]
    lists = (exp.select(*key_columns, col(STEP), *others, *values).from_(grouped, copy=False)
             .group_by(*[k.copy() for k in key_columns], col(STEP), copy=False))

    def over_values(index: int, element: exp.Expression) -> exp.Expression:
        """`LIST_TRANSFORM` of the input's list by `element` (an expression of the list element)."""
        return exp.Anonymous(this="LIST_TRANSFORM", expressions=[
            col(_values(index)), exp.Lambda(this=element, expressions=[exp.to_identifier(_LIST_ELEMENT)], colon=True)])

    def deviation(index: int) -> exp.Expression:  # the element less the tile's rounded mean: near zero
        return exp.paren(exp.Sub(this=exp.column(_LIST_ELEMENT), expression=col(partial_name("mean", index))))

    means = exp.select(exp.Star(), *[exp.alias_(exp.Anonymous(this="LIST_AVG", expressions=[col(_values(i))]),
                                                partial_name("mean", i)) for i in moments]
                       ).from_(lists.subquery("lists", copy=False), copy=False)
    lows = exp.select(exp.Star(), *[exp.alias_(exp.Anonymous(this="LIST_AVG", expressions=[
        over_values(i, deviation(i))]), partial_name("mean_lo", i)) for i in moments]
                      ).from_(means.subquery("means", copy=False), copy=False)

    def squares(index: int) -> exp.Expression:
        centred = exp.paren(exp.Sub(this=deviation(index), expression=col(partial_name("mean_lo", index))))
        return exp.Anonymous(this="LIST_SUM", expressions=[over_values(index, exp.Mul(this=centred,
                                                                                      expression=centred.copy()))])

    columns = [exp.alias_(squares(p.column), p.name) if p.kind == "m2" else col(p.name)  # type: ignore[arg-type]
               for p in layout.partials]
    return exp.select(*[k.copy() for k in key_columns], col(STEP), *columns).from_(
        lows.subquery("lows", copy=False), copy=False)


def _rank_within_step(dialect: SqlDialect, keys: list[str], value: str, created: bool,
                      tie_breaker: bool, tie_breaker_dtype: DType | None) -> exp.Window:
    """Rows with a value first, then newest first by event time, created time and tie_breaker (a string by its
    bytes, as the online tiles order it)."""
    missing = exp.Case(ifs=[exp.If(this=exp.Is(this=col(value), expression=exp.Null()), true=exp.Literal.number(1))],
                       default=exp.Literal.number(0))
    order = [dialect.ascending_never_null(missing), exp.Ordered(this=col(EVENT_TS), desc=True, nulls_first=False)]
    if created:
        order.append(exp.Ordered(this=col(CREATED_TS), desc=True, nulls_first=False))
    if tie_breaker:
        key = dialect.tie_breaker_order(col(TIE_BREAKER), tie_breaker_dtype)
        order.append(exp.Ordered(this=key, desc=True, nulls_first=False))
    return exp.Window(this=exp.Rank(), partition_by=[col(k) for k in keys] + [col(STEP)],
                      order=exp.Order(expressions=order))


def _partial(dialect: SqlDialect, layout: TileLayout, kind: str, index: int | None) -> exp.Expression:
    if kind == "rows":
        return exp.Count(this=exp.Star())
    assert index is not None
    tile_input = layout.inputs[index]
    value = col(input_name(index))
    double = exp.cast(value.copy(), "DOUBLE")
    if kind == "count":
        return exp.Count(this=value)
    if kind == "sum":  # typed on every engine (DuckDB sums BIGINT to HUGEINT, PostgreSQL to NUMERIC)
        integer = tile_input.dtype.name in ("int32", "int64")
        return exp.cast(exp.Sum(this=value), "BIGINT" if integer else "DOUBLE")
    if kind == "min":
        return exp.Min(this=value)
    if kind == "max":
        return exp.Max(this=value)
    shifted = exp.Sub(this=double.copy(), expression=col(_shift(index)))  # near zero: no digit of the offset lost
    if kind == "mean":  # the step's mean as its rows saw it (one value per step)
        return exp.Max(this=col(_shift(index)))
    if kind == "mean_lo":  # what the rounded mean misses: the mean is mean + mean_lo
        return exp.Avg(this=shifted)
    if kind == "m2":  # the step's sum of squared deviations from its mean, from the shifted values
        return exp.Mul(this=exp.VariancePop(this=shifted), expression=exp.Count(this=value.copy()))
    first = exp.EQ(this=col(_rank(index)), expression=exp.Literal.number(1))

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
