"""The online stores the conformance suite runs on (its fixtures are in conftest.py): SQLite in a
temporary folder, Redis at FCOMPILE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0) and PostgreSQL at
FCOMPILE_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test). Every test gets projects named
`t_<uuid>` and removes what they wrote (Redis keys, the PostgreSQL schema), so runs side by side never see
each other's data. Also here: views and batches for the tests (`make_view`, `make_batch`, `at`,
`values_of`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Callable

import pyarrow as pa
from store_cleanup import delete_postgres_project, delete_redis_project, new_project

from fcompile.graph import DType
from fcompile.online.base import OnlineView
from fcompile.online.values import arrow_type
from fcompile.planner.plans import CREATED_TS, EVENT_TS
from tcp_proxy import free_port

BACKENDS = ("sqlite", "redis", "postgres")




closed_port = free_port  # nothing listens there: a connection is refused


@dataclass
class Backend:
    """Connects stores of one type for new projects and removes their data afterwards."""

    name: str
    settings: dict[str, Any]
    root: str
    cleanup: Callable[[str], None]
    opened: list[tuple[Any, str]] = field(default_factory=list)

    def connect(self, project: str | None = None):
        from fcompile.online import online_store_class

        project = project or new_project()
        store = online_store_class(self.name).connect(self.settings, project, self.root)
        self.opened.append((store, project))
        return store

    def close_all(self) -> None:
        for store, project in self.opened:
            try:
                store.close()
            except Exception:  # already closed by the test
                pass
            self.cleanup(project)


def redis_cleanup(url: str) -> Callable[[str], None]:
    return lambda project: delete_redis_project(url, project)


def postgres_cleanup(url: str) -> Callable[[str], None]:
    return lambda project: delete_postgres_project(url, project)


# -- views and batches ----------------------------------------------------------------------------------

UTC = dt.timezone.utc
T0 = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def make_view(name: str = "v", keys=(("id", DType("int64")),),
              features=(("value", DType("int64")), ("note", DType("string"))), has_created: bool = True) -> OnlineView:
    return OnlineView(name, tuple(keys), tuple(features), has_created)


def make_batch(view: OnlineView, rows: list[dict], time_type: pa.DataType = pa.timestamp("us", "UTC")):
    """A batch as `LatestValues` gives it, from dicts of key values, `event`, `created` and feature values
    (missing ones NULL)."""
    columns = {name: pa.array([r.get(name) for r in rows], arrow_type(dtype)) for name, dtype in view.keys}
    columns[EVENT_TS] = pa.array([r["event"] for r in rows], time_type)
    if view.has_created:
        columns[CREATED_TS] = pa.array([r.get("created") for r in rows], time_type)
    for name, dtype in view.features:
        columns[name] = pa.array([r.get(name) for r in rows], arrow_type(dtype))
    return pa.RecordBatch.from_pydict(columns)


def values_of(rows) -> list:
    return [None if r is None else dict(r.values) for r in rows]
