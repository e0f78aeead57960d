"""Tiles: the partial aggregates of one (entity key, step) that windowed aggregations are combined from.

A window of an aggregated feature ends on a multiple of its view's step and is a whole number of steps
long, so it is exactly a run of consecutive steps: the rows of the window are the rows of those steps'
tiles, and each function's value follows from the tiles' partial results. This module says, for each
function, which partial columns a tile keeps and how they combine; it knows no SQL, so training sets
(fcompile/dialects/aggregations.py) and, later, materialization and online reads share one definition.

| function | partials per tile | combined over the window's tiles |
| --- | --- | --- |
| count (no column) | rows | sum of rows (0 when no tile) |
| count (column) | count: non-NULL values | sum of counts (0 when no tile) |
| sum | sum | sum (NULL when no value) |
| avg | sum, count | sum / count (NULL when count is 0) |
| min, max | min, max | min of mins, max of maxes |
| variance, stddev | count n, mean m, M2 (sum of squared deviations from m) | N = sum n; mean = sum(n*m) / N; M2 = sum M2 + sum n*(m - mean)^2; variance = M2 / (N - 1) for N >= 2, stddev its square root |
| last | the newest non-NULL value of the tile | that of the newest tile having one |

The moments are merged as (n, mean, M2) (Chan, Golub and LeVeque's pairwise update, applied to all tiles at
once) rather than from sums of squares: every term of the merged M2 is a non-negative quantity, so its
rounding error is a few units in the last place of M2 times the number of tiles, whatever the data's
offset from zero, where `sum(x^2) - N*mean^2` loses every digit that the mean has in common with the values
(the values 1e9 + 1, 1e9 + 2, 1e9 + 3 lose all of them). The tile's own mean and M2 come from the engine's
AVG and VAR_POP, which the engines compute with a stable one-pass update.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

PartialKind = Literal["rows", "count", "sum", "min", "max", "mean", "m2", "last"]

_PARTIALS: dict[str, tuple[PartialKind, ...]] = {
    "sum": ("sum",),
    "avg": ("sum", "count"),
    "min": ("min",),
    "max": ("max",),
    "variance": ("count", "mean", "m2"),
    "stddev": ("count", "mean", "m2"),
    "last": ("last",),
}


@dataclass(frozen=True)
class Partial:
    """One partial column of a tile: `kind` over the input `column` (an index into `TileLayout.inputs`;
    None for the row count)."""

    kind: PartialKind
    column: int | None

    @property
    def name(self) -> str:
        """The tile's column: `__fc_<kind>` or `__fc_<kind>_<input>` (no user name holds `__`)."""
        return f"__fc_{self.kind}" if self.column is None else f"__fc_{self.kind}_{self.column}"


@dataclass(frozen=True)
class TileLayout:
    """What the tiles of one view's requested aggregations hold: the source columns they read (in first-use
    order) and the distinct partial columns, each computed once however many features need it."""

    inputs: tuple[str, ...]
    partials: tuple[Partial, ...]

    def input_name(self, index: int) -> str:
        return f"__fc_in_{index}"

    def partial(self, kind: PartialKind, column: str | None) -> Partial:
        return Partial(kind, None if column is None else self.inputs.index(column))


def partial_kinds(function: str, column: str | None) -> tuple[PartialKind, ...]:
    if function == "count":
        return ("rows",) if column is None else ("count",)
    return _PARTIALS[function]


def tile_layout(aggregates: Sequence[tuple[str, str | None]]) -> TileLayout:
    """The tile layout for (function, source column) pairs."""
    inputs: list[str] = []
    partials: list[Partial] = []
    for function, column in aggregates:
        if column is not None and column not in inputs:
            inputs.append(column)
        for kind in partial_kinds(function, column):
            partial = Partial(kind, None if column is None else inputs.index(column))
            if partial not in partials:
                partials.append(partial)
    return TileLayout(tuple(inputs), tuple(partials))
