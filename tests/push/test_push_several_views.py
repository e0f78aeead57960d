"""A push to a push source that feeds several online views writes all of them or none (docs/concepts/push.md):
one transaction on SQLite and PostgreSQL, one MULTI/EXEC on Redis. Here the store really refuses one view's
rows (a CHECK constraint on its table; on Redis, a user not allowed its keys): no view keeps the push, and
the error names every view as not written."""

from __future__ import annotations

import uuid

import pytest
from push_projects import at, online_values, stats_rows, write_project
from store_cleanup import delete_postgres_project, delete_redis_project, new_project

from fcompile import FeatureStore
from fcompile.diagnostics import DiagnosticError

MORE_VIEWS = """\
feature_views:
  - name: driver_conv
    entities: [driver]
    source: stats_push
    features: [{name: conv_rate, dtype: float64}]
  - name: driver_trips_now
    entities: [driver]
    source: stats_push
    features: [{name: trips, dtype: int64}]
"""
VIEWS = ("driver_stats", "driver_conv", "driver_trips_now")


@pytest.fixture(params=("sqlite", "redis", "postgres"))
def store_type(request):
    return request.param


@pytest.fixture
def several(tmp_path, store_type, request):
    """The push project with two more online views over stats_push: (project folder, name, server url)."""
    name = new_project()
    url = None if store_type == "sqlite" else request.getfixturevalue(f"{store_type}_url")
    online = {"type": store_type, "url": url} if url else None
    root = write_project(tmp_path / "push", online, name)
    (root / "more.yml").write_text(MORE_VIEWS)
    yield root, name, url
    if store_type == "redis":
        delete_redis_project(url, name)
    elif store_type == "postgres":
        delete_postgres_project(url, name)


def test_a_push_writes_every_view_of_its_source(several):
    root, _, _ = several
    with FeatureStore(root) as fs:
        result = fs.push("stats_push", stats_rows([1], [at(11)], [0.5], [5]))
        assert sorted(result.views_written) == sorted(VIEWS)
        assert online_values(fs, "driver_conv", ["conv_rate"], [1]) == {1: ({"conv_rate": 0.5}, "2024-01-01T11:00:00Z")}
        assert online_values(fs, "driver_trips_now", ["trips"], [1]) == {1: ({"trips": 5}, "2024-01-01T11:00:00Z")}


def test_a_view_the_store_refuses_leaves_every_view_unwritten(several, store_type, monkeypatch):
    root, name, url = several
    with FeatureStore(root) as fs:
        fs.push("stats_push", stats_rows([1], [at(10)], [0.1], [1]))  # every view holds driver 1 at 10:00
    with refusing_driver_trips_now(store_type, root, name, url, monkeypatch):
        with FeatureStore(root) as fs:
            with pytest.raises(DiagnosticError) as caught:
                fs.push("stats_push", stats_rows([1, 2], [at(11), at(11)], [0.5, 0.6], [5, 6]))
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.code.value == "FC114"
    assert diagnostic.message.endswith("none of the views driver_conv, driver_stats, driver_trips_now was written "
                                       "(they are written together, all or none)"), diagnostic.message
    with FeatureStore(root) as fs:  # nothing of the failed push, in any view
        assert online_values(fs, "driver_stats", ["conv_rate"], [1, 2]) == {
            1: ({"conv_rate": 0.1}, "2024-01-01T10:00:00Z"), 2: None}
        assert online_values(fs, "driver_conv", ["conv_rate"], [1, 2]) == {
            1: ({"conv_rate": 0.1}, "2024-01-01T10:00:00Z"), 2: None}


class refusing_driver_trips_now:
    """The store refuses rows of driver_trips_now for real: its table gets a CHECK constraint that no row
    passes (SQLite, PostgreSQL), or the project's Redis URL names a user who may not touch its keys."""

    def __init__(self, store_type: str, root, project: str, url: str | None, monkeypatch) -> None:
        self.store_type, self.root, self.project, self.url = store_type, root, project, url
        self.monkeypatch = monkeypatch
        self.user = f"fc_test_{uuid.uuid4().hex[:12]}"
        self.project_file = root / "fcompile_project.yml"
        self.original = self.project_file.read_text()

    def __enter__(self):
        if self.store_type == "sqlite":
            import sqlite3

            with sqlite3.connect(self.root / ".fcompile" / "online.db") as con:
                table = f'"fc_{self.project}__driver_trips_now"'
                con.execute(f"DROP TABLE {table}")
                con.execute(f"CREATE TABLE {table} (__fc_int_key INTEGER PRIMARY KEY, __fc_event_ts INTEGER NOT "
                            "NULL CHECK (__fc_event_ts < 0), __fc_created_ts INTEGER, __fc_record BLOB NOT NULL)")
        elif self.store_type == "postgres":
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as con:
                con.execute(f'ALTER TABLE "fc_{self.project}".driver_trips_now ADD CONSTRAINT refuse_all CHECK '
                            "(__fc_event_ts < '2000-01-01') NOT VALID")
        else:
            import redis

            client = redis.Redis.from_url(self.url)
            allowed = [f"~fc:{self.project}:{view}:*" for view in ("driver_stats", "driver_conv", "__state__")]
            client.acl_setuser(self.user, enabled=True, passwords=["+secret"], keys=allowed, commands=["+@all"])
            client.close()
            restricted = self.url.replace("redis://", f"redis://{self.user}:secret@")
            self.monkeypatch.setenv("FC_TEST_RESTRICTED_URL", restricted)
            self.project_file.write_text(self.original.replace(self.url, "\"{{ env_var('FC_TEST_RESTRICTED_URL') }}\""))
        return self

    def __exit__(self, *exc_info) -> None:
        self.project_file.write_text(self.original)
        if self.store_type == "redis":
            import redis

            client = redis.Redis.from_url(self.url)
            client.acl_deluser(self.user)
            client.close()
