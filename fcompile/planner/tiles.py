"""Tiles: the partial aggregates of one (entity key, step) that windowed aggregations are combined from.

A window of an aggregated feature ends on a multiple of its view's step and is a whole number of steps
long, so it is exactly a run of consecutive steps: the rows of the window are the rows of those steps'
tiles, and each function's value follows from the tiles' partial results. This module is the one
definition of a tile, dialect-free: training sets (fcompile/dialects/aggregations.py) and materialization
(fcompile/planner/online_tiles.py, merged at read time by fcompile/online/tiles.py) both lay their tiles out
with `tile_layout`, and both compute them with one lowering (fcompile/dialects/tiles.py).

| function | partials per tile | combined over the window's tiles |
| --- | --- | --- |
| count (no column) | rows | sum of rows (0 when no tile) |
| count (column) | count: non-NULL values | sum of counts (0 when no tile) |
| sum | sum | sum (NULL when no value) |
| avg | sum, count | sum / count (NULL when count is 0) |
| min, max | min, max | min of mins, max of maxes |
| variance, stddev | count n, mean m (a float near the tile's mean: its AVG), mean_lo l (the mean of x - m: the mean is m + l), M2 (sum of squared deviations from the mean) | N = sum n; c = sum(n*m) / N; d = (m - c) + l; M2 = sum M2 + sum n*d^2 - (sum n*d)^2 / N; variance = M2 / (N - 1) for N >= 2, stddev its square root |
| last | the newest non-NULL value of the tile | that of the newest tile having one |

Tiles kept for serving (`serving=True`) also hold the rows of every tile and a count per input (a step's sum,
min, max or last is NULL when it is 0); those of a view that rows are pushed to (`pushed=True`) also keep
the order of each `last` value - its event time, created time and tie_breaker - so that a pushed row
can be merged into a stored tile. Materialization recomputes whole tiles, so it needs no order.

The moments are merged as (n, mean, M2) (Chan, Golub and LeVeque's pairwise update, applied to all tiles at
once) rather than from sums of squares, which lose every digit that the mean has in common with the values
(the values 1e9 + 1, 1e9 + 2, 1e9 + 3 lose all of them). A float64 mean is not enough for that merge far
from zero: rounded, it is off by up to half a unit in its last place (6e-8 at 1e9), and that error enters
the spread of the tiles' means around the window's (about 1e-7 of a variance of values 1e9 + a spread of
1). So each tile keeps its mean in two parts, `mean` + `mean_lo`, computed in two passes: `mean` is the
tile's AVG (a window AVG over the tile's rows, so each row sees it; on DuckDB the average of a list of the
tile's values), `mean_lo` the AVG of `x - mean` and M2 the sum of squares of `x - mean` less `mean_lo`
(VAR_POP of `x - mean` times the count): values shifted near zero, where nothing is lost. The merge takes
each tile's deviation from a common centre `c` (any value near the window's mean) as `(m - c) + l` and
removes the first-order error of `c` with the correction `(sum n*d)^2 / N` (the corrected two-pass
algorithm), so every rounding is relative to the spread, not the offset: the result is within a few units
in the last place of the exact one times the number of tiles and rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

from fcompile.graph import DType

PartialKind = Literal["rows", "count", "sum", "min", "max", "mean", "mean_lo", "m2", "last",
                      "last_event", "last_created", "last_tie"]

STEP = "__fc_step"  # a tile's step: its first microsecond since the epoch (UTC)
ROWS = "__fc_rows"
# the partial kinds an input column may need, in the order a tile keeps them
INPUT_KINDS: tuple[PartialKind, ...] = ("count", "sum", "min", "max", "mean", "mean_lo", "m2", "last",
                                        "last_event", "last_created", "last_tie")
_NEEDS: dict[str, tuple[PartialKind, ...]] = {
    "count": ("count",),
    "sum": ("sum",),
    "avg": ("sum", "count"),
    "min": ("min",),
    "max": ("max",),
    "variance": ("count", "mean", "mean_lo", "m2"),
    "stddev": ("count", "mean", "mean_lo", "m2"),
    "last": ("last",),
}
_LAST_ORDER: tuple[PartialKind, ...] = ("last_event", "last_created", "last_tie")


def input_name(index: int) -> str:
    """An input column as the tile query reads it (no user name holds `__`)."""
    return f"__fc_in_{index}"


def partial_name(kind: str, index: int | None) -> str:
    """A tile's column: `__fc_rows`, or `__fc_<kind>_<input>`."""
    return ROWS if index is None else f"__fc_{kind}_{index}"


@dataclass(frozen=True)
class Partial:
    """One partial column of a tile: `kind` over the input `column` (an index into `TileLayout.inputs`;
    None for the row count)."""

    kind: PartialKind
    column: int | None

    @property
    def name(self) -> str:
        return partial_name(self.kind, self.column)


@dataclass(frozen=True)
class TileInput:
    """One source column the aggregations read, and the partials its tiles keep."""

    source_column: str             # the column in the source (field_mapping undone)
    dtype: DType                   # its type, as surely as the features tell (see `input_dtype`)
    kinds: tuple[PartialKind, ...]  # partial kinds, in INPUT_KINDS order


@dataclass(frozen=True)
class TileLayout:
    """What one view's tiles hold: the source columns they read (in first-use order) and the distinct partial
    columns, each computed once however many features need it: the row count first where kept, then each
    input's kinds."""

    inputs: tuple[TileInput, ...]
    partials: tuple[Partial, ...]

    def input_name(self, index: int) -> str:
        return input_name(index)

    def index(self, column: str) -> int:
        return next(i for i, tile_input in enumerate(self.inputs) if tile_input.source_column == column)

    def partial(self, kind: PartialKind, column: str | None) -> Partial:
        return Partial(kind, None if column is None else self.index(column))


def tile_layout(aggregates: Sequence[tuple[str, str | None, DType]], *, serving: bool = False,
                pushed: bool = False, known_dtype: Callable[[str], DType | None] | None = None) -> TileLayout:
    """The tile layout for (function, source column, result dtype) triples. `serving`: the form kept online
    (rows, a count per input); `pushed`: with each `last` value's order (all of it: the plan drops the
    created time and tie_breaker a source has not); `known_dtype`: a source column's type where a plain
    feature gives it."""
    columns: list[str] = []
    kinds: dict[str, set[str]] = {}
    dtypes: dict[str, tuple[int, DType]] = {}
    counts_rows = serving
    for function, column, result in aggregates:
        if column is None:
            counts_rows = True
            continue
        if column not in columns:
            columns.append(column)
        needed = kinds.setdefault(column, {"count"} if serving else set())
        needed.update(_NEEDS[function])
        if serving and pushed and function == "last":
            needed.update(_LAST_ORDER)
        rank, dtype = input_dtype(column, function, result, known_dtype)
        if column not in dtypes or rank > dtypes[column][0]:
            dtypes[column] = (rank, dtype)
    inputs = tuple(TileInput(c, dtypes[c][1], tuple(k for k in INPUT_KINDS if k in kinds[c])) for c in columns)
    partials = [Partial("rows", None)] if counts_rows else []
    partials += [Partial(kind, index) for index, tile_input in enumerate(inputs) for kind in tile_input.kinds]
    return TileLayout(inputs, tuple(partials))


def input_dtype(column: str, function: str, result: DType,
                known_dtype: Callable[[str], DType | None] | None) -> tuple[int, DType]:
    """What the type of an input column is known to be, and how surely (the surest wins): min, max and last
    give it (3); a plain feature of that name (2); a sum says integer or float (1); else float64 (0: the
    tile reads it as a number, or only counts it)."""
    if function in ("min", "max", "last"):
        return 3, result
    known = known_dtype(column) if known_dtype is not None else None
    if known is not None:
        return 2, known
    if function == "sum":
        return 1, result
    return 0, DType("float64")
