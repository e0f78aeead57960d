"""Feature values between Arrow, the stores' own forms and Python, for every dtype.

What a read returns, on every store: int32/int64 -> int, float32/float64 -> float (a float32 widened
exactly), string -> str, bytes -> bytes, bool -> bool, date -> datetime.date, timestamp -> a UTC-aware
datetime.datetime, array<T> -> a list of those, NULL -> None.

Arrays are stored as JSON text (a JSONB value on PostgreSQL), each element in a plain form: numbers and
bools as JSON, a non-finite float as the string "NaN", "Infinity" or "-Infinity", a string as a JSON
string, bytes in base64, a date as days since 1970-01-01, a timestamp as microseconds since the epoch
(UTC), NULL as null.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import math
from typing import TYPE_CHECKING, Any, Callable

from fcompile.graph import DType

if TYPE_CHECKING:
    import pyarrow as pa

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def arrow_type(dtype: DType) -> pa.DataType:
    """The Arrow type a store keeps a dtype as (timestamps: microseconds, UTC)."""
    import pyarrow as pa

    if dtype.element is not None:
        return pa.list_(arrow_type(dtype.element))
    return {
        "int32": pa.int32(), "int64": pa.int64(), "float32": pa.float32(), "float64": pa.float64(),
        "string": pa.string(), "bytes": pa.binary(), "bool": pa.bool_(), "date": pa.date32(),
        "timestamp": pa.timestamp("us", "UTC"),
    }[dtype.name]


@functools.lru_cache(maxsize=1 << 16)  # rows of one materialization share few event times
def datetime_from_micros(value: int) -> dt.datetime:
    return EPOCH + dt.timedelta(0, 0, value)


@functools.lru_cache(maxsize=1 << 14)
def date_from_days(value: int) -> dt.date:
    return dt.date.fromordinal(value + EPOCH_ORDINAL)


def micros(value: dt.datetime) -> int:
    """Microseconds since the epoch; a naive datetime is UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Naive times are UTC (docs/concepts/point-in-time.md); zoned ones are converted."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_moment(text: str) -> dt.datetime:
    """An ISO 8601 date or time (`Z` allowed) as an aware UTC time; naive times are UTC. Raises ValueError."""
    return as_utc(dt.datetime.fromisoformat(text.strip()))


def to_micros(column: pa.Array) -> pa.Array:
    """A timestamp or date column as int64 microseconds since the epoch (UTC; NULLs kept)."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_date(kind):
        column = arrow_cast(arrow_cast(column, pa.date32()), pa.timestamp("us"))
    elif pa.types.is_timestamp(kind):
        if kind.unit != "us":
            column = arrow_cast(column, pa.timestamp("us", kind.tz), safe=False)
    else:
        raise TypeError(f"not a timestamp: {kind}")
    return arrow_cast(column, pa.int64())


# -- arrays as JSON ---------------------------------------------------------------------------------

def _plain_float(value: float) -> Any:
    if math.isfinite(value):
        return value
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


def array_element_plain(element: DType) -> Callable[[Any], Any] | None:
    """How a Python element of an array (after `plain_array_type`) becomes JSON-ready; None: as it is."""
    if element.name in ("float32", "float64"):
        return lambda v: None if v is None else _plain_float(v)
    if element.name == "bytes":
        return lambda v: None if v is None else base64.b64encode(v).decode("ascii")
    return None


def plain_array_type(dtype: DType) -> pa.DataType:
    """The Arrow list type whose Python values are the JSON forms' (dates as days, timestamps as
    microseconds, float32 widened)."""
    import pyarrow as pa

    element = dtype.element
    assert element is not None
    inner = {"date": pa.int32(), "timestamp": pa.int64(), "float32": pa.float64()}.get(element.name)
    return pa.list_(inner if inner is not None else arrow_type(element))


def arrays_as_json(column: pa.Array, dtype: DType) -> list[str | None]:
    """Each array of a column (already of `arrow_type(dtype)`) as JSON text, None for NULL."""
    column = arrow_cast(column, plain_array_type(dtype))
    plain = array_element_plain(dtype.element)  # type: ignore[arg-type]
    dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode
    out: list[str | None] = []
    for value in column.to_pylist():
        if value is None:
            out.append(None)
        else:
            out.append(dumps(value if plain is None else [plain(v) for v in value]))
    return out


def array_from_json(element: DType) -> Callable[[Any], list | None]:
    """A function from stored JSON (text, or a value a driver already parsed) to the Python list."""
    convert = _ELEMENT_FROM_PLAIN.get(element.name)

    def decode(stored: Any) -> list | None:
        if stored is None:
            return None
        if isinstance(stored, (str, bytes, bytearray)):
            stored = json.loads(stored)
        if convert is None:
            return stored
        return [None if v is None else convert(v) for v in stored]

    return decode


def _float_from_plain(value: Any) -> float:
    return _NON_FINITE[value] if isinstance(value, str) else float(value)


_ELEMENT_FROM_PLAIN: dict[str, Callable[[Any], Any]] = {
    "float32": _float_from_plain, "float64": _float_from_plain,
    "bytes": lambda v: base64.b64decode(v), "date": date_from_days, "timestamp": datetime_from_micros,
}


# -- Arrow compute without pyarrow.compute ----------------------------------------------------------
# `import pyarrow.compute` builds a Python wrapper, docstring and signature for each of Arrow's several hundred
# compute functions: 20-35 ms of a fresh `fcompile materialize`, more than the write of 10,000 keys. The
# arrays' own `cast`, `take`, `filter` and `fill_null` import it too. The stores' writes call the functions
# through `pyarrow._compute` (4-5 ms to import) here instead: the same kernels, given the options the wrappers
# would give them, so the results are the same bytes.

def arrow_compute(function: str, *args: Any, options: Any = None) -> Any:
    """Arrow's compute function `function` on `args`: `pc.<function>(*args)` (`pa.Array.take` is "take",
    `filter` "filter", `fill_null` "coalesce"). `options` None: the function's defaults, as the wrapper gives."""
    from pyarrow._compute import call_function

    return call_function(function, list(args), options)


def arrow_cast(array: Any, target: pa.DataType, safe: bool = True) -> Any:
    """`array.cast(target, safe=safe)` (`arrow_compute`)."""
    from pyarrow._compute import CastOptions

    return arrow_compute("cast", array, options=CastOptions.safe(target) if safe else CastOptions.unsafe(target))


def arrow_sort_indices(data: Any, sort_keys: list[tuple[str, str]] | None = None) -> Any:
    """`pc.sort_indices(data, sort_keys)`, an array ascending without `sort_keys` (`arrow_compute`)."""
    from pyarrow._compute import SortOptions

    return arrow_compute("sort_indices", data, options=SortOptions(sort_keys) if sort_keys else None)


def numpy_of(array: Any) -> Any:
    """What `array.to_numpy(zero_copy_only=False)` gives, for the Arrow arrays of numbers and booleans the
    stores encode (times are cast to integers first): a NULL-free array is read straight from its data
    buffer. pyarrow's own `to_numpy` imports pandas when pandas is installed - a quarter of a second and
    30 MiB on a materialization's first batch - which this skips. Other arrays go through `to_numpy`."""
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    kind = array.type
    if array.null_count == 0:
        if pa.types.is_boolean(kind):
            return numpy_of(arrow_cast(array, pa.uint8())).astype(bool)
        if pa.types.is_integer(kind) or pa.types.is_floating(kind):
            width = kind.bit_width // 8
            code = f"f{width}" if pa.types.is_floating(kind) else \
                f"{'i' if pa.types.is_signed_integer(kind) else 'u'}{width}"
            return np.frombuffer(array.buffers()[1], dtype=code, count=len(array), offset=array.offset * width)
    return array.to_numpy(zero_copy_only=False)


def arrow_from_numpy(values: Any) -> Any:
    """A NULL-free int64 or bool numpy array as Arrow, from its buffer (`pa.array` checks for pandas objects,
    which imports pandas when it is installed)."""
    import numpy as np
    import pyarrow as pa

    if values.dtype == np.bool_:
        bits = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, bits])
    return pa.Array.from_buffers(pa.int64(), len(values), [None, pa.py_buffer(np.ascontiguousarray(values, np.int64))])


def string_array(texts: list[str | None]) -> Any:
    """Python strings (None for NULL) as an Arrow string array, from buffers (see `arrow_from_numpy`)."""
    import numpy as np
    import pyarrow as pa

    data = [text.encode() if text is not None else b"" for text in texts]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(piece) for piece in data], out=offsets[1:])
    valid = np.array([text is not None for text in texts], dtype=bool)
    validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), len(data), [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def binary_array(values: list[bytes]) -> Any:
    """Byte strings as an Arrow binary array, from buffers (see `arrow_from_numpy`); past the int32 offsets of
    a binary array (2 GiB), as pyarrow builds it."""
    import numpy as np
    import pyarrow as pa

    offsets = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum([len(value) for value in values], out=offsets[1:])
    if offsets[-1] >= 1 << 31:
        return pa.array(values, pa.binary())
    return pa.Array.from_buffers(pa.binary(), len(values),
                                 [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(values))])


def filled(array: Any, value: Any) -> Any:
    """`array.fill_null(value)` (`arrow_compute`) without `pa.scalar(value)`: pyarrow checks a Python value for
    pandas objects, which imports pandas when it is installed (a quarter of a second on a materialization's first
    batch). The fill value is made from Arrow buffers instead."""
    if not array.null_count:
        return array
    return arrow_compute("coalesce", array, typed_scalar(value, array.type))


@functools.lru_cache(maxsize=256)
def typed_scalar(value: Any, kind: Any) -> Any:
    """`pa.scalar(value, kind)` for numbers, booleans, text and bytes, made from Arrow buffers (no pandas check)."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_binary(kind) or pa.types.is_string(kind):
        data = value if isinstance(value, bytes) else str(value).encode()
        buffers = [None, pa.py_buffer(np.array([0, len(data)], dtype=np.int32)), pa.py_buffer(data)]
    elif pa.types.is_boolean(kind):
        buffers = [None, pa.py_buffer(np.array([1 if value else 0], dtype=np.uint8))]
    else:
        width = kind.bit_width // 8
        code = f"f{width}" if pa.types.is_floating(kind) else f"i{width}"
        buffers = [None, pa.py_buffer(np.array([value], dtype=code))]
    return pa.Array.from_buffers(kind, 1, buffers)[0]
