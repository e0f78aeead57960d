"""`fcompile test` and `fcompile run`'s data tests (issue 18), through the command line on the seeded sample:
the sample's tests pass; a fixture adds failing ones (never the sample itself) and the output, exit codes,
run_results.json, --store-failures and --select are checked against counts made in plain Python from the
seed files; `fcompile run` leaves a dataset as it was when a test on its inputs fails, unless --skip-tests."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from seeded_sample import init_seeded_sample

from build.sample_projects import assert_clean, fcompile

FAILING_ORDERS_TESTS = (
    '    tests: [{expression: "fare_amount < 30"}, {expression: "completed IS NOT NULL", severity: warn}, '
    '{expression: "fare_amount < 40", severity: warn, where: "completed"}]\n')


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return init_seeded_sample(tmp_path_factory.mktemp("dq") / "sample", scale=0.2)


@pytest.fixture
def failing(sample, tmp_path) -> Path:
    """A copy of the seeded sample whose spine source `orders` has an error-severity test that fails."""
    root = tmp_path / "failing"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("target"))
    training = root / "datasets" / "training.yml"
    text = training.read_text()
    training.write_text(text.replace("    owner: ranking-ml@example.com\n\ndatasets:",
                                     "    owner: ranking-ml@example.com\n" + FAILING_ORDERS_TESTS + "\ndatasets:", 1))
    assert FAILING_ORDERS_TESTS in training.read_text()
    return root


def orders(root: Path) -> list[dict]:
    return pq.read_table(root / "seeds" / "orders.parquet").to_pylist()


def results(root: Path) -> dict[str, dict]:
    document = json.loads((root / "target" / "run_results.json").read_text())
    return {entry["node"]: entry for entry in document["results"]}


def test_the_sample_passes_its_tests(sample):
    done = fcompile("test", cwd=sample)
    assert_clean(done)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:-1]] == ["PASS"] * 8
    assert lines[-1] == ("8 passed, 0 warned, 0 failed, 0 errors (8 tests: 5 data tests, 3 schema checks); "
                         "wrote target/run_results.json")
    recorded = results(sample)
    assert sorted(recorded) == sorted(f"test.{n}" for n in (
        "driver_hourly_stats__conv_rate__not_null", "driver_hourly_stats__conv_rate__range",
        "driver_hourly_stats__row_count", "driver_hourly_stats__unique_key_time",
        "driver_lifetime_stats__vehicle_class__accepted_values",
        # the view's schema (schemas/driver_lifetime_stats.pbtxt): a result per feature
        "driver_lifetime_stats__lifetime_trip_count__schema", "driver_lifetime_stats__is_premium__schema",
        "driver_lifetime_stats__vehicle_class__schema"))
    assert {e["status"] for e in recorded.values()} == {"pass"} and {e["failures"] for e in recorded.values()} == {0}
    # a schema check says what it checks (it is no test node of the manifest); a data test needs not
    assert {(e.get("kind"), e.get("parent"), e.get("column")) for n, e in recorded.items() if n.endswith("__schema")} \
        == {("schema", "feature_view.driver_lifetime_stats", f) for f in
            ("lifetime_trip_count", "is_premium", "vehicle_class")}
    assert "kind" not in recorded["test.driver_hourly_stats__row_count"]
    validated = fcompile("validate", cwd=sample)
    assert "5 data tests + the schema checks of 1 feature view, " in validated.stdout, validated.stdout
    listed = fcompile("ls", "-s", "driver_lifetime_stats", cwd=sample)
    assert "schema schemas/driver_lifetime_stats.pbtxt (fcompile test checks each feature)" in listed.stdout
    assert json.loads((sample / "target" / "run_results.json").read_text())["metadata"]["command"] == "test"


def test_a_failing_test_prints_its_rows_and_exits_1(failing):
    rows = orders(failing)
    over_30 = [r for r in rows if not r["fare_amount"] < 30]
    completed_over_40 = [r for r in rows if r["completed"] and not r["fare_amount"] < 40]
    assert over_30 and completed_over_40 and len(completed_over_40) < len(over_30)
    done = fcompile("test", "--select", "orders", cwd=failing)
    assert_clean(done)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"FAIL  orders__expression: {len(over_30):,} failing rows (")
    samples = lines[1:6]
    assert all(line.startswith("      order_id=") for line in samples)
    assert all(float(re.search(r"fare_amount=([0-9.]+)", s).group(1)) >= 30 for s in samples)
    assert lines[6].startswith("PASS  orders__expression_2 (")
    assert lines[7].startswith(f"WARN  orders__expression_3: {len(completed_over_40):,} failing rows (")
    assert lines[-1] == "1 passed, 1 warned, 1 failed, 0 errors (3 tests); wrote target/run_results.json"
    recorded = results(failing)
    assert recorded["test.orders__expression"]["status"] == "fail"
    assert recorded["test.orders__expression"]["failures"] == len(over_30)
    assert len(recorded["test.orders__expression"]["sample"]) == 5
    assert recorded["test.orders__expression_3"]["severity"] == "warn"
    assert recorded["test.orders__expression_3"]["failures"] == len(completed_over_40)
    # warnings alone do not fail the command
    warned = fcompile("test", "--select", "orders__expression_3", cwd=failing)
    assert warned.returncode == 0 and warned.stdout.startswith("WARN  orders__expression_3")


def test_float32_values_of_failing_rows_print_as_float32(sample, tmp_path):
    """`avg_rating` is float32: its failing rows print 4.85, not the double 4.849999904632568 it widens to -
    on a test of the view, and on a test of its source (whose column the view reads as float32)."""
    root = tmp_path / "float32"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("target"))
    spec = root / "features" / "driver.yml"
    text = spec.read_text()
    declared = "      - {name: avg_rating, dtype: float32, description: Trailing average rating given by riders (1-5).}\n"
    assert declared in text
    text = text.replace(declared, declared[:-2] + ", tests: [{range: {max: 4.8}}]}\n", 1)
    spec.write_text(text.replace("    owner: driver-performance@example.com\n\n  - name: driver_profile",
                                 "    owner: driver-performance@example.com\n"
                                 '    tests: [{expression: "avg_rating <= 4.8"}]\n\n  - name: driver_profile', 1))
    done = fcompile("test", "-s", "driver_hourly_stats__avg_rating__range", "-s", "driver_stats", cwd=root)
    assert_clean(done)
    samples = [line for line in done.stdout.splitlines() if line.startswith("      driver_id=")]
    assert len(samples) == 10, done.stdout
    shown = [re.search(r"avg_rating=([^,]+)$", line).group(1) for line in samples]
    assert all(len(value) <= 4 and float(value) > 4.8 for value in shown), shown  # 4.85, 5.0 ...
    stored = {round(r["avg_rating"], 6) for r in pq.read_table(root / "seeds" / "driver_stats.parquet").to_pylist()}
    assert {round(float(value), 6) for value in shown} <= stored
    # run_results.json keeps the values as the engine gives them
    recorded = results(root)["test.driver_hourly_stats__avg_rating__range"]["sample"]
    assert all(isinstance(row["avg_rating"], float) for row in recorded)


def test_store_failures_writes_a_table_per_test(failing):
    done = fcompile("test", "-s", "orders__expression", "--store-failures", cwd=failing)
    assert done.returncode == 1
    assert "      failing rows stored in fcompile_failures__orders__expression\n" in done.stdout
    assert results(failing)["test.orders__expression"]["stored_in"] == "fcompile_failures__orders__expression"
    with duckdb.connect(str(failing / ".fcompile" / "offline.duckdb"), read_only=True) as con:
        stored = con.sql("SELECT order_id, fare_amount FROM fcompile_failures__orders__expression").fetchall()
    assert sorted(stored) == sorted((r["order_id"], r["fare_amount"]) for r in orders(failing)
                                    if not r["fare_amount"] < 30)


def test_select_and_unknown_selectors(sample):
    done = fcompile("test", "-s", "driver_hourly_stats__row_count", cwd=sample)
    assert done.returncode == 0 and done.stdout.count("PASS") == 1
    by_view = fcompile("test", "-s", "driver_lifetime_stats", cwd=sample)
    assert by_view.stdout.startswith("PASS  driver_lifetime_stats__vehicle_class__accepted_values")
    assert by_view.stdout.count("PASS") == 4  # its accepted_values test and its schema, a result per feature
    unknown = fcompile("test", "-s", "driver_hourly_stat", cwd=sample)
    assert_clean(unknown)
    assert unknown.returncode == 1 and "FC090" in unknown.stderr and "did you mean 'driver_hourly_stats'" in unknown.stderr
    none = fcompile("test", "-s", "customer", cwd=sample)
    assert none.returncode == 0 and "nothing to test" in none.stdout


def test_a_test_the_engine_cannot_run_is_an_error_not_a_traceback(sample, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("target"))
    (root / "features" / "missing.yml").write_text(
        "sources:\n  - name: missing\n    table: no_such_table\n    timestamp_field: ts\n"
        "    tests: [{expression: \"ts IS NOT NULL\"}]\n")
    done = fcompile("test", "-s", "missing", cwd=root)
    assert_clean(done)
    assert done.returncode == 1
    line = done.stdout.splitlines()[0]
    assert line.startswith("ERROR missing__expression: data test 'missing__expression': DuckDB failed: ")
    assert "no_such_table" in line and "Traceback" not in done.stdout
    assert results(root)["test.missing__expression"]["status"] == "error"


def test_freshness_against_now(sample, tmp_path):
    root = tmp_path / "fresh"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("target"))
    spec = root / "features" / "driver.yml"
    spec.write_text(spec.read_text().replace("      - {row_count: {min: 1}}\n",
                                             "      - {row_count: {min: 1}}\n"
                                             "      - {freshness: {warn_after: 2h, error_after: 1d}}\n", 1))
    newest = max(r["event_timestamp"] for r in pq.read_table(root / "seeds" / "driver_stats.parquet").to_pylist())
    stamp = lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S")  # noqa: E731  (naive: UTC)
    select = ("-s", "driver_hourly_stats__freshness")
    from datetime import timedelta

    fresh = fcompile("test", *select, "--now", stamp(newest + timedelta(hours=1)), cwd=root)
    assert fresh.returncode == 0 and fresh.stdout.startswith("PASS")
    stale = fcompile("test", *select, "--now", stamp(newest + timedelta(hours=3)), cwd=root)
    assert stale.returncode == 0 and stale.stdout.startswith("WARN  driver_hourly_stats__freshness: newest event time")
    old = fcompile("test", *select, "--now", stamp(newest + timedelta(days=1, seconds=1)), cwd=root)
    assert old.returncode == 1 and old.stdout.startswith("FAIL  driver_hourly_stats__freshness")
    assert "(more than 1d)" in old.stdout


def test_run_does_not_replace_a_dataset_whose_inputs_fail_a_test(failing):
    first = fcompile("run", "--no-materialize", "--skip-tests", cwd=failing)
    assert_clean(first)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("tests skipped (--skip-tests)")
    database = failing / ".fcompile" / "offline.duckdb"
    with duckdb.connect(str(database)) as con:  # a mark the next build would wipe out
        built = con.execute("SELECT COUNT(*) FROM driver_ranking_training").fetchone()[0]
        con.execute("DELETE FROM driver_ranking_training WHERE order_id % 2 = 0")
        kept = con.execute("SELECT COUNT(*) FROM driver_ranking_training").fetchone()[0]
    assert 0 < kept < built
    blocked = fcompile("run", "--no-materialize", cwd=failing)
    assert_clean(blocked)
    assert blocked.returncode == 1
    assert "FAIL  orders__expression:" in blocked.stdout
    assert "driver_ranking_training  failed: error[FC164] above" in blocked.stdout
    assert ("error[FC164]: dataset 'driver_ranking_training': not replaced: data test orders__expression failed on "
            "its inputs") in blocked.stderr
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM driver_ranking_training").fetchone()[0] == kept
    recorded = results(failing)
    assert recorded["dataset.driver_ranking_training"]["status"] == "error"
    assert recorded["test.orders__expression"]["status"] == "fail"
    assert "test.driver_hourly_stats__row_count" in recorded  # the dataset's views' tests ran too
    forced = fcompile("run", "--no-materialize", "--skip-tests", cwd=failing)
    assert forced.returncode == 0 and "tests skipped" in forced.stdout
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT COUNT(*) FROM driver_ranking_training").fetchone()[0] == built


def test_run_does_not_materialize_a_view_whose_test_fails(sample, tmp_path):
    root = tmp_path / "views"
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns("target"))
    spec = root / "features" / "driver.yml"
    spec.write_text(spec.read_text().replace("      - {row_count: {min: 1}}\n", "      - {row_count: {max: 1}}\n", 1))
    done = fcompile("run", "-s", "driver_hourly_stats", "-s", "driver_lifetime_stats", cwd=root)
    assert_clean(done)
    assert done.returncode == 1
    assert "FAIL  driver_hourly_stats__row_count:" in done.stdout
    recorded = results(root)
    assert recorded["feature_view.driver_hourly_stats"]["status"] == "error"
    assert "not materialized (its watermark stays)" in recorded["feature_view.driver_hourly_stats"]["message"]
    assert recorded["feature_view.driver_lifetime_stats"]["status"] == "success"


def test_dry_run_lists_the_tests_run_would_run_first(failing):
    planned = fcompile("run", "--no-materialize", "--dry-run", cwd=failing)
    assert_clean(planned)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert not (failing / "target" / "run_results.json").exists()  # nothing ran
    listed = re.findall(r"^  (\S+) \((error|warn)\) on (feature view|source) (\S+)$", planned.stdout, re.M)
    assert ("orders__expression", "error", "source", "orders") in listed
    assert sorted(severity for _, severity, _, parent in listed if parent == "orders") == ["error", "warn", "warn"]
    ran = fcompile("run", "--no-materialize", cwd=failing)
    assert ran.returncode == 1
    assert sorted(name for name, *_ in listed) == sorted(
        node.split(".", 1)[1] for node in results(failing) if node.startswith("test."))
    skipped = fcompile("run", "--no-materialize", "--dry-run", "--skip-tests", cwd=failing)
    assert skipped.returncode == 0 and "data tests: skipped (--skip-tests)" in skipped.stdout
    assert not re.search(r"^  \S+ \((error|warn)\) on ", skipped.stdout, re.M)
