"""A write the online store fails during `fcompile materialize` is FC116, naming the view and its window:
the watermark stays where it was, and running again converges. The failures are real: another process
holding SQLite's write lock, and a Redis server that goes away in the middle of a run."""

from __future__ import annotations

import sqlite3
from urllib.parse import urlsplit

import pytest
from materialize_projects import STATS, at, with_rows, write_stats
from tcp_proxy import TcpProxy
from test_materialize import END, materialize, state, stored

from fcompile.online import online_view
from fcompile.parser import load_project
from fcompile.runners import connect_runner
from fcompile.tasks.materialize import NoProgress, materialize_views
from store_cleanup import new_project

def test_a_locked_sqlite_store_is_fc116_and_a_rerun_converges(capsys, project, monkeypatch):
    from fcompile.online import sqlite

    code, _, err = materialize(capsys, project, "--end", END, "--select", "stats")
    assert code == 0, err
    write_stats(project, with_rows(STATS, driver_id=[2], ts=[at(12, 30)], created=[at(13)], conv=[0.9], trips=[9]))
    monkeypatch.setattr(sqlite, "BUSY_TIMEOUT_SECONDS", 0.2)  # how long a write waits for the lock
    holder = sqlite3.connect(project / ".fcompile" / "online.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing: it holds the write lock
    try:
        code, out, err = materialize(capsys, project, "--end", "2024-01-01T13:00", "--select", "stats")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code == 1 and "Traceback" not in err + out
    assert "error[FC116]: feature view 'stats': writing the window [2024-01-01T11:00:00Z, " \
           "2024-01-01T13:00:00Z] failed after 0 keys: the SQLite" in err
    assert "database is locked; the watermark (at 2024-01-01T12:00:00Z) did not move" in err
    assert "the watermark did not move, so it reads this window again" in err
    assert state(project, "stats").watermark == at(12)
    assert stored(project, "stats", [2])[0][0] == {"conv": 0.5, "trips": 5}  # nothing of the window written

    code, _, err = materialize(capsys, project, "--end", "2024-01-01T13:00", "--select", "stats")
    assert code == 0, err
    assert stored(project, "stats", [2])[0][0] == {"conv": 0.9, "trips": 9}
    assert state(project, "stats").watermark == at(13)


@pytest.fixture
def redis_address(redis_url) -> tuple[str, int]:
    parts = urlsplit(redis_url)
    if parts.scheme != "redis" or parts.password:
        pytest.skip("the proxy test needs a plain redis:// URL without a password")
    return parts.hostname or "127.0.0.1", parts.port or 6379


class CloseAfterFirstBatch(NoProgress):
    """Progress that closes the proxy once the first batch has committed: the server goes away mid-run."""

    def __init__(self, proxy: TcpProxy) -> None:
        self.proxy = proxy

    def advance(self, view: str, keys: int) -> None:
        self.proxy.stop()


def test_a_redis_server_that_goes_away_mid_run_is_fc116(project, redis_url, redis_address):
    from fcompile.online.redis import RedisOnlineStore

    graph = load_project(project)
    view = graph.feature_view("stats")
    namespace = new_project()
    proxy = TcpProxy(redis_address)
    direct = RedisOnlineStore.connect({"url": redis_url}, namespace, str(project))
    try:
        through_proxy = RedisOnlineStore.connect({"url": f"redis://127.0.0.1:{proxy.port}/{_db(redis_url)}",
                                                  "timeout": 5}, namespace, str(project))
        with connect_runner(graph.project) as runner:
            (failed,) = materialize_views(graph, runner, through_proxy, [view], at(12), batch_rows=1,
                                          progress=CloseAfterFirstBatch(proxy))
            through_proxy.close()
            assert failed.status == "error" and failed.keys_written == 1
            (problem,) = failed.diagnostics
            assert problem.code.value == "FC116"
            assert problem.message.startswith("feature view 'stats': writing the window [2024-01-01T09:00:00Z, "
                                              "2024-01-01T12:00:00Z] failed after 1 key: the Redis")
            assert problem.message.endswith("; the watermark (unset) did not move")
            assert "the watermark did not move, so it reads this window again" in problem.hint
            assert direct.get_state("stats") is None
            target = online_view(graph, view)
            assert sum(row is not None for row in direct.read(target, [(1,), (2,)], ["conv"])) == 1  # the first batch

            (again,) = materialize_views(graph, runner, direct, [view], at(12), batch_rows=1)
        assert again.ok, again.diagnostics
        assert [dict(row.values) for row in direct.read(target, [(1,), (2,)], ["conv", "trips"])] == \
            [{"conv": 0.25, "trips": 3}, {"conv": 0.5, "trips": 5}]
        assert direct.get_state("stats").watermark == at(12)
    finally:
        proxy.stop()
        direct.drop_view("stats")
        direct.close()


def _db(url: str) -> str:
    return urlsplit(url).path.strip("/") or "0"
