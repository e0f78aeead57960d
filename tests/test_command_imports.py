"""Commands import the heavy libraries (pyarrow, DuckDB, sqlglot, numpy) only when they need them, read from
`python -X importtime` of a real command in a fresh process: `--version` needs none of them (nor the
command-line app); `ls`, `validate` and `build` of the unchanged sample, once its caches are warm (the seed
files' schemas in fcompile/parser/file_schemas.py, the on-demand expressions' and schema files' checks in
the parse cache, the whole build in the compile cache), none of them, nor pydantic or tensorflow-metadata.
A changed expression is still checked (and an invalid one reported), and a changed project compiled.
`materialize` of views whose statements the shipped templates cover imports no sqlglot, even in a fresh
project folder, and its write into SQLite no pyarrow.compute (20-35 ms of wrappers; the stores call Arrow's kernels
through fcompile.online.values.arrow_compute), nor, printing to a pipe, rich (fcompile/console.py)."""

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


def materialize_imports(project: Path, env: dict[str, str], args: list[str]) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "fcompile", "materialize", "--full-refresh",
                           "--start", "2020-01-01T00:00:00Z", *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout + done.stderr, done.stdout + done.stderr
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| +([\w.]+)$", done.stderr, re.MULTILINE))


def sql_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] == "sqlglot" or m.startswith("fcompile.dialects"))


def test_materialize_of_templated_views_imports_neither_sqlglot_nor_pyarrow_compute(sample):
    """`materialize` of plain online views of seeded tables, whose statements come from the shipped templates
    (fcompile/runners/shipped_sql.py), imports neither sqlglot nor the dialect modules (target/ deleted; the
    parse cache is kept: a cold parse of the sample checks its on-demand expressions with sqlglot), and its
    writes into SQLite no pyarrow.compute."""
    import shutil

    project, env = sample
    done = subprocess.run([sys.executable, "-m", "fcompile", "seed"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    shutil.rmtree(project / "target", ignore_errors=True)
    modules = materialize_imports(project, env, ["--select", "driver_hourly_stats", "--select",
                                                 "customer_daily_profile"])
    assert "duckdb" in {m.split(".")[0] for m in modules}  # it did run the engine
    assert not sql_modules(modules), sql_modules(modules)
    assert "pyarrow.compute" not in modules


def test_a_fresh_materialize_of_a_parquet_view_imports_no_sqlglot_pyarrow_compute_or_rich(tmp_path):
    """The issue's measurement: a project of one feature view over a Parquet file, `.fcompile/` and `target/`
    gone, a fresh process: no sqlglot, no pyarrow.compute (a key sent twice: the batch keeps the newest row),
    and, its output captured, no rich (fcompile/console.py); the keys it wrote are the file's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "features").mkdir()
    times = pa.array([1_700_000_000_000_000 + i for i in range(3)], pa.timestamp("us", "UTC"))  # November 2023
    pq.write_table(pa.table({"driver_id": [1, 2, 2], "ts": times, "rate": [0.5, 0.25, 0.75]}),
                   tmp_path / "stats.parquet")
    (tmp_path / "fcompile_project.yml").write_text(
        "name: fresh\ndefault_target: dev\ntargets:\n  dev: {offline: {type: duckdb}, "
        "online: {type: sqlite, path: .fcompile/online.db}}\n")
    (tmp_path / "features" / "driver.yml").write_text(
        "entities:\n  - name: driver\n    join_keys: [{name: driver_id, dtype: int64}]\n"
        "sources:\n  - {name: stats, path: stats.parquet, timestamp_field: ts}\n"
        "feature_views:\n  - name: driver_rates\n    entities: [driver]\n    source: stats\n"
        "    features: [{name: rate, dtype: float64}]\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    modules = materialize_imports(tmp_path, env, [])
    assert not sql_modules(modules), sql_modules(modules)
    assert "pyarrow" in {m.split(".")[0] for m in modules} and "pyarrow.compute" not in modules
    assert "rich" not in {m.split(".")[0] for m in modules}
    import json

    (result,) = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    assert result["keys_written"] == 2


def test_materialize_of_a_view_of_aggregations_does_not_import_pandas(sample):
    """The tiles' write builds its arrays over buffers: `pa.array` imports pandas (~0.2 s) wherever it is
    installed (here, with the dev extras), to look at its argument."""
    pytest.importorskip("pandas")
    project, env = sample
    done = subprocess.run([sys.executable, "-m", "fcompile", "seed"], cwd=project, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    modules = materialize_imports(project, env, ["--select", "driver_trip_windows"])
    assert "duckdb" in {m.split(".")[0] for m in modules}
    assert "pandas" not in {m.split(".")[0] for m in modules}
