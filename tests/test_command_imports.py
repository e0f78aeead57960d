"""Commands import the heavy libraries (pyarrow, DuckDB, sqlglot, numpy) only when they need them, read from
`python -X importtime` of a real command in a fresh process: `--version` needs none of them (nor the
command-line app), `ls` none but sqlglot for a project's on-demand expressions, and `validate` and `build` of the sample, once its seed files' schemas are
known (fcompile/parser/file_schemas.py), only sqlglot - they compile SQL - and no engine or Arrow."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pyarrow", "duckdb", "sqlglot", "numpy")


def imported(args: list[str], cwd: Path, env: dict[str, str]) -> set[str]:
    """The top-level packages `python -m fcompile <args>` imported (exit code 0 asserted)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "fcompile", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +([\w.]+)$", done.stderr, re.MULTILINE)
    assert names, "no -X importtime output"
    return {name.split(".")[0] for name in names}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("imports")
    env = {**os.environ, "XDG_CACHE_HOME": str(base / "cache"), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "fcompile", "init", str(base / "project")], env=env, check=True,
                   capture_output=True, timeout=120)
    assert "pyarrow" in imported(["validate"], base / "project", env)  # reads the seed files' schemas, once
    return base / "project", env


def test_version_imports_nothing_heavy_nor_the_command_line_app(sample):
    project, env = sample
    assert imported(["--version"], project, env).isdisjoint({*HEAVY, "typer", "rich"})


def test_ls_imports_nothing_heavy_but_the_expression_checker(sample):
    """The sample has on-demand views, whose expressions are checked whenever the project is parsed: that
    parse is sqlglot's, and the only reason `ls` loads it (read from the import order: the first fcompile
    module to import sqlglot is the expression package). No engine, Arrow or numpy."""
    project, env = sample
    assert imported(["ls"], project, env).isdisjoint({"pyarrow", "duckdb", "numpy"})
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "fcompile", "ls"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +([\w.]+)$", done.stderr, re.MULTILINE)
    first = names.index("sqlglot")
    importer = next(name for name in names[first + 1:] if name.startswith("fcompile."))
    assert importer.startswith("fcompile.expressions."), importer


@pytest.mark.parametrize("command", ["validate", "build"])
def test_validate_and_build_import_no_engine_and_no_arrow_once_the_seed_schemas_are_known(sample, command):
    project, env = sample
    modules = imported([command], project, env)
    assert modules.isdisjoint({"pyarrow", "duckdb", "numpy"})
    assert "sqlglot" in modules


def test_a_changed_seed_file_is_read_again(sample):
    """The remembered schema is keyed by the file's size and times: a rewritten seed is read anew, so a
    column it lost is reported."""
    import pyarrow.parquet as pq

    project, env = sample
    seed = next(p for p in (project / "seeds").rglob("*.parquet") if p.stem == "driver_stats")
    table = pq.read_table(seed)
    pq.write_table(table.drop_columns(["acc_rate"]), seed)
    done = subprocess.run([sys.executable, "-m", "fcompile", "validate"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "acc_rate" in done.stdout + done.stderr, done.stdout + done.stderr
    pq.write_table(table, seed)
