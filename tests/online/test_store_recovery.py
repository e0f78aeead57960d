"""What each store does when its server forgets or drops things, or finds data it cannot read: a lost
connection is opened again, a forgotten script is loaded again, the Lua comparison of times is exact, and
a SQLite table of the layout before records is a diagnostic."""

from __future__ import annotations

import pytest
from store_backends import at, make_batch, make_view, values_of


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_redis_loads_its_script_again_when_the_server_forgot_it(store):
    view = make_view()
    store._sha = "0" * 40  # what a server that restarted (or ran SCRIPT FLUSH) answers to: NOSCRIPT
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 1}]))
    assert values_of(store.read(view, [(1,)], ["value"])) == [{"value": 1}]
    assert store._sha != "0" * 40


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_redis_reconnects_after_losing_its_connection(store):
    view = make_view()
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 1}]))
    store.client.client_kill_filter(_id=_client_id(store))  # as a server restart or a proxy would
    assert values_of(store.read(view, [(1,), (2,)], ["value"])) == [{"value": 1}, None]
    store.client.client_kill_filter(_id=_client_id(store))
    store.write_batch(view, make_batch(view, [{"id": 2, "event": at(0), "value": 2}]))
    assert values_of(store.read(view, [(2,)], ["value"])) == [{"value": 2}]


def _client_id(store) -> int:
    store._connection.send_command("CLIENT", "ID")
    return store._connection.read_response()


def test_the_script_compares_heads_exactly(redis_url):
    """Times beyond 2^53 microseconds (after 2255, before 1685) are not exact as doubles (Lua's numbers):
    the script compares the 16-byte heads as four 32-bit words."""
    import uuid

    import redis

    from fcompile.online.redis import HEAD, WRITE_NEWER_SCRIPT

    sign = 1 << 63

    def head(event: int, created: int | None = None) -> bytes:
        return HEAD.pack(event + sign, 0 if created is None else created + sign)

    year_one = -62135596800000000  # the earliest time a datetime holds, in microseconds
    cases = [  # (stored, incoming, whether the incoming row wins)
        (head(2 ** 53), head(2 ** 53 + 1), True), (head(2 ** 53 + 1), head(2 ** 53), False),
        (head(-2 ** 53 - 1), head(-2 ** 53), True), (head(-2 ** 53), head(-2 ** 53 - 1), False),
        (head(-1), head(1), True), (head(1), head(-1), False), (head(2 ** 32), head(2 ** 32 - 1), False),
        (head(5, 2 ** 53), head(5, 2 ** 53 + 1), True), (head(5, 2 ** 53 + 1), head(5, 2 ** 53), False),
        (head(5), head(5, year_one), True), (head(5, year_one), head(5), False),
        (head(5, 7), head(5, 7), True), (head(5), head(5), True), (head(6), head(5, 2 ** 62), False),
    ]
    prefix = f"fc:t_{uuid.uuid4().hex[:16]}:lua:".encode()
    keys = [prefix + b"%d" % i for i in range(len(cases))]
    legacy, missing = prefix + b"hash", prefix + b"missing"
    client = redis.Redis.from_url(redis_url)
    try:
        for key, (stored, _, _) in zip(keys, cases):
            client.set(key, stored + b"old")
        client.hset(legacy, "__ts", "99999999999999")  # an earlier fcompile's layout: replaced
        written = client.eval(WRITE_NEWER_SCRIPT, len(keys) + 2, *keys, legacy, missing,
                              *[incoming + b"new" for _, incoming, _ in cases], head(0) + b"new", head(0) + b"new")
        assert [client.get(key).endswith(b"new") for key in keys] == [wins for _, _, wins in cases]
        assert client.get(legacy) == client.get(missing) == head(0) + b"new"
        assert written == sum(wins for _, _, wins in cases) + 2
    finally:
        client.delete(*keys, legacy, missing)
        client.close()


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgres_reconnects_after_losing_its_session(store, postgres_url):
    import psycopg

    view = make_view()
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 1}]))
    for write in (False, True):
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (store.conn.info.backend_pid,))
        if write:  # the staging table went with the session: made again
            store.write_batch(view, make_batch(view, [{"id": 2, "event": at(0), "value": 2}]))
        assert values_of(store.read(view, [(1,), (2,)], ["value"])) == [{"value": 1}, {"value": 2} if write else None]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_sqlite_table_of_the_earlier_layout_is_fc114_with_a_way_out(backend):
    from fcompile.diagnostics import DiagnosticError

    store = backend.connect()
    view = make_view()
    name = f"fc_{backend.opened[0][1]}__v"
    store.con.execute(f'CREATE TABLE "{name}" (__fc_key BLOB PRIMARY KEY, __fc_event_ts INTEGER NOT NULL, '
                      "__fc_created_ts INTEGER, __fc_nan TEXT, value INTEGER, note TEXT) WITHOUT ROWID")
    for call in (lambda: store.read(view, [(1,)], ["value"]),
                 lambda: store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 1}]))):
        with pytest.raises(DiagnosticError) as caught:
            call()
        (problem,) = caught.value.diagnostics
        assert problem.code.value == "FC114" and "written by an earlier fcompile" in problem.message
        assert "--full-refresh" in problem.hint
    store.drop_view("v")
    store.write_batch(view, make_batch(view, [{"id": 1, "event": at(0), "value": 1}]))
    assert values_of(store.read(view, [(1,)], ["value"])) == [{"value": 1}]
