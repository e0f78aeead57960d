"""Fixtures of the push tests: `project` (the push project on SQLite), and `online_project`, the same
project on each online store - SQLite, Redis at FCOMPILE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0)
and PostgreSQL at FCOMPILE_TEST_POSTGRES_URL (default postgresql://127.0.0.1:5432/test). A server that
cannot be reached skips its tests with the reason; on the project's machines both must answer. What a
test wrote on a server (Redis keys, the PostgreSQL schema) is removed afterwards."""

from __future__ import annotations

import pytest
from push_projects import new_name, write_project
from store_cleanup import delete_postgres_project, delete_redis_project


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path / "push")


@pytest.fixture(params=("sqlite", "redis", "postgres"))
def online_project(request, tmp_path):
    name = new_name()
    if request.param == "sqlite":
        yield write_project(tmp_path / "push", name=name)
        return
    url = request.getfixturevalue(f"{request.param}_url")
    yield write_project(tmp_path / "push", {"type": request.param, "url": url}, name)
    if request.param == "redis":
        delete_redis_project(url, name)
    else:
        delete_postgres_project(url, name)
