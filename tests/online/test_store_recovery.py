"""What each server store does when its server forgets or drops things: a lost connection is opened
again, a forgotten script is loaded again, and the Lua comparison of times is exact."""

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


def test_the_lua_comparison_of_decimal_times_is_exact(redis_url):
    import redis

    from fcompile.runners.online.redis import WRITE_NEWER_SCRIPT

    compare = WRITE_NEWER_SCRIPT.split("local written")[0]
    cases = [("9007199254740993", "9007199254740992", 1), ("-9007199254740993", "-9007199254740992", -1),
             ("9999999999999999", "10000000000000000", -1), ("-9999999999999999", "-10000000000000000", 1),
             ("-62135596800000000", "-62135596799999999", -1), ("253402300799999999", "253402300799999998", 1),
             ("", "5", -1), ("5", "", 1), ("", "", 0), ("7", "7", 0), ("-1", "1", -1), ("10", "9", 1)]
    script = compare + "local out = {}\nfor i = 1, #KEYS do out[i] = compare(KEYS[i], ARGV[i]) end\nreturn out"
    client = redis.Redis.from_url(redis_url)
    try:
        found = client.eval(script, len(cases), *[a for a, _, _ in cases], *[b for _, b, _ in cases])
    finally:
        client.close()
    assert found == [order for _, _, order in cases]


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
