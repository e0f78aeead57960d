"""Feature values of one entity as one packed record: how the SQLite and Redis stores keep a row's
features (PostgreSQL keeps native columns).

A record is

| part             | bytes                                                                              |
| ---------------- | ---------------------------------------------------------------------------------- |
| layout id        | 8: names the feature list (names and dtypes, in order) the record was written with |
| NULL bitmap      | one bit per feature of that layout, set for NULL: ceil(n / 8) bytes, bit i of the  |
|                  | record's feature i is bit i % 8 of byte i // 8                                     |
| fixed-width      | the fixed-width features in layout order, little-endian, zero where NULL: int32 4, |
| values           | int64 8, float32 4 (IEEE single, so a read widens it exactly), float64 8 (NaN, the |
|                  | infinities and -0.0 kept), bool 1, date 4 (days since 1970-01-01), timestamp 8     |
|                  | (microseconds since the epoch, UTC)                                                |
| variable-width   | then each string, bytes and array feature in layout order: a 4-byte little-endian  |
| values           | length, then UTF-8 text, the bytes, or the array as JSON (values.py); NULL: empty  |

A layout id is the first 8 bytes of the SHA-256 of the layout's JSON (`layout_json`). Each store keeps
the layouts it has written next to the rows, so a record written before a feature was added (or removed,
or retyped) still reads: a feature its layout lacks reads as NULL.

Writes encode a whole batch at once with numpy and Arrow kernels; a read decodes a record with one
`struct.unpack_from` for the fixed-width part and a slice per variable-width value.
"""

from __future__ import annotations

import hashlib
import json
import struct
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable, Sequence

from fcompile.graph import DType
from fcompile.online.values import (
    array_from_json, arrays_as_json, arrow_cast, arrow_compute, date_from_days, datetime_from_micros, filled, numpy_of,
    string_array, typed_scalar,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

ID_BYTES = 8
_FIXED = {"int32": "i", "int64": "q", "float32": "f", "float64": "d", "bool": "?", "date": "i", "timestamp": "q"}
_LENGTH = struct.Struct("<I")


def is_fixed(dtype: DType) -> bool:
    return not dtype.is_array and dtype.name in _FIXED


class RecordLayout:
    """The record form of one feature list: its id, and where each feature sits."""

    def __init__(self, features: Sequence[tuple[str, DType]]) -> None:
        self.features = tuple(features)
        self.json = layout_json(self.features)
        self.id = hashlib.sha256(self.json.encode()).digest()[:ID_BYTES]
        self.bitmap_bytes = (len(self.features) + 7) // 8
        self.fixed = [(i, name, dtype) for i, (name, dtype) in enumerate(self.features) if is_fixed(dtype)]
        self.variable = [(i, name, dtype) for i, (name, dtype) in enumerate(self.features) if not is_fixed(dtype)]
        # the fixed part (id, bitmap, values) as one struct; a length prefix per variable-width value follows
        codes = "".join(_FIXED[d.name] for _, _, d in self.fixed)
        self.fixed_part = struct.Struct(f"<{ID_BYTES}s{self.bitmap_bytes}s{codes}")
        self.fixed_values = struct.Struct(f"<{ID_BYTES + self.bitmap_bytes}x{codes}")  # the values alone
        # where each feature's value lands in the list `fixed_part.unpack` + variable-width values makes
        order = [i for i, _, _ in self.fixed] + [i for i, _, _ in self.variable]
        self.slot = {self.features[i][0]: 2 + position for position, i in enumerate(order)}
        self.bit = {name: i for i, (name, _) in enumerate(self.features)}
        self.dtype = dict(self.features)


def layout_json(features: Sequence[tuple[str, DType]]) -> str:
    """The layout as stored next to the rows: `[["name", "dtype"], ...]` (dtypes as `str(DType)`)."""
    return json.dumps([[name, str(dtype)] for name, dtype in features], separators=(",", ":"))


def layout_from_json(text: str | bytes) -> RecordLayout:
    from fcompile.parser.values import parse_dtype

    return RecordLayout([(name, parse_dtype(kind)) for name, kind in json.loads(text)])


# -- a whole batch, vectorized ---------------------------------------------------------------------------

def encode_records(layout: RecordLayout, features: dict[str, pa.Array], rows: int,
                   head: np.ndarray | None = None) -> pa.BinaryArray:
    """The records of a batch's feature columns (each of `values.arrow_type(dtype)`), one per row;
    `head`, a (rows, k) uint8 matrix, goes before each record when given (Redis puts the row's times
    there)."""
    import numpy as np
    import pyarrow as pa

    lead = 0 if head is None else head.shape[1]
    widths = [struct.calcsize("<" + _FIXED[d.name]) for _, _, d in layout.fixed]
    size = lead + ID_BYTES + layout.bitmap_bytes + sum(widths) + (_LENGTH.size if layout.variable else 0)
    matrix = np.zeros((rows, size), dtype=np.uint8)
    if head is not None:
        matrix[:, :lead] = head
    position = lead
    matrix[:, position:position + ID_BYTES] = np.frombuffer(layout.id, dtype=np.uint8)
    position += ID_BYTES
    if layout.features:
        nulls = np.zeros((rows, len(layout.features)), dtype=bool)
        for i, (name, _) in enumerate(layout.features):
            column = features[name]
            if column.null_count:
                nulls[:, i] = numpy_of(arrow_compute("is_null", column))
        matrix[:, position:position + layout.bitmap_bytes] = np.packbits(nulls, axis=1, bitorder="little")
        position += layout.bitmap_bytes
    for (_, name, dtype), width in zip(layout.fixed, widths):
        values = fixed_values(features[name], dtype)
        little_endian = values.astype("<" + _FIXED[dtype.name])
        matrix[:, position:position + width] = little_endian.view(np.uint8).reshape(rows, width)
        position += width
    variable = [_variable_values(features[name], dtype) for _, name, dtype in layout.variable]
    if variable:  # the first length goes in the matrix, the others between the values
        matrix[:, position:] = _lengths(variable[0]).reshape(rows, _LENGTH.size)
    fixed = arrow_cast(pa.FixedSizeBinaryArray.from_buffers(pa.binary(size), rows, [None, pa.py_buffer(matrix)]),
                       pa.binary())
    if not variable:
        return fixed
    pieces: list[Any] = [fixed, variable[0]]
    for data in variable[1:]:
        lengths = arrow_cast(pa.FixedSizeBinaryArray.from_buffers(pa.binary(_LENGTH.size), rows,
                                                                  [None, pa.py_buffer(_lengths(data))]), pa.binary())
        pieces += [lengths, data]
    return arrow_compute("binary_join_element_wise", *pieces, typed_scalar(b"", pa.binary()))


def fixed_values(column: pa.Array, dtype: DType):
    """The column as numpy numbers (timestamps int64 microseconds, dates int32 days since 1970), 0 or
    False where NULL."""
    import pyarrow as pa

    name = dtype.name
    if name == "timestamp":
        column = arrow_cast(column, pa.int64())
    elif name == "date":
        column = arrow_cast(column, pa.int32())
    elif name == "bool":
        return numpy_of(filled(column, False))
    return numpy_of(filled(column, 0))


def _variable_values(column: pa.Array, dtype: DType) -> pa.BinaryArray:
    """String, bytes or array values as bytes, empty where NULL."""
    import pyarrow as pa

    if dtype.is_array:
        column = string_array(arrays_as_json(column, dtype))
    return filled(arrow_cast(column, pa.binary()), b"")


def _lengths(data: pa.BinaryArray):
    import numpy as np

    return numpy_of(arrow_compute("binary_length", data)).astype("<u4").view(np.uint8)


# -- one record, in Python -------------------------------------------------------------------------------

def _text(raw: bytes) -> str:
    return raw.decode("utf-8")


_CONVERT: dict[str, Callable[[Any], Any] | None] = {
    "int32": None, "int64": None, "float32": None, "float64": None, "bool": None, "bytes": None,
    "string": _text, "date": date_from_days, "timestamp": datetime_from_micros,
}


class RecordReader:
    """Decodes records of one layout into `{feature: value}` for some of the features (in the order
    asked; a feature the layout lacks is None). Made once per (layout, features) and kept."""

    def __init__(self, layout: RecordLayout, features: Sequence[str]) -> None:
        self.features = tuple(features)
        self.unpack = layout.fixed_part.unpack_from
        self.no_nulls = bytes(layout.bitmap_bytes)
        slots = [layout.slot.get(f, -1) for f in self.features]  # -1: a None appended for missing features
        self.pick = _picker(slots)
        self._end = layout.fixed_part.size
        self._missing = -1 in slots
        first_variable = 2 + len(layout.fixed)
        self._variable = len(layout.variable) if any(slot >= first_variable for slot in slots) else 0
        self._bits = tuple((j, layout.bit[f]) for j, f in enumerate(self.features) if f in layout.bit)
        converters = [(j, _converter(layout.dtype[f])) for j, f in enumerate(self.features) if f in layout.slot]
        self._convert = tuple((j, c) for j, c in converters if c is not None)  # by the dtype written with
        # fixed-width values only, every one there and already its Python value: `dict(zip(...))` does
        self.plain = not self._variable and not self._missing and not self._convert

    def __call__(self, data: bytes, offset: int = 0) -> dict[str, Any]:
        return dict(zip(self.features, self.values(data, offset)))

    def values(self, data: bytes, offset: int = 0) -> tuple:
        """The values of the features asked, in their order."""
        fields: Any = self.unpack(data, offset)
        if self.plain and fields[1] == self.no_nulls:
            return tuple(self.pick(fields))
        if self._variable or self._missing:
            fields = list(fields)
            position = offset + self._end
            for _ in range(self._variable):
                (length,) = _LENGTH.unpack_from(data, position)
                position += 4
                fields.append(data[position:position + length])
                position += length
            if self._missing:
                fields.append(None)  # slot -1
        values = list(self.pick(fields))
        bitmap = fields[1]
        if bitmap != self.no_nulls:
            nulls = int.from_bytes(bitmap, "little")
            for j, bit in self._bits:
                if nulls >> bit & 1:
                    values[j] = None
        for j, convert in self._convert:
            value = values[j]
            if value is not None:
                values[j] = convert(value)
        return tuple(values)


def _picker(slots: list[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    if not slots:
        return lambda fields: ()
    if slots == list(range(slots[0], slots[0] + len(slots))) and slots[0] >= 0:  # a run: one slice
        return itemgetter(slice(slots[0], slots[0] + len(slots)))
    if len(slots) == 1:
        only = slots[0]
        return lambda fields: (fields[only],)
    return itemgetter(*slots)


def _converter(dtype: DType) -> Callable[[Any], Any] | None:
    if dtype.is_array:
        return array_from_json(dtype.element)  # type: ignore[arg-type]
    return _CONVERT[dtype.name]


def record_decoder(current: RecordLayout, features: Sequence[str],
                   lookup: Callable[[bytes], str | bytes | None], as_tuple: bool = False) -> Callable[..., Any]:
    """A function from a record (bytes, and the offset where it starts) to `{feature: value}` for
    `features` (with `as_tuple`, to the tuple of their values, in their order: the serving path's form), for
    records of any layout the store holds for one view: the view's current layout is decoded directly,
    another is asked of `lookup` (layout id -> its JSON, or None) once and kept."""
    features = tuple(features)
    reader = RecordReader(current, features)
    others: dict[bytes, RecordReader] = {}

    def other(data: bytes, offset: int) -> Any:
        layout_id = bytes(data[offset:offset + ID_BYTES])
        found = others.get(layout_id)
        if found is None:
            text = lookup(layout_id)
            if text is None:
                raise UnknownLayout(layout_id)
            found = others[layout_id] = RecordReader(layout_from_json(text), features)
        return found.values(data, offset) if as_tuple else found(data, offset)

    layout_id = current.id
    read = reader.values if as_tuple else reader
    # the serving path's common case: the current layout and no NULL - one prefix test - then the values
    # alone, already in the order asked when `in_order`
    clean = layout_id + reader.no_nulls
    unpack = current.fixed_values.unpack_from
    in_order = features == tuple(name for _, name, _ in current.fixed)
    pick = _picker([current.slot[f] - 2 for f in features]) if reader.plain else None
    if as_tuple and not current.fixed and features == tuple(name for name, _ in current.features) and \
            len(features) == 1 and current.features[0][1].name == "bytes" and not current.features[0][1].is_array:
        # one bytes value and nothing else (a view's tiles, fcompile/online/tiles.py): its length, then a slice
        start = ID_BYTES + current.bitmap_bytes
        length_of = _LENGTH.unpack_from

        def decode_bytes(data: bytes, offset: int = 0) -> tuple:
            if data.startswith(clean, offset):
                at = offset + start + _LENGTH.size
                return (data[at:at + length_of(data, offset + start)[0]],)
            return read(data, offset) if data.startswith(layout_id, offset) else other(data, offset)

        return decode_bytes
    if not reader.plain:
        def decode(data: bytes, offset: int = 0) -> Any:
            return read(data, offset) if data.startswith(layout_id, offset) else other(data, offset)

        return decode
    if as_tuple:
        values_struct, picked = _values_struct(current, features)
        unpack_values = values_struct.unpack_from
        if picked is None:
            def decode_tuple(data: bytes, offset: int = 0) -> tuple:
                if data.startswith(clean, offset):
                    return unpack_values(data, offset)
                return read(data, offset) if data.startswith(layout_id, offset) else other(data, offset)

            return decode_tuple

        def decode_picked(data: bytes, offset: int = 0) -> tuple:
            if data.startswith(clean, offset):
                return picked(unpack_values(data, offset))
            return read(data, offset) if data.startswith(layout_id, offset) else other(data, offset)

        return decode_picked

    def decode_plain(data: bytes, offset: int = 0) -> dict[str, Any]:
        if data.startswith(clean, offset):
            return dict(zip(features, unpack(data, offset) if in_order else pick(unpack(data, offset))))  # type: ignore[misc]
        return read(data, offset) if data.startswith(layout_id, offset) else other(data, offset)

    return decode_plain


def _values_struct(current: RecordLayout, features: tuple[str, ...]) -> tuple[struct.Struct, Any]:
    """For fixed-width `features` of a record of `current` without NULLs: the struct that unpacks their values,
    and None when it gives them in the order asked, else the picker that puts them in that order."""
    positions = [current.slot[f] - 2 for f in features]
    if features == tuple(name for _, name, _ in current.fixed):
        return current.fixed_values, None
    if positions == sorted(set(positions)):  # some features, in the layout's order: one struct skips the others' bytes
        codes = [_FIXED[d.name] for _, _, d in current.fixed]
        return struct.Struct(f"<{ID_BYTES + current.bitmap_bytes}x" + "".join(
            code if i in positions else f"{struct.calcsize('<' + code)}x" for i, code in enumerate(codes))), None
    return current.fixed_values, _picker(positions)


def records_decoder(current: RecordLayout, features: Sequence[str],
                    lookup: Callable[[bytes], str | bytes | None]) -> Callable[[Sequence[bytes]], list[tuple]]:
    """`record_decoder(..., as_tuple=True)` over many records (bytes) at once: the list of their values'
    tuples. Records of the view's current layout, without NULLs, of fixed-width features only (the serving
    path's common read) are unpacked by C loops alone, with no Python call per record."""
    features = tuple(features)
    decode = record_decoder(current, features, lookup, as_tuple=True)
    if not RecordReader(current, features).plain:
        return lambda records: list(map(decode, records))
    values_struct, picked = _values_struct(current, features)
    unpack = values_struct.unpack_from  # the fixed-width part (variable-width values of others may follow)
    clean = current.id + bytes(current.bitmap_bytes)
    starts_with = bytes.startswith

    def decode_all(records: Sequence[bytes]) -> list[tuple]:
        if all(map(starts_with, records, repeat(clean))):
            values = list(map(unpack, records))
            return values if picked is None else list(map(picked, values))
        return list(map(decode, records))

    return decode_all


class UnknownLayout(ValueError):
    """A record whose layout the store does not hold (the store was changed by hand, or is damaged)."""

    def __init__(self, layout_id: bytes) -> None:
        super().__init__(f"a stored row has the record layout {layout_id.hex()}, which the store does not know")
