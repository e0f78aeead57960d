"""Entity keys as bytes: how every online store names the row of one entity of a view.

An encoded key is a version byte (1), then for each join key, in the view's order, a type tag and the
value:

| dtype            | tag  | value                                                                   |
| ---------------- | ---- | ----------------------------------------------------------------------- |
| int32, int64     | 0x01 | 8 bytes big-endian, two's complement with the sign bit flipped          |
| float32, float64 | 0x02 | 8 bytes: the IEEE 754 double, sign-flipped so bytes sort like numbers;  |
|                  |      | -0.0 is 0.0, every NaN is one NaN (a float32 is widened exactly)         |
| string           | 0x03 | 4-byte big-endian length, then the UTF-8 bytes                          |
| bytes            | 0x04 | 4-byte big-endian length, then the bytes                                |
| bool             | 0x05 | 1 byte, 0 or 1                                                          |
| date             | 0x06 | 4 bytes big-endian: days since 1970-01-01, sign bit flipped             |
| timestamp        | 0x07 | 8 bytes big-endian: microseconds since 1970-01-01 UTC, sign bit flipped |

The tag decides the value's length (fixed, or given by its prefix), so two different key tuples never
encode to the same bytes: (1, "23") and (12, "3") differ, and so do the int 1 and the string "1". The
two integer dtypes share a tag, so widening a join key from int32 to int64 keeps the stored keys.

`key_encoder` encodes one key tuple in Python (reads); `encode_key_columns` encodes the key columns of
a whole Arrow batch at once with numpy and Arrow kernels (writes), with identical bytes.
"""

from __future__ import annotations

import datetime as dt
import operator
import struct
from typing import TYPE_CHECKING, Any, Callable, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.graph import DType
from fcompile.online.values import arrow_cast, arrow_compute, micros, numpy_of, typed_scalar

if TYPE_CHECKING:
    import pyarrow as pa

VERSION = 1
TAG_INT, TAG_FLOAT, TAG_STRING, TAG_BYTES, TAG_BOOL, TAG_DATE, TAG_TIMESTAMP = range(1, 8)
TAGS = {"int32": TAG_INT, "int64": TAG_INT, "float32": TAG_FLOAT, "float64": TAG_FLOAT, "string": TAG_STRING,
        "bytes": TAG_BYTES, "bool": TAG_BOOL, "date": TAG_DATE, "timestamp": TAG_TIMESTAMP}

_SIGN64 = 1 << 63
_SIGN32 = 1 << 31
_MASK64 = (1 << 64) - 1
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_U64 = struct.Struct(">BQ")
_U32 = struct.Struct(">BI")
_INTEGER_KEY = struct.Struct(">BBQ")  # version, tag, value: a whole key of one integer
_DOUBLE = struct.Struct(">d")
_FLOAT = struct.Struct(">f")
_CANONICAL_NAN = struct.unpack(">Q", struct.pack(">d", float("nan")))[0]


class KeyMismatch(ValueError):
    """A key value that does not fit its dtype (the caller names the view and key in a diagnostic)."""


# -- one key, in Python -----------------------------------------------------------------------------

def _integer_value(value: Any) -> int:
    """The value as a Python int of 64 bits, or KeyMismatch."""
    if type(value) is not int:
        if isinstance(value, bool):
            raise KeyMismatch("a bool is not an integer key")
        try:
            value = operator.index(value)  # numpy integers
        except TypeError:
            raise KeyMismatch(f"{type(value).__name__} is not an integer") from None
    if not -_SIGN64 <= value < _SIGN64:
        raise KeyMismatch(f"{value} does not fit in 64 bits")
    return value


def _integer(value: Any) -> bytes:
    return _U64.pack(TAG_INT, _integer_value(value) + _SIGN64)


def _float_bits(value: float) -> int:
    if value != value:
        bits = _CANONICAL_NAN
    else:
        bits = struct.unpack(">Q", _DOUBLE.pack(value + 0.0))[0]  # + 0.0 turns -0.0 into 0.0
    return (~bits & _MASK64) if bits & _SIGN64 else bits | _SIGN64


def _as_float(value: Any) -> float:
    if isinstance(value, (bool, str, bytes)) or not hasattr(value, "__float__"):
        raise KeyMismatch(f"{type(value).__name__} is not a number")
    try:
        return float(value)
    except (OverflowError, ValueError) as exc:
        raise KeyMismatch(f"a {type(value).__name__} that is not a float: {exc}") from None


def _float64(value: Any) -> bytes:
    return _U64.pack(TAG_FLOAT, _float_bits(_as_float(value)))


def _float32(value: Any) -> bytes:
    number = _as_float(value)
    try:
        narrowed = _FLOAT.unpack(_FLOAT.pack(number))[0]
    except OverflowError:
        narrowed = number  # too large for float32: no stored key can equal it
    return _U64.pack(TAG_FLOAT, _float_bits(narrowed))


def _string(value: Any) -> bytes:
    if not isinstance(value, str):
        raise KeyMismatch(f"{type(value).__name__} is not a str")
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise KeyMismatch(f"the string is not valid Unicode: {exc.reason}") from None
    return _U32.pack(TAG_STRING, len(data)) + data


def _bytes(value: Any) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise KeyMismatch(f"{type(value).__name__} is not bytes")
    data = bytes(value)
    return _U32.pack(TAG_BYTES, len(data)) + data


def _bool(value: Any) -> bytes:
    if not isinstance(value, bool) and type(value).__name__ != "bool_":  # numpy.bool_
        raise KeyMismatch(f"{type(value).__name__} is not a bool")
    return b"\x05\x01" if value else b"\x05\x00"


def _date(value: Any) -> bytes:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise KeyMismatch(f"{type(value).__name__} is not a datetime.date")
    return _U32.pack(TAG_DATE, value.toordinal() - _EPOCH_ORDINAL + _SIGN32)


def _timestamp(value: Any) -> bytes:
    if not isinstance(value, dt.datetime):
        raise KeyMismatch(f"{type(value).__name__} is not a datetime.datetime")
    return _U64.pack(TAG_TIMESTAMP, micros(value) + _SIGN64)


_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "int32": _integer, "int64": _integer, "float32": _float32, "float64": _float64, "string": _string,
    "bytes": _bytes, "bool": _bool, "date": _date, "timestamp": _timestamp,
}


def key_encoder(dtypes: Sequence[DType]) -> Callable[[Sequence[Any]], bytes | None]:
    """A function from a key tuple (values in `dtypes` order) to its bytes; None when a value is None
    (a NULL key never matches). Raises `KeyMismatch` for a value that does not fit its dtype, and for a
    tuple of another length."""
    encoders = [_ENCODERS[d.name] for d in dtypes]
    count = len(encoders)
    head = bytes([VERSION])
    if count == 1 and encoders[0] is _integer:
        pack = _INTEGER_KEY.pack

        def encode_integer(key: Sequence[Any]) -> bytes | None:  # the most common key, without a call per part
            if len(key) != 1:
                raise KeyMismatch(f"{len(key)} key values for 1 join key")
            value = key[0]
            if type(value) is int and -_SIGN64 <= value < _SIGN64:
                return pack(VERSION, TAG_INT, value + _SIGN64)
            return None if value is None else head + _integer(value)

        return encode_integer
    if count == 1:
        (only,) = encoders

        def encode_one(key: Sequence[Any]) -> bytes | None:
            if len(key) != 1:
                raise KeyMismatch(f"{len(key)} key values for 1 join key")
            value = key[0]
            return None if value is None else head + only(value)

        return encode_one

    def encode(key: Sequence[Any]) -> bytes | None:
        if len(key) != count:
            raise KeyMismatch(f"{len(key)} key values for {count} join keys")
        parts = [head]
        for encoder, value in zip(encoders, key):
            if value is None:
                return None
            parts.append(encoder(value))
        return b"".join(parts)

    return encode


def encode_key(dtypes: Sequence[DType], key: Sequence[Any]) -> bytes | None:
    return key_encoder(dtypes)(key)


def decode_key(dtypes: Sequence[DType], data: bytes) -> tuple[Any, ...]:
    """The key tuple back from its bytes (for inspection and tests). Timestamps come back UTC-aware."""
    if not data or data[0] != VERSION:
        raise ValueError("not an fcompile entity key (unknown version byte)")
    position, values = 1, []
    for dtype in dtypes:
        tag = data[position]
        if tag != TAGS[dtype.name]:
            raise ValueError(f"key tag {tag} does not match dtype {dtype}")
        position += 1
        if tag in (TAG_INT, TAG_TIMESTAMP, TAG_FLOAT):
            (raw,) = struct.unpack_from(">Q", data, position)
            position += 8
            if tag == TAG_INT:
                values.append(raw - _SIGN64)
            elif tag == TAG_TIMESTAMP:
                values.append(_EPOCH + dt.timedelta(microseconds=raw - _SIGN64))
            else:
                bits = raw & ~_SIGN64 if raw & _SIGN64 else ~raw & _MASK64
                values.append(struct.unpack(">d", struct.pack(">Q", bits))[0])
        elif tag in (TAG_STRING, TAG_BYTES):
            (length,) = struct.unpack_from(">I", data, position)
            position += 4
            chunk = data[position:position + length]
            position += length
            values.append(chunk.decode("utf-8") if tag == TAG_STRING else bytes(chunk))
        elif tag == TAG_BOOL:
            values.append(data[position] == 1)
            position += 1
        else:
            (raw,) = struct.unpack_from(">I", data, position)
            position += 4
            values.append(dt.date.fromordinal(raw - _SIGN32 + _EPOCH_ORDINAL))
    if position != len(data):
        raise ValueError("trailing bytes after the key")
    return tuple(values)


# -- keys of one integer ----------------------------------------------------------------------------
# The SQLite store keys the rows of a view whose entity key is one int32 or int64 join key by the integer
# itself (a rowid table: its seeks compare integers, not bytes); these give that integer, and its bytes back.

def is_integer_key(dtypes: Sequence[DType]) -> bool:
    """Whether a key of these dtypes is one integer."""
    return len(dtypes) == 1 and TAGS[dtypes[0].name] == TAG_INT


def integer_key(key: Sequence[Any]) -> int | None:
    """The int of a one-integer key tuple; None when it is None; `KeyMismatch` where `key_encoder` raises it."""
    if len(key) != 1:
        raise KeyMismatch(f"{len(key)} key values for 1 join key")
    value = key[0]
    if type(value) is int and -_SIGN64 <= value < _SIGN64:
        return value
    return None if value is None else _integer_value(value)


def integer_keys(keys: Sequence[Sequence[Any]]) -> list[int | None]:
    """`integer_key` of each key tuple. The common list, plain ints in range, is checked in C loops."""
    if len(keys) > 1 and set(map(len, keys)) == _ONE:
        values = list(map(_first, keys))
        if set(map(type, values)) == _INTS and -_SIGN64 <= min(values) and max(values) < _SIGN64:
            return values
    return [integer_key(key) for key in keys]


def integer_key_bytes(value: int) -> bytes:
    """The encoded key (`key_encoder`'s bytes) of the one-integer key `value`."""
    return _INTEGER_KEY.pack(VERSION, TAG_INT, value + _SIGN64)


def integer_key_column(encoded: pa.BinaryArray) -> list[int]:
    """The ints of encoded one-integer keys (`encode_key_columns`' bytes), in order."""
    import numpy as np
    import pyarrow as pa

    size = _INTEGER_KEY.size
    if not len(encoded):
        return []
    fixed = arrow_cast(encoded, pa.binary(size))  # refuses any key of another length
    data = np.frombuffer(fixed.buffers()[1], dtype=np.uint8)
    start = fixed.offset * size
    matrix = data[start:start + len(fixed) * size].reshape(-1, size)
    if (matrix[:, :2] != (VERSION, TAG_INT)).any():
        raise ValueError("not encoded one-integer keys")
    unsigned = np.ascontiguousarray(matrix[:, 2:]).view(">u8").ravel() ^ np.uint64(_SIGN64)
    return unsigned.astype(np.uint64).view(np.int64).tolist()


_ONE = {1}
_INTS = {int}
_first = operator.itemgetter(0)


# -- a whole batch, vectorized ----------------------------------------------------------------------

def encode_key_columns(columns: Sequence[pa.Array], dtypes: Sequence[DType]) -> pa.BinaryArray:
    """The encoded keys of a batch's key columns, row by row. The columns must hold no NULLs and have
    the dtypes' Arrow types (`fcompile.online.values.arrow_type`); timestamps any unit, UTC."""
    import numpy as np
    import pyarrow as pa

    rows = len(columns[0]) if columns else 0
    pieces: list[pa.Array] = []        # binary arrays joined element-wise at the end
    fixed: list[np.ndarray] = [np.full((rows, 1), VERSION, dtype=np.uint8)]  # (rows, width) byte matrices

    def flush_fixed() -> None:
        if fixed:
            matrix = np.ascontiguousarray(np.hstack(fixed)) if len(fixed) > 1 else np.ascontiguousarray(fixed[0])
            width = matrix.shape[1]
            array = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), rows, [None, pa.py_buffer(matrix)])
            pieces.append(arrow_cast(array, pa.binary()))
            fixed.clear()

    for column, dtype in zip(columns, dtypes):
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        tag = TAGS[dtype.name]
        if tag in (TAG_STRING, TAG_BYTES):
            data = arrow_cast(column, pa.binary())
            lengths = numpy_of(arrow_compute("binary_length", data)).astype(">u4")
            fixed.append(_tagged(tag, lengths.view(np.uint8).reshape(rows, 4)))
            flush_fixed()
            pieces.append(data)
            continue
        if tag == TAG_INT:
            values = numpy_of(arrow_cast(column, pa.int64()))
            raw = (values.view(np.uint64) ^ np.uint64(_SIGN64)).astype(">u8")
        elif tag == TAG_TIMESTAMP:
            values = arrow_cast(arrow_cast(column, pa.timestamp("us", column.type.tz), safe=False), pa.int64())
            raw = (numpy_of(values).view(np.uint64) ^ np.uint64(_SIGN64)).astype(">u8")
        elif tag == TAG_FLOAT:
            values = numpy_of(arrow_cast(column, pa.float64())) + 0.0  # -0.0 -> 0.0
            bits = values.view(np.uint64).copy()
            bits[np.isnan(values)] = np.uint64(_CANONICAL_NAN)
            negative = (bits & np.uint64(_SIGN64)) != 0
            raw = np.where(negative, ~bits, bits | np.uint64(_SIGN64)).astype(">u8")
        elif tag == TAG_DATE:
            days = numpy_of(arrow_cast(column, pa.int32())).astype(np.int64)
            raw = (days + _SIGN32).astype(">u4")
        else:  # bool
            raw = numpy_of(column).astype(np.uint8)
        fixed.append(_tagged(tag, raw.view(np.uint8).reshape(rows, raw.itemsize)))  # rows may be 0
    flush_fixed()
    if len(pieces) == 1:
        return pieces[0]
    return arrow_compute("binary_join_element_wise", *pieces, typed_scalar(b"", pa.binary()))


def _tagged(tag: int, values):
    import numpy as np

    return np.hstack([np.full((values.shape[0], 1), tag, dtype=np.uint8), values])


def key_mismatch(view: str, keys: Sequence[tuple[str, DType]], problem: str) -> DiagnosticError:
    """FC115 naming the view and its join keys."""
    described = ", ".join(f"{name} ({dtype})" for name, dtype in keys)
    return DiagnosticError([Diagnostic(Code.ONLINE_KEY_MISMATCH,
                                       f"entity key for feature view '{view}' does not fit its join keys: {problem}",
                                       None, f"give one value per join key, in order: {described}")])


def encode_keys(encode: Callable[[Sequence[Any]], bytes | None], keys: Sequence[Any], view: str,
                key_columns: Sequence[tuple[str, DType]]) -> list[bytes | None]:
    """Every key encoded by `encode` (a `key_encoder`), or FC115 (`key_mismatch`) for the first that does
    not fit."""
    try:
        return [encode(key) for key in keys]
    except (KeyMismatch, TypeError) as exc:  # TypeError: a key that is not a sequence
        raise key_mismatch(view, key_columns, str(exc)) from None
