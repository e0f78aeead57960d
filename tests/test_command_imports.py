"""Commands import the heavy libraries (pyarrow, DuckDB, sqlglot, numpy) only when they need them, read from
`python -X importtime` of a real command in a fresh process: `--version` needs none of them (nor the
command-line app); `ls`, `validate` and `build` of the unchanged sample, once its caches are warm (the seed
files' schemas in fcompile/parser/file_schemas.py, the on-demand expressions' and schema files' checks in
the parse cache, the whole build in the compile cache), none of them, nor pydantic or tensorflow-metadata.
A changed expression is still checked (and an invalid one reported), and a changed project compiled."""

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


WARM_FREE = (*HEAVY, "pydantic", "tensorflow_metadata", "google")
EXPRESSION = '"order_amount / avg_daily_trips"'  # one of the sample's on-demand expressions


@pytest.mark.parametrize("command", ["ls", "validate", "build"])
def test_warm_commands_of_the_unchanged_sample_import_nothing_heavy(sample, command):
    project, env = sample
    imported([command], project, env)  # warms what this command remembers (build: its own entry)
    modules = imported([command], project, env)
    assert modules.isdisjoint(WARM_FREE), sorted(modules & set(WARM_FREE))


def test_a_changed_expression_is_checked_and_an_invalid_one_reported(sample):
    """An edited expression is checked again (sqlglot is loaded for it); an invalid edit fails validate at its
    line, every time; the unchanged project is warm again afterwards."""
    project, env = sample
    spec = project / "features" / "orders.yml"
    text = spec.read_text()
    assert EXPRESSION in text
    line = text[:text.index(EXPRESSION)].count("\n") + 1
    try:
        spec.write_text(text.replace(EXPRESSION, '"order_amount / avg_daily_trips + 0"'))
        assert "sqlglot" in imported(["validate"], project, env)
        spec.write_text(text.replace(EXPRESSION, '"nosuch_input / avg_daily_trips"'))
        for _ in range(2):
            done = subprocess.run([sys.executable, "-m", "fcompile", "validate"], cwd=project, env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 1 and "nosuch_input" in done.stderr, done.stdout + done.stderr
            assert f"orders.yml:{line}:" in done.stderr, done.stderr
    finally:
        spec.write_text(text)
    imported(["validate"], project, env)
    assert imported(["validate"], project, env).isdisjoint(WARM_FREE)


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
