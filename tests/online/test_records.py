"""Feature values as packed records (fcompile/online/records.py): the documented bytes, every dtype
back as Arrow reads it, and records of an older feature list read through the layout they were written
with."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import struct

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_cleanup import delete_postgres_project, delete_redis_project

from fcompile.graph import DType
from fcompile.online.records import (
    RecordLayout, UnknownLayout, encode_records, layout_from_json, record_decoder, records_decoder,
)
from fcompile.online.values import arrow_type
from store_cleanup import new_project

UTC = dt.timezone.utc
INT64, INT32, FLOAT64, FLOAT32 = DType("int64"), DType("int32"), DType("float64"), DType("float32")
STRING, BOOL, BYTES, DATE, TIMESTAMP = DType("string"), DType("bool"), DType("bytes"), DType("date"), DType("timestamp")


def encode(features, rows: list[dict], head=None) -> list[bytes]:
    layout = RecordLayout(features)
    columns = {name: pa.array([row.get(name) for row in rows], arrow_type(dtype)) for name, dtype in features}
    return encode_records(layout, columns, len(rows), head).to_pylist()


def no_other_layout(layout_id: bytes) -> None:
    return None


def test_the_bytes_are_as_documented():
    features = (("n", INT64), ("s", STRING), ("x", FLOAT32), ("b", BYTES))
    layout = RecordLayout(features)
    assert layout.id == hashlib.sha256(b'[["n","int64"],["s","string"],["x","float32"],["b","bytes"]]').digest()[:8]
    (record, nulls) = encode(features, [{"n": -2, "s": "hé", "x": 1.5, "b": b"\x00"}, {}])
    assert record == layout.id + b"\x00" + struct.pack("<qf", -2, 1.5) + struct.pack("<I", 3) + "hé".encode() + \
        struct.pack("<I", 1) + b"\x00"
    # every feature NULL: the bitmap's low four bits, zeros, and empty variable-width values
    assert nulls == layout.id + b"\x0f" + bytes(12) + struct.pack("<I", 0) + struct.pack("<I", 0)


def test_a_head_goes_before_each_record():
    import numpy as np

    head = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    first, second = encode((("n", INT32),), [{"n": 1}, {"n": 2}], head)
    assert first[:2] == b"\x01\x02" and second[:2] == b"\x03\x04"
    assert record_decoder(RecordLayout((("n", INT32),)), ["n"], no_other_layout)(second, 2) == {"n": 2}


EVERY_DTYPE = (("i64", INT64), ("i32", INT32), ("f64", FLOAT64), ("f32", FLOAT32), ("s", STRING), ("flag", BOOL),
               ("raw", BYTES), ("day", DATE), ("moment", TIMESTAMP), ("ints", DType("array", INT64)),
               ("floats", DType("array", FLOAT64)), ("words", DType("array", STRING)))
VALUES = {
    "i64": st.integers(-2 ** 63, 2 ** 63 - 1), "i32": st.integers(-2 ** 31, 2 ** 31 - 1), "f64": st.floats(),
    "f32": st.floats(width=32), "s": st.text(), "flag": st.booleans(), "raw": st.binary(),
    "day": st.dates(), "moment": st.datetimes(timezones=st.just(UTC)), "ints": st.lists(st.integers(-10, 10)),
    "floats": st.lists(st.floats() | st.none()), "words": st.lists(st.text(max_size=5) | st.none()),
}
ROWS = st.lists(st.fixed_dictionaries({}, optional={name: value | st.none() for name, value in VALUES.items()}),
                min_size=1, max_size=8)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@settings(max_examples=60, deadline=None, derandomize=True)
@given(rows=ROWS, asked=st.permutations([name for name, _ in EVERY_DTYPE]).map(lambda names: names[:7]))
def test_every_dtype_reads_back_as_arrow_holds_it(rows, asked):
    decode = record_decoder(RecordLayout(EVERY_DTYPE), asked, no_other_layout)
    dtypes = dict(EVERY_DTYPE)
    for row, record in zip(rows, encode(EVERY_DTYPE, rows)):
        expected = {name: pa.array([row.get(name)], arrow_type(dtypes[name])).to_pylist()[0] for name in asked}
        found = decode(record)
        assert list(found) == asked
        assert all(same(found[name], expected[name]) for name in asked), (row, found)


FIXED_AND_TEXT = (("a", INT64), ("s", STRING), ("b", FLOAT64), ("c", INT32), ("d", FLOAT32))


@pytest.mark.parametrize("asked", [["a", "b", "c", "d"], ["b", "d"], ["d", "a"], ["a", "s"], ["c"]])
def test_many_records_decode_as_each_alone(asked):
    """`records_decoder` (SQLite's many-key read) gives what `record_decoder` gives record by record: for
    records of the current layout without NULLs (its C loops), and once a NULL, another layout's record or a
    variable-width feature is among them (record by record)."""
    older = (("a", INT64), ("b", FLOAT64))
    layouts = {RecordLayout(older).id: RecordLayout(older).json}
    current = RecordLayout(FIXED_AND_TEXT)
    one = record_decoder(current, asked, layouts.get, as_tuple=True)
    many = records_decoder(current, asked, layouts.get)
    rows = [{"a": i, "s": "x" * i, "b": i / 3, "c": -i, "d": 0.5 + i} for i in range(5)]
    clean = encode(FIXED_AND_TEXT, rows)
    assert many(clean) == [one(record) for record in clean]
    assert many(clean) == [tuple(row[name] for name in asked) for row in rows]
    mixed = clean + encode(FIXED_AND_TEXT, [{"a": 9}]) + encode(older, [{"a": 8, "b": 2.5}])
    assert many(mixed) == [one(record) for record in mixed]
    assert many(mixed)[-2:] == [tuple(9 if n == "a" else None for n in asked),
                                tuple({"a": 8, "b": 2.5}.get(n) for n in asked)]
    assert many([]) == []


def test_records_of_an_older_layout_read_through_it():
    old = (("a", INT64), ("gone", STRING), ("b", FLOAT64))
    new = (("b", FLOAT64), ("a", INT64), ("c", STRING))  # reordered, one removed, one added
    (record,) = encode(old, [{"a": 7, "gone": "x", "b": 0.5}])
    layouts = {RecordLayout(old).id: RecordLayout(old).json}
    asked: list[bytes] = []

    def lookup(layout_id: bytes) -> str | None:
        asked.append(layout_id)
        return layouts.get(layout_id)

    decode = record_decoder(RecordLayout(new), ["c", "a", "b"], lookup)
    assert decode(record) == {"c": None, "a": 7, "b": 0.5}
    assert decode(record) == {"c": None, "a": 7, "b": 0.5}
    assert asked == [RecordLayout(old).id]  # looked up once, then kept
    (current,) = encode(new, [{"a": 1, "b": 2.0, "c": "now"}])
    assert decode(current) == {"c": "now", "a": 1, "b": 2.0}


def test_a_record_of_an_unknown_layout_is_an_error():
    (record,) = encode((("a", INT64),), [{"a": 1}])
    with pytest.raises(UnknownLayout, match=RecordLayout((("a", INT64),)).id.hex()):
        record_decoder(RecordLayout((("a", INT32),)), ["a"], no_other_layout)(record)


def test_layouts_round_trip_through_their_json():
    features = (("a", DType("array", TIMESTAMP)), ("b", BOOL), ("c", DATE))
    again = layout_from_json(RecordLayout(features).json)
    assert again.features == features and again.id == RecordLayout(features).id


def test_numpy_of_reads_fixed_width_arrays_like_to_numpy():
    import numpy as np
    import pyarrow as pa

    from fcompile.online.values import numpy_of

    cases = [pa.array([1, -2, 3], pa.int64()), pa.array([1, 2, 3], pa.int32()), pa.array([0.5, -0.0], pa.float32()),
             pa.array([True, False, True, True, False, False, True, False, True]), pa.array([7], pa.uint8())]
    for array in cases:
        for part in (array, array.slice(1), pa.chunked_array([array.slice(1)])):  # offsets and chunks
            expected = (part.combine_chunks() if isinstance(part, pa.ChunkedArray) else part).to_numpy(
                zero_copy_only=False)
            assert np.array_equal(numpy_of(part), expected), part
    with_nulls = pa.array([1.5, None])
    assert np.isnan(numpy_of(with_nulls)[1]) and numpy_of(with_nulls)[0] == 1.5  # through to_numpy


def test_filled_replaces_nulls_like_fill_null():
    import pyarrow as pa

    from fcompile.online.values import filled

    cases = [(pa.array([1, None, 3], pa.int64()), 0), (pa.array([None, 2], pa.int32()), 0),
             (pa.array([0.5, None], pa.float32()), 0), (pa.array([None, True]), False),
             (pa.array([b"x", None]), b""), (pa.array([None, 7], pa.int64()), -(2 ** 63))]
    for array, value in cases:
        assert filled(array, value).equals(array.fill_null(value)), array
    plain = pa.array([1, 2])
    assert filled(plain, 0) is plain


@pytest.mark.parametrize("backend", ["sqlite", "redis", "postgres"])
def test_writing_a_batch_does_not_import_pandas(tmp_path, request, backend):
    """pyarrow imports pandas (when installed) for `pa.scalar` and `to_numpy`: a quarter of a second that
    a materialization would pay on its first batch. The write path avoids both, on every store."""
    settings = {"type": "sqlite", "path": "online.db"} if backend == "sqlite" else \
        {"type": backend, "url": request.getfixturevalue(f"{backend}_url")}
    project = new_project()
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import sys
        sys.modules["pandas"] = None  # any import of pandas now fails loudly
        import duckdb
        from fcompile.graph import DType
        from fcompile.online import online_store_class
        from fcompile.online.base import OnlineView
        view = OnlineView("v", (("k", DType("int64")),), (("f", DType("float64")), ("s", DType("string")),
                          ("b", DType("bool")), ("t", DType("timestamp")), ("d", DType("date")),
                          ("a", DType("array", DType("int64")))), has_created=True)
        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'")
        # rows as materialization gets them: from DuckDB, as Arrow (built without pyarrow's pandas check)
        stamp = "TIMESTAMPTZ '2024-01-01 00:00:00+00'"
        # key 1 twice (the newer row wins within the batch), NULLs in every kind of column
        batch = con.sql(f"SELECT * FROM (VALUES (1::BIGINT, {{stamp}}, {{stamp}}, 0.5::DOUBLE, 'x', NULL::BOOLEAN, "
                        f"{{stamp}}, DATE '2024-01-02', [1, 2]::BIGINT[]), (2, {{stamp}}, NULL, NULL, NULL, TRUE, NULL, "
                        f"NULL, NULL), (1, {{stamp}} - INTERVAL 1 HOUR, NULL, 0.1, 'old', FALSE, NULL, NULL, [3]) "
                        ") AS t(k, __fc_event_ts, __fc_created_ts, f, s, b, t, d, a)").to_arrow_table().to_batches()[0]
        store_class = online_store_class({settings["type"]!r})
        with store_class.connect({settings!r}, {project!r}, {str(tmp_path)!r}) as store:
            store.write_batch(view, batch)
            print(store.read(view, [(1,), (2,)], ["f", "s", "b", "t", "d", "a"]))
    """)
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    finally:
        if backend == "redis":
            delete_redis_project(settings["url"], project)
        elif backend == "postgres":
            delete_postgres_project(settings["url"], project)
    assert done.returncode == 0, done.stderr
    assert "0.5" in done.stdout and "'x'" in done.stdout and "True" in done.stdout and "'old'" not in done.stdout
    assert "2024, 1, 2" in done.stdout and "[1, 2]" in done.stdout


def test_arrays_built_from_buffers_equal_pyarrows():
    import numpy as np

    from fcompile.online.values import arrow_from_numpy, string_array

    assert arrow_from_numpy(np.array([3, -1, 2**40], dtype=np.int64)).equals(pa.array([3, -1, 2**40], pa.int64()))
    flags = np.array([True, False, True, True, False, False, True, False, True])
    assert arrow_from_numpy(flags).equals(pa.array(flags.tolist()))
    texts = ["[1, 2]", None, "", "é"]
    assert string_array(texts).equals(pa.array(texts, pa.string()))
    assert string_array([]).equals(pa.array([], pa.string()))
