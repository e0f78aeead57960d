"""The compile cache can only miss, never lie; parallel rendering gives the serial result."""

from __future__ import annotations

import sqlite3

import pytest

from fcompile.artifacts import compile_cache, rendering
from fcompile.artifacts.build import compile_project
from fcompile.artifacts.compile_cache import CACHE_FILE
from fcompile.dialects import DIALECTS
from fcompile.dialects.base import SqlDialect
from fcompile.parser import load_project


def forbid_rendering(monkeypatch):
    def refuse(self, expression, pretty=True, copy=True):
        raise AssertionError("rendered although the cache holds this statement")
    monkeypatch.setattr(SqlDialect, "generate", refuse)


def test_a_second_build_reuses_every_statement(table_sample, monkeypatch):
    graph = load_project(table_sample)
    first = compile_project(graph, ("duckdb", "postgres"), workers=1)
    assert (table_sample / CACHE_FILE).is_file()
    forbid_rendering(monkeypatch)
    second = compile_project(graph, ("duckdb", "postgres"), workers=1)
    assert second.files == first.files and second.ok


def test_a_changed_plan_or_code_misses(table_sample, monkeypatch):
    graph = load_project(table_sample)
    first = compile_project(graph, ("duckdb",), workers=1)
    spec = table_sample / "features" / "driver.yml"
    spec.write_text(spec.read_text().replace("ttl: 2h", "ttl: 3h"))
    changed = compile_project(load_project(table_sample), ("duckdb",), workers=1)
    service = "duckdb/retrieve/driver_activity_v1.sql"
    assert "10800" in changed.files[service].decode() and "10800" not in first.files[service].decode()
    monkeypatch.setattr(compile_cache, "code_fingerprint", lambda: "another fcompile")
    forbid_rendering(monkeypatch)
    with pytest.raises(AssertionError, match="rendered although"):
        compile_project(graph, ("duckdb",), workers=1)


def test_a_tampered_entry_is_ignored(table_sample):
    graph = load_project(table_sample)
    honest = compile_project(graph, ("duckdb",), workers=1)
    with sqlite3.connect(table_sample / CACHE_FILE) as db:
        db.execute("""UPDATE statements SET sql = '["DROP TABLE customers"]'""")
    again = compile_project(graph, ("duckdb",), workers=1)
    assert again.files == honest.files
    assert b"DROP TABLE customers" not in b"".join(again.files.values())


def test_without_the_cache_nothing_is_stored(table_sample):
    compile_project(load_project(table_sample), ("duckdb",), use_cache=False, workers=1)
    assert not (table_sample / CACHE_FILE).exists()


def test_parallel_rendering_gives_the_serial_result(table_sample, monkeypatch):
    graph = load_project(table_sample)
    serial = compile_project(graph, tuple(sorted(DIALECTS)), use_cache=False, workers=1)
    monkeypatch.setattr(rendering, "PARALLEL_MIN_SHAPES", 1)
    parallel = compile_project(graph, tuple(sorted(DIALECTS)), use_cache=False, workers=2)
    assert parallel.files == serial.files and parallel.ok
    assert list(parallel.files) == list(serial.files)


def forbid_planning(monkeypatch):
    from fcompile.artifacts.queries import QueryPlanner

    def refuse(self, ref, dialect):
        raise AssertionError("planned although the whole build is remembered")
    monkeypatch.setattr(QueryPlanner, "plan", refuse)


def test_an_unchanged_build_is_remembered_whole(table_sample, monkeypatch):
    """The same graph, dialects and selection: the files come back without planning or rendering; another
    selection or dialect is compiled (from the statements the cache holds)."""
    graph = load_project(table_sample)
    first = compile_project(graph, ("duckdb", "postgres"), workers=1)
    forbid_planning(monkeypatch)
    again = compile_project(load_project(table_sample), ("duckdb", "postgres"), workers=1)
    assert again.files == first.files and again.ok and again.selected == first.selected
    with pytest.raises(AssertionError, match="planned although"):
        compile_project(graph, ("duckdb",), workers=1)
    with pytest.raises(AssertionError, match="planned although"):
        compile_project(graph, ("duckdb", "postgres"), select=("driver_activity_v1",), workers=1)
    with pytest.raises(AssertionError, match="planned although"):
        compile_project(graph, ("duckdb", "postgres"), use_cache=False, workers=1)


def test_a_build_with_errors_is_not_remembered(table_sample, monkeypatch):
    """A build that reports an error is compiled again by the next build, which reports it again."""
    from fcompile.artifacts.queries import QueryPlanner
    from fcompile.diagnostics import Code, Diagnostic, DiagnosticError

    graph = load_project(table_sample)
    real = QueryPlanner.plan

    def failing(self, ref, dialect):
        if ref.name == "driver_activity_v1":
            raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "refused for the test", None)])
        return real(self, ref, dialect)
    monkeypatch.setattr(QueryPlanner, "plan", failing)
    assert not compile_project(graph, ("duckdb",), workers=1).ok
    assert not compile_project(graph, ("duckdb",), workers=1).ok


def test_a_data_file_whose_time_column_loses_its_zone_is_compiled_again(path_sample):
    """What the planner reads of a data file (its zoned timestamp columns) is part of the remembered build's
    key: rewriting a source file with a naive event time changes the SQL, and the build sees it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    graph = load_project(path_sample)
    first = compile_project(graph, ("duckdb",), workers=1)
    source = next(s for s in graph.sources if s.kind == "path" and s.locator.endswith(".parquet"))
    path = path_sample / source.locator
    table = pq.read_table(path)
    column = table.schema.get_field_index(source.timestamp_field)
    assert table.schema.field(column).type == pa.timestamp("us", "UTC")
    naive = table.set_column(column, source.timestamp_field, table.column(column).cast(pa.timestamp("us")))
    pq.write_table(naive, path)
    second = compile_project(load_project(path_sample), ("duckdb",), workers=1)
    assert second.ok and second.files != first.files
    fresh = compile_project(load_project(path_sample), ("duckdb",), use_cache=False, workers=1)
    assert second.files == fresh.files


def test_only_the_most_recently_used_whole_builds_are_kept(table_sample):
    """Each whole build holds every file: only `KEEP_WHOLE_BUILDS` of them stay, the most recently used."""
    graph = load_project(table_sample)
    selections = [("driver_activity_v1",), ("driver_hourly_stats",), ("+driver_activity_v1",),
                  ("driver_hourly_stats+",), ()]
    for select in selections[:4]:
        compile_project(graph, ("duckdb",), select=select, workers=1)
    compile_project(graph, ("duckdb",), select=selections[0], workers=1)  # used again: kept
    compile_project(graph, ("duckdb",), select=selections[4], workers=1)  # the fifth: the least recent goes
    with sqlite3.connect(table_sample / CACHE_FILE) as db:
        kept = db.execute("SELECT count(*) FROM statements WHERE key LIKE 'build:%'").fetchone()[0]
    assert kept == compile_cache.KEEP_WHOLE_BUILDS == 4
    from fcompile.artifacts.compile_cache import CompileCache, build_key
    from fcompile.artifacts.build import _file_schemas

    cache = CompileCache(table_sample)
    remembered = [cache.get_build(build_key(repr((graph, _file_schemas(graph))), ("duckdb",), select, ()))
                  is not None for select in selections]
    assert remembered == [True, False, True, True, True]
