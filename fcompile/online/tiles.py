"""A view's tiles in the online store, and windowed aggregations merged from them at read time
(docs/reference/online-store-layout.md, "Tiles").

The tiles of one entity are one record: the value of the single `bytes` feature `__fc_tiles` of the view's
tile view (`<view>__fc_tiles`, a name no spec can give), stored by every store as it stores any row, so
batches are atomic, the materialization lock covers them and `drop_view` forgets them. The record is

| part    | bytes                                                                                     |
| ------- | ----------------------------------------------------------------------------------------- |
| magic   | 4: `FCT1`                                                                                 |
| layout  | 8: the first bytes of the SHA-256 of the tile columns (names and kinds), as `TileSpec.id` |
| count   | 4: n, the number of tiles, little-endian                                                  |
| columns | k rows of n little-endian 8-byte cells: first each tile's step (its first microsecond     |
|         | since the epoch), ascending, then one row per partial (`TileSpec.columns`): int64, or a    |
|         | float64's bits, or for a string or bytes value its rank in the record's text               |
| text    | only where a min, max or last takes a string or bytes column, or a last keeps a string     |
|         | tie_breaker: m (8 bytes), m + 1 offsets (8 bytes each), then the m distinct values the     |
|         | text cells name, in byte order (UTF-8)                                                    |

so a read decodes a record with one `numpy.frombuffer` and merges each feature's window with a slice and
a vectorized sum, min, max or search. A text cell holds the rank of its value among the record's distinct
values, sorted by their bytes (UTF-8 for strings, which orders them by code point, as the engines compare
strings), so the minimum, maximum and tie-breaking of ranks are those of the values, and text reduces with
the integers. The partial rows are grouped by how a read reduces them (the sums of integers, then of floats,
the means and their low parts, minimums, maximums, then `last` values), so each group is one call. The
record's event time is its version (the time it was written, moving forward by at least a microsecond each
write), so the store's newer-wins write makes the last write win.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.graph import DType
from fcompile.online.base import OnlineView
from fcompile.online.values import date_from_days, datetime_from_micros
from fcompile.planner.online_tiles import ROWS, LatestTiles, TileFeature, partial_name

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

TILES_FEATURE = "__fc_tiles"
TILES_SUFFIX = "__fc_tiles"
MAGIC = b"FCT1"
_HEAD = struct.Struct("<4s8sI")
_COUNT = struct.Struct("<q")
INT_KINDS = ("int32", "int64", "bool", "date", "timestamp")
FLOAT_KINDS = ("float32", "float64")
TEXT_KINDS = ("string", "bytes")  # kept as ranks in the record's text (min, max, last)
VALUE_KINDS = ("min", "max", "last")  # the partials that hold an input's value
NO_TEXT = -1  # a text `last` cell of a tile without a value (minimums and maximums hold INT_MAX / INT_MIN)
NO_CREATED = -(1 << 63)  # a `last` value's created time where there is none: older than any
NO_TIE = -(1 << 63)  # a `last` value's tie_breaker where it is NULL: older than any (a text one: NO_TEXT)
INT_MAX, INT_MIN = (1 << 63) - 1, -(1 << 63)  # what the minimum and maximum of a tile without values hold


def tile_view_name(view: str) -> str:
    return view + TILES_SUFFIX


@dataclass(frozen=True)
class TileColumn:
    name: str         # the tile query's column (`__fc_rows`, `__fc_sum_0`, ...)
    kind: str         # rows, count, sum, min, max, mean, mean_lo, m2, last, last_event, last_created, last_tie
    input: int | None
    is_float: bool
    is_text: bool = False  # a string or bytes value, kept as its rank in the record's text


class Tiles(NamedTuple):
    """One entity's tiles: the (width, n) int64 matrix (float rows as their bits) and the text its text cells
    rank into (distinct values sorted by their bytes; empty for a view without text)."""

    matrix: np.ndarray
    text: Sequence[bytes]


class RecordText:
    """The text of a stored record, read value by value where it lies (a read looks up a few ranks)."""

    __slots__ = ("_record", "_offsets", "_base")

    def __init__(self, record: bytes, offsets: np.ndarray, base: int) -> None:
        self._record, self._offsets, self._base = record, offsets, base

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, rank: int) -> bytes:
        offsets, base = self._offsets, self._base
        return self._record[base + int(offsets[rank]):base + int(offsets[rank + 1])]

    def __iter__(self):
        return (self[rank] for rank in range(len(self)))


class TileSpec:
    """How one view's tiles are kept and merged: made from its `LatestTiles` plan."""

    def __init__(self, plan: LatestTiles, keys: Sequence[tuple[str, DType]]) -> None:
        self.view = plan.view
        self.step_us = plan.step_seconds * 1_000_000
        self.longest_us = plan.longest_window_steps * self.step_us
        self.features = {f.name: f for f in plan.aggregates}
        self.input_dtypes = tuple(i.dtype for i in plan.inputs)
        columns = []
        for kind, index in plan.partials:
            if index is None:
                columns.append(TileColumn(ROWS, kind, None, False))
                continue
            if kind in ("count", "last_event", "last_created", "last_tie"):  # a tie_breaker is never a float
                is_float = False
            elif kind in ("mean", "mean_lo", "m2"):
                is_float = True
            else:
                is_float = plan.inputs[index].dtype.name in FLOAT_KINDS
            is_text = (kind in VALUE_KINDS and plan.inputs[index].dtype.name in TEXT_KINDS
                       or kind == "last_tie" and plan.tie_breaker_dtype.name in TEXT_KINDS)  # type: ignore[union-attr]
            columns.append(TileColumn(partial_name(kind, index), kind, index, is_float, is_text))
        columns.sort(key=_block_of)  # stable: inputs in order within a block
        self.columns = tuple(columns)
        self.blocks = _blocks(columns)
        self.row = {(c.kind, c.input): 1 + i for i, c in enumerate(columns)}  # row 0: the steps
        self.text_rows = [1 + i for i, c in enumerate(columns) if c.is_text]
        self.text_inputs = frozenset(c.input for c in columns if c.is_text and c.kind != "last_tie")
        self.tie_is_text = any(c.is_text and c.kind == "last_tie" for c in columns)
        self.tie_dtype = plan.tie_breaker_dtype if any(c.kind == "last_tie" for c in columns) else None
        self.has_text = bool(self.text_rows)
        described = [(c.name, c.kind, c.is_float) for c in columns] + [self.step_us, "sentinels"]
        if self.has_text:  # a layout without text keeps the id it had before text was kept
            described.append(["text", *(c.name for c in columns if c.is_text)])
        self.id = hashlib.sha256(repr(described).encode()).digest()[:8]
        self.online_view = OnlineView(tile_view_name(plan.view), tuple(keys), ((TILES_FEATURE, DType("bytes")),),
                                      has_created=False, large_rows=True)
        self.has_created = plan.created_timestamp is not None
        import numpy as np

        self._cell = np.dtype("<i8")

    @property
    def width(self) -> int:
        return 1 + len(self.columns)

    # -- records ---------------------------------------------------------------------------------

    def encode(self, tiles: Tiles) -> bytes:
        """A record from tiles (steps ascending), keeping only the text its cells name."""
        import numpy as np

        if self.has_text:
            tiles = self.compacted(tiles)
        matrix = tiles.matrix
        head = _HEAD.pack(MAGIC, self.id, matrix.shape[1]) + np.ascontiguousarray(matrix, dtype="<i8").tobytes()
        if not self.has_text:
            return head
        values = list(tiles.text)
        offsets = np.zeros(len(values) + 1, dtype="<i8")
        np.cumsum([len(v) for v in values], out=offsets[1:])
        return head + _COUNT.pack(len(values)) + offsets.tobytes() + b"".join(values)

    def decode(self, record: bytes | None) -> Tiles:
        """The tiles of a record (none for None). Raises `StaleTiles` for a record of another layout."""
        import numpy as np

        if not record:
            return Tiles(np.zeros((self.width, 0), dtype=np.int64), ())
        magic, layout, n = _HEAD.unpack_from(record)
        if magic != MAGIC or layout != self.id:
            raise StaleTiles(self.view)
        cells = self.width * n
        matrix = np.ndarray((self.width, n), self._cell, record, _HEAD.size)  # a view of the record, as frombuffer
        if not self.has_text:
            return Tiles(matrix, ())
        at = _HEAD.size + 8 * cells
        (m,) = _COUNT.unpack_from(record, at)
        offsets = np.frombuffer(record, dtype="<i8", count=m + 1, offset=at + 8)
        return Tiles(matrix, RecordText(record, offsets, at + 8 * (m + 2)))

    # -- text ------------------------------------------------------------------------------------

    def compacted(self, tiles: Tiles) -> Tiles:
        """The tiles with only the text their cells name (ranks renumbered in the same order)."""
        import numpy as np

        matrix, text = tiles.matrix, tiles.text
        ranks = matrix[self.text_rows]
        named = (ranks >= 0) & (ranks < len(text))
        used = np.unique(ranks[named])
        if len(used) == len(text):
            return tiles
        ranks[named] = np.searchsorted(used, ranks[named])
        matrix = np.array(matrix, dtype=np.int64, copy=True)
        matrix[self.text_rows] = ranks
        return Tiles(matrix, [text[i] for i in used.tolist()])

    def united(self, parts: Sequence[Tiles], more: Sequence[bytes] = ()) -> tuple[list[bytes], list[np.ndarray]]:
        """One text for several tiles (and `more` values): the sorted union, and each part's matrix (a copy)
        with its text cells ranked in it."""
        import numpy as np

        text = sorted(set(more).union(*(part.text for part in parts)))
        index = {value: rank for rank, value in enumerate(text)}
        matrices = []
        for part in parts:
            matrix = np.array(part.matrix, dtype=np.int64, copy=True)
            if len(part.text) and self.has_text:
                moved = np.array([index[value] for value in part.text], dtype=np.int64)
                ranks = matrix[self.text_rows]
                named = (ranks >= 0) & (ranks < len(part.text))
                ranks[named] = moved[ranks[named]]
                matrix[self.text_rows] = ranks
            matrices.append(matrix)
        return text, matrices

    # -- materialization -------------------------------------------------------------------------

    def tile_matrix(self, batch: pa.RecordBatch | pa.Table, step_column: str) -> Tiles:
        """The tiles of tile-query rows (one text for all of them: every entity's tiles are a slice)."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from fcompile.online.values import filled, numpy_of

        rows = batch.num_rows
        matrix = np.empty((self.width, rows), dtype=np.int64)
        matrix[0] = numpy_of(filled(batch.column(step_column).cast(pa.int64()), 0))
        text = pa.array([], pa.large_binary())
        if self.has_text:  # every distinct value, sorted by its bytes (Arrow compares binary bytewise)
            given = [_as_binary(batch.column(c.name)) for c in self.columns if c.is_text]
            distinct = pc.unique(pa.chunked_array(given, pa.large_binary())).drop_null()
            text = distinct.take(pc.sort_indices(distinct))
        for i, column in enumerate(self.columns, start=1):
            values = batch.column(column.name)
            if isinstance(values, pa.ChunkedArray):
                values = values.combine_chunks()
            if column.is_text:
                fill = {"min": INT_MAX, "max": INT_MIN}.get(column.kind, NO_TEXT)
                ranks = pc.index_in(_as_binary(values), value_set=text).cast(pa.int64())
                matrix[i] = numpy_of(filled(ranks, fill))
            elif column.is_float:
                fill = {"min": math.inf, "max": -math.inf}.get(column.kind, 0.0)  # loses
                matrix[i] = numpy_of(filled(values.cast(pa.float64()), fill)).view(np.int64)
            else:
                if pa.types.is_date(values.type):
                    values = values.cast(pa.int32())
                elif pa.types.is_timestamp(values.type):
                    values = values.cast(pa.int64())
                elif pa.types.is_boolean(values.type):
                    values = values.cast(pa.int8())
                fill = {"last_created": NO_CREATED, "last_tie": NO_TIE, "min": INT_MAX,
                        "max": INT_MIN}.get(column.kind, 0)
                matrix[i] = numpy_of(filled(values.cast(pa.int64()), fill))
        return Tiles(matrix, text.to_pylist())

    def replaced(self, stored: Tiles, fresh: Tiles, since_us: int, newest_us: int) -> Tiles:
        """The stored tiles with those of steps from `since_us` on replaced by `fresh` (an entity's recomputed
        tiles), and tiles that no window ending after `newest_us` reaches dropped."""
        import numpy as np

        steps = stored.matrix[0]
        keep = stored.matrix[:, (steps < since_us) & (steps >= self.oldest_needed(newest_us))]
        if not keep.shape[1]:
            return fresh
        if not self.has_text:
            return Tiles(np.concatenate([keep, fresh.matrix], axis=1), ())
        text, (kept, new) = self.united([Tiles(keep, stored.text), self.compacted(fresh)])
        return Tiles(np.concatenate([kept, new], axis=1), text)

    def oldest_needed(self, newest_us: int) -> int:
        """The first step a window ending after `newest_us` (floored to a step) can read."""
        return newest_us // self.step_us * self.step_us - self.longest_us

    # -- reads -----------------------------------------------------------------------------------

    def reader(self, features: Sequence[str]) -> Callable[[np.ndarray, int, Sequence[bytes]], dict[str, Any]]:
        """A function from decoded tiles (matrix, request time in microseconds, text) to `{feature: value}`."""
        return _Merger(self, [self.features[f] for f in features])

    def empty_values(self, features: Sequence[str]) -> dict[str, Any]:
        """The values of an entity with no rows: count 0, the others NULL."""
        return {f: 0 if self.features[f].function == "count" else None for f in features}

    # -- pushes ----------------------------------------------------------------------------------

    def add_rows(self, stored: Tiles, events_us: Sequence[int], created_us: Sequence[int | None],
                 ties: Sequence[Any], inputs: Sequence[Sequence[Any]]) -> Tiles:
        """The stored tiles with rows added (one entity's pushed rows: event times, created times, tie_breaker
        values, and per input its values in the tile's form - ints, floats, days, microseconds, str, bytes)."""
        import numpy as np

        text: list[bytes] = []
        if self.has_text:  # text values (and a text tie_breaker) become their ranks in the stored text and theirs
            given = {i: [_text_bytes(v) for v in values] for i, values in enumerate(inputs) if i in self.text_inputs}
            tie_text = [_text_bytes(v) for v in ties] if self.tie_is_text else []
            more = [v for values in [*given.values(), tie_text] for v in values if v is not None]
            text, (matrix,) = self.united([stored], more)
            rank = {value: r for r, value in enumerate(text)}
            inputs = [[None if v is None else rank[v] for v in given[i]] if i in given else values
                      for i, values in enumerate(inputs)]
            if self.tie_is_text:
                ties = [None if v is None else rank[v] for v in tie_text]
        else:
            matrix = np.array(stored.matrix, dtype=np.int64, copy=True)
        floats = matrix.view(np.float64)
        for row, event in enumerate(events_us):
            step = event // self.step_us * self.step_us
            at = int(np.searchsorted(matrix[0], step))
            if at == matrix.shape[1] or matrix[0, at] != step:
                fresh = self.empty_tile(step)
                matrix = np.concatenate([matrix[:, :at], fresh, matrix[:, at:]], axis=1)
                floats = matrix.view(np.float64)
            matrix[self.row[("rows", None)], at] += 1
            order = (event, NO_CREATED if created_us[row] is None else created_us[row])
            for index, values in enumerate(inputs):
                value = values[row]
                if value is None:  # NULL inputs are ignored (counted only by count without a column)
                    continue
                self._add_value(matrix, floats, at, index, value, order, ties[row])
        return Tiles(matrix, text)

    def empty_tile(self, step: int) -> np.ndarray:
        """A (width, 1) tile of `step` holding no row: zeros, and for minimums and maximums the value that loses."""
        import numpy as np

        fresh = np.zeros((self.width, 1), dtype=np.int64)
        fresh[0, 0] = step
        floats = fresh.view(np.float64)
        for i, column in enumerate(self.columns, start=1):
            if column.kind == "last_created":
                fresh[i, 0] = NO_CREATED
            elif column.is_text and column.kind in ("last", "last_tie"):
                fresh[i, 0] = NO_TEXT
            elif column.kind == "last_tie":
                fresh[i, 0] = NO_TIE
            elif column.kind in ("min", "max"):
                if column.is_float:
                    floats[i, 0] = math.inf if column.kind == "min" else -math.inf
                else:
                    fresh[i, 0] = INT_MAX if column.kind == "min" else INT_MIN
        return fresh

    def _add_value(self, matrix, floats, at: int, index: int, value: Any, order: tuple[int, int], tie: Any) -> None:
        row = self.row
        count_row = row[("count", index)]
        count = int(matrix[count_row, at])
        is_float = self.input_dtypes[index].name in FLOAT_KINDS
        cells = floats if is_float else matrix
        if ("sum", index) in row:
            r = row[("sum", index)]
            (floats if self.columns[r - 1].is_float else matrix)[r, at] += value
        for kind, better in (("min", lambda new, old: new < old), ("max", lambda new, old: new > old)):
            if (kind, index) in row:
                r = row[(kind, index)]
                if count == 0 or better(value, cells[r, at]):
                    cells[r, at] = value
        if ("mean", index) in row:  # the step's mean (in two parts) and M2 with the value, exactly, then rounded
            cells_of = (row[("mean", index)], row[("mean_lo", index)], row[("m2", index)])
            stored = tuple(float(floats[r, at]) for r in cells_of) if count else (0.0, 0.0, 0.0)
            for r, moment in zip(cells_of, _moments_with(count, *stored, value)):
                floats[r, at] = moment
        if ("last", index) in row:
            last_row, event_row = row[("last", index)], row[("last_event", index)]
            created_row = row.get(("last_created", index))
            tie_row = row.get(("last_tie", index))
            stored_order: tuple = (int(matrix[event_row, at]),
                                   int(matrix[created_row, at]) if created_row is not None else NO_CREATED)
            new_order: tuple = order
            if tie_row is not None:  # a NULL tie_breaker is older than any (NO_TIE; a text one: NO_TEXT)
                tie = (NO_TEXT if self.tie_is_text else NO_TIE) if tie is None else tie
                stored_order += (int(matrix[tie_row, at]),)
                new_order += (tie,)
            if count == 0 or new_order > stored_order or (new_order == stored_order and value > cells[last_row, at]):
                cells[last_row, at] = value
                matrix[event_row, at] = order[0]
                if created_row is not None:
                    matrix[created_row, at] = order[1]
                if tie_row is not None:
                    matrix[tie_row, at] = tie
        matrix[count_row, at] = count + 1


# The record's rows after the steps, in blocks that a read reduces as a whole (a slice of rows, no copy):
# int sums (the rows, the counts, sums of integers), float sums (sums of floats, then M2s), means, minimums
# and maximums (int, float), then `last` values and their order.
_BLOCKS = ("int_sum", "float_sum", "mean", "int_min", "float_min", "int_max", "float_max", "last")


def _block_of(column: TileColumn) -> tuple[int, int]:
    """(block, place in the block) of a row."""
    kind = column.kind
    if kind in ("rows", "count"):
        return 0, 0 if kind == "rows" else 1
    if kind == "sum":
        return (1, 0) if column.is_float else (0, 2)
    if kind == "m2":
        return 1, 1
    if kind in ("mean", "mean_lo"):
        return 2, kind == "mean_lo"
    if kind in ("min", "max"):
        return (3 if kind == "min" else 5) + column.is_float, 0
    return 7, 0  # last and its order, input by input


def _blocks(columns: Sequence[TileColumn]) -> dict[str, tuple[int, int]]:
    """Each block's rows of the record, [start, end) (row 0 holds the steps)."""
    bounds: dict[str, tuple[int, int]] = {}
    for row, column in enumerate(columns, start=1):
        name = _BLOCKS[_block_of(column)[0]]
        start = bounds.get(name, (row, row))[0]
        bounds[name] = (start, row + 1)
    return bounds


class _Merger:
    """Merges the tiles of each requested feature's window. Per distinct window: one search for its tiles, then
    one reduction of each block of rows its features read (`_BLOCKS`: int sums, float sums, minimums, maximums;
    a tile without a value holds the sentinel that loses), the moments of each variance, and a scan for the
    newest tile with a value per `last`. A read of a few hundred tiles costs what its numpy calls cost, so
    there are few, each over only the rows that are needed."""

    def __init__(self, spec: TileSpec, features: Sequence[TileFeature]) -> None:
        import numpy as np

        self.np = np
        self.spec = spec
        row, blocks = spec.row, spec.blocks

        def offset(block: str, at: int) -> int:
            return at - blocks[block][0]

        windows: dict[int, list] = {}
        for f in features:
            i = f.input
            count = offset("int_sum", row[("rows", None)] if i is None else row[("count", i)])
            is_float = i is not None and spec.input_dtypes[i].name in FLOAT_KINDS
            convert = _converter(spec.input_dtypes[i]) if i is not None else None  # (cell, text) -> value
            value: Any = None
            if f.function in ("sum", "avg"):
                sum_float = spec.columns[row[("sum", i)] - 1].is_float
                value = (sum_float, offset("float_sum" if sum_float else "int_sum", row[("sum", i)]))
            elif f.function in ("min", "max"):
                block = ("float_" if is_float else "int_") + f.function
                value = (block, offset(block, row[(f.function, i)]), convert)
            elif f.function == "last":
                value = (row[("count", i)], row[("last", i)], is_float, convert)
            elif f.function in ("variance", "stddev"):
                # the window's mean from the column's sum where the tiles keep one (a dot product less)
                total = None
                if ("sum", i) in row:
                    sum_float = spec.columns[row[("sum", i)] - 1].is_float
                    total = (sum_float, offset("float_sum" if sum_float else "int_sum", row[("sum", i)]))
                value = (total, offset("float_sum", row[("m2", i)]), row[("count", i)], row[("mean", i)],
                         row[("mean_lo", i)])
            windows.setdefault(f.window_steps * spec.step_us, []).append((f.name, f.function, count, value))
        self.windows = tuple((tuple(plans), self._needs(plans), any(n[3] for n in self._needs(plans)) or
                              any(p[1] == "last" and p[3][2] for p in plans)) for plans in windows.values())
        # each window's first step is `end - span`; the last entry, `end` itself, bounds them all
        self.spans = np.array([*windows, 0], dtype=np.int64)

    def _needs(self, plans: list) -> tuple[tuple[Any, int, int, bool, str], ...]:
        """The block reductions a window's features read: (ufunc, first row, end row, of floats, block)."""
        np = self.np
        needs = {"int_sum"}
        for _, function, _, value in plans:
            if function in ("sum", "avg") and value[0] or function in ("variance", "stddev"):
                needs.add("float_sum")
            elif function in ("min", "max"):
                needs.add(value[0])
        ufuncs = {"sum": np.add, "min": np.minimum, "max": np.maximum}
        return tuple((ufuncs[b.split("_")[1]], *self.spec.blocks[b], b.startswith("float"), b) for b in sorted(needs))

    def __call__(self, matrix: np.ndarray, at_us: int, text: Sequence[bytes] = ()) -> dict[str, Any]:
        np = self.np
        step_us = self.spec.step_us
        end = at_us // step_us * step_us
        bounds = matrix[0].searchsorted(end - self.spans).tolist()  # every window's first tile, then the end
        hi = bounds[-1]
        out: dict[str, Any] = {}
        for (plans, needs, of_floats), lo in zip(self.windows, bounds):
            if lo == hi:
                for name, function, _, _ in plans:
                    out[name] = 0 if function == "count" else None
                continue
            cells = matrix[:, lo:hi]
            floats = cells.view(np.float64) if of_floats else cells
            reduced = {}
            for ufunc, start, stop, is_float, block in needs:
                rows = floats if is_float else cells
                if stop - start == 1:  # one row: a flat reduction (a 2-D one costs twice as much)
                    reduced[block] = [ufunc.reduce(rows[start]).item()]
                else:
                    reduced[block] = ufunc.reduce(rows[start:stop], axis=1).tolist()
            sums = reduced["int_sum"]
            for name, function, count, value in plans:
                n = sums[count]
                if function == "count":
                    out[name] = n
                elif n == 0:
                    out[name] = None
                elif function == "sum":
                    out[name] = reduced["float_sum" if value[0] else "int_sum"][value[1]]
                elif function == "avg":
                    out[name] = reduced["float_sum" if value[0] else "int_sum"][value[1]] / n
                elif function in ("min", "max"):
                    out[name] = value[2](reduced[value[0]][value[1]], text)
                elif function == "last":  # the newest tile with a value: most often the newest tile
                    newest = hi - lo - 1
                    if not cells.item(value[0], newest):
                        newest = int(cells[value[0]].nonzero()[0][-1])
                    out[name] = value[3]((floats if value[2] else cells).item(value[1], newest), text)
                elif n < 2:
                    out[name] = None
                else:  # the tiles' M2s + their spread around the window's mean (Chan et al.): an empty tile weighs 0
                    ns = cells[value[2]]  # counts: int64, multiplied into floats
                    means = floats[value[3]]
                    total = value[0]
                    centre = (reduced["float_sum" if total[0] else "int_sum"][total[1]] if total is not None
                              else float((ns * means).sum())) / n
                    # each tile's deviation from the centre, its mean in two parts (fcompile/planner/tiles.py);
                    # the correction takes the centre's own error out (the corrected two-pass algorithm)
                    deviations = means - centre
                    deviations += floats[value[4]]
                    shift = float(ns.dot(deviations))
                    m2 = reduced["float_sum"][value[1]] + float((ns * deviations).dot(deviations)) - shift * shift / n
                    variance = max(m2, 0.0) / (n - 1)
                    out[name] = variance if function == "variance" else math.sqrt(variance)
        return out


def _moments_with(count: int, mean: float, mean_lo: float, m2: float, value: Any) -> tuple[float, float, float]:
    """A step's (mean, mean_lo, M2) over `count` values, with `value` added: Welford's update done in exact
    rationals (`mean + mean_lo` is the mean), then split back into two floats and rounded once, so a push
    loses nothing of a value far from zero. Infinities and NaN take the float update (they make every
    moment NaN or infinite, as the engines' do)."""
    if not all(math.isfinite(v) for v in (mean, mean_lo, m2, float(value))):
        delta = float(value) - mean
        mean += delta / (count + 1)
        return mean, 0.0, m2 + delta * (float(value) - mean)
    exact = Fraction(mean) + Fraction(mean_lo)
    delta = Fraction(value) - exact
    exact += delta / (count + 1)
    high = float(exact)
    return high, float(exact - Fraction(high)), float(Fraction(m2) + delta * delta * count / (count + 1))


def _text_bytes(value: Any) -> bytes | None:
    """A string's UTF-8 bytes (the order the record's text keeps), bytes as they are."""
    return None if value is None else value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _identity(value: Any, text: Sequence[bytes]) -> Any:
    return value


def _converter(dtype: DType) -> Callable[[Any, Sequence[bytes]], Any]:
    """A cell's value as the feature's (a text cell's through the record's text)."""
    name = dtype.name
    if name == "string":
        return lambda rank, text: text[rank].decode("utf-8")
    if name == "bytes":
        return lambda rank, text: bytes(text[rank])
    if name == "bool":
        return lambda value, text: bool(value)
    if name == "date":
        return lambda value, text: date_from_days(value)
    if name == "timestamp":
        return lambda value, text: datetime_from_micros(value)
    return _identity


def _as_binary(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """A string or bytes column as large binary: the bytes that order it (strings: UTF-8, by code point)."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.cast(pa.large_binary())


class StaleTiles(ValueError):
    """A stored tile record of another layout: the view's aggregations changed since it was written."""

    def __init__(self, view: str) -> None:
        super().__init__(view)
        self.view = view


def stale_tiles(view: str) -> DiagnosticError:
    return DiagnosticError([Diagnostic(
        Code.ONLINE_STORE_ERROR, f"feature view '{view}': its stored tiles were written for other aggregations "
        "(the view's aggregations, step or source changed since)", None,
        f"run `fcompile materialize --full-refresh --select {view}` to compute them again")])


def version_after(previous: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """A record's next version: now, or a microsecond after the stored one when that is not earlier."""
    if previous is not None and previous >= now:
        return previous + dt.timedelta(microseconds=1)
    return now
