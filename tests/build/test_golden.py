"""Golden SQL: what `fcompile build` writes for the sample project, per dialect, kept in the repository
so that every change to generated SQL shows up in review.

- `tests/golden/<dialect>/` — the sample with its Parquet sources turned into tables (and the orders
  spine into a query), so every registered dialect compiles every node;
- `tests/golden/path_sources/<dialect>/` — the sample with Parquet path sources (`path: data/x.parquet`
  instead of its seed tables), for every dialect that reads files.

Each file is compared as a re-parsed sqlglot tree (a difference in meaning) and as text (in layout).
New dialects in the registry are picked up automatically. After an intended change, regenerate with

    FCOMPILE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/build/test_golden.py

and review the diff like any other code change.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import sqlglot

from fcompile.artifacts.build import compile_project, read_tree
from fcompile.dialects import DIALECTS
from fcompile.parser import load_project
from sample_projects import write_table_sample
from seeded_sample import init_path_sample

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
PATH_SOURCES = "path_sources"
UPDATE = os.environ.get("FCOMPILE_UPDATE_GOLDEN") == "1"
REGENERATE = "FCOMPILE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/build/test_golden.py"
FILE_DIALECTS = sorted(name for name, cls in DIALECTS.items() if cls.READS_FILES)


def _files_by_dialect(root: Path, dialects: list[str]) -> dict[str, dict[str, bytes]]:
    result = compile_project(load_project(root), dialects)
    by_dialect: dict[str, dict[str, bytes]] = {d: {} for d in dialects}
    for path, content in result.files.items():
        dialect, rest = path.split("/", 1)
        by_dialect[dialect][rest] = content
    return by_dialect


@pytest.fixture(scope="module")
def table_build(tmp_path_factory):
    return _files_by_dialect(write_table_sample(tmp_path_factory.mktemp("golden") / "tables"), sorted(DIALECTS))


@pytest.fixture(scope="module")
def path_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden") / "sample"
    init_path_sample(root, scale=0.01, seed=7)
    return _files_by_dialect(root, FILE_DIALECTS)


def compare_with_golden(folder: Path, files: dict[str, bytes], dialect: str) -> None:
    if UPDATE:
        shutil.rmtree(folder, ignore_errors=True)
        for path, content in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_bytes(content)
        return
    golden = read_tree(folder)
    assert golden, f"no golden files in {folder}: run {REGENERATE}"
    assert sorted(files) == sorted(golden), f"compiled files differ from {folder}; run {REGENERATE} and review"
    read = DIALECTS[dialect].sqlglot_name
    for path in sorted(files):
        new, old = files[path].decode("utf-8"), golden[path].decode("utf-8")
        assert sqlglot.parse(_as_sent(new), read=read) == sqlglot.parse(_as_sent(old), read=read), \
            f"{dialect}/{path}: the SQL changed in meaning, not only in layout; run {REGENERATE} and review"
        assert new == old, f"{dialect}/{path}: the SQL changed in layout or comments; run {REGENERATE} and review"


def _as_sent(sql: str) -> str:
    """A compiled file as the engine receives it: with psycopg's placeholders, every other `%` is written `%%`
    (fcompile/dialects/postgres.py), which sqlglot does not read."""
    return sql.replace("%%", "%") if "%(" in sql else sql


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_golden_sql_of_the_table_sample(dialect, table_build):
    compare_with_golden(GOLDEN / dialect, table_build[dialect], dialect)


@pytest.mark.parametrize("dialect", FILE_DIALECTS)
def test_golden_sql_of_the_real_sample(dialect, path_build):
    compare_with_golden(GOLDEN / PATH_SOURCES / dialect, path_build[dialect], dialect)


def test_duckdb_compiles_the_whole_real_sample(path_build):
    assert len(path_build["duckdb"]) == 15  # 6 views, 3 services, 1 dataset, 5 data tests


def test_no_golden_folder_for_an_unregistered_dialect():
    folders = {p.name for p in GOLDEN.iterdir() if p.is_dir()} - {PATH_SOURCES}
    path_folders = {p.name for p in (GOLDEN / PATH_SOURCES).iterdir() if p.is_dir()}
    if UPDATE:
        for stale in folders - set(DIALECTS):
            shutil.rmtree(GOLDEN / stale)
        for stale in path_folders - set(FILE_DIALECTS):
            shutil.rmtree(GOLDEN / PATH_SOURCES / stale)
        return
    assert folders == set(DIALECTS), f"run {REGENERATE}"
    assert path_folders == set(FILE_DIALECTS), f"run {REGENERATE}"
