"""A pure-Python reference of the point-in-time rules (docs/concepts/point-in-time.md), the contract every
dialect's SQL must honour.

Written from the spec, not from the SQL lowering: the tests run fcompile's SQL on real engines and
compare it row by row with what this module computes from the same rows (lists of dicts).

- Point-in-time join: one output row per spine row, in spine order, every spine column and then the
  requested features in request order. A source row is a candidate for a spine row when its join keys
  equal the spine's column by column (NULL never equals anything) and `spine_ts - ttl <= event_ts <=
  spine_ts` (the lower bound only with a ttl; both inclusive). The best candidates have the greatest
  event time, then the greatest created time (NULL lowest), then, when the source declares a
  tie_breaker, its greatest value (NULL lowest). Rows still tied give each feature,
  independently, the greatest of their values: NULL only when all are NULL, NaN greatest, false < true,
  arrays element by element (a NULL element greatest, a prefix before the longer array). No candidate:
  NULL features.
- Latest values (materialization): per entity key, the same among the rows with `start <= event_ts <=
  end`; rows with a NULL key belong to no entity.
- Timestamps compare in UTC; naive timestamps are read as UTC.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

Row = Mapping[str, Any]


@dataclass(frozen=True)
class RefFeature:
    name: str
    column: str  # the column holding it in the source rows
    is_array: bool = False


@dataclass(frozen=True)
class RefView:
    """A feature view over its source rows, described in the spec's own terms."""

    name: str
    keys: tuple[tuple[str, str], ...]  # (join key = spine column, column in the source rows)
    event_ts: str
    created_ts: str | None
    ttl: dt.timedelta | None
    features: tuple[RefFeature, ...]  # in declaration order
    rows: Sequence[Row]
    tie_breaker: str | None = None  # the source's tie_breaker column, if it declares one

    def column_of(self, feature: str) -> str:
        return next(f.column for f in self.features if f.name == feature)


@dataclass(frozen=True)
class Requested:
    """One requested feature and the name of its output column."""

    view: str
    feature: str
    output: str


def output_name(view: str, feature: str, alias: str | None = None, full_feature_names: bool = False) -> str:
    """§3.6: the feature name, or `<view or alias>__<feature>` with full feature names."""
    return f"{alias or view}__{feature}" if full_feature_names else feature


def utc(value: Any) -> Any:
    """A timestamp as an aware UTC datetime (naive read as UTC); anything else unchanged."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    return value


def _rank(value: Any) -> tuple:
    """A sort key: NULL lowest, NaN greatest, timestamps in UTC, arrays element by element (a NULL element
    greatest; a prefix before the longer array)."""
    if value is None:
        return (0,)
    if isinstance(value, float) and math.isnan(value):
        return (2,)
    if isinstance(value, (list, tuple)):
        return (1, tuple((1,) if v is None else (0, v) for v in value))
    return (1, utc(value))


def _newness(view: RefView, row: Row) -> tuple:
    """Bigger is newer: event time, created time, then the tie_breaker; never the features."""
    created = _rank(row[view.created_ts]) if view.created_ts else ()
    tie_breaker = _rank(row[view.tie_breaker]) if view.tie_breaker else ()
    return (utc(row[view.event_ts]), created, tie_breaker)


def _newest(view: RefView, rows: Sequence[Row]) -> Row:
    """The newest rows as one: keys and times from the first, each feature the greatest among them."""
    top = max(_newness(view, row) for row in rows)
    tied = [row for row in rows if _newness(view, row) == top]
    merged = dict(tied[0])
    for feature in view.features:
        merged[feature.column] = max((row[feature.column] for row in tied), key=_rank)
    return merged


def _same_key(view: RefView, spine_row: Row, source_row: Row) -> bool:
    for spine_column, source_column in view.keys:
        left, right = spine_row[spine_column], source_row[source_column]
        if left is None or right is None or left != right:
            return False
    return True


def as_of(view: RefView, spine_row: Row, spine_ts: str) -> Row | None:
    """The source row a spine row gets from `view`, or None."""
    at = utc(spine_row[spine_ts])
    if at is None:
        return None
    earliest = at - view.ttl if view.ttl is not None else None
    candidates = [
        row for row in view.rows
        if row[view.event_ts] is not None and _same_key(view, spine_row, row)
        and utc(row[view.event_ts]) <= at and (earliest is None or utc(row[view.event_ts]) >= earliest)
    ]
    return _newest(view, candidates) if candidates else None


def point_in_time_join(spine: Sequence[Row], spine_columns: Sequence[str], spine_ts: str,
                       views: Mapping[str, RefView], requested: Sequence[Requested]) -> list[dict[str, Any]]:
    out = []
    for spine_row in spine:
        chosen = {name: as_of(view, spine_row, spine_ts) for name, view in views.items()}
        result = {c: spine_row[c] for c in spine_columns}
        for r in requested:
            row = chosen[r.view]
            assert r.output not in result, f"duplicate output column {r.output}"
            result[r.output] = None if row is None else row[views[r.view].column_of(r.feature)]
        out.append(result)
    return out


def latest_values(view: RefView, start: dt.datetime, end: dt.datetime) -> dict[tuple, dict[str, Any]]:
    """Per entity key: the newest row's event time, created time (if any) and every feature."""
    lo, hi = utc(start), utc(end)
    in_window: dict[tuple, list[Row]] = {}
    for row in view.rows:
        key = tuple(row[column] for _, column in view.keys)
        if any(k is None for k in key) or row[view.event_ts] is None:
            continue
        if lo <= utc(row[view.event_ts]) <= hi:
            in_window.setdefault(key, []).append(row)
    best = {key: _newest(view, rows) for key, rows in in_window.items()}
    out = {}
    for key, row in best.items():
        values: dict[str, Any] = {"event_ts": row[view.event_ts]}
        if view.created_ts:
            values["created_ts"] = row[view.created_ts]
        values.update({f.name: row[f.column] for f in view.features})
        out[key] = values
    return out
