"""One conformance suite for every online store (docs/concepts/materialization.md): each
test runs on SQLite, Redis and PostgreSQL (store_backends.py), on real servers."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import sys

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_backends import at, closed_port, make_batch, make_view, values_of

from fcompile.diagnostics import DiagnosticError
from fcompile.graph import DType
from fcompile.online import online_store_class
from fcompile.online.base import ViewState
from fcompile.online.keys import encode_key
from fcompile.online.values import arrow_type, micros
from fcompile.planner.plans import CREATED_TS, EVENT_TS

UTC = dt.timezone.utc
INT64, INT32, FLOAT64, FLOAT32 = DType("int64"), DType("int32"), DType("float64"), DType("float32")
STRING, BOOL, BYTES, DATE, TIMESTAMP = DType("string"), DType("bool"), DType("bytes"), DType("date"), DType("timestamp")


def array_of(element: DType) -> DType:
    return DType("array", element)


def codes(caught) -> list[str]:
    return [d.code.value for d in caught.value.diagnostics]


def same(a, b) -> bool:
    """Equal, with NaN equal to NaN, through lists and dicts."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# -- values ------------------------------------------------------------------------------------------

EVERY_DTYPE = (
    ("i64", INT64), ("i32", INT32), ("f64", FLOAT64), ("f32", FLOAT32), ("s", STRING), ("flag", BOOL),
    ("raw", BYTES), ("day", DATE), ("moment", TIMESTAMP), ("ints", array_of(INT64)), ("floats", array_of(FLOAT64)),
    ("words", array_of(STRING)), ("moments", array_of(TIMESTAMP)), ("blobs", array_of(BYTES)),
    ("days", array_of(DATE)), ("flags", array_of(BOOL)), ("singles", array_of(FLOAT32)),
)
FULL_ROW = {
    "i64": -(2 ** 63), "i32": 2 ** 31 - 1, "f64": 0.1, "f32": 0.1, "s": "héllo, \"wörld\"\n✓", "flag": True,
    "raw": b"\x00\xff\r\n\x00", "day": dt.date(1, 1, 1), "moment": dt.datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    "ints": [1, None, 2 ** 63 - 1], "floats": [math.nan, math.inf, -math.inf, -0.0, 5e-324, None], "words": ["", "a,b", None],
    "moments": [dt.datetime(1, 1, 1, tzinfo=UTC), None], "blobs": [b"", b"\x00"], "days": [dt.date(9999, 12, 31)],
    "flags": [True, False, None], "singles": [0.1, 1e30],
}
EDGE_ROW = {
    "i64": 2 ** 63 - 1, "i32": -(2 ** 31), "f64": math.nan, "f32": math.inf, "s": "", "flag": False, "raw": b"",
    "day": dt.date(9999, 12, 31), "moment": dt.datetime(1, 1, 1, tzinfo=UTC), "ints": [], "floats": [], "words": [],
    "moments": [], "blobs": [], "days": [], "flags": [], "singles": [],
}
EXTRA_FLOATS = [-math.inf, 1e308, 5e-324, -0.0, 123456789.123456789]


def expected(row: dict) -> dict:
    """What a read returns: the values as Arrow holds them in the view's dtypes (float32 widened)."""
    return {name: pa.array([row.get(name)], arrow_type(dtype)).to_pylist()[0] for name, dtype in EVERY_DTYPE}


def test_every_dtype_round_trips(store):
    view = make_view("all_types", features=EVERY_DTYPE)
    rows = [{"id": 1, "event": at(0), "created": at(1), **FULL_ROW}, {"id": 2, "event": at(0), **EDGE_ROW},
            {"id": 3, "event": at(0)}]  # 3: every feature NULL
    rows += [{"id": 10 + i, "event": at(0), "f64": value} for i, value in enumerate(EXTRA_FLOATS)]
    assert store.write_batch(view, make_batch(view, rows)) == len(rows)
    keys = [(r["id"],) for r in rows]
    found = store.read(view, keys, [name for name, _ in EVERY_DTYPE])
    for row, stored in zip(rows, found):
        assert stored is not None
        assert same(dict(stored.values), expected(row)), (row["id"], dict(stored.values))
        assert stored.event_ts == row["event"] and stored.event_ts.tzinfo is not None
        assert stored.created_ts == row.get("created")
    single = store.read(view, [(1,)], ["moment", "singles"])[0]
    assert single.values == {"moment": FULL_ROW["moment"], "singles": expected(FULL_ROW)["singles"]}
    assert single.values["moment"].utcoffset() == dt.timedelta(0)


def test_key_dtypes_round_trip(store):
    keys = (("k_int", INT32), ("k_float", FLOAT64), ("k_text", STRING), ("k_flag", BOOL), ("k_raw", BYTES),
            ("k_day", DATE), ("k_moment", TIMESTAMP))
    view = make_view("typed_keys", keys=keys, features=(("value", INT64),))
    key = {"k_int": -7, "k_float": -0.5, "k_text": "ключ", "k_flag": True, "k_raw": b"\x00",
           "k_day": dt.date(2001, 2, 3), "k_moment": dt.datetime(2020, 1, 1, 0, 0, 0, 1, tzinfo=UTC)}
    store.write_batch(view, make_batch(view, [{**key, "event": at(0), "value": 5}]))
    as_tuple = tuple(key[name] for name, _ in keys)
    naive = as_tuple[:-1] + (dt.datetime(2020, 1, 1, 0, 0, 0, 1),)  # a naive datetime key is UTC
    other_zone = as_tuple[:-1] + (dt.datetime(2019, 12, 31, 19, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5))),)
    changed = (as_tuple[0] + 1,) + as_tuple[1:]
    assert values_of(store.read(view, [as_tuple, naive, other_zone, changed], ["value"])) == \
        [{"value": 5}, {"value": 5}, {"value": 5}, None]


# -- newer wins ----------------------------------------------------------------------------------------

def test_an_older_batch_leaves_the_newer_row(store):
    view = make_view()
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(10), "value": 2, "note": "new"}]))
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(5), "created": at(99), "value": 1, "note": "old"},
                                              {"id": 2, "event": at(5), "value": 3}]))
    assert values_of(store.read(view, [(1,), (2,)], ["value", "note"])) == \
        [{"value": 2, "note": "new"}, {"value": 3, "note": None}]
    (row,) = store.read(view, [(1,)], ["value"])
    assert (row.event_ts, row.created_ts) == (at(10), None)


def test_equal_event_times_go_to_the_newer_created_time(store):
    view = make_view()
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "created": at(5), "value": 1}]))
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "created": at(4), "value": 2}]))
    assert store.read(view, [(1,)], ["value"])[0].values == {"value": 1}
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "created": at(6), "value": 3}]))
    assert store.read(view, [(1,)], ["value"])[0].values == {"value": 3}


def test_a_null_created_time_is_the_lowest(store):
    view = make_view()
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "created": None, "value": 1},
                                              {"id": 2, "event": at(0), "created": at(-60), "value": 1}]))
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "created": at(-60), "value": 2},
                                              {"id": 2, "event": at(0), "created": None, "value": 2}]))
    assert values_of(store.read(view, [(1,), (2,)], ["value"])) == [{"value": 2}, {"value": 1}]


def test_equal_in_both_the_incoming_row_wins(store):
    for has_created in (True, False):
        view = make_view(f"ties_{has_created}", has_created=has_created)
        store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "created": at(1), "value": 1}]))
        store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "created": at(1), "value": 2}]))
        assert store.read(view, [(1,)], ["value"])[0].values == {"value": 2}


def test_the_newest_row_of_a_batch_wins_in_any_order(store):
    view = make_view()
    versions = [{"event": at(0), "created": at(9), "value": 1}, {"event": at(1), "created": None, "value": 2},
                {"event": at(1), "created": at(0), "value": 3}, {"event": at(1), "created": at(-1), "value": 4}]
    orders = list(itertools.permutations(versions))
    rows = [{"id": key, **version} for key, order in enumerate(orders) for version in order]
    store.write_batch(view, make_batch(view, rows))
    found = store.read(view, [(key,) for key in range(len(orders))], ["value"])
    assert [r.values["value"] for r in found] == [3] * len(orders)
    assert {(r.event_ts, r.created_ts) for r in found} == {(at(1), at(0))}
    # rows equal in both: the later one in the batch
    store.write_batch(view, make_batch(view, [{"id": 100, "event": at(0), "value": v} for v in (7, 8, 9)]))
    assert store.read(view, [(100,)], ["value"])[0].values == {"value": 9}


@pytest.mark.parametrize("base", [dt.datetime(9000, 1, 1, tzinfo=UTC), dt.datetime(5, 1, 1, tzinfo=UTC)])
def test_times_far_from_1970_compare_to_the_microsecond(store, base):
    """Microseconds beyond 2^53 (after 2255, before 1685) are not exact as doubles (Redis's Lua numbers)."""
    view = make_view()
    tick = dt.timedelta(microseconds=1)
    store.write_batch(view, make_batch(view, [{"id": 1, "event": base + tick, "created": base, "value": 1},
                                              {"id": 2, "event": base, "created": base + tick, "value": 1}]))
    store.write_batch(view, make_batch(view, [{"id": 1, "event": base, "created": base + 9 * tick, "value": 2},
                                              {"id": 2, "event": base, "created": base, "value": 2}]))
    assert values_of(store.read(view, [(1,), (2,)], ["value"])) == [{"value": 1}, {"value": 1}]
    store.write_batch(view, make_batch(view, [{"id": 1, "event": base + 2 * tick, "value": 3},
                                              {"id": 2, "event": base, "created": base + 2 * tick, "value": 3}]))
    found = store.read(view, [(1,), (2,)], ["value"])
    assert values_of(found) == [{"value": 3}, {"value": 3}]
    assert (found[0].event_ts, found[1].created_ts) == (base + 2 * tick, base + 2 * tick)


def test_rows_with_a_null_key_or_event_time_are_skipped(store):
    view = make_view(keys=(("a", INT64), ("b", STRING)))
    rows = [{"a": 1, "b": None, "event": at(0), "value": 1}, {"a": None, "b": "x", "event": at(0), "value": 2},
            {"a": 1, "b": "x", "event": None, "value": 3}, {"a": 1, "b": "x", "event": at(0), "value": 4}]
    assert store.write_batch(view, make_batch(view, rows)) == 4
    assert values_of(store.read(view, [(1, "x"), (1, None), (None, "x")], ["value"])) == [{"value": 4}, None, None]


@pytest.mark.parametrize("keys", [(("a", INT64), ("b", STRING)), (("a", INT64),), (("day", DATE), ("flag", BOOL))])
def test_a_batch_with_no_readable_row_writes_nothing(store, keys):
    view = make_view(keys=keys)
    assert store.write_batch(view, make_batch(view, [])) == 0  # no rows at all
    key = {name: {INT64: 1, STRING: "x", DATE: dt.date(2024, 1, 1), BOOL: True}[dtype] for name, dtype in keys}
    unreadable = [{**{name: None for name, _ in keys}, "event": at(0), "value": 1}, {**key, "event": None, "value": 2}]
    assert store.write_batch(view, make_batch(view, unreadable)) == 2
    assert values_of(store.read(view, [tuple(key.values())], ["value"])) == [None]  # neither row was stored
    store.write_batch(view, make_batch(view, [{**key, "event": at(0), "value": 3}]))
    assert values_of(store.read(view, [tuple(key.values())], ["value"])) == [{"value": 3}]


def test_tables_and_zoned_or_naive_times_are_accepted(store):
    view = make_view()
    zoned = pa.timestamp("us", "America/New_York")
    first = make_batch(view, [{"id": 1, "event": at(0), "created": at(0), "value": 1}], zoned)
    second = make_batch(view, [{"id": 2, "event": at(30), "created": at(0), "value": 2}], zoned)
    store.write_batch(view, pa.Table.from_batches([first, second]))  # two chunks
    naive = make_batch(view, [{"id": 1, "event": at(0).replace(tzinfo=None), "created": at(0).replace(tzinfo=None),
                               "value": 3}], pa.timestamp("ns"))
    store.write_batch(view, naive)  # the same times, read as UTC: equal in both, so it replaces
    found = store.read(view, [(1,), (2,)], ["value"])
    assert values_of(found) == [{"value": 3}, {"value": 2}]
    assert found[1].event_ts == at(30)


# -- keys ----------------------------------------------------------------------------------------------

def test_multi_key_values_never_collide(store):
    view = make_view("pairs", keys=(("a", INT64), ("b", STRING)), features=(("value", STRING),))
    store.write_batch(view, make_batch(view, [{"a": 1, "b": "23", "event": at(0), "value": "1|23"},
                                              {"a": 12, "b": "3", "event": at(0), "value": "12|3"}]))
    assert values_of(store.read(view, [(12, "3"), (1, "23"), (1, "2"), (123, "")], ["value"])) == \
        [{"value": "12|3"}, {"value": "1|23"}, None, None]


def test_int_and_string_keys_are_different_keys(store):
    numbers = make_view("by_number", keys=(("id", INT64),), features=(("value", STRING),))
    texts = make_view("by_text", keys=(("id", STRING),), features=(("value", STRING),))
    store.write_batch(numbers, make_batch(numbers, [{"id": 1, "event": at(0), "value": "int"}]))
    store.write_batch(texts, make_batch(texts, [{"id": "1", "event": at(0), "value": "text"}]))
    assert store.read(numbers, [(1,)], ["value"])[0].values == {"value": "int"}
    assert store.read(texts, [("1",)], ["value"])[0].values == {"value": "text"}
    with pytest.raises(DiagnosticError) as caught:
        store.read(numbers, [("1",)], ["value"])
    assert codes(caught) == ["FC115"] and "id (int64)" in caught.value.diagnostics[0].hint
    with pytest.raises(DiagnosticError) as caught:
        store.read(texts, [(1,)], ["value"])
    assert codes(caught) == ["FC115"]


def test_keys_of_the_wrong_shape_are_diagnostics(store):
    view = make_view("pairs", keys=(("a", INT64), ("b", STRING)))
    for bad in [(1,), (1, "x", 2), (True, "x"), (1.5, "x")]:
        with pytest.raises(DiagnosticError) as caught:
            store.read(view, [bad], ["value"])
        assert codes(caught) == ["FC115"], bad
    with pytest.raises(DiagnosticError) as caught:
        store.write_batch(view, pa.RecordBatch.from_pydict({
            "a": pa.array(["x"]), "b": pa.array(["y"]), EVENT_TS: pa.array([at(0)]), CREATED_TS: pa.array([at(0)]),
            "value": pa.array([1]), "note": pa.array(["n"])}))
    assert codes(caught) == ["FC115"]
    with pytest.raises(DiagnosticError) as caught:
        store.write_batch(view, pa.RecordBatch.from_pydict({
            "a": pa.array([1]), "b": pa.array(["y"]), EVENT_TS: pa.array([at(0)]), CREATED_TS: pa.array([at(0)]),
            "value": pa.array(["not a number"]), "note": pa.array(["n"])}))
    assert codes(caught) == ["FC114"] and "'value'" in caught.value.diagnostics[0].message


# -- reads -----------------------------------------------------------------------------------------------

def test_missing_keys_read_as_none_in_order(store):
    view = make_view()
    assert store.read(view, [(1,), (2,)], ["value"]) == [None, None]  # nothing written yet
    store.write_batch(view, make_batch(view, [{"id": k, "event": at(k), "value": k * 10} for k in (1, 3)]))
    asked = [(3,), (99,), (1,), (None,), (3,), (-1,)]
    assert values_of(store.read(view, asked, ["value"])) == \
        [{"value": 30}, None, {"value": 10}, None, {"value": 30}, None]
    assert store.read(view, [(99,)], ["value"]) == [None]
    assert store.read(view, [], ["value"]) == []


def test_reads_return_the_requested_features_only(store):
    view = make_view(features=(("a", INT64), ("b", FLOAT64), ("c", STRING)))
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "a": 1, "b": 2.5, "c": "x"}]))
    assert store.read(view, [(1,)], ["c", "a"])[0].values == {"c": "x", "a": 1}
    assert store.read(view, [(1,), (2,)], ("b",))[0].values == {"b": 2.5}
    assert store.read(view, [(1,)], [])[0].values == {}
    with pytest.raises(DiagnosticError) as caught:
        store.read(view, [(1,)], ["a", "bb"])
    assert codes(caught) == ["FC033"] and "did you mean 'b'" in caught.value.diagnostics[0].hint


def test_many_keys_at_once(store):
    view = make_view(features=(("value", INT64),))
    count = 2_500  # more than one script call (Redis) and one IN list (SQLite)
    store.write_batch(view, make_batch(view, [{"id": k, "event": at(0), "value": k} for k in range(count)]))
    asked = [(k,) for k in range(count + 10)][::-1]
    found = store.read(view, asked, ["value"])
    assert [None if r is None else r.values["value"] for r in found] == [None] * 10 + list(range(count))[::-1]


def test_read_many_answers_each_read_as_alone_in_order(store):
    """`read_many` (the feature server's reads of requests that arrive together): per read, what
    `read_values` or `read_values_of_key` answers alone; reads of several views, of the same view twice, of
    no keys, of NULL and missing keys, and more keys than one Redis MGET takes."""
    from fcompile.online import redis as redis_store

    first = make_view("first", features=(("value", INT64), ("note", STRING)))
    second = make_view("second", keys=(("a", STRING), ("b", INT32)), features=(("score", FLOAT64),))
    store.write_batch(first, make_batch(first, [{"id": k, "event": at(k), "value": k * 10, "note": f"n{k}"}
                                                for k in range(1, 30)]))
    store.write_batch(second, make_batch(second, [{"a": "x", "b": 1, "event": at(0), "score": 0.5},
                                                  {"a": "y", "b": 2, "event": at(1), "score": -1.25}]))
    many = list(range(redis_store.READ_CHUNK + 5))
    reads = [
        (first, [3, 1, 99], ("note", "value"), True),
        (second, [("y", 2), ("x", 1), ("x", 2), (None, 1)], ("score",), False),
        (first, [], ("value",), False),
        (first, [(None,), (7,)], ("value",), False),
        (first, many, ("value",), True),
        (first, [5], ("note",), True),
    ]
    alone = [store.read_values_of_key(view, keys, features) if of_key else store.read_values(view, keys, features)
             for view, keys, features, of_key in reads]
    assert store.read_many(reads) == alone
    assert alone[0] == [(micros(at(3)), "n3", 30), (micros(at(1)), "n1", 10), None]
    assert alone[1] == [(micros(at(1)), -1.25), (micros(at(0)), 0.5), None, None]
    assert alone[2] == [] and alone[3] == [None, (micros(at(7)), 70)]
    assert [row and row[1] for row in alone[4]] == [None] + [k * 10 for k in range(1, 30)] + [None] * (len(many) - 30)
    assert store.read_many([]) == []


def test_a_feature_added_to_the_view_reads_none_until_written(store):
    before = make_view(features=(("a", INT64),))
    after = make_view(features=(("a", INT64), ("b", STRING)))
    store.write_batch(before, make_batch(before, [{"id": 1, "event": at(0), "a": 1}]))
    assert store.read(after, [(1,)], ["a", "b"])[0].values == {"a": 1, "b": None}
    store.write_batch(after, make_batch(after, [{"id": 2, "event": at(0), "a": 2, "b": "new"}]))
    assert values_of(store.read(after, [(1,), (2,)], ["b", "a"])) == [{"b": None, "a": 1}, {"b": "new", "a": 2}]


def test_rows_written_before_the_features_changed_still_read(backend):
    before = make_view(features=(("a", INT64), ("gone", STRING), ("b", FLOAT64)))
    after = make_view(features=(("b", FLOAT64), ("a", INT64), ("c", DATE)))  # reordered, one removed, one added
    first = backend.connect()
    first.write_batch(before, make_batch(before, [{"id": 1, "event": at(0), "a": 1, "gone": "x", "b": 0.5}]))
    second = backend.connect(backend.opened[0][1])  # another session: it knows only the new feature list
    day = dt.date(2024, 1, 2)
    second.write_batch(after, make_batch(after, [{"id": 2, "event": at(0), "a": 2, "b": 1.5, "c": day}]))
    assert values_of(second.read(after, [(1,), (2,)], ["c", "b", "a"])) == \
        [{"c": None, "b": 0.5, "a": 1}, {"c": day, "b": 1.5, "a": 2}]
    assert values_of(first.read(before, [(1,)], ["gone"])) == [{"gone": "x"}]


# -- state, namespaces, dropping ----------------------------------------------------------------------

def test_state_round_trips(store):
    assert store.get_state("v") is None
    state = ViewState(watermark=at(60), last_run_at=at(61), last_window_start=None, rows_read=10, keys_written=4)
    store.put_state("v", state)
    assert store.get_state("v") == state
    naive = ViewState(watermark=dt.datetime(2024, 6, 1), last_run_at=None, last_window_start=dt.datetime(2024, 5, 1))
    store.put_state("v", naive)  # replaces every field; naive times are UTC
    found = store.get_state("v")
    assert found == ViewState(dt.datetime(2024, 6, 1, tzinfo=UTC), None, dt.datetime(2024, 5, 1, tzinfo=UTC), 0, 0)
    assert found.watermark.utcoffset() == dt.timedelta(0)
    assert store.get_state("other") is None


def test_projects_and_views_are_namespaced(backend):
    first, second = backend.connect(), backend.connect()
    view, twin = make_view("v"), make_view("w")
    first.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 1}]))
    second.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 2}]))
    first.write_batch(twin, make_batch(twin, [{"id": 1, "event": at(0), "value": 3}]))
    first.put_state("v", ViewState(at(1), None, None, 1, 1))
    assert values_of(first.read(view, [(1,)], ["value"])) == [{"value": 1}]
    assert values_of(second.read(view, [(1,)], ["value"])) == [{"value": 2}]
    assert values_of(first.read(twin, [(1,)], ["value"])) == [{"value": 3}]
    assert values_of(second.read(twin, [(1,)], ["value"])) == [None]
    assert second.get_state("v") is None
    first.drop_view("v")
    assert values_of(second.read(view, [(1,)], ["value"])) == [{"value": 2}]
    assert values_of(first.read(twin, [(1,)], ["value"])) == [{"value": 3}]


def test_drop_view_forgets_rows_and_state(backend):
    store = backend.connect()
    view = make_view()
    store.write_batch(view, make_batch(view, [{"id": k, "event": at(10), "value": k} for k in range(3)]))
    store.put_state("v", ViewState(at(10), at(11), None, 3, 3))
    store.drop_view("v")
    store.drop_view("never_written")
    assert store.read(view, [(0,), (1,)], ["value"]) == [None, None]
    assert store.get_state("v") is None
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 7}]))  # older than the dropped row
    assert values_of(store.read(view, [(0,), (1,)], ["value"])) == [None, {"value": 7}]
    again = backend.connect(backend.opened[0][1])  # another connection to the same project sees the same
    assert values_of(again.read(view, [(1,)], ["value"])) == [{"value": 7}]


# -- listing the stored keys ----------------------------------------------------------------------------

def _listed(store, view, chunk=None) -> list[bytes]:
    chunks = list(store.stored_keys(view) if chunk is None else store.stored_keys(view, chunk))
    assert all(0 < len(c) <= (chunk or 1000) for c in chunks)
    return [key for c in chunks for key in c]


def test_stored_keys_list_every_key_of_the_view_once(backend):
    from fcompile.online.keys import decode_key

    store = backend.connect()
    view, other = make_view(), make_view("w")
    ids = list(range(-3, 2500, 7))  # 358 keys, negative ones included
    store.write_batch(view, make_batch(view, [{"id": i, "event": at(0), "value": i} for i in ids]))
    store.write_batch(other, make_batch(other, [{"id": 10_000, "event": at(0)}]))  # another view's key
    backend.connect().write_batch(view, make_batch(view, [{"id": 20_000, "event": at(0)}]))  # another project's
    for chunk in (None, 1, 50, 358, 359):
        listed = _listed(store, view, chunk)
        decoded = [decode_key([d for _, d in view.keys], key) for key in listed]
        if store.type_name == "redis":  # no order, and a key may come twice while the keyspace is resized
            decoded = sorted(set(decoded))
        else:
            assert listed == sorted(listed), "SQLite and PostgreSQL list the keys in byte order"
        assert decoded == [(i,) for i in ids], chunk


def test_stored_keys_of_deleted_rows_and_dropped_views_are_gone(store):
    view = make_view()
    assert _listed(store, view) == []  # never written
    store.write_batch(view, make_batch(view, [{"id": i, "event": at(0)} for i in range(5)]))
    store.delete_keys(view, [(1,), (3,)])
    assert sorted(set(_listed(store, view))) == sorted(
        store_key for store_key in (encode_key([d for _, d in view.keys], (i,)) for i in (0, 2, 4)))
    store.drop_view(view.name)
    assert _listed(store, view) == []


def test_stored_keys_of_composite_keys_decode_to_their_tuples(store):
    from fcompile.online.keys import decode_key

    keys = (("k_text", STRING), ("k_int", INT32), ("k_day", DATE))
    view = make_view("pairs", keys=keys, features=(("value", INT64),))
    rows = [{"k_text": text, "k_int": number, "k_day": dt.date(2024, 1, day), "event": at(0)}
            for text in ("a", "ключ", "a:b*") for number in (-1, 7) for day in (1, 31)]
    store.write_batch(view, make_batch(view, rows))
    listed = {decode_key([d for _, d in keys], key) for key in _listed(store, view, 5)}
    assert listed == {(r["k_text"], r["k_int"], r["k_day"]) for r in rows}


# -- deleting keys ---------------------------------------------------------------------------------------

def test_delete_keys_removes_those_rows_only_and_says_which_were_stored(backend):
    store = backend.connect()
    view = make_view()
    assert store.delete_keys(view, [(1,), (2,)]) == [False, False]  # nothing written yet: no table either
    store.write_batch(view, make_batch(view, [{"id": k, "event": at(k), "value": k} for k in range(4)]))
    store.put_state("v", ViewState(at(10), at(11), None, 4, 4))
    assert store.delete_keys(view, [(2,), (99,), (None,), (0,)]) == [True, False, False, True]
    assert values_of(store.read(view, [(0,), (1,), (2,), (3,)], ["value"])) == \
        [None, {"value": 1}, None, {"value": 3}]
    assert store.get_state("v") == ViewState(at(10), at(11), None, 4, 4)  # the watermark stays
    assert store.delete_keys(view, [(2,)]) == [False] and store.delete_keys(view, []) == []
    again = backend.connect(backend.opened[0][1])  # committed: another connection sees it
    assert values_of(again.read(view, [(0,), (1,)], ["value"])) == [None, {"value": 1}]
    store.write_batch(view, make_batch(view, [{"id": 0, "event": at(-60), "value": 7}]))  # older than the deleted
    assert values_of(store.read(view, [(0,)], ["value"])) == [{"value": 7}]  # row: a deleted key takes any row


def test_delete_keys_takes_composite_keys_and_refuses_keys_that_do_not_fit(store):
    view = make_view("pairs", keys=(("a", INT64), ("b", STRING)), features=(("value", STRING),))
    store.write_batch(view, make_batch(view, [{"a": 1, "b": "23", "event": at(0), "value": "1|23"},
                                              {"a": 12, "b": "3", "event": at(0), "value": "12|3"}]))
    for bad in [(1,), ("1", "23"), (1, 23)]:
        with pytest.raises(DiagnosticError) as caught:
            store.delete_keys(view, [(12, "3"), bad])
        assert codes(caught) == ["FC115"], bad
    assert values_of(store.read(view, [(12, "3")], ["value"])) == [{"value": "12|3"}]  # nothing deleted
    assert store.delete_keys(view, [(1, "2"), (12, "3")]) == [False, True]
    assert values_of(store.read(view, [(12, "3"), (1, "23")], ["value"])) == [None, {"value": "1|23"}]


def test_delete_keys_of_another_project_or_view_leave_these(backend):
    first, second = backend.connect(), backend.connect()
    view, twin = make_view("v"), make_view("w")
    for store in (first, second):
        store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 1}]))
    first.write_batch(twin, make_batch(twin, [{"id": 1, "event": at(0), "value": 3}]))
    assert second.delete_keys(view, [(1,)]) == [True]
    assert values_of(first.read(view, [(1,)], ["value"])) == [{"value": 1}]
    assert values_of(first.read(twin, [(1,)], ["value"])) == [{"value": 3}]


# -- unreachable stores ---------------------------------------------------------------------------------

def _unreachable(kind: str, settings: dict, root: str = "/nonexistent") -> DiagnosticError:
    with pytest.raises(DiagnosticError) as caught:
        online_store_class(kind).connect({"type": kind, **settings}, "p", root)
    error = caught.value
    assert [d.code.value for d in error.diagnostics] == ["FC113"]
    assert error.__cause__ is None and error.__suppress_context__  # rendered without a traceback
    assert error.diagnostics[0].hint
    return error


def test_a_redis_server_that_does_not_answer():
    pytest.importorskip("redis")
    port = closed_port()
    error = _unreachable("redis", {"url": f"redis://:secret@127.0.0.1:{port}/0"})
    message = error.diagnostics[0].message
    assert "Redis" in message and f"127.0.0.1:{port}" in message and "secret" not in str(error)


def test_a_postgres_server_that_does_not_answer():
    pytest.importorskip("psycopg")
    port = closed_port()
    error = _unreachable("postgres", {"url": f"postgresql://me:secret@127.0.0.1:{port}/test"})
    message = error.diagnostics[0].message
    assert "PostgreSQL" in message and f"127.0.0.1:{port}" in message and "secret" not in str(error)


def test_bad_urls():
    pytest.importorskip("redis")
    pytest.importorskip("psycopg")
    assert "not valid" in _unreachable("redis", {"url": "http://127.0.0.1:6379"}).diagnostics[0].message
    assert "PostgreSQL" in _unreachable("postgres", {"url": "postgresql://127.0.0.1:notaport/x"}).diagnostics[0].message


def test_a_sqlite_path_that_cannot_be_opened(tmp_path):
    (tmp_path / "folder.db").mkdir()
    error = _unreachable("sqlite", {"path": "folder.db"}, str(tmp_path))
    assert "SQLite" in error.diagnostics[0].message and "folder.db" in error.diagnostics[0].message
    (tmp_path / "notes.txt").write_text("not a database, but long enough to be read as one " * 20)
    _unreachable("sqlite", {"path": "notes.txt"}, str(tmp_path))
    (tmp_path / "file").write_text("")
    _unreachable("sqlite", {"path": "file/online.db"}, str(tmp_path))  # a file where a folder must be


@pytest.mark.parametrize("kind, package", [("redis", "redis"), ("postgres", "psycopg")])
def test_a_missing_driver_package(monkeypatch, kind, package):
    monkeypatch.setitem(sys.modules, package, None)  # what `import` sees when the package is not installed
    error = _unreachable(kind, {})
    assert "pip install 'fcompile[" in error.diagnostics[0].hint


def test_the_sqlite_store_lives_where_the_target_says(tmp_path):
    store = online_store_class("sqlite").connect({"type": "sqlite", "path": "deep/er/online.db"}, "p", str(tmp_path))
    store.close()
    assert (tmp_path / "deep" / "er" / "online.db").is_file()


# -- the property: after any batches, each key holds its newest row ----------------------------------

ROW = st.fixed_dictionaries({
    "id": st.integers(1, 3),
    "event": st.sampled_from([at(0), at(1), at(2)]),
    "created": st.sampled_from([None, at(0), at(5)]),
})


@settings(max_examples=25, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.lists(ROW, min_size=1, max_size=6), min_size=1, max_size=4))
def test_each_key_holds_its_newest_row(store, batches):
    view = make_view("prop")
    store.drop_view("prop")
    newest: dict[int, tuple] = {}
    serial = itertools.count()
    for rows in batches:
        rows = [{**row, "value": next(serial)} for row in rows]
        store.write_batch(view, make_batch(view, rows))
        for row in rows:  # the reference: later rows win ties, a NULL created time is the lowest
            rank = (row["event"], row["created"] or dt.datetime.min.replace(tzinfo=UTC))
            if row["id"] not in newest or rank >= newest[row["id"]][0]:
                newest[row["id"]] = (rank, row)
    found = store.read(view, [(k,) for k in (1, 2, 3)], ["value"])
    for key, stored in zip((1, 2, 3), found):
        if key not in newest:
            assert stored is None
            continue
        row = newest[key][1]
        assert (stored.values["value"], stored.event_ts, stored.created_ts) == (row["value"], row["event"], row["created"])
