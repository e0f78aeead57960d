"""`fcompile seed` on DuckDB, and the seeds' part in compiling and validating: the sample as a newcomer
gets it (init, seed, run; build for every dialect), seed names and selection, CSV seeds, a failed load that
leaves the old table as it was, and the columns a `table:` source takes from its seed at compile time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile.diagnostics import Code, DiagnosticError
from fcompile.parser import load_project, parse_project
from fcompile.parser.seeds import find_seeds, seed_columns
from fcompile.runners.duckdb import DuckDBRunner
from fcompile.tasks.seeds import select_seeds
from fcompile.sample import init_project

PROJECT = ("name: shop\ntargets:\n"
           "  dev: {offline: {type: duckdb, path: .fcompile/offline.duckdb}, online: {type: sqlite}}\n")
SPEC = """\
entities:
  - {name: customer, join_keys: [{name: customer_id, dtype: string}]}
sources:
  - {name: orders_src, table: orders, timestamp_field: ts}
  - {name: spine_src, table: visits, timestamp_field: ts}
feature_views:
  - name: customer_stats
    entities: [customer]
    source: orders_src
    features: [{name: spend, dtype: float64}]
feature_services:
  - {name: churn_v1, features: ["customer_stats:*"]}
datasets:
  - {name: training, spine: spine_src, service: churn_v1, output: {table: training}}
"""
ORDERS_CSV = ("customer_id,ts,spend\n"
              "c1,2024-01-01T10:00:00Z,1.5\nc2,2024-01-01T11:00:00Z,2.5\nc1,2024-01-02T10:00:00Z,4.0\n")
VISITS_CSV = "customer_id,ts,label\nc1,2024-01-03T00:00:00Z,true\nc2,2024-01-01T10:30:00Z,false\n"


def fcompile(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("FCOMPILE_", "SNOWFLAKE_"))}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "fcompile", *args], env=full_env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def shop(tmp_path) -> Path:
    """A small project whose two sources are CSV seeds, one of them in a sub-folder."""
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yml").write_text(SPEC)
    (tmp_path / "seeds" / "raw").mkdir(parents=True)
    (tmp_path / "seeds" / "raw" / "orders.csv").write_text(ORDERS_CSV)
    (tmp_path / "seeds" / "visits.csv").write_text(VISITS_CSV)
    return tmp_path


def table_rows(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / ".fcompile" / "offline.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


# -- the sample, as a newcomer runs it ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def fresh_sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fresh") / "driver_ranking"
    result = fcompile("init", str(root), "--scale", "0.05")
    assert result.returncode == 0, result.stderr
    assert "seeds/orders.parquet" in result.stdout and (root / "seeds" / "orders.parquet").is_file()
    return root


def test_init_then_seed_then_run_works_on_duckdb(fresh_sample):
    seeded = fcompile("seed", "--project-dir", str(fresh_sample))
    assert seeded.returncode == 0, seeded.stderr
    for name in ("customer_profile", "driver_customer_trips", "driver_profile", "driver_stats", "orders"):
        rows = pq.read_metadata(fresh_sample / "seeds" / f"{name}.parquet").num_rows
        assert f"seed {name}: {rows:,} rows into {name} in " in seeded.stdout
    assert "6 seeded, 0 failed (target 'dev')" in seeded.stdout
    ran = fcompile("run", "--project-dir", str(fresh_sample))  # `init` made data ending now
    assert ran.returncode == 0, ran.stderr
    assert "1 dataset built, 5 feature views loaded, 0 failed" in ran.stdout
    [(rows,)] = table_rows(fresh_sample, 'SELECT count(*) FROM "driver_ranking_training"')
    assert rows == pq.read_metadata(fresh_sample / "seeds" / "orders.parquet").num_rows


def test_the_init_project_builds_for_every_dialect_with_no_diagnostic(fresh_sample):
    built = fcompile("build", "--project-dir", str(fresh_sample), "--dialect", "all")
    assert built.returncode == 0 and built.stderr == "", built.stderr
    for dialect in ("bigquery", "duckdb", "postgres", "redshift", "snowflake", "spark", "trino"):
        assert (fresh_sample / "target" / "compiled" / dialect / "datasets" / "driver_ranking_training.sql").is_file()
    checked = fcompile("build", "--project-dir", str(fresh_sample), "--dialect", "all", "--check")
    assert checked.returncode == 0 and checked.stderr == "", checked.stderr
    assert "is up to date" in checked.stdout
    spark = (fresh_sample / "target" / "compiled" / "spark" / "datasets" / "driver_ranking_training.sql").read_text()
    assert "`s`.`fare_amount` AS `fare_amount`" in spark  # the spine's columns, from the seed file


def test_the_init_project_builds_for_its_snowflake_target(fresh_sample):
    env = {"SNOWFLAKE_ACCOUNT": "any", "SNOWFLAKE_USER": "any", "SNOWFLAKE_PASSWORD": "any"}
    built = fcompile("build", "--project-dir", str(fresh_sample), "--target", "prod",
                     "--target-path", str(fresh_sample / "target-prod"), env=env)
    assert built.returncode == 0 and built.stderr == "", built.stderr
    assert "snowflake: 15 files" in built.stdout


def test_a_missing_seed_table_hints_at_fcompile_seed(tmp_path):
    root = tmp_path / "sample"
    init_project(root, scale=0.02, seed=5)
    ran = fcompile("run", "--project-dir", str(root), "--end", "2025-01-15T00:00:00")
    assert ran.returncode == 1 and "Traceback" not in ran.stderr
    assert "error[FC110]" in ran.stderr and "driver_stats" in ran.stderr
    hint = "hint: the project's seeds/ hold this table: run `fcompile seed` first to load them into the target"
    assert ran.stderr.count(hint) == 1, ran.stderr  # five views miss their tables: one hint


# -- loading ------------------------------------------------------------------------------------------------

def test_csv_seeds_at_any_depth_are_typed_by_inference(shop):
    seeded = fcompile("seed", "--project-dir", str(shop))
    assert seeded.returncode == 0, seeded.stderr
    assert "seed orders: 3 rows into orders" in seeded.stdout and "seed visits: 2 rows into visits" in seeded.stdout
    types = dict(table_rows(shop, "SELECT column_name, data_type FROM information_schema.columns "
                                  "WHERE table_name = 'orders'"))
    assert types == {"customer_id": "VARCHAR", "ts": "TIMESTAMP WITH TIME ZONE", "spend": "DOUBLE"}
    assert table_rows(shop, "SELECT label FROM visits ORDER BY customer_id") == [(True,), (False,)]
    ran = fcompile("run", "--project-dir", str(shop), "--no-materialize")
    assert ran.returncode == 0, ran.stderr
    assert table_rows(shop, "SELECT customer_id, spend FROM training ORDER BY customer_id") == [("c1", 4.0),
                                                                                             ("c2", None)]


def test_a_seed_replaces_its_table_with_the_files_rows_and_types(shop):
    assert fcompile("seed", "--project-dir", str(shop)).returncode == 0
    (shop / "seeds" / "raw" / "orders.csv").unlink()
    pq.write_table(pa.table({"customer_id": ["c9"], "ts": pa.array([0], pa.timestamp("us", "UTC")),
                             "spend": pa.array([1], pa.int32())}), shop / "seeds" / "orders.parquet")
    seeded = fcompile("seed", "--project-dir", str(shop), "--select", "orders")
    assert seeded.returncode == 0, seeded.stderr
    assert "1 seeded, 0 failed" in seeded.stdout and "visits" not in seeded.stdout
    assert table_rows(shop, "SELECT customer_id, spend, typeof(spend) FROM orders") == [("c9", 1, "INTEGER")]


def test_a_failed_load_leaves_the_old_table_as_it_was(shop):
    assert fcompile("seed", "--project-dir", str(shop)).returncode == 0
    # a CSV whose later block does not fit the types inferred from the first: the load fails part-way
    lines = "".join(f"c{i},2024-01-01T10:00:00Z,{i}.5\n" for i in range(200_000))
    (shop / "seeds" / "raw" / "orders.csv").write_text("customer_id,ts,spend\n" + lines + "c0,2024-01-01,oops\n")
    seeded = fcompile("seed", "--project-dir", str(shop))
    assert seeded.returncode == 1 and "Traceback" not in seeded.stderr
    assert "seed 'orders'" in seeded.stderr and "seeds/raw/orders.csv" in seeded.stderr
    assert "seed orders: failed" in seeded.stdout and "seed visits: 2 rows" in seeded.stdout
    assert "1 seeded, 1 failed" in seeded.stdout
    assert table_rows(shop, "SELECT count(*) FROM orders") == [(3,)]
    assert not [t for (t,) in table_rows(shop, "SHOW TABLES") if t.startswith("__fc")]


def test_load_table_through_the_runner_reports_rows_and_table(tmp_path):
    data = pa.table({"a": [1, 2, 3], "b": ["x", None, "z"]})
    with DuckDBRunner(str(tmp_path / "db.duckdb")) as runner:
        loaded = runner.load_table(pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=1)),
                                   "letters", "test rows")
        assert (loaded.table, loaded.rows) == ("letters", 3)
        assert runner.con.sql('SELECT * FROM "letters" ORDER BY a').to_arrow_table().equals(data)


def test_zoned_nanoseconds_are_loaded_as_microseconds(tmp_path):
    """A seed of pandas' `datetime64[ns, UTC]` loads as TIMESTAMPTZ (sub-microsecond digits cut), which the
    compiled SQL's EPOCH_US reads; as TIMESTAMPTZ_NS every query reading it as a time would fail. Naive
    nanoseconds stay (EPOCH_US reads TIMESTAMP_NS)."""
    data = pa.table({"zoned": pa.array([1_700_000_000_123_456_789], pa.timestamp("ns", "UTC")),
                     "naive": pa.array([1_700_000_000_123_456_789], pa.timestamp("ns"))})
    with DuckDBRunner(str(tmp_path / "db.duckdb")) as runner:
        runner.load_table(pa.RecordBatchReader.from_batches(data.schema, data.to_batches()), "stamps", "test rows")
        types = dict(runner.con.sql("SELECT column_name, column_type FROM (DESCRIBE stamps)").fetchall())
        assert types == {"zoned": "TIMESTAMP WITH TIME ZONE", "naive": "TIMESTAMP_NS"}
        assert runner.con.sql("SELECT EPOCH_US(zoned) FROM stamps").fetchall() == [(1_700_000_000_123_456,)]


# -- names and selection ------------------------------------------------------------------------------------

def test_a_bad_or_duplicate_seed_name_is_a_diagnostic_naming_the_file(shop):
    (shop / "seeds" / "my orders.csv").write_text(ORDERS_CSV)
    (shop / "seeds" / "orders.parquet").write_bytes(pq_bytes(pa.table({"customer_id": ["c1"]})))
    (shop / "seeds" / "select.csv").write_text(ORDERS_CSV)
    (shop / "seeds" / "notes.txt").write_text("not a seed")
    found = find_seeds(shop)
    assert sorted(found.seeds) == ["orders", "visits"]
    problems = {d.code: d for d in found.problems}
    assert set(problems) == {Code.BAD_IDENTIFIER, Code.DUPLICATE_NAME, Code.RESERVED_WORD}
    assert "seeds/my orders.csv" in problems[Code.BAD_IDENTIFIER].message
    assert "seeds/orders.parquet and seeds/raw/orders.csv" in problems[Code.DUPLICATE_NAME].message
    assert problems[Code.RESERVED_WORD].position.path.endswith("select.csv")
    seeded = fcompile("seed", "--project-dir", str(shop))
    assert seeded.returncode == 1 and "error[FC040]" in seeded.stderr and "my orders.csv" in seeded.stderr
    validated = fcompile("validate", "--project-dir", str(shop))
    assert validated.returncode == 1 and "error[FC020]" in validated.stderr


def test_select_takes_seed_names_and_refuses_unknown_ones(shop):
    seeds = find_seeds(shop)
    assert [s.name for s in select_seeds(seeds, ["visits orders"])] == ["orders", "visits"]
    assert [s.name for s in select_seeds(seeds, ["visits"])] == ["visits"]
    with pytest.raises(DiagnosticError) as raised:
        select_seeds(seeds, ["order"])
    (problem,) = raised.value.diagnostics
    assert problem.code is Code.BAD_ARGUMENT and "no seed named 'order'" in problem.message
    assert "orders" in problem.hint
    seeded = fcompile("seed", "--project-dir", str(shop), "-s", "visits", "-s", "orders")
    assert seeded.returncode == 0 and "2 seeded" in seeded.stdout


def test_a_compile_only_target_cannot_load_seeds(shop):
    project = shop / "fcompile_project.yml"
    project.write_text(project.read_text() + "  wh: {offline: {type: trino}, online: {type: sqlite}}\n")
    seeded = fcompile("seed", "--project-dir", str(shop), "--target", "wh")
    assert seeded.returncode == 1 and "Traceback" not in seeded.stderr
    assert "error[FC111]: cannot load seeds on target 'wh': offline type 'trino' is compile-only" in seeded.stderr


def test_no_seeds_is_said_not_failed(tmp_path):
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    seeded = fcompile("seed", "--project-dir", str(tmp_path))
    assert seeded.returncode == 0 and "nothing to seed" in seeded.stdout


# -- compile time -------------------------------------------------------------------------------------------

def test_a_table_source_naming_a_seed_is_checked_against_its_file(shop):
    assert seed_columns(find_seeds(shop).get("orders")) == {"customer_id": _dtype("string"),
                                                            "ts": _dtype("timestamp"), "spend": _dtype("float64")}
    assert parse_project(shop).ok
    spec = shop / "specs" / "shop.yml"
    spec.write_text(spec.read_text().replace("{name: spend, dtype: float64}", "{name: spent, dtype: float64}")
                    .replace("dtype: string}]}", "dtype: int64}]}"))
    found = {d.code: d for d in parse_project(shop).diagnostics}
    missing = found[Code.MISSING_COLUMN].message
    assert "feature 'spent' of view 'customer_stats' is not a column of orders.csv" in missing
    assert "string in source 'orders_src'" in found[Code.JOIN_KEY_DTYPE_MISMATCH].message


def test_a_seed_spine_compiles_with_its_columns_for_dialects_that_list_them(shop):
    from fcompile.artifacts.build import compile_project

    result = compile_project(load_project(shop), ("spark", "postgres", "trino", "duckdb"))
    assert not result.diagnostics, [d.render() for d in result.diagnostics]
    spark = result.files["spark/datasets/training.sql"].decode()
    assert "`s`.`label` AS `label`" in spark
    assert "ORDER BY" in spark.split(")\nSELECT")[-1]  # known columns: the final select is in spine order
    (shop / "seeds" / "visits.csv").unlink()  # not a seed any more: the columns are unknown again
    result = compile_project(load_project(shop), ("spark",))
    assert not result.diagnostics, [d.render() for d in result.diagnostics]
    spark = result.files["spark/datasets/training.sql"].decode()
    assert "`s`.*," in spark and "FROM `visits` AS `s`" in spark and "ORDER BY" not in spark.split(")\nSELECT")[-1]


def test_a_seed_spine_without_the_join_keys_is_a_compile_error(shop):
    from fcompile.artifacts.build import compile_project

    (shop / "seeds" / "visits.csv").write_text("ts,label\n2024-01-03T00:00:00Z,true\n")
    result = compile_project(load_project(shop), ("spark",))
    (problem,) = result.diagnostics
    assert problem.code is Code.MISSING_COLUMN and "seeds/visits.csv" in problem.message
    assert "'customer_id'" in problem.message


def test_an_unreadable_seed_is_fc004_in_validate_and_seed(shop):
    (shop / "seeds" / "visits.csv").unlink()
    (shop / "seeds" / "visits.parquet").write_bytes(b"not parquet")
    validated = fcompile("validate", "--project-dir", str(shop))
    assert validated.returncode == 1 and "error[FC004]: source 'spine_src': cannot read the seed file visits.parquet" \
        in validated.stderr
    (shop / "specs" / "shop.yml").write_text(SPEC.replace("table: visits", "table: other_visits"))
    seeded = fcompile("seed", "--project-dir", str(shop))
    assert seeded.returncode == 1 and "error[FC004]: seed 'visits'" in seeded.stderr
    assert "seed orders: 3 rows" in seeded.stdout and "1 seeded, 1 failed" in seeded.stdout


def _dtype(name: str):
    from fcompile.graph import DType

    return DType(name)


def pq_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()

