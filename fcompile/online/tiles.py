"""A view's tiles in the online store, and windowed aggregations merged from them at read time
(docs/reference/online-store-layout.md, "Tiles").

The tiles of one entity are one record: the value of the single `bytes` feature `__fc_tiles` of the view's
tile view (`<view>__fc_tiles`, a name no spec can give), stored by every store as it stores any row, so
batches are atomic, the materialization lock covers them and `drop_view` forgets them. The record is

| part    | bytes                                                                                     |
| ------- | ----------------------------------------------------------------------------------------- |
| magic   | 4: `FCT2` (`FCT1`: a record written before the running totals, still read)                |
| layout  | 8: the first bytes of the SHA-256 of the tile columns (names and kinds), as `TileSpec.id` |
| count   | 4: n, the number of tiles, little-endian                                                  |
| columns | rows of n little-endian 8-byte cells: first each tile's step (its first microsecond since  |
|         | the epoch), ascending, then one row per partial but the integer sums, in `_STORED_BLOCKS`  |
|         | order (float sums, means, then each kind's minimums followed by its maximums, negated or   |
|         | complemented, then `last` values): int64, a float64's bits, or a text value's rank         |
| totals  | n + 1 rows of `TileSpec.running_width` cells: row j the running totals of the tiles before |
|         | the j-th - the integer sums (int64), the float sums, then per variance input the totals    |
|         | of M2 + n*d*d and n*d (float64; d: the tile's two-part mean minus the input's reference)   |
| consts  | float64: each float total's slack (`_running_sums`), then each variance input's reference  |
| text    | only where a min, max or last takes a string or bytes column, or a last keeps a string     |
|         | tie_breaker: m (8 bytes), m + 1 offsets (8 bytes each), then the m distinct values the     |
|         | text cells name, in byte order (UTF-8)                                                    |

so a read views a record's cells without copying, takes each window's counts and sums as the difference of two
rows of totals (`_Merger`) and reduces the rest with a slice: one `np.minimum` reduction takes a kind's
minimums and (stored negated or complemented) maximums together, a search the `last` values. Writes work on
the whole (width, n) matrix of partials, in `_BLOCKS` order (`decode` rebuilds the integer sums from the
totals and the maximums from their stored form) and compute the totals again in `encode`. A text cell holds
the rank of its value among the record's distinct values, sorted by their bytes (UTF-8 for strings, which
orders them by code point, as the engines compare strings), so the minimum, maximum and tie-breaking of ranks
are those of the values, and text reduces with the integers. The record's event time is its version (the time
it was written, moving forward by at least a microsecond each write), so the store's newer-wins write makes
the last write win.
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
MAGIC = b"FCT2"
PREVIOUS_MAGIC = b"FCT1"  # a record written before the running totals: still read, and rewritten as FCT2
_HEAD = struct.Struct("<4s8sI")
_INT64 = struct.Struct("<q")  # a record's count of texts, and a cell of its running totals
INT_KINDS = ("int32", "int64", "bool", "date", "timestamp")
FLOAT_KINDS = ("float32", "float64")
TEXT_KINDS = ("string", "bytes")  # kept as ranks in the record's text (min, max, last)
VALUE_KINDS = ("min", "max", "last")  # the partials that hold an input's value
NO_TEXT = -1  # a text `last` cell of a tile without a value (minimums and maximums hold INT_MAX / INT_MIN)
NO_CREATED = -(1 << 63)  # a `last` value's created time where there is none: older than any
NO_TIE = -(1 << 63)  # a `last` value's tie_breaker where it is NULL: older than any (a text one: NO_TEXT)
INT_MAX, INT_MIN = (1 << 63) - 1, -(1 << 63)  # what the minimum and maximum of a tile without values hold
UNIT = 2.0 ** -53  # a float64's unit roundoff
ENCODE_CHUNK = 256  # records whose running totals are computed together (a padded array of this many)
TOLERANCE = 1e-12  # how far (relative) a float merged from running totals may be from the merge of the tiles


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
        # the record's running totals (`_Merger`): the integer sums' rows (rows, counts, integer sums: the
        # first rows after the steps, kept only as totals), the float sums, then per variance input the
        # totals of M2 + n*d*d and of n*d (d: a tile's mean minus the record's reference)
        self.int_rows = self.blocks["int_sum"][1] - 1
        self.float_sums = tuple(1 + i for i, c in enumerate(columns) if c.kind == "sum" and c.is_float)
        self.moment_inputs = tuple(c.input for c in columns if c.kind == "mean")
        self.running_floats = len(self.float_sums) + 2 * len(self.moment_inputs)
        self.running_width = self.int_rows + self.running_floats
        self.constant_count = self.running_floats + len(self.moment_inputs)
        self.kept_rows = self.width - self.int_rows  # the steps, then the rows after the integer sums
        # the record keeps those rows with each kind's maximums right after its minimums, negated (a float's
        # sign bit) or complemented (an integer or a rank: ~x), so one reduction takes a kind's both
        order, self.stored_blocks = [0], {}
        for name in _STORED_BLOCKS:
            if name in self.blocks:
                start, end = self.blocks[name]
                self.stored_blocks[name] = (len(order), len(order) + end - start)
                order.extend(range(start, end))
        self.stored_order = order
        self.stored_at = {row: at for at, row in enumerate(order)}  # a matrix row's place in the record
        self.running_row = struct.Struct("<" + "q" * self.int_rows + "d" * self.running_floats)
        self.constants = struct.Struct("<" + "d" * self.constant_count)
        import numpy as np

        self._cell = np.dtype("<i8")

    @property
    def width(self) -> int:
        return 1 + len(self.columns)

    # -- records ---------------------------------------------------------------------------------

    def encode(self, tiles: Tiles) -> bytes:
        """A record from tiles (steps ascending), keeping only the text its cells name."""
        return self.encode_many([tiles])[0]

    def encode_many(self, many: Sequence[Tiles]) -> list[bytes]:
        """The records of several entities' tiles: their running totals computed together (a batch of a
        materialization is one set of numpy calls, not one set per entity)."""
        import numpy as np

        if self.has_text:
            many = [self.compacted(tiles) for tiles in many]
        matrices = [np.ascontiguousarray(tiles.matrix, dtype="<i8") for tiles in many]
        totals = [t for at in range(0, len(matrices), ENCODE_CHUNK)
                  for t in self._running_totals(matrices[at:at + ENCODE_CHUNK])]
        records = []
        for matrix, tiles, (running, constants) in zip(matrices, many, totals):
            kept = matrix[self.stored_order]  # a copy
            self._flip_maximums(kept)
            head = b"".join((_HEAD.pack(MAGIC, self.id, matrix.shape[1]), kept.tobytes(), running.tobytes(),
                             constants.tobytes()))
            if not self.has_text:
                records.append(head)
                continue
            values = list(tiles.text)
            offsets = np.zeros(len(values) + 1, dtype="<i8")
            np.cumsum([len(v) for v in values], out=offsets[1:])
            records.append(head + _INT64.pack(len(values)) + offsets.tobytes() + b"".join(values))
        return records

    def _flip_maximums(self, kept: np.ndarray) -> None:
        """The maximums' rows of a record's kept rows negated (floats) and complemented (integers, ranks), in
        place: the same call stores and restores them."""
        if "int_max" in self.stored_blocks:
            start, end = self.stored_blocks["int_max"]
            kept[start:end] = ~kept[start:end]
        if "float_max" in self.stored_blocks:
            start, end = self.stored_blocks["float_max"]
            kept[start:end] ^= INT_MIN  # the sign bit

    def _running_totals(self, matrices: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each record's running totals, (n + 1) rows of `running_width` cells, and its constants (each float
        column's slack, then each variance input's reference): see `_Merger`. The matrices are laid side by
        side in one array, each padded with zero tiles to the longest (a running sum is untouched by what comes
        after it), so a batch takes the same numpy calls as one record."""
        import numpy as np

        sizes = [m.shape[1] for m in matrices]
        longest = max(sizes, default=0)
        if all(n == longest for n in sizes):
            stacked = np.stack(matrices) if len(matrices) > 1 else matrices[0][None]
        else:
            stacked = np.zeros((len(matrices), self.width, longest), dtype="<i8")
            for at, matrix in enumerate(matrices):
                stacked[at, :, :matrix.shape[1]] = matrix
        running = np.zeros((len(matrices), longest + 1, self.running_width), dtype="<i8")
        # int64: wraps, as sums do
        running[:, 1:, :self.int_rows] = np.cumsum(stacked[:, 1:self.int_rows + 1], axis=2).transpose(0, 2, 1)
        if not self.running_floats:
            none = np.zeros(0, dtype="<f8")
            return [(running[at, :n + 1], none) for at, n in enumerate(sizes)]
        floats = stacked.view(np.float64)
        parts = [floats[:, r] for r in self.float_sums]
        references = []
        with np.errstate(all="ignore"):  # an infinite or NaN input makes NaN totals, which a read does not use
            for i in self.moment_inputs:
                counts = stacked[:, self.row[("count", i)]]
                means = floats[:, self.row[("mean", i)]]
                present = counts != 0
                reference = np.zeros(len(matrices))
                if longest:  # each record's newest tile with a value (none: 0)
                    newest = longest - 1 - np.argmax(present[:, ::-1], axis=1)
                    reference = np.where(present.any(axis=1), means[np.arange(len(matrices)), newest], 0.0)
                deviations = (means - reference[:, None]) + floats[:, self.row[("mean_lo", i)]]
                weighted = counts * deviations
                parts += [floats[:, self.row[("m2", i)]] + weighted * deviations, weighted]
                references.append(reference)
        totals, slack = _running_sums(np.stack(parts, axis=1), np.array(sizes))
        running.view(np.float64)[:, :, self.int_rows:] = totals.transpose(0, 2, 1)
        constants = np.concatenate([slack, np.stack(references, axis=1) if references
                                    else np.zeros((len(matrices), 0))], axis=1).astype("<f8")
        return [(running[at, :n + 1], constants[at]) for at, n in enumerate(sizes)]

    def decode(self, record: bytes | None) -> Tiles:
        """The tiles of a record (none for None), as the (width, n) matrix writes work on. Raises `StaleTiles`
        for a record of another layout."""
        import numpy as np

        if not record:
            return Tiles(np.zeros((self.width, 0), dtype=np.int64), ())
        magic, layout, n = _HEAD.unpack_from(record)
        if layout != self.id or magic not in (MAGIC, PREVIOUS_MAGIC):
            raise StaleTiles(self.view)
        if magic == PREVIOUS_MAGIC:  # the whole matrix, as the record holds it
            matrix = np.ndarray((self.width, n), self._cell, record, _HEAD.size)  # a view of the record
            text_at = _HEAD.size + 8 * self.width * n
        else:
            stored = self._stored(record, n)
            matrix = np.empty((self.width, n), dtype=np.int64)
            kept = np.array(stored.rows, dtype=np.int64)
            self._flip_maximums(kept)
            matrix[self.stored_order] = kept
            matrix[1:self.int_rows + 1] = np.diff(self.stored_totals(stored)[:, :self.int_rows], axis=0).T
            text_at = stored.text_at
        if not self.has_text:
            return Tiles(matrix, ())
        return Tiles(matrix, self._text(record, text_at))

    def stored(self, record: bytes) -> StoredTiles:
        """A record as reads merge it (views of its bytes). A record written before the running totals (FCT1)
        gets them here, on every read, until a write stores it again."""
        magic, layout, n = _HEAD.unpack_from(record)
        if magic != MAGIC or layout != self.id:
            if magic == PREVIOUS_MAGIC and layout == self.id:
                return self.stored(self.encode(self.decode(record)))
            raise StaleTiles(self.view)
        return self._stored(record, n)

    def _stored(self, record: bytes, n: int) -> StoredTiles:
        import numpy as np

        rows = np.ndarray((self.kept_rows, n), self._cell, record, _HEAD.size)
        running_at = _HEAD.size + 8 * self.kept_rows * n
        text_at = running_at + 8 * ((n + 1) * self.running_width + self.constant_count)
        return StoredTiles(record, n, rows, running_at, text_at, self._text(record, text_at) if self.has_text else ())

    def stored_totals(self, stored: StoredTiles) -> np.ndarray:
        """A record's running totals as an (n + 1, running_width) int64 matrix (float columns as their bits)."""
        import numpy as np

        return np.ndarray((stored.n + 1, self.running_width), self._cell, stored.record, stored.running_at)

    def _text(self, record: bytes, at: int) -> RecordText:
        import numpy as np

        (m,) = _INT64.unpack_from(record, at)
        offsets = np.frombuffer(record, dtype="<i8", count=m + 1, offset=at + 8)
        return RecordText(record, offsets, at + 8 * (m + 2))

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
        text = pa.nulls(0, pa.large_binary())  # not `pa.array`, which imports pandas wherever it is installed
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

    def reader(self, features: Sequence[str]) -> Callable[[StoredTiles, int], dict[str, Any]]:
        """A function from a stored record (`stored`) and a request time in microseconds to `{feature: value}`."""
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
# The order of the blocks a record keeps per tile (the integer sums are kept as running totals only); each
# kind's maximums (negated or complemented) follow its minimums, so a read reduces both in one call.
_STORED_BLOCKS = ("float_sum", "mean", "int_min", "int_max", "float_min", "float_max", "last")


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


class StoredTiles:
    """A record as a read merges it: views of its bytes, made without copying. `rows` holds the steps, then
    each per-tile row after the integer sums (`TileSpec.kept_rows`); the running totals start at `running_at`,
    `TileSpec.running_width` cells a row, row k holding the totals of the tiles before the k-th."""

    __slots__ = ("record", "n", "rows", "running_at", "text_at", "text")

    def __init__(self, record: bytes, n: int, rows: np.ndarray, running_at: int, text_at: int,
                 text: Sequence[bytes]) -> None:
        self.record, self.n, self.rows, self.running_at = record, n, rows, running_at
        self.text_at, self.text = text_at, text


def _running_sums(values: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For `values` of shape (records, rows, longest), each record's first `sizes[r]` cells of each row
    holding its values (zeros after them): each row's running sums `[0, x0, x0 + x1, ...]`, and a slack per
    record and row. A running sum's error is at most one rounding of the exact sum plus the slack: the
    additions' errors are found exactly (TwoSum) and added back, and the slack bounds what summing those
    errors may have missed."""
    import numpy as np

    records, rows, longest = values.shape
    totals = np.zeros((records, rows, longest + 1))
    with np.errstate(all="ignore"):
        sums = np.cumsum(values, axis=2)
        before = np.zeros_like(sums)
        before[:, :, 1:] = sums[:, :, :-1]
        added = sums - before
        errors = (before - (sums - added)) + (values - added)
        totals[:, :, 1:] = sums + np.cumsum(errors, axis=2)
        magnitudes = np.abs(sums)
        if (sizes < longest).any():  # the padding's running sums repeat a record's total: not its own
            magnitudes = np.where(np.arange(longest)[None, None, :] < sizes[:, None, None], magnitudes, 0.0)
        # summed in order (a pairwise sum's grouping, hence its rounding, would depend on the padding)
        magnitude = np.cumsum(magnitudes, axis=2)[:, :, -1] if longest else np.zeros((records, rows))
        slack = (2.0 * (sizes[:, None] + 2) * UNIT * UNIT) * magnitude
    return totals, slack


def _wrapped(value: int) -> int:
    """A difference of int64 totals as int64 arithmetic has it (exact when the true sum fits, as numpy's sums)."""
    if -(1 << 63) <= value < 1 << 63:
        return value
    return (value + (1 << 63)) % (1 << 64) - (1 << 63)


def _float_difference(top: float, low: float, slack: float) -> float | None:
    """The sum of the tiles between two running totals, or None where the subtraction could lose more than
    TOLERANCE of it (a small window after a huge history, infinities, NaN): the caller then sums the tiles."""
    result = top - low
    bound = 2.0 * UNIT * (abs(top) + abs(low) + abs(result)) + 2.0 * slack
    return result if bound <= TOLERANCE * abs(result) and bound < math.inf else None


class _Merger:
    """Merges the tiles of each requested feature's window [lo, hi) (one binary search gives every window's
    bounds; in a record with a tile every step, arithmetic does). Counts and sums come from the record's
    running totals: a sum over a window is the difference of two rows of them (row hi minus row lo), read with
    one `struct` call each - exact for counts and integer
    sums (int64 wrap-around, as a numpy sum's), and for floats kept only where an error bound proves it within
    TOLERANCE (relative) of the sum of the tiles; else the tiles are summed. A variance is the totals' M2 + n*d*d
    minus (sum of n*d)^2 / N over the window, d being each tile's mean (in two parts) minus a reference of the
    record (the newest tile's mean), under the same kind of bound (`_variance_bound`); else the corrected
    two-pass merge around the window's mean (the tiles' spread, as fcompile/planner/tiles.py). A kind's
    minimums and maximums (negated or complemented) are one reduction, and a `last` is the newest tile with a
    value."""

    def __init__(self, spec: TileSpec, features: Sequence[TileFeature]) -> None:
        import numpy as np

        self.np = np
        self.spec = spec
        row, ints, at = spec.row, spec.int_rows, spec.stored_at

        def running(matrix_row: int) -> int:
            """The running column of an integer-sum row or a float sum row."""
            if matrix_row <= ints:
                return matrix_row - 1
            return ints + spec.float_sums.index(matrix_row)

        def sum_of(i: int) -> tuple[bool, int, int]:
            """(of floats, running column, stored row) of input i's sum."""
            r = row[("sum", i)]
            return spec.columns[r - 1].is_float, running(r), at.get(r, -1)  # integer sums: totals only

        windows: dict[int, list] = {}
        for f in features:
            i = f.input
            count = running(row[("rows", None)] if i is None else row[("count", i)])
            is_float = i is not None and spec.input_dtypes[i].name in FLOAT_KINDS
            convert = _converter(spec.input_dtypes[i]) if i is not None else None  # (cell, text) -> value
            value: Any = None
            if f.function in ("sum", "avg"):
                value = sum_of(i)
            elif f.function in ("min", "max"):
                kind = "float" if is_float else "int"
                flip = None if f.function == "min" else float.__neg__ if is_float else int.__invert__
                value = (kind, at[row[(f.function, i)]] - self._extremes(kind)[0], flip, convert)
            elif f.function == "last":
                value = (count, at[row[("last", i)]], is_float, convert)
            elif f.function in ("variance", "stddev"):
                k = spec.moment_inputs.index(i)
                totals = ints + len(spec.float_sums) + 2 * k  # M2 + n*d*d, then n*d
                value = (totals, len(spec.float_sums) + 2 * k, sum_of(i) if ("sum", i) in row else None,
                         at[row[("mean", i)]], at[row[("mean_lo", i)]], at[row[("m2", i)]])
            windows.setdefault(f.window_steps * spec.step_us, []).append((f.name, f.function, count, value))
        self.windows = tuple((tuple(plans), self._needs(plans)) for plans in windows.values())
        self.needs_floats = any(is_float for _, needs in self.windows for *_, is_float in needs) or any(
            p[1] == "last" and p[3][2] for plans, _ in self.windows for p in plans)
        self.needs_constants = any(p[1] in ("sum", "avg", "variance", "stddev") for plans, _ in self.windows
                                   for p in plans)
        # each window's first step is `end - span`; the last entry, `end` itself, bounds them all
        self.spans = np.array([*windows, 0], dtype=np.int64)
        self.span_list = self.spans.tolist()
        self.unpack = spec.running_row.unpack_from
        self.row_size = spec.running_row.size

    def _extremes(self, kind: str) -> tuple[int, int]:
        """The record's rows of a kind's minimums and maximums, [start, end)."""
        blocks = self.spec.stored_blocks
        found = [blocks[b] for b in (kind + "_min", kind + "_max") if b in blocks]
        return found[0][0], found[-1][1]

    def _needs(self, plans: list) -> tuple[tuple[str, int, int, bool], ...]:
        """The reductions of minimums and maximums a window's features read: (kind, first row, end row, of
        floats)."""
        kinds = sorted({value[0] for _, function, _, value in plans if function in ("min", "max")})
        return tuple((kind, *self._extremes(kind), kind == "float") for kind in kinds)

    def __call__(self, tiles: StoredTiles, at_us: int) -> dict[str, Any]:
        np = self.np
        step_us = self.spec.step_us
        end = at_us // step_us * step_us
        rows, n = tiles.rows, tiles.n
        first = rows.item(0, 0)
        if rows.item(0, n - 1) - first == (n - 1) * step_us:  # a tile every step: the bounds are arithmetic
            bounds = [min(max(-((first - end + span) // step_us), 0), n) for span in self.span_list]
        else:  # every window's first tile, then the end
            bounds = rows[0].searchsorted(end - self.spans).tolist()
        hi = bounds[-1]
        record, at, size = tiles.record, tiles.running_at, self.row_size
        top = self.unpack(record, at + hi * size)
        floats = rows.view(np.float64) if self.needs_floats else rows
        constants = self.spec.constants.unpack_from(record, tiles.text_at - self.spec.constants.size) \
            if self.needs_constants else ()
        out: dict[str, Any] = {}
        for (plans, needs), lo in zip(self.windows, bounds):
            if lo == hi:
                for name, function, _, _ in plans:
                    out[name] = 0 if function == "count" else None
                continue
            low = self.unpack(record, at + lo * size)
            reduced = {}
            for kind, start, stop, is_float in needs:  # the minimums, and the maximums negated or complemented
                cells = floats if is_float else rows
                if stop - start == 1:  # one row: a flat reduction (a 2-D one costs twice as much)
                    reduced[kind] = [np.minimum.reduce(cells[start, lo:hi]).item()]
                else:
                    reduced[kind] = np.minimum.reduce(cells[start:stop, lo:hi], axis=1).tolist()
            for name, function, count, value in plans:
                n = top[count] - low[count]
                if function == "count":
                    out[name] = n
                elif n == 0:
                    out[name] = None
                elif function == "sum":
                    out[name] = self._sum(tiles, top, low, constants, value, lo, hi)
                elif function == "avg":
                    out[name] = self._sum(tiles, top, low, constants, value, lo, hi) / n
                elif function in ("min", "max"):
                    found = reduced[value[0]][value[1]]
                    out[name] = value[3](found if value[2] is None else value[2](found), tiles.text)
                elif function == "last":
                    out[name] = self._last(tiles, floats, top, value, lo, hi)
                elif n < 2:
                    out[name] = None
                else:
                    m2 = self._m2(tiles, top, low, constants, value, count, n, lo, hi)
                    variance = max(m2, 0.0) / (n - 1)
                    out[name] = variance if function == "variance" else math.sqrt(variance)
        return out

    def _sum(self, tiles: StoredTiles, top: tuple, low: tuple, constants: tuple, value: tuple, lo: int,
             hi: int) -> int | float:
        is_float, column, stored_row = value
        if not is_float:
            return _wrapped(top[column] - low[column])
        found = _float_difference(top[column], low[column], constants[column - self.spec.int_rows])
        if found is None:
            found = float(self.np.add.reduce(tiles.rows[stored_row, lo:hi].view(self.np.float64)))
        return found

    def _last(self, tiles: StoredTiles, floats: np.ndarray, top: tuple, value: tuple, lo: int, hi: int) -> Any:
        """The value of the newest tile with one (most often the newest tile)."""
        count, stored_row, is_float, convert = value
        newest = hi - 1
        before = _INT64.unpack_from(tiles.record, tiles.running_at + newest * self.row_size + 8 * count)[0]
        if top[count] == before:  # the newest tile has no value: the last one that has
            counts = self.np.diff(self.spec.stored_totals(tiles)[lo:hi + 1, count])
            newest = lo + int(counts.nonzero()[0][-1])
        return convert((floats if is_float else tiles.rows).item(stored_row, newest), tiles.text)

    def _m2(self, tiles: StoredTiles, top: tuple, low: tuple, constants: tuple, value: tuple, count: int, n: int,
            lo: int, hi: int) -> float:
        """The window's sum of squared deviations: from the running totals where `_variance_bound` keeps it
        within TOLERANCE, else by the corrected two-pass merge of its tiles."""
        totals, slack_at, sum_of, mean_row, mean_lo_row, m2_row = value
        squares, top_squares, low_squares = top[totals] - low[totals], top[totals], low[totals]
        spread, top_spread, low_spread = top[totals + 1] - low[totals + 1], top[totals + 1], low[totals + 1]
        m2 = squares - spread * spread / n
        bound = _variance_bound(n, squares, abs(top_squares) + abs(low_squares), constants[slack_at],
                                spread, abs(top_spread) + abs(low_spread), constants[slack_at + 1], m2)
        if bound <= TOLERANCE * m2 and bound < math.inf:
            return m2
        np = self.np
        floats = tiles.rows.view(np.float64)
        ns = np.diff(self.spec.stored_totals(tiles)[lo:hi + 1, count])
        means = floats[mean_row, lo:hi]
        total = self._sum(tiles, top, low, constants, sum_of, lo, hi) if sum_of is not None else float(ns.dot(means))
        # each tile's deviation from the window's mean, its mean in two parts; the correction takes the centre's
        # own error out (the corrected two-pass algorithm)
        deviations = means - total / n
        deviations += floats[mean_lo_row, lo:hi]
        shift = float(ns.dot(deviations))
        return float(floats[m2_row, lo:hi].sum()) + float((ns * deviations).dot(deviations)) - shift * shift / n


def _variance_bound(n: int, squares: float, squares_size: float, squares_slack: float, spread: float,
                    spread_size: float, spread_slack: float, m2: float) -> float:
    """A bound on the error of `squares - spread**2 / n` against the exact merge of the window's tiles.
    `squares` (the window's M2 + n*d*d) and `spread` (its n*d) are differences of running totals, each exact
    but for a rounding of each total (`size`: the two totals' magnitudes) and the slack of their sums; each
    term of them was rounded a few times (d once or twice, n*d once more, n*d*d and M2 + n*d*d once more
    each: at most 8 units of the term, and the terms of n*d sum to at most sqrt(n * squares) in magnitude)."""
    squares_error = 2.0 * UNIT * squares_size + 2.0 * squares_slack + 10.0 * UNIT * abs(squares)
    spread_error = (2.0 * UNIT * (spread_size + abs(spread)) + 2.0 * spread_slack
                    + 4.0 * UNIT * math.sqrt(n * abs(squares)))
    shift = spread * spread / n
    return (squares_error + (2.0 * abs(spread) * spread_error + spread_error * spread_error) / n
            + 4.0 * UNIT * (shift + abs(squares) + abs(m2)))


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
