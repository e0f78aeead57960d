"""Plans: what to compute, as plain frozen data. No SQL and no dialect in here.

`fcompile build` renders plans as SQL text; runners execute the same plans. Names that fcompile adds
to a query start with `__fc_`, which no user name can (user names may not contain `__`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Literal

from fcompile.diagnostics import Position
from fcompile.graph import DatasetOutput, DType

ROW_ID = "__fc_row_id"
EVENT_TS = "__fc_event_ts"
CREATED_TS = "__fc_created_ts"
RANK = "__fc_rank"
FEATURE_ROW_ID = "__fc_feature_row"
IS_SPINE = "__fc_is_spine"
SPINE_TS = "__fc_spine_ts"
TIE_BREAKER = "__fc_tie_breaker"  # the source's declared tie_breaker column, where it has one

# Views whose ttl is at most this are joined by range (measured: a range join won at ttl 2h, the
# latest-row plans at 1d); longer and unbounded ttls use the latest-row plans.
RANGE_JOIN_MAX_TTL_SECONDS = 6 * 3600


class JoinStrategy(str, enum.Enum):
    """How one view is joined to the spine. All three give identical results (docs/concepts/point-in-time.md)."""

    RANGE = "range"    # join every candidate in [ts - ttl, ts], keep the best per spine point (keys, ts)
    ASOF = "asof"      # newest row at or before ts per key (native ASOF join; else lowered to WINDOW)
    WINDOW = "window"  # union spine and feature rows, carry the newest feature row forward per key


@dataclass(frozen=True)
class Relation:
    """Where rows come from: files, a table, a query, or a named relation supplied at run time."""

    kind: Literal["path", "table", "query", "placeholder"]
    locator: str  # absolute path or glob; table name (optionally qualified); query text; placeholder name
    # Columns known at compile time to hold zoned times (a Parquet file's footer says so); a time of
    # unknown type is read with a spelling that works for naive and zoned ones alike.
    zoned_times: tuple[str, ...] = ()
    # Columns a Parquet file's footer says hold times in nanoseconds (any column: an engine that cannot read
    # such a column cannot read the file).
    nanosecond_times: tuple[str, ...] = ()

    @property
    def file_format(self) -> str:
        return "csv" if self.locator.lower().endswith((".csv", ".csv.gz")) else "parquet"


@dataclass(frozen=True)
class KeyColumn:
    name: str          # the join key's name: the column in the spine and in the output
    source_column: str  # the column in the view's source (after undoing field_mapping)
    dtype: DType


@dataclass(frozen=True)
class FeatureColumn:
    source_column: str
    output_name: str
    dtype: DType


@dataclass(frozen=True)
class SpinePlan:
    relation: Relation
    timestamp_column: str
    columns: tuple[str, ...] | None = None  # in order, when known; None: every column of the relation
    row_id_column: str | None = None        # a column already numbering the rows in order, if any


@dataclass(frozen=True)
class ViewJoin:
    view: str
    relation: Relation
    keys: tuple[KeyColumn, ...]
    event_timestamp: str
    created_timestamp: str | None
    ttl_seconds: int | None  # None: unbounded look-back
    features: tuple[FeatureColumn, ...]
    strategy: JoinStrategy
    location: Position | None = None
    # The source's tie_breaker column: rows equal in event and created time go to its greatest value
    # before each feature takes the greatest of the rows still tied (docs/concepts/point-in-time.md).
    tie_breaker: str | None = None
    # Its type where the parser knows it (a Parquet footer, a seed file, a plain feature of that name): a string
    # tie_breaker is ordered by its bytes where the dialect's strings may order otherwise (`tie_breaker_order`).
    tie_breaker_dtype: DType | None = None
    # Why `strategy` (for the reader of a compiled file): "declared", "ttl 2h <= 6h, the range-join limit", "ttl 1d > 6h, the range-join limit", ...
    strategy_reason: str = ""


@dataclass(frozen=True)
class AggregateColumn:
    """One requested aggregated feature: `function` over `source_column` (None: count rows) in a window of
    `window_seconds` ending at the request time floored to the view's step."""

    function: str
    source_column: str | None
    window_seconds: int
    output_name: str
    dtype: DType


@dataclass(frozen=True)
class AggregateJoin:
    """A view's aggregated features for each spine row (docs/concepts/aggregations.md): partial aggregates per
    (keys, step) - tiles, fcompile/planner/tiles.py - combined per distinct (keys, window end) of the spine.
    Reads its source as a `ViewJoin` does (the same fields under the same names)."""

    view: str
    relation: Relation
    keys: tuple[KeyColumn, ...]
    event_timestamp: str
    created_timestamp: str | None
    step_seconds: int
    features: tuple[AggregateColumn, ...]
    location: Position | None = None
    tie_breaker: str | None = None  # as ViewJoin's: breaks ties of `last`
    tie_breaker_dtype: DType | None = None  # as ViewJoin's
    # (source column, dtype) of the view's plain features: the type of an input no aggregation fixes, so
    # the tiles are typed as those materialization keeps (fcompile/planner/tiles.py)
    known_dtypes: tuple[tuple[str, DType], ...] = ()


@dataclass(frozen=True)
class PointInTimeJoin:
    """One row per spine row, in spine order: every spine column, then the features."""

    spine: SpinePlan
    joins: tuple[ViewJoin | AggregateJoin, ...]
    output_order: tuple[tuple[int, str], ...]  # (join index, output name) in request order
    location: Position | None = None

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.output_order)


@dataclass(frozen=True)
class LatestValues:
    """For each entity key, the newest row whose event time lies in [start, end] (both bound
    parameters, never text pasted into the SQL)."""

    view: str
    relation: Relation
    keys: tuple[KeyColumn, ...]
    event_timestamp: str
    created_timestamp: str | None
    features: tuple[FeatureColumn, ...]
    start_parameter: str = "start"
    end_parameter: str = "end"
    location: Position | None = None
    tie_breaker: str | None = None  # as ViewJoin's
    tie_breaker_dtype: DType | None = None  # as ViewJoin's


@dataclass(frozen=True)
class BuildDataset:
    """A named training set, materialized as a table (CREATE TABLE AS) or a file. `query` is an `OnDemandJoin`
    (fcompile/planner/on_demand.py) when the set has on-demand features."""

    name: str
    output: DatasetOutput
    query: PointInTimeJoin | Any
    location: Position | None = None
