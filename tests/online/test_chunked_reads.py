"""Reads of more entities than one statement takes: SQLite asks READ_CHUNK keys per `IN (...)` statement
(rounded up to a multiple of 8 by repeating the last key), Redis READ_CHUNK keys per `MGET`. Whatever the
chunks, a read returns one row per requested key, in request order, with misses (None: NOT_FOUND) and
repeated keys where they were asked - the same as reading each key alone. Run on SQLite and on the real
Redis server (store_backends.py), mostly with READ_CHUNK made small (both modules read it at call time)
to keep the tests fast, and once at the real size."""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from store_backends import at, make_batch, make_view

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "redis"], indirect=True)

VIEW = make_view("chunked")
STORED = [k for k in range(40) if k % 4 != 3]  # 3, 7, 11, ... and everything outside 0..39 is missing
SMALL_CHUNK = 16  # SQLite wants a multiple of 8; the tests below also try others


def module_of(store):
    return sys.modules[type(store).__module__]


def row_of(key: int) -> dict:
    return {"id": key, "event": at(key % 7), "created": None if key % 5 == 0 else at(100 + key), "value": key * 10,
            "note": None if key % 6 == 0 else f"n{key}"}


def written(store, keys=STORED) -> dict:
    """Writes a row for each key; returns what a read of each should give: (values, event, created)."""
    rows = [row_of(k) for k in keys]
    store.write_batch(VIEW, make_batch(VIEW, rows))
    return {r["id"]: ({"value": r["value"], "note": r["note"]}, r["event"], r["created"]) for r in rows}


def read(store, asked: list) -> list:
    return [None if r is None else (dict(r.values), r.event_ts, r.created_ts)
            for r in store.read(VIEW, [(k,) for k in asked], ["value", "note"])]


@pytest.fixture
def reads(store, monkeypatch) -> list[int]:
    """The number of keys each multi-key read statement (SQLite) or MGET (Redis) of `store` carries, in
    the order sent - so a test can see that its read was split as it meant."""
    sizes: list[int] = []
    if store.type_name == "sqlite":
        def trace(statement: str) -> None:  # the statement with its parameters filled in
            if " IN (" in statement:  # the keys: integers (an integer-keyed table) or x'...' literals
                sizes.append(statement.split(" IN (", 1)[1].count(",") + 1)

        store.con.set_trace_callback(trace)
    else:
        real = module_of(store)._command

        def command(*arguments: bytes) -> bytes:
            if arguments[0] == b"MGET":
                sizes.append(len(arguments) - 1)
            return real(*arguments)

        monkeypatch.setattr(module_of(store), "_command", command)
    return sizes


def test_keys_repeated_and_missing_across_chunks_read_in_request_order(store, reads, monkeypatch):
    monkeypatch.setattr(module_of(store), "READ_CHUNK", SMALL_CHUNK)
    expected = written(store)
    asked = ([0, 1, 2, 3, 1, 1, 99, 5, 6, 8, 9, 10, 12, 13, 14, 2]   # chunk 1: 1 three times, 3 and 99 missing
             + [2, 40, 7, None, 4, 4, 0, 15, -1, 16, 17, 18, 20, 21, 22, 24, 25]  # chunk 2: 2 and 0 again, a NULL key
             + [None, 0, 11, 26, 27, 11])  # a last chunk of 5 (SQLite pads it to 8), misses, 0 a third time
    found = read(store, asked)
    assert found == [None if k is None else expected.get(k) for k in asked]
    assert found == [read(store, [k])[0] for k in asked]  # the same as a read of each key alone
    assert [k for k, row in zip(asked, found) if row is None] == [3, 99, 40, 7, None, 15, -1, None, 11, 27, 11]
    assert len(reads) >= 3 and reads[:3] == ([16, 16, 8] if store.type_name == "sqlite" else [16, 16, 5])


@pytest.mark.parametrize("count", [2, SMALL_CHUNK - 1, SMALL_CHUNK, SMALL_CHUNK + 1, SMALL_CHUNK + 8,
                                   2 * SMALL_CHUNK, 2 * SMALL_CHUNK + 1, 2 * SMALL_CHUNK + 3])
def test_requests_around_the_chunk_size(store, reads, monkeypatch, count):
    monkeypatch.setattr(module_of(store), "READ_CHUNK", SMALL_CHUNK)
    expected = written(store, range(100))
    asked = list(range(count))[::-1]
    assert read(store, asked) == [expected[k] for k in asked]
    chunks = [min(SMALL_CHUNK, count - start) for start in range(0, count, SMALL_CHUNK)]
    assert reads == (chunks if store.type_name == "redis" else [-(-n // 8) * 8 for n in chunks])  # SQLite: 8s


def test_the_smallest_chunks(store, monkeypatch):
    monkeypatch.setattr(module_of(store), "READ_CHUNK", 1 if store.type_name == "redis" else 8)  # an MGET per key
    expected = written(store)
    asked = [5, 5, 3, None, 0, 5, 41, 0]
    assert read(store, asked) == [None if k is None else expected.get(k) for k in asked]


def test_several_reads_at_once_across_chunks_read_as_alone_and_redis_in_one_round_trip(store, reads, monkeypatch):
    """`read_many` (a request's views, or the feature server's requests of one loop turn): each read split
    into chunks as alone, the rows the same as alone; on Redis every chunk of every read in one round trip."""
    monkeypatch.setattr(module_of(store), "READ_CHUNK", SMALL_CHUNK)
    written(store)
    many = [
        (VIEW, [(k,) for k in range(2 * SMALL_CHUNK + 3)][::-1], ("value", "note"), False),  # three chunks
        (VIEW, [], ("value",), False),
        (VIEW, list(range(0, 45, 2)), ("note",), True),  # two chunks, keys as they are
        (VIEW, [(None,), (5,), (None,), (7,)], ("value",), False),  # NULL keys asked for nothing
    ]
    alone = [store.read_values_of_key(view, keys, features) if of_key else store.read_values(view, keys, features)
             for view, keys, features, of_key in many]
    reads.clear()
    round_trips = []
    if store.type_name == "redis":
        real = store._send
        monkeypatch.setattr(store, "_send", lambda *args: round_trips.append(1) or real(*args))
    assert store.read_many(many) == alone
    assert alone[1] == [] and alone[3][0] is None and alone[3][2] is None and alone[3][1] is not None
    if store.type_name == "redis":
        assert reads == [16, 16, 3, 16, 7, 2] and round_trips == [1]


def test_reads_at_the_real_chunk_size(store, reads):
    """Two full chunks and a partial one of 13 (SQLite: 496 keys a statement, Redis: 10,000 an MGET), with
    misses in each, a key asked three times in the first chunk and the first 10 keys again at the end. The
    keys at the full chunks' edges are asked once only, so a key left out of every statement shows."""
    chunk = module_of(store).READ_CHUNK
    count = 2 * chunk + 13
    space = count - 10
    asked = [(k * 7919) % space for k in range(count)]  # 7919 is prime: distinct but for the last 10
    asked[1:3] = [asked[0]] * 2
    expected = written(store, [k for k in range(space) if k % 10 != 9])
    assert read(store, asked) == [expected.get(k) for k in asked]
    assert len(reads) == 3


KEYS = st.one_of(st.integers(-3, 43), st.none())
REQUESTS = st.integers(0, 90).flatmap(lambda n: st.lists(KEYS, min_size=n, max_size=n))  # long ones as often as short
CHUNKS = {"sqlite": [8, 16, 24], "redis": [1, 3, 8, 16]}


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), asked=REQUESTS)
def test_any_request_reads_as_a_dict_would(store, monkeypatch, data, asked):
    """The model: a dict of the rows written; a read is a lookup of each key in it."""
    monkeypatch.setattr(module_of(store), "READ_CHUNK", data.draw(st.sampled_from(CHUNKS[store.type_name]), "chunk"))
    expected = written(store)
    assert read(store, asked) == [None if k is None else expected.get(k) for k in asked]
