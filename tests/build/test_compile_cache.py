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
