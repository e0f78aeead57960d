"""Writers side by side on one store (docs/how-to/online-postgres.md, "Concurrent writers"): several
connections writing overlapping keys in different orders all succeed, and every key ends with its newest
row, on every store. PostgreSQL's row locks are what this is about: without a stable lock order two
upserts of the same keys in different orders deadlock, and one of them fails."""

from __future__ import annotations

import random
import threading

import pytest
from store_backends import at, make_batch, make_view

WRITERS = 4
ROUNDS = 12
KEYS = 300


def write_rounds(store, view, writer: int, failures: list, start: threading.Barrier) -> None:
    """ROUNDS batches of every key, shuffled (each writer in its own order), each batch's event times
    distinct across writers and rounds: minute `round * WRITERS + writer`, offset per key so the newest
    row of a key comes from a different writer for different keys."""
    shuffle = random.Random(writer)
    start.wait()
    for round_ in range(ROUNDS):
        keys = list(range(KEYS))
        shuffle.shuffle(keys)
        rows = [{"id": k, "event": at(event_minute(round_, writer, k)), "value": writer, "note": f"r{round_}"}
                for k in keys]
        try:
            store.write_batch(view, make_batch(view, rows))
        except Exception as exc:  # noqa: BLE001 - every failure counts, whatever it is
            failures.append(exc)


def event_minute(round_: int, writer: int, key: int) -> int:
    return round_ * WRITERS + (writer + key) % WRITERS


def newest(key: int) -> tuple[int, str]:
    """(writer, note) of the newest row written for `key`: the last round's writer with the greatest minute."""
    last = ROUNDS - 1
    writer = max(range(WRITERS), key=lambda w: event_minute(last, w, key))
    return writer, f"r{last}"


def test_writers_of_overlapping_keys_in_different_orders_all_succeed(backend):
    view = make_view("shared")
    first = backend.connect()
    project = backend.opened[0][1]
    stores = [first] + [backend.connect(project) for _ in range(WRITERS - 1)]
    failures: list = []
    start = threading.Barrier(WRITERS)
    threads = [threading.Thread(target=write_rounds, args=(s, view, w, failures, start)) for w, s in enumerate(stores)]
    run_to_the_end(threads)
    assert failures == []
    rows = first.read(view, [(k,) for k in range(KEYS)], ["value", "note"])
    assert [(r.values["value"], r.values["note"]) for r in rows] == [newest(k) for k in range(KEYS)]
    assert [r.event_ts for r in rows] == [at(event_minute(ROUNDS - 1, newest(k)[0], k)) for k in range(KEYS)]


def test_pushes_to_two_views_beside_single_view_writes_all_succeed(backend):
    """Pushes write two views in one transaction (given in either order), while materializations write one
    view at a time, all on overlapping keys: every write succeeds, and each view ends with its newest rows."""
    views = [make_view("left"), make_view("right")]
    first = backend.connect()
    project = backend.opened[0][1]
    stores = [first] + [backend.connect(project) for _ in range(3)]
    failures: list = []
    start = threading.Barrier(len(stores))

    def push(store, writer: int) -> None:
        start.wait()
        for round_ in range(ROUNDS):
            keys = random.Random(writer * 100 + round_).sample(range(KEYS), KEYS)
            rows = [{"id": k, "event": at(event_minute(round_, writer, k)), "value": writer} for k in keys]
            batches = [(view, make_batch(view, rows)) for view in (views if writer % 2 else views[::-1])]
            try:
                store.write_batches(batches)
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)

    def materialize(store, writer: int) -> None:
        start.wait()
        for round_ in range(ROUNDS):
            keys = random.Random(writer * 100 + round_).sample(range(KEYS), KEYS)
            rows = [{"id": k, "event": at(event_minute(round_, writer, k)), "value": writer} for k in keys]
            for view in views:
                try:
                    store.write_batch(view, make_batch(view, rows))
                except Exception as exc:  # noqa: BLE001
                    failures.append(exc)

    threads = [threading.Thread(target=push if w < 2 else materialize, args=(s, w)) for w, s in enumerate(stores)]
    run_to_the_end(threads)
    assert failures == []
    for view in views:
        rows = first.read(view, [(k,) for k in range(KEYS)], ["value"])
        assert [r.values["value"] for r in rows] == [newest(k)[0] for k in range(KEYS)]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_deadlock_is_retried_then_reported(backend, monkeypatch):
    """A deadlock PostgreSQL reports (SQLSTATE 40P01) is retried a bounded number of times, then FC114
    says what happened and what to do."""
    import psycopg

    from fcompile.diagnostics import DiagnosticError
    from fcompile.online import postgres

    store = backend.connect()
    view = make_view("stuck")
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 1}]))  # the table exists
    attempts = []
    real_execute = type(store._cursor).execute

    def deadlocking(cursor, query, *args, **kwargs):
        if isinstance(query, str) and query.startswith("INSERT INTO"):
            attempts.append(query)
            raise psycopg.errors.DeadlockDetected("deadlock detected")
        return real_execute(cursor, query, *args, **kwargs)

    monkeypatch.setattr(type(store._cursor), "execute", deadlocking)
    monkeypatch.setattr(postgres, "RETRY_BACKOFF_SECONDS", 0.001)
    with pytest.raises(DiagnosticError) as caught:
        store.write_batch(view, make_batch(view, [{"id": 1, "event": at(1), "value": 2}]))
    monkeypatch.undo()
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code.value == "FC114" and "deadlock" in diagnostic.message
    assert f"{postgres.WRITE_ATTEMPTS} attempts" in diagnostic.message and "running again is safe" in diagnostic.hint
    assert len(attempts) == postgres.WRITE_ATTEMPTS
    assert store.read(view, [(1,)], ["value"])[0].values == {"value": 1}  # nothing of the failed batch
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(1), "value": 2}]))  # the session still works
    assert store.read(view, [(1,)], ["value"])[0].values == {"value": 2}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_a_real_deadlock_with_another_session_is_retried(backend, postgres_url):
    """Another program holds the second key of a batch and then asks for the first, which the batch holds:
    PostgreSQL breaks the deadlock by rolling back the store's transaction (whose wait is shorter), which
    runs again once the other session commits."""
    import time

    import psycopg
    from psycopg import sql

    store = backend.connect()
    project = backend.opened[0][1]
    view = make_view("crossed")
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 0},
                                              {"id": 2, "event": at(0), "value": 0}]))
    table = sql.Identifier(f"fc_{project}", "crossed")
    lock = sql.SQL("SELECT 1 FROM {t} ORDER BY __fc_key {which} LIMIT 1 FOR UPDATE")
    failures: list = []

    def write() -> None:
        try:
            store.write_batch(view, make_batch(view, [{"id": 2, "event": at(5), "value": 5},
                                                      {"id": 1, "event": at(5), "value": 5}]))
        except Exception as exc:  # noqa: BLE001
            failures.append(exc)

    with psycopg.connect(postgres_url) as other:
        other.execute("SET deadlock_timeout = '10s'")  # the store's session (1 s) detects the deadlock first
        deadlocks = deadlock_count(other)
        other.execute(lock.format(t=table, which=sql.SQL("DESC")))  # the batch's second key, in key order
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(0.3)  # the batch holds the first key and waits for the second
        other.execute(lock.format(t=table, which=sql.SQL("ASC")))  # waits for the batch: a deadlock
        other.commit()
        writer.join(timeout=30)
        assert deadlock_count(other) == deadlocks + 1
    assert failures == []
    assert [r.values for r in store.read(view, [(1,), (2,)], ["value"])] == [{"value": 5}, {"value": 5}]


def deadlock_count(conn) -> int:
    conn.commit()  # a new transaction sees the statistics anew
    conn.execute("SELECT pg_stat_clear_snapshot()")
    return conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()[0]


def run_to_the_end(threads: list[threading.Thread]) -> None:
    """Start the threads together and wait for all of them (a deadlock is a failure, not a hang)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
