"""Entity keys as bytes (fcompile/online/keys.py): typed, unambiguous, and the same whether one
key is encoded in Python (reads) or a whole Arrow batch at once (writes)."""

from __future__ import annotations

import datetime as dt
import math

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcompile.graph import DType
from fcompile.online.keys import (
    KeyMismatch, decode_key, encode_key, encode_key_columns, integer_key, integer_key_bytes, integer_key_column,
    integer_keys, key_encoder,
)
from fcompile.online.values import arrow_type

UTC = dt.timezone.utc
INT64, INT32, FLOAT64, FLOAT32 = DType("int64"), DType("int32"), DType("float64"), DType("float32")
STRING, BOOL, BYTES, DATE, TIMESTAMP = DType("string"), DType("bool"), DType("bytes"), DType("date"), DType("timestamp")


def test_the_layout_is_a_version_then_tagged_values():
    assert encode_key([INT64], (1,)) == b"\x01" + b"\x01" + bytes.fromhex("8000000000000001")
    assert encode_key([INT64], (-1,)) == b"\x01\x01" + bytes.fromhex("7fffffffffffffff")
    assert encode_key([STRING], ("ab",)) == b"\x01\x03\x00\x00\x00\x02ab"
    assert encode_key([BOOL, DATE], (True, dt.date(1970, 1, 2))) == b"\x01\x05\x01\x06\x80\x00\x00\x01"


def test_tuples_that_concatenate_alike_differ():
    pair = [INT64, STRING]
    assert encode_key(pair, (1, "23")) != encode_key(pair, (12, "3"))
    texts = [STRING, STRING]
    assert encode_key(texts, ("a", "bc")) != encode_key(texts, ("ab", "c"))
    assert encode_key(texts, ("", "x")) != encode_key(texts, ("x", ""))
    blobs = [BYTES, BYTES]
    assert encode_key(blobs, (b"\x00", b"")) != encode_key(blobs, (b"", b"\x00"))


def test_the_type_is_part_of_the_key():
    assert encode_key([INT64], (1,)) != encode_key([STRING], ("1",))
    assert encode_key([INT64], (1,)) != encode_key([FLOAT64], (1.0,))
    assert encode_key([INT64], (1,)) != encode_key([BOOL], (True,))
    assert encode_key([BYTES], (b"1",)) != encode_key([STRING], ("1",))
    assert encode_key([INT32], (5,)) == encode_key([INT64], (5,))  # widening a key keeps stored keys


def test_floats_are_normalized():
    assert encode_key([FLOAT64], (-0.0,)) == encode_key([FLOAT64], (0.0,))
    assert encode_key([FLOAT64], (math.nan,)) == encode_key([FLOAT64], (-math.nan,))
    assert encode_key([FLOAT32], (0.1,)) == encode_key([FLOAT64], (float(pa.scalar(0.1, pa.float32()).as_py()),))
    assert encode_key([FLOAT64], (2,)) == encode_key([FLOAT64], (2.0,))


def test_timestamps_are_utc_microseconds():
    aware = dt.datetime(2024, 1, 1, 12, tzinfo=UTC)
    assert encode_key([TIMESTAMP], (aware,)) == encode_key([TIMESTAMP], (aware.replace(tzinfo=None),))
    assert encode_key([TIMESTAMP], (aware,)) == \
        encode_key([TIMESTAMP], (aware.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))),))


def test_null_values_and_mismatches():
    encode = key_encoder([INT64, STRING])
    assert encode((None, "x")) is None and encode((1, None)) is None
    for bad in [(1,), (1, "x", 3), ("1", "x"), (True, "x"), (1.0, "x"), (1, b"x"), (2 ** 63, "x")]:
        with pytest.raises(KeyMismatch):
            encode(bad)
    with pytest.raises(KeyMismatch):
        key_encoder([DATE])((dt.datetime(2024, 1, 1),))
    with pytest.raises(KeyMismatch):
        key_encoder([TIMESTAMP])((dt.date(2024, 1, 1),))
    with pytest.raises(KeyMismatch):
        key_encoder([STRING])(("\ud800",))


VALUES = {
    "int64": st.integers(-(2 ** 63), 2 ** 63 - 1),
    "int32": st.integers(-(2 ** 31), 2 ** 31 - 1),
    "float64": st.floats(allow_nan=True, allow_infinity=True),
    "float32": st.floats(width=32, allow_nan=False),
    "string": st.text(max_size=8),
    "bytes": st.binary(max_size=8),
    "bool": st.booleans(),
    "date": st.dates(),
    "timestamp": st.datetimes(timezones=st.just(UTC)),
}
DTYPES = st.lists(st.sampled_from(sorted(VALUES)), min_size=1, max_size=4)


@st.composite
def key_rows(draw):
    names = draw(DTYPES)
    rows = draw(st.lists(st.tuples(*[VALUES[n] for n in names]), min_size=1, max_size=6))
    return [DType(n) for n in names], rows


@settings(max_examples=200, derandomize=True, deadline=None)
@given(key_rows())
def test_a_batch_encodes_as_each_key_alone(case):
    dtypes, rows = case
    columns = [pa.array([row[i] for row in rows], arrow_type(d)) for i, d in enumerate(dtypes)]
    encoded = encode_key_columns(columns, dtypes).to_pylist()
    assert encoded == [encode_key(dtypes, row) for row in rows]
    for row, data in zip(rows, encoded):
        back = decode_key(dtypes, data)
        assert len(back) == len(row)
        for value, again, dtype in zip(row, back, dtypes):
            if dtype.name.startswith("float"):
                assert (math.isnan(value) and math.isnan(again)) or value == again
            else:
                assert value == again


@settings(max_examples=200, derandomize=True, deadline=None)
@given(key_rows(), key_rows())
def test_different_keys_encode_differently(first, second):
    (dtypes, rows), (other_dtypes, other_rows) = first, second
    for row in rows:
        for other in other_rows:
            if dtypes == other_dtypes and _same_key(row, other, dtypes):
                continue
            assert encode_key(dtypes, row) != encode_key(other_dtypes, other) or \
                _widened_alike(dtypes, other_dtypes, row, other)


def _same_key(row, other, dtypes) -> bool:
    for a, b, d in zip(row, other, dtypes):
        if d.name.startswith("float"):
            if not ((math.isnan(a) and math.isnan(b)) or a == b):
                return False
        elif a != b or type(a) is not type(b):
            return False
    return True


def _widened_alike(dtypes, other_dtypes, row, other) -> bool:
    """int32 and int64 share a tag, as do float32 and float64: equal values are one key."""
    family = {"int32": "int", "int64": "int", "float32": "float", "float64": "float"}
    if [family.get(d.name, d.name) for d in dtypes] != [family.get(d.name, d.name) for d in other_dtypes]:
        return False
    return _same_key(row, other, dtypes)


def test_a_batch_with_sliced_and_chunked_columns():
    ids = pa.chunked_array([[5, 6], [7]])
    names = pa.array(["x", "yy", "zzz", "w"]).slice(1)
    encoded = encode_key_columns([ids, names], [INT64, STRING]).to_pylist()
    assert encoded == [encode_key([INT64, STRING], k) for k in [(5, "yy"), (6, "zzz"), (7, "w")]]


def test_keys_of_one_integer_give_their_integer_and_its_bytes_back():
    """What SQLite keys the rows of a view of one integer key by (the integer), and the bytes it lists them as."""
    values = [-(1 << 63), -(1 << 63) + 1, -1, 0, 1, (1 << 63) - 2, (1 << 63) - 1]
    column = encode_key_columns([pa.array(values, pa.int64())], [INT64])
    assert integer_key_column(column) == values
    assert integer_key_column(column.slice(2, 3)) == values[2:5]
    assert integer_key_column(column.slice(0, 0)) == []
    assert [integer_key_bytes(v) for v in values] == [encode_key([INT64], (v,)) for v in values] == column.to_pylist()
    assert integer_keys([(v,) for v in values]) == values
    assert integer_keys([(None,), (5,)]) == [None, 5]
    for bad in [(1 << 63,), (-(1 << 63) - 1,), (True,), ("1",), (1.0,), (1, 2), ()]:
        with pytest.raises(KeyMismatch):
            integer_key(bad)
        with pytest.raises(KeyMismatch):
            integer_keys([(1,), bad])
        with pytest.raises(KeyMismatch):  # the encoded key refuses the same values
            key_encoder([INT64])(bad)
