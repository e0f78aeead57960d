"""Lower a profile plan (fcompile/planner/profiles.py) to its two queries, each one scan of the rows:

1. `lower_profile_aggregates`: one row of aggregates - the row count, then per feature its non-NULL count and,
   by kind, min, max, mean, population standard deviation, zeros and quantile boundaries (numbers), the
   distinct count and average length (strings), the earliest and latest value (times, as epoch microseconds
   in UTC; dates as they are).
2. `lower_profile_distributions`: given each number's min and max from the first, a row per histogram bucket
   of each number and per most frequent value of each string, from one GROUP BY GROUPING SETS: the set's
   index, one column per set (its bucket or value, NULL in the other sets' rows), the rows counted.

Both return the tree and what each output column holds, so results are read by position (warehouses differ
in the case of the names they return)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlglot import exp

from fcompile.dialects.base import SqlDialect
from fcompile.planner.profiles import HISTOGRAM_BUCKETS, QUANTILE_BUCKETS, TOP_VALUES, ProfiledColumn, ProfilePlan

ROWS = "rows"
SOURCE = "profiled"


@dataclass(frozen=True)
class AggregateQuery:
    select: exp.Select
    # per output column after the first (the row count): (feature index, statistic); the statistic
    # "quantiles" may span several columns, each a number or a list of numbers, read in order
    columns: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float

    @property
    def width(self) -> float:
        return (self.high - self.low) / HISTOGRAM_BUCKETS

    def edges(self) -> list[tuple[float, float]]:
        """Each bucket's [low, high); the last one's high is the maximum, inclusive."""
        if self.high == self.low:
            return [(self.low, self.high)]
        width = self.width
        return [(self.low + i * width, self.high if i == HISTOGRAM_BUCKETS - 1 else self.low + (i + 1) * width)
                for i in range(HISTOGRAM_BUCKETS)]


@dataclass(frozen=True)
class DistributionQuery:
    select: exp.Select
    sets: tuple[tuple[int, str], ...]  # per grouping set, in order: (feature index, "histogram" | "top_values")


def _col(name: str) -> exp.Column:
    return exp.column(name, SOURCE)


def _double(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, exp.DataType.build("DOUBLE"))


def number(column: ProfiledColumn) -> exp.Expression:
    """A number or boolean feature as a DOUBLE (a boolean as 1 or 0: PostgreSQL casts no boolean to a double)."""
    value = _col(column.source_column)
    if column.kind == "boolean":
        return exp.Case(ifs=[exp.If(this=value.copy(), true=exp.Literal.number(1)),
                             exp.If(this=exp.Not(this=value.copy()), true=exp.Literal.number(0))])
    return _double(value)


def _count_where(condition: exp.Expression) -> exp.Expression:
    return exp.Sum(this=exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))],
                                 default=exp.Literal.number(0)))


def _rows(dialect: SqlDialect, plan: ProfilePlan, *projections: exp.Expression) -> exp.Select:
    select = exp.select(*projections).from_(dialect.relation(plan.relation, SOURCE, plan.location), copy=False)
    window = plan.window
    if window is not None:
        time = dialect.epoch_microseconds(dialect.utc_instant(_col(window.column), window.zoned))
        bounds = []
        if window.start is not None:
            bounds.append(exp.GTE(this=time.copy(), expression=exp.Literal.number(_micros(window.start))))
        if window.end is not None:
            bounds.append(exp.LTE(this=time.copy(), expression=exp.Literal.number(_micros(window.end))))
        select = select.where(exp.and_(*bounds), copy=False)
    return select


def lower_row_count(dialect: SqlDialect, plan: ProfilePlan) -> exp.Select:
    """One row, one column: how many rows the plan's relation holds in its window (`fcompile plan --estimate`
    counts what a full refresh of a view reads this way)."""
    return _rows(dialect, plan, exp.alias_(exp.Count(this=exp.Star()), ROWS))


def _micros(moment) -> int:
    import datetime as dt

    utc = moment.replace(tzinfo=dt.timezone.utc) if moment.tzinfo is None else moment
    delta = utc - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def lower_profile_aggregates(dialect: SqlDialect, plan: ProfilePlan) -> AggregateQuery:
    projections: list[exp.Expression] = [exp.alias_(exp.Count(this=exp.Star()), ROWS)]
    columns: list[tuple[int, str]] = []

    def add(index: int, statistic: str, aggregate: exp.Expression) -> None:
        projections.append(exp.alias_(aggregate, f"f{index}_{statistic}_{len(projections)}"))
        columns.append((index, statistic))

    for index, column in enumerate(plan.columns):
        add(index, "present", exp.Count(this=_col(column.source_column)))
        if column.numeric:
            value = number(column)
            add(index, "min", exp.Min(this=value.copy()))
            add(index, "max", exp.Max(this=value.copy()))
            add(index, "mean", exp.Avg(this=value.copy()))
            add(index, "std_dev", exp.StddevPop(this=value.copy()))
            add(index, "zeros", _count_where(exp.EQ(this=value.copy(), expression=exp.Literal.number(0))))
            for aggregate in dialect.quantiles(value, QUANTILE_BUCKETS):
                add(index, "quantiles", aggregate)
        elif column.kind == "string":
            value = _col(column.source_column)
            add(index, "distinct", dialect.distinct_count(value.copy()))
            add(index, "avg_length", exp.Avg(this=_double(exp.Length(this=value.copy()))))
        elif column.kind == "time":
            micros = dialect.epoch_microseconds(dialect.utc_instant(_col(column.source_column),
                                                                    column.source_column in plan.relation.zoned_times))
            add(index, "min", exp.Min(this=micros.copy()))
            add(index, "max", exp.Max(this=micros))
        elif column.kind == "date":
            add(index, "min", exp.Min(this=_col(column.source_column)))
            add(index, "max", exp.Max(this=_col(column.source_column)))
    return AggregateQuery(_rows(dialect, plan, *projections), tuple(columns))


def _bucket(value: exp.Expression, bounds: Bounds) -> exp.Expression:
    """The 0-based equal-width bucket of a value in [low, high]: FLOOR((v - low) / width), the maximum (and any
    value rounding up to the last edge) in the last bucket; a single bucket when low = high."""
    if bounds.high == bounds.low:
        return exp.Case(ifs=[exp.If(this=exp.Is(this=value, expression=exp.Null()), true=exp.Null())],
                        default=exp.Literal.number(0))
    offset = exp.Div(this=exp.paren(exp.Sub(this=value, expression=_double(exp.Literal.number(repr(bounds.low))))),
                     expression=_double(exp.Literal.number(repr(bounds.width))))
    last = HISTOGRAM_BUCKETS - 1
    return exp.Case(ifs=[exp.If(this=exp.GTE(this=offset.copy(), expression=exp.Literal.number(last)),
                                true=exp.Literal.number(last))],
                    default=exp.cast(exp.Floor(this=offset), exp.DataType.build("BIGINT")))


def lower_profile_distributions(dialect: SqlDialect, plan: ProfilePlan,
                                bounds: dict[int, Bounds]) -> DistributionQuery | None:
    """Histogram buckets of the numbers with finite `bounds` and the top values of the strings, or None when
    the plan has neither."""
    sets: list[tuple[int, str]] = []
    inner: list[exp.Expression] = []
    for index, column in enumerate(plan.columns):
        found = bounds.get(index)
        if column.numeric and found is not None and math.isfinite(found.low) and math.isfinite(found.high):
            inner.append(exp.alias_(_bucket(number(column), found), f"g{len(sets)}"))
            sets.append((index, "histogram"))
        elif column.kind == "string":
            inner.append(exp.alias_(_col(column.source_column), f"g{len(sets)}"))
            sets.append((index, "top_values"))
    if not sets:
        return None
    names = [f"g{i}" for i in range(len(sets))]
    rows = _rows(dialect, plan, *inner)
    set_id = exp.Case(ifs=[exp.If(this=exp.EQ(this=exp.Anonymous(this="GROUPING", expressions=[exp.column(n)]),
                                              expression=exp.Literal.number(0)),
                                  true=exp.Literal.number(i)) for i, n in enumerate(names)])
    grouped = (exp.select(exp.alias_(set_id, "set_id"), *[exp.column(n) for n in names],
                          exp.alias_(exp.Count(this=exp.Star()), "counted"))
               .from_(rows.subquery("values_of_rows", copy=False), copy=False)
               .group_by(exp.GroupingSets(expressions=[exp.Tuple(expressions=[exp.column(n)]) for n in names]),
                         copy=False))
    # a set's NULL group (its feature's NULLs) is no bucket and no value: in its row every column is NULL
    present = exp.or_(*[exp.Is(this=exp.column(n), expression=exp.Null(), negate=True) for n in names])
    order = [exp.Ordered(this=exp.column("counted"), desc=True)]
    order += [exp.Ordered(this=dialect.byte_order(exp.column(n)) if kind == "top_values" else exp.column(n))
              for n, (_, kind) in zip(names, sets)]
    rank = exp.Window(this=exp.RowNumber(), partition_by=[exp.column("set_id")], order=exp.Order(expressions=order))
    ranked = (exp.select("set_id", *names, "counted", exp.alias_(rank, "value_rank"))
              .from_(grouped.subquery("grouped", copy=False), copy=False).where(present, copy=False))
    histograms = [i for i, (_, kind) in enumerate(sets) if kind == "histogram"]
    kept = exp.LTE(this=exp.column("value_rank"), expression=exp.Literal.number(TOP_VALUES))
    if histograms:
        kept = exp.or_(exp.In(this=exp.column("set_id"), expressions=[exp.Literal.number(i) for i in histograms]), kept)
    final = (exp.select("set_id", *names, "counted").from_(ranked.subquery("ranked", copy=False), copy=False)
             .where(kept, copy=False))
    return DistributionQuery(final, tuple(sets))
