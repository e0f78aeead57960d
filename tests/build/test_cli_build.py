"""`fcompile build` and `fcompile compile` as a user runs them: a real subprocess, exit codes, output,
no tracebacks."""

from __future__ import annotations

import json

from sample_projects import assert_clean, fcompile

from fcompile.dialects import DIALECTS


def test_build_then_check_is_up_to_date(path_sample):
    result = fcompile("build", "--project-dir", str(path_sample))
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    assert "duckdb: 15 files" in result.stdout
    assert (path_sample / "target" / "manifest.json").is_file()
    check = fcompile("build", "--check", cwd=path_sample)
    assert_clean(check)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "up to date" in check.stdout


def test_check_fails_listing_stale_missing_and_extra(path_sample):
    assert fcompile("build", "--project-dir", str(path_sample)).returncode == 0
    compiled = path_sample / "target" / "compiled" / "duckdb"
    (compiled / "materialize" / "driver_hourly_stats.sql").write_text("-- hand edit\n")
    (compiled / "datasets" / "driver_ranking_training.sql").unlink()
    (compiled / "retrieve" / "gone.sql").write_text("SELECT 1\n")
    before = {p: p.read_bytes() for p in (path_sample / "target").rglob("*") if p.is_file()}
    check = fcompile("build", "--check", "--project-dir", str(path_sample))
    assert_clean(check)
    assert check.returncode == 1
    lines = check.stdout.splitlines()
    assert any(l.startswith("stale:") and l.endswith("materialize/driver_hourly_stats.sql") for l in lines)
    assert any(l.startswith("missing:") and l.endswith("datasets/driver_ranking_training.sql") for l in lines)
    assert any(l.startswith("extra:") and l.endswith("retrieve/gone.sql") for l in lines)
    assert "1 stale, 1 missing, 1 extra" in check.stdout
    assert {p: p.read_bytes() for p in (path_sample / "target").rglob("*") if p.is_file()} == before  # wrote nothing
    assert fcompile("build", "--project-dir", str(path_sample)).returncode == 0
    assert fcompile("build", "--check", "--project-dir", str(path_sample)).returncode == 0


def test_check_before_any_build_reports_everything_missing(path_sample):
    check = fcompile("build", "--check", "--project-dir", str(path_sample))
    assert_clean(check)
    assert check.returncode == 1
    assert "15 stale" not in check.stdout and "0 stale, 16 missing, 0 extra" in check.stdout
    assert not (path_sample / "target").exists()


def test_unreadable_sources_exit_1_with_fc100_per_node_and_write_nothing(path_sample):
    result = fcompile("build", "--dialect", "all", "--project-dir", str(path_sample))
    assert_clean(result)
    assert result.returncode == 1
    assert "error[FC100]: feature view 'driver_hourly_stats': dialect 'postgres' does not support reading files " \
           "('data/driver_stats.parquet')" in result.stderr
    assert "features/driver.yml:21:" in result.stderr
    assert "duckdb: 15 nodes compiled" in result.stdout
    assert "postgres: 15 nodes not compiled" in result.stdout
    assert not (path_sample / "target").exists()


def test_all_dialects_of_the_table_sample(table_sample):
    result = fcompile("build", "--dialect", "all", "--project-dir", str(table_sample))
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (table_sample / "target" / "compiled").iterdir()) == sorted(DIALECTS)
    assert fcompile("build", "--dialect", "all", "--check", "--project-dir", str(table_sample)).returncode == 0


def test_select_and_exclude(table_sample):
    result = fcompile("build", "--select", "driver_activity_v1+ +driver_activity_v1",
                      "--exclude", "tag:tier=gold", "--project-dir", str(table_sample))
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    files = sorted(p.relative_to(table_sample / "target" / "compiled").as_posix()
                   for p in (table_sample / "target" / "compiled").rglob("*.sql"))
    assert files == ["duckdb/retrieve/driver_activity_v1.sql"]


def test_selecting_only_an_entity_compiles_nothing_and_says_why(table_sample):
    result = fcompile("build", "-s", "driver", "--project-dir", str(table_sample))
    assert_clean(result)
    assert result.returncode == 0
    assert "nothing to compile" in result.stdout and "'name+'" in result.stdout
    expanded = fcompile("build", "-s", "driver+", "--project-dir", str(table_sample))
    assert "duckdb: 14 files" in expanded.stdout  # 5 views keyed by driver, 3 services, the dataset, 5 data tests


def test_bad_selectors_and_dialects_are_diagnostics(table_sample):
    result = fcompile("build", "-s", "drivr_hourly_stats tag:gold", "--dialect", "duckdb",
                      "--project-dir", str(table_sample))
    assert_clean(result)
    assert result.returncode == 1
    assert "error[FC090]: selector 'drivr_hourly_stats': no node is named 'drivr_hourly_stats'" in result.stderr
    assert "did you mean 'driver_hourly_stats'?" in result.stderr
    assert "did you mean 'tag:tier=gold'?" in result.stderr
    assert not (table_sample / "target").exists()
    bad = fcompile("build", "--dialect", "snowflak", "--project-dir", str(table_sample))
    assert_clean(bad)
    assert bad.returncode == 1 and "did you mean 'snowflake'?" in bad.stderr


def test_target_path_option(table_sample, tmp_path):
    """Relative to the current directory, as every path on the command line (fcompile/user_paths.py)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = fcompile("build", "--target-path", "out/sql", "--project-dir", str(table_sample), cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert (elsewhere / "out" / "sql" / "manifest.json").is_file()
    assert not (table_sample / "target").exists() and not (table_sample / "out").exists()
    result = fcompile("build", "--target-path", "out/sql", "--check", cwd=table_sample)
    assert result.returncode == 1 and "missing: out/sql/manifest.json" in result.stdout


def test_compile_prints_one_query(table_sample):
    built = fcompile("build", "--dialect", "snowflake", "--project-dir", str(table_sample))
    assert built.returncode == 0, built.stderr
    compiled = table_sample / "target" / "compiled" / "snowflake"
    for option, path in (("--service", "retrieve/driver_ranking_v2.sql"),
                         ("--view", "materialize/driver_hourly_stats.sql"),
                         ("--dataset", "datasets/driver_ranking_training.sql")):
        name = path.split("/")[1][:-4]
        result = fcompile("compile", option, name, "--dialect", "snowflake", "--project-dir", str(table_sample))
        assert_clean(result)
        assert result.returncode == 0, result.stderr
        assert result.stdout == (compiled / path).read_text("utf-8")


def test_compile_diagnostics(path_sample):
    unknown = fcompile("compile", "--service", "driver_activity", "--project-dir", str(path_sample))
    assert_clean(unknown)
    assert unknown.returncode == 1 and "did you mean 'driver_activity_v1'?" in unknown.stderr
    none = fcompile("compile", "--project-dir", str(path_sample))
    assert none.returncode == 1 and "exactly one of --service, --view, --dataset" in none.stderr
    unsupported = fcompile("compile", "--view", "driver_hourly_stats", "--dialect", "trino",
                           "--project-dir", str(path_sample))
    assert_clean(unsupported)
    assert unsupported.returncode == 1 and "error[FC100]" in unsupported.stderr and unsupported.stdout == ""


SNOWFLAKE_ENV = {"SNOWFLAKE_ACCOUNT": "acme-test", "SNOWFLAKE_USER": "ci", "SNOWFLAKE_PASSWORD": "not-a-secret"}


def test_validate_reports_what_the_targets_dialect_cannot_compile(path_sample, monkeypatch):
    """The sample's `prod` target is Snowflake, which cannot read its Parquet `path:` sources: validate
    says so with the same FC100s a build would give, at the node's spec, and writes nothing."""
    for name, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(name, value)
    local = fcompile("validate", "--project-dir", str(path_sample))
    assert_clean(local)
    assert local.returncode == 0, local.stderr
    prod = fcompile("validate", "--target", "prod", "--project-dir", str(path_sample))
    assert_clean(prod)
    assert prod.returncode == 1
    errors = [line for line in prod.stderr.splitlines() if "error[" in line]
    assert len(errors) == 15 and all("error[FC100]" in line and "dialect 'snowflake'" in line for line in errors)
    assert any(line.startswith(f"{path_sample}/features/driver.yml:21:") and
               "feature view 'driver_hourly_stats': dialect 'snowflake' does not support reading files "
               "('data/driver_stats.parquet')" in line for line in errors), errors
    build = fcompile("build", "--target", "prod", "--project-dir", str(path_sample))
    assert [line for line in build.stderr.splitlines() if "error[" in line] == errors  # the same check
    assert not (path_sample / "target").exists()


def test_validate_dialect_option_and_json(path_sample, table_sample):
    spark = fcompile("validate", "--dialect", "spark", "--project-dir", str(path_sample))
    assert_clean(spark)
    assert spark.returncode == 0, spark.stderr  # a file spine of unknown columns: read as s.*, unordered
    every = fcompile("validate", "--dialect", "all", "--format", "json", "--project-dir", str(path_sample))
    assert_clean(every)
    assert every.returncode == 1
    items = json.loads(every.stdout)
    assert len(items) == 75 and {i["code"] for i in items} == {"FC100"}
    assert all("does not support reading files" in i["message"] for i in items)
    assert all(i["line"] > 0 and i["column"] > 0 and i["severity"] == "error" for i in items)
    assert {d for d in DIALECTS if f"dialect '{d}'" in every.stdout} == \
        {d for d, cls in DIALECTS.items() if not cls.READS_FILES}
    tables = fcompile("validate", "--dialect", "all", "--project-dir", str(table_sample))
    assert_clean(tables)
    assert tables.returncode == 0, tables.stderr
    assert "compiles for bigquery, duckdb, postgres, redshift, snowflake, spark, trino" in tables.stdout
    unknown = fcompile("validate", "--dialect", "snowflak", "--project-dir", str(table_sample))
    assert unknown.returncode == 1 and "did you mean 'snowflake'?" in unknown.stderr
    unknown = fcompile("validate", "--dialect", "snowflak", "--format", "json", "--project-dir", str(table_sample))
    assert unknown.returncode == 1 and [i["code"] for i in json.loads(unknown.stdout)] == ["FC090"]
    for project in (path_sample, table_sample):
        assert not (project / "target").exists()


def test_a_failing_build_writes_nothing_and_says_so(path_sample):
    assert fcompile("build", "--project-dir", str(path_sample)).returncode == 0
    before = {p: p.read_bytes() for p in (path_sample / "target").rglob("*") if p.is_file()}
    failed = fcompile("build", "--dialect", "all", "--project-dir", str(path_sample))
    assert_clean(failed)
    assert failed.returncode == 1
    assert "75 errors" in failed.stderr
    assert "wrote" not in failed.stdout and "up to date" not in failed.stdout
    assert "postgres: 15 nodes not compiled" in failed.stdout
    assert "duckdb: 15 nodes compiled" in failed.stdout
    assert "build failed: 75 errors; nothing written, target is as it was" in failed.stdout
    assert {p: p.read_bytes() for p in (path_sample / "target").rglob("*") if p.is_file()} == before


def test_check_with_errors_says_the_check_could_not_be_made(path_sample):
    assert fcompile("build", "--project-dir", str(path_sample)).returncode == 0
    check = fcompile("build", "--dialect", "all", "--check", "--project-dir", str(path_sample))
    assert_clean(check)
    assert check.returncode == 1
    assert "up to date" not in check.stdout and "out of date" not in check.stdout
    assert "target could not be checked: the build has 75 errors" in check.stdout


def test_build_and_run_select_through_an_on_demand_view(path_sample):
    """`order_features+`: the service and the dataset that read the on-demand view; `run` builds the dataset,
    its on-demand columns computed."""
    built = fcompile("build", "-s", "order_features+", "--project-dir", str(path_sample))
    assert_clean(built)
    assert built.returncode == 0, built.stderr
    files = sorted(str(p.relative_to(path_sample / "target" / "compiled")) for p in
                   (path_sample / "target" / "compiled").rglob("*.sql"))
    assert files == ["duckdb/datasets/driver_ranking_training.sql", "duckdb/retrieve/driver_ranking_orders.sql"]
    upstream = fcompile("build", "-s", "+order_features", "--project-dir", str(path_sample))
    assert "duckdb: 2 files" in upstream.stdout  # the two feature views it reads
    ran = fcompile("run", "-s", "order_features+", "--project-dir", str(path_sample))
    assert_clean(ran)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "1 dataset built, 0 failed" in ran.stdout and "feature views loaded" not in ran.stdout
    import duckdb

    database = path_sample / ".fcompile" / "offline.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        night, hours = con.sql("SELECT count(*) FILTER (WHERE order_features__night), "
                               "count(*) FILTER (WHERE order_hour < 6 OR order_hour >= 22) "
                               "FROM driver_ranking_training").fetchall()[0]
    assert night == hours > 0
