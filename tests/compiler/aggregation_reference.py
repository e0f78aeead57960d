"""A pure-Python reference of windowed aggregations (docs/concepts/aggregations.md), written from the stated
semantics and nothing of the SQL plan (no tiles, no partial aggregates):

For an entity and a point in time `t`, let `e = floor(t / step) * step` (UTC, from the Unix epoch). The value
is the function over the source rows of that entity with `e - window <= event_timestamp < e`. NULL inputs
are ignored by every function except `count` without a column; an empty window gives `count` 0 and NULL
for the others; an entity with no rows at all gives the same. Rows are deduplicated by nothing: two events
at the same time both count.

- count: rows (no column) or non-NULL values; sum, min, max: of the non-NULL values (a sum of integers is
  an integer); avg: their mean; variance and stddev: the sample variance and its square root (NULL below
  two values); last: the value of the newest row among those with a non-NULL value, newest as the
  point-in-time join has it (event time, then created time, then the tie_breaker, NULL lowest; rows still
  tied give the greatest of their values).
- Sums, means and variances of floats are computed exactly (as fractions) and rounded once, so the
  reference has no rounding error of its own to hide or excuse.
- A spine row whose time or any key is NULL matches no rows.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, Sequence

from compiler.reference import _rank, utc

Row = Mapping[str, Any]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class RefAggregate:
    name: str
    function: str
    column: str | None  # the column in the source rows
    window: dt.timedelta


@dataclass(frozen=True)
class RefAggregateView:
    name: str
    keys: tuple[tuple[str, str], ...]  # (join key = spine column, column in the source rows)
    event_ts: str
    created_ts: str | None
    tie_breaker: str | None
    step: dt.timedelta
    aggregates: tuple[RefAggregate, ...]
    rows: Sequence[Row]

    def aggregate(self, name: str) -> RefAggregate:
        return next(a for a in self.aggregates if a.name == name)


def micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def window_end(t: dt.datetime, step: dt.timedelta) -> dt.datetime:
    """e = floor(t / step) * step, counted in whole microseconds from the epoch (floor also before 1970)."""
    since = micros(utc(t) - EPOCH)
    size = micros(step)
    return EPOCH + dt.timedelta(microseconds=(since // size) * size)


def rows_in_window(view: RefAggregateView, spine_row: Row, spine_ts: str, window: dt.timedelta) -> list[Row]:
    t = spine_row[spine_ts]
    if t is None:
        return []
    keys = [spine_row[spine_column] for spine_column, _ in view.keys]
    if any(k is None for k in keys):
        return []
    end = window_end(t, view.step)
    start = end - window
    return [row for row in view.rows
            if all(row[column] is not None and row[column] == key for (_, column), key in zip(view.keys, keys))
            and row[view.event_ts] is not None and start <= utc(row[view.event_ts]) < end]


def aggregate(view: RefAggregateView, agg: RefAggregate, rows: Sequence[Row]) -> Any:
    if agg.function == "count" and agg.column is None:
        return len(rows)
    present = [row for row in rows if row[agg.column] is not None]
    values = [row[agg.column] for row in present]
    if agg.function == "count":
        return len(values)
    if not values:
        return None
    if agg.function == "min":
        return min(values, key=_rank)
    if agg.function == "max":
        return max(values, key=_rank)
    if agg.function == "last":
        return _last(view, present, agg.column)
    exact = [Fraction(v) for v in values]
    total = sum(exact)
    if agg.function == "sum":
        return int(total) if all(isinstance(v, int) and not isinstance(v, bool) for v in values) else float(total)
    n = len(exact)
    mean = total / n
    if agg.function == "avg":
        return float(mean)
    if n < 2:
        return None
    variance = sum((v - mean) ** 2 for v in exact) / (n - 1)
    if agg.function == "variance":
        return float(variance)
    assert agg.function == "stddev"
    return math.sqrt(variance)  # the square root of the exact variance, rounded once more


def _last(view: RefAggregateView, rows: Sequence[Row], column: str) -> Any:
    def newness(row: Row) -> tuple:
        created = _rank(row[view.created_ts]) if view.created_ts else ()
        tie = _rank(row[view.tie_breaker]) if view.tie_breaker else ()
        return (utc(row[view.event_ts]), created, tie)

    top = max(newness(row) for row in rows)
    return max((row[column] for row in rows if newness(row) == top), key=_rank)


def aggregate_join(spine: Sequence[Row], spine_columns: Sequence[str], spine_ts: str,
                   requested: Sequence[tuple[RefAggregateView, str, str]]) -> list[dict[str, Any]]:
    """One row per spine row, in order: the spine's columns, then each requested (view, feature, output)."""
    out = []
    for spine_row in spine:
        result = {c: spine_row[c] for c in spine_columns}
        for view, feature, output in requested:
            agg = view.aggregate(feature)
            result[output] = aggregate(view, agg, rows_in_window(view, spine_row, spine_ts, agg.window))
        out.append(result)
    return out
