"""SQLite's table of a view keyed by one integer (issue 20): its rows are keyed by the integer itself, an
INTEGER PRIMARY KEY (a rowid table), rather than by the encoded key; every other key keeps the BLOB key. The
integer layout answers as the encoded one does - the same values, the same newest-wins writes, the same key
listing - and a database written before it (every view keyed by the encoded key) keeps being read and
written, row for row, until `materialize --full-refresh` makes the table again in the integer layout."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from store_backends import at, make_batch, make_view, values_of

from fcompile.diagnostics import DiagnosticError
from fcompile.graph import DType
from fcompile.online.keys import decode_key, encode_key, encode_key_columns
from fcompile.online.records import RecordLayout, encode_records

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

LOW, HIGH = -(1 << 63), (1 << 63) - 1
EDGES = [LOW, LOW + 1, -1001, -1, 0, 1, 1001, HIGH - 1, HIGH]
INT64, INT32, STRING = DType("int64"), DType("int32"), DType("string")
# the previous release's table of a view: every key encoded (fcompile/online/keys.py), WITHOUT ROWID
EARLIER_TABLE = ('CREATE TABLE "{name}" (__fc_key BLOB NOT NULL PRIMARY KEY, __fc_event_ts INTEGER NOT NULL, '
                 "__fc_created_ts INTEGER, __fc_record BLOB NOT NULL) WITHOUT ROWID")


def table_of(store, view) -> str:
    return f"fc_{store.project}__{view.name}"


def schema(store, view) -> str:
    (sql,) = store.con.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table_of(store, view),)).fetchone()
    return sql


def rows_of(keys: list, minutes: float = 0, created: float | None = None) -> list[dict]:
    return [{"id": k, "event": at(minutes), "created": None if created is None else at(created), "value": i,
             "note": f"n{k}"} for i, k in enumerate(keys)]


def read_each(store, view, keys: list) -> list:
    return [values_of(store.read(view, [(k,)], ["value", "note"]))[0] for k in keys]


@pytest.mark.parametrize("dtype", [INT64, INT32])
def test_a_view_keyed_by_one_integer_is_a_rowid_table_keyed_by_it(store, dtype):
    view = make_view("ints", keys=(("id", dtype),))
    keys = EDGES if dtype == INT64 else [-(1 << 31), -1, 0, 1, (1 << 31) - 1]
    store.write_batch(view, make_batch(view, rows_of(keys)))
    sql = schema(store, view)
    assert "__fc_int_key INTEGER PRIMARY KEY" in sql and "WITHOUT ROWID" not in sql
    stored = store.con.execute(f'SELECT __fc_int_key FROM "{table_of(store, view)}" ORDER BY rowid').fetchall()
    assert [k for (k,) in stored] == sorted(keys)  # the integer itself is the rowid
    expected = [{"value": i, "note": f"n{k}"} for i, k in enumerate(keys)]
    asked = keys[::-1] + [keys[0]]  # another order, a key twice
    wanted = expected[::-1] + [expected[0]]
    assert values_of(store.read(view, [(k,) for k in asked], ["value", "note"])) == wanted
    assert read_each(store, view, asked) == wanted
    assert [None if r is None else r[1:] for r in store.read_values(view, [(k,) for k in asked], ["note", "value"])] \
        == [(w["note"], w["value"]) for w in wanted]


@pytest.mark.parametrize("keys", [
    (("id", STRING),), (("a", INT64), ("b", INT64)), (("day", DType("date")),), (("x", DType("float64")),)])
def test_other_keys_keep_the_encoded_key(store, keys):
    view = make_view("other", keys=keys)
    values = {"string": "a", "int64": 7, "date": at(0).date(), "float64": 1.5}
    row = {name: values[dtype.name] for name, dtype in keys} | {"event": at(0), "value": 3}
    store.write_batch(view, make_batch(view, [row]))
    assert "__fc_key BLOB NOT NULL PRIMARY KEY" in schema(store, view) and "WITHOUT ROWID" in schema(store, view)
    key = tuple(row[name] for name, _ in keys)
    assert values_of(store.read(view, [key], ["value"])) == [{"value": 3}]
    (stored,) = next(store.stored_keys(view))
    assert decode_key([d for _, d in keys], stored) == key


def test_tiles_of_a_view_keyed_by_one_integer_are_keyed_by_it_too(store):
    from fcompile.online.base import OnlineView

    tiles = OnlineView("w__fc_tiles", (("id", INT64),), (("__fc_tiles", DType("bytes")),), False, large_rows=True)
    texts = OnlineView("t__fc_tiles", (("id", STRING),), (("__fc_tiles", DType("bytes")),), False, large_rows=True)
    blob = bytes(range(256)) * 40  # kilobytes, as tiles are
    store.write_batch(tiles, make_batch(tiles, [{"id": k, "event": at(0), "__fc_tiles": blob} for k in (-5, 5)]))
    store.write_batch(texts, make_batch(texts, [{"id": "a", "event": at(0), "__fc_tiles": blob}]))
    assert "__fc_int_key INTEGER PRIMARY KEY" in schema(store, tiles)
    assert "__fc_key BLOB NOT NULL UNIQUE" in schema(store, texts) and "WITHOUT ROWID" not in schema(store, texts)
    assert store.read_values(tiles, [(5,), (6,), (-5,)], ["__fc_tiles"]) == [(micros(at(0)), blob), None,
                                                                           (micros(at(0)), blob)]
    assert store.read_values(texts, [("a",)], ["__fc_tiles"]) == [(micros(at(0)), blob)]


def micros(moment) -> int:
    from fcompile.online.values import micros as to_micros

    return to_micros(moment)


def test_the_newest_row_wins_by_event_then_created_time(store):
    view = make_view("newest")
    store.write_batch(view, make_batch(view, [{"id": LOW, "event": at(5), "created": at(1), "value": 1},
                                              {"id": 0, "event": at(5), "value": 1},
                                              {"id": HIGH, "event": at(5), "created": at(1), "value": 1}]))
    store.write_batch(view, make_batch(view, [
        {"id": LOW, "event": at(4), "created": at(9), "value": 2},    # older event: kept out
        {"id": 0, "event": at(5), "created": at(0), "value": 2},      # same event, a created time beats NULL
        {"id": HIGH, "event": at(5), "created": at(1), "value": 2},   # the same times: the incoming row wins
    ]))
    assert values_of(store.read(view, [(LOW,), (0,), (HIGH,)], ["value"])) == [{"value": 1}, {"value": 2}, {"value": 2}]
    store.write_batch(view, make_batch(view, [{"id": 0, "event": at(5), "value": 3}]))  # NULL created: lowest
    assert values_of(store.read(view, [(0,)], ["value"])) == [{"value": 2}]
    store.write_batch(view, make_batch(view, [{"id": 0, "event": at(6), "value": 4},  # the newest of the batch wins
                                              {"id": 0, "event": at(7), "value": 5},
                                              {"id": 0, "event": at(6), "value": 6}]))
    assert values_of(store.read(view, [(0,)], ["value"])) == [{"value": 5}]


def test_keys_that_do_not_fit_are_fc115_and_numpy_integers_fit(store):
    view = make_view("fit")
    store.write_batch(view, make_batch(view, rows_of([1, 2])))
    for bad in ([(1 << 63,)], [(LOW - 1,)], [(True,)], [("1",)], [(1.0,)], [(1, 2)], [1], [(2,), (1 << 64,)]):
        for call in (lambda: store.read(view, bad, ["value"]), lambda: store.read_values(view, bad, ["value"]),
                     lambda: store.delete_keys(view, bad)):
            with pytest.raises(DiagnosticError) as caught:
                call()
            assert caught.value.diagnostics[0].code.value == "FC115", bad
    assert values_of(store.read(view, [(1,), (2,)], ["value"])) == [{"value": 0}, {"value": 1}]  # none deleted
    assert values_of(store.read(view, [(np.int64(2),), (np.int32(1),), (None,)], ["value"])) == \
        [{"value": 1}, {"value": 0}, None]
    assert values_of(store.read(view, [(np.int64(2),)], ["value"])) == [{"value": 1}]


def test_stored_keys_are_the_encoded_keys_in_byte_order_in_chunks(store):
    view = make_view("listed")
    keys = EDGES + list(range(-40, 40, 3))
    store.write_batch(view, make_batch(view, rows_of(keys)))
    chunks = list(store.stored_keys(view, chunk=4))
    assert all(len(c) == 4 for c in chunks[:-1]) and 1 <= len(chunks[-1]) <= 4
    listed = [key for c in chunks for key in c]
    assert listed == sorted(encode_key([INT64], (k,)) for k in set(keys))  # bytes order: the integers' order
    assert [decode_key([INT64], key)[0] for key in listed] == sorted(set(keys))
    assert list(store.stored_keys(make_view("never"))) == []


def test_deletes_and_a_batch_of_several_views_in_one_transaction(store):
    ints, texts = make_view("ints"), make_view("texts", keys=(("id", STRING),))
    store.write_batches([(ints, make_batch(ints, rows_of([LOW, 0, HIGH]))),
                         (texts, make_batch(texts, [{"id": "a", "event": at(0), "value": 9}]))])
    assert values_of(store.read(texts, [("a",)], ["value"])) == [{"value": 9}]
    assert store.delete_keys(ints, [(HIGH,), (5,), (None,), (LOW,)]) == [True, False, False, True]
    assert values_of(store.read(ints, [(LOW,), (0,), (HIGH,)], ["value"])) == [None, {"value": 1}, None]


# -- a database written by the previous release ---------------------------------------------------------

def write_as_the_earlier_release(store, view, rows: list[dict]) -> None:
    """The view's table as the release before the integer layout wrote it: its DDL, keys encoded by keys.py,
    records by records.py, and the record layout registered - by SQL, not through the store."""
    import pyarrow as pa

    from fcompile.online.values import arrow_type

    layout = RecordLayout(view.features)
    keys = encode_key_columns([pa.array([r["id"] for r in rows], "int64")], [INT64]).to_pylist()
    features = {name: pa.array([r.get(name) for r in rows], arrow_type(dtype)) for name, dtype in view.features}
    records = encode_records(layout, features, len(rows)).to_pylist()
    with store.con:
        store.con.execute("BEGIN")
        store.con.execute(EARLIER_TABLE.format(name=table_of(store, view)))
        store.con.execute('INSERT INTO "__fc_layouts" VALUES (?, ?, ?, ?)',
                          (store.project, view.name, layout.id, layout.json))
        store.con.executemany(f'INSERT INTO "{table_of(store, view)}" VALUES (?, ?, ?, ?)',
                              [(k, micros(r["event"]), None, rec) for k, r, rec in zip(keys, rows, records)])
        store.con.execute("COMMIT")


def test_a_table_of_the_earlier_layout_is_read_and_written_as_it_is(backend):
    store = backend.connect()
    view = make_view("earlier")
    write_as_the_earlier_release(store, view, rows_of(EDGES))
    fresh = backend.connect(store.project)  # a new session opens the earlier database
    expected = [{"value": i, "note": f"n{k}"} for i, k in enumerate(EDGES)]
    assert values_of(fresh.read(view, [(k,) for k in EDGES], ["value", "note"])) == expected
    assert read_each(fresh, view, EDGES) == expected
    assert [k for c in fresh.stored_keys(view, chunk=2) for k in c] == sorted(encode_key([INT64], (k,)) for k in EDGES)
    fresh.write_batch(view, make_batch(view, [{"id": 0, "event": at(-1), "value": 100},  # older: kept out
                                              {"id": 1, "event": at(1), "value": 101},   # newer: wins
                                              {"id": 5, "event": at(0), "value": 105}]))  # a new key
    assert fresh.delete_keys(view, [(HIGH,)]) == [True]
    assert "WITHOUT ROWID" in schema(fresh, view)  # still the earlier table: nothing was moved or lost
    count = fresh.con.execute(f'SELECT count(*) FROM "{table_of(fresh, view)}"').fetchone()[0]
    assert count == len(EDGES)  # one deleted, one added
    after = values_of(fresh.read(view, [(0,), (1,), (5,), (HIGH,), (LOW,)], ["value"]))
    assert after == [{"value": EDGES.index(0)}, {"value": 101}, {"value": 105}, None, {"value": 0}]
    fresh.drop_view(view.name)  # what `materialize --full-refresh` does: the table comes back in the new layout
    fresh.write_batch(view, make_batch(view, rows_of([1, 2])))
    assert "__fc_int_key INTEGER PRIMARY KEY" in schema(fresh, view)
    assert values_of(fresh.read(view, [(2,), (1,), (0,)], ["value"])) == [{"value": 1}, {"value": 0}, None]


def test_a_reader_sees_the_table_made_again_in_the_other_layout(backend):
    """Another process re-makes the table (a full refresh) while a session reads: the session's cached
    statements name the key column of the layout they were made for, so they fail and are made again; the
    read answers from the new table, never an empty answer from keys bound the old way."""
    reader = backend.connect()
    view = make_view("switched")
    write_as_the_earlier_release(reader, view, rows_of([1, 2, 3]))
    assert values_of(reader.read(view, [(1,), (3,)], ["value"])) == [{"value": 0}, {"value": 2}]
    assert values_of(reader.read(view, [(2,)], ["value"])) == [{"value": 1}]
    writer = backend.connect(reader.project)
    writer.drop_view(view.name)
    writer.write_batch(view, make_batch(view, [{"id": k, "event": at(1), "value": 10 * k} for k in (1, 2, 3)]))
    assert values_of(reader.read(view, [(1,), (3,)], ["value"])) == [{"value": 10}, {"value": 30}]
    assert values_of(reader.read(view, [(2,)], ["value"])) == [{"value": 20}]
    assert reader.read_values(view, [(3,), (2,)], ["value"]) == [(micros(at(1)), 30), (micros(at(1)), 20)]
    reader.write_batch(view, make_batch(view, [{"id": 4, "event": at(1), "value": 40}]))
    assert values_of(writer.read(view, [(4,)], ["value"])) == [{"value": 40}]


def test_an_integer_table_of_a_view_whose_key_is_no_longer_an_integer_is_fc114_with_a_way_out(store):
    view = make_view("changed")
    store.write_batch(view, make_batch(view, rows_of([1])))
    now_text = make_view("changed", keys=(("id", STRING),))
    for call in (lambda: store.read(now_text, [("1",)], ["value"]),
                 lambda: store.write_batch(now_text, make_batch(now_text, [{"id": "1", "event": at(0), "value": 1}]))):
        with pytest.raises(DiagnosticError) as caught:
            call()
        (problem,) = caught.value.diagnostics
        assert problem.code.value == "FC114" and "keyed by one integer" in problem.message, problem.message
        assert "--full-refresh" in problem.hint
    store.drop_view("changed")
    store.write_batch(now_text, make_batch(now_text, [{"id": "1", "event": at(0), "value": 1}]))
    assert values_of(store.read(now_text, [("1",)], ["value"])) == [{"value": 1}]
    with pytest.raises(sqlite3.OperationalError):  # the integer table went with the drop
        store.con.execute(f'SELECT __fc_int_key FROM "{table_of(store, view)}"').fetchall()


@pytest.mark.parametrize("earlier", [False, True])
def test_the_values_of_a_key_read_as_their_tuples_do(backend, earlier):
    """`read_values_of_key` (the serving path's read of a view of one key, its values checked) answers what
    `read_values` of the 1-tuples answers: on the integer layout, the earlier layout, and a string key."""
    store = backend.connect()
    ints, texts = make_view("ints"), make_view("texts", keys=(("id", STRING),))
    if earlier:
        write_as_the_earlier_release(store, ints, rows_of(EDGES))
    else:
        store.write_batch(ints, make_batch(ints, rows_of(EDGES)))
    store.write_batch(texts, make_batch(texts, [{"id": "a", "event": at(0), "value": 9, "note": "x"}]))
    asked = [HIGH, 7, LOW, 0, 0]
    for view, values in ((ints, asked), (ints, [0]), (ints, [7]), (texts, ["a", "b", "a"]), (texts, ["a"])):
        assert store.read_values_of_key(view, values, ["note", "value"]) == \
            store.read_values(view, [(v,) for v in values], ["note", "value"])
    assert [r[1:] for r in store.read_values_of_key(ints, [HIGH, LOW], ["value"])] == [(len(EDGES) - 1,), (0,)]
