"""`fcompile seed` on the engines outside this process: the sample's seeds become tables of the target's schema,
dataset or database with the files' rows and types, a second load replaces them, a load that fails leaves
the old table as it was, and on PostgreSQL `fcompile seed --target` then `fcompile run` works as a user runs
them (the real server, subprocesses)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile.diagnostics import Code
from fcompile.parser.seeds import Seed
from fcompile.tasks.seeds import load_seed
from fcompile.sample import init_project

from engines.engines import add_target

SEEDED_ENGINES = ("postgres", "spark", "snowflake", "bigquery")


def fcompile(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPILE_")}
    return subprocess.run([sys.executable, "-m", "fcompile", *args], env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeded") / "sample"
    init_project(root, scale=0.02, seed=9)
    return root


def seed_file(folder, name: str, table: pa.Table) -> Seed:
    path = folder / f"{name}.parquet"
    pq.write_table(table, path)
    return Seed(name, str(path), f"seeds/{name}.parquet")


def normalized_rows(table: pa.Table, order_by: str) -> list[dict]:
    rows = sorted(table.to_pylist(), key=lambda row: row[order_by])
    return [{k: (v.astimezone(dt.timezone.utc) if isinstance(v, dt.datetime) and v.tzinfo else v)
             for k, v in row.items()} for row in rows]


@pytest.mark.parametrize("name", SEEDED_ENGINES)
def test_a_seed_becomes_a_table_with_the_files_rows(engines, name, sample, tmp_path):
    engine = engines(name)
    runner = engine.runner()
    seed = Seed("driver_profile", str(sample / "seeds" / "driver_profile.parquet"), "seeds/driver_profile.parquet")
    result = load_seed(runner, seed)
    assert result.ok, [d.render() for d in result.diagnostics]
    wanted = pq.read_table(seed.path)
    assert result.rows == wanted.num_rows and result.table.lower().endswith("driver_profile")
    got = engine.read_table(runner, "driver_profile")
    assert sorted(got.column_names) == sorted(wanted.column_names)
    got_rows = normalized_rows(got.select(wanted.column_names), "updated_at")
    wanted_rows = normalized_rows(wanted, "updated_at")
    assert [(r["driver_id"], r["updated_at"]) for r in got_rows] == [(r["driver_id"], r["updated_at"])
                                                                    for r in wanted_rows]
    assert {(r["driver_id"], r["vehicle_class"], r["is_premium"], r["signup_date"]) for r in got_rows} == \
        {(r["driver_id"], r["vehicle_class"], r["is_premium"], r["signup_date"]) for r in wanted_rows}


@pytest.mark.parametrize("name", SEEDED_ENGINES)
def test_a_second_load_replaces_the_table_and_a_failed_one_leaves_it(engines, name, tmp_path):
    engine = engines(name)
    runner = engine.runner()
    first = seed_file(tmp_path, "fc_seed_twice", pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]}))
    assert load_seed(runner, first).rows == 3
    second = seed_file(tmp_path, "fc_seed_twice", pa.table({"k": [7], "w": [0.5]}))  # other columns too
    result = load_seed(runner, second)
    assert result.ok and result.rows == 1, [d.render() for d in result.diagnostics]
    assert engine.read_table(runner, "fc_seed_twice").to_pylist() == [{"k": 7, "w": 0.5}]
    # a column no engine here can hold: the load fails before the table is touched
    bad = seed_file(tmp_path, "fc_seed_twice", pa.table({"k": [1], "d": pa.array([dt.timedelta(1)])}))
    failed = load_seed(runner, bad)
    assert failed.status == "error" and failed.diagnostics[0].code is Code.SPINE_UPLOAD
    assert "seed 'fc_seed_twice'" in failed.diagnostics[0].message and "seeds/fc_seed_twice.parquet" in \
        failed.diagnostics[0].message
    assert engine.read_table(runner, "fc_seed_twice").to_pylist() == [{"k": 7, "w": 0.5}]


def test_postgresql_folds_a_seed_name_and_a_copy_that_fails_leaves_the_old_table(postgres_engine, tmp_path):
    """A seed named `SeedCase` is the table seedcase (as PostgreSQL folds an unquoted name); a load that the
    server refuses mid-COPY (text cannot hold NUL) rolls back: the old rows stay, no staging table is left."""
    runner = postgres_engine.runner()
    first = seed_file(tmp_path, "SeedCase", pa.table({"k": [1, 2], "v": ["a", "b"]}))
    loaded = load_seed(runner, first)
    assert loaded.ok and loaded.table == f"{postgres_engine.schema}.seedcase", [d.render() for d in loaded.diagnostics]
    assert sorted(postgres_engine.read_table(runner, "seedcase").to_pylist(), key=lambda r: r["k"]) == [
        {"k": 1, "v": "a"}, {"k": 2, "v": "b"}]
    bad = seed_file(tmp_path, "SeedCase", pa.table({"k": [3], "v": ["nul\x00here"]}))
    failed = load_seed(runner, bad)
    assert failed.status == "error", failed
    assert sorted(postgres_engine.read_table(runner, "seedcase").to_pylist(), key=lambda r: r["k"]) == [
        {"k": 1, "v": "a"}, {"k": 2, "v": "b"}]
    left = runner.conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename LIKE %s",
                               (postgres_engine.schema, "%building%")).fetchall()
    assert left == []


def test_seed_then_run_on_postgresql(postgres_engine, tmp_path):
    root = tmp_path / "sample"
    init_project(root, scale=0.02, seed=4)
    add_target(root, "pg", postgres_engine.offline_settings(root))
    seeded = fcompile("seed", "--project-dir", str(root), "--target", "pg")
    assert seeded.returncode == 0, seeded.stderr
    assert f"rows into {postgres_engine.schema}.driver_stats" in seeded.stdout and "6 seeded, 0 failed" in seeded.stdout
    ran = fcompile("run", "--project-dir", str(root), "--target", "pg", "--end", "2025-01-15T00:00:00")
    assert ran.returncode == 0, ran.stderr
    assert "1 dataset built, 5 feature views loaded, 0 failed" in ran.stdout
    training = postgres_engine.read_table(postgres_engine.runner(), "driver_ranking_training")
    assert training.num_rows == pq.read_metadata(root / "seeds" / "orders.parquet").num_rows
    assert training.column("driver_recent__conv_rate").null_count < training.num_rows
