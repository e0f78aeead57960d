"""Removing what a test wrote on the shared servers, so runs side by side never see each other's data."""

from __future__ import annotations

import uuid


def new_project() -> str:
    """A fresh project name (the namespace of its keys and tables): tests side by side never share data."""
    return f"t_{uuid.uuid4().hex[:16]}"


def delete_redis_project(url: str, project: str) -> None:
    """Every key of the project's namespace (`fc:<project>:...`) on the Redis server at `url`."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        doomed = list(client.scan_iter(match=f"fc:{project}:*", count=1000))
        for start in range(0, len(doomed), 1000):
            client.unlink(*doomed[start:start + 1000])
    finally:
        client.close()


def delete_postgres_project(url: str, project: str) -> None:
    """The project's schema (`fc_<project>`) on the PostgreSQL server at `url`, with everything in it."""
    import psycopg
    from psycopg import sql

    from fcompile.online.postgres import pg_name

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pg_name(f"fc_{project}"))))
