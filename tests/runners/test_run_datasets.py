"""`fcompile run`: datasets built into tables and Parquet files, run_results.json, and a failing dataset
that neither stops the others nor damages its previous output."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from runner_projects import EXPECTED, spine_rows

from fcompile import FeatureStore
from fcompile.cli import main

DATASETS = """\
datasets:
  - name: to_table
    spine: {table: spine_table}
    service: driver_v1
    output: {table: training}
  - name: to_file
    spine: {path: spines/spine.parquet}
    features: ["stats:conv", "rider:rating"]
    output: {path: out/training.parquet}
"""
BROKEN = """\
  - name: broken
    spine: {path: spines/missing.parquet}
    features: ["stats:trips"]
    output: {table: broken_training}
"""


@pytest.fixture
def project(small_project):
    (small_project / "spines").mkdir()
    pq.write_table(pa.table(spine_rows()), small_project / "spines" / "spine.parquet")
    (small_project / "datasets.yml").write_text(DATASETS)
    return small_project


def run(capsys, project, *args: str) -> tuple[int, str]:
    try:
        main(["run", "--project-dir", str(project), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def database(project):
    return duckdb.connect(str(project / ".fcompile" / "offline.duckdb"))


def table_rows(project, table: str) -> list[dict]:
    con = database(project)
    try:
        return con.sql(f'SELECT * FROM "{table}"').to_arrow_table().to_pylist()
    finally:
        con.close()


def results(project) -> dict:
    return json.loads((project / "target" / "run_results.json").read_text())


def test_run_builds_tables_and_files(project, capsys):
    code, output = run(capsys, project, "--no-materialize")
    assert code == 0, output
    assert "2 datasets built, 0 failed; wrote target/run_results.json" in output
    assert "to_table  built 7 rows into table training (" in output
    assert "to_file   built 7 rows into path out/training.parquet (" in output
    with FeatureStore(project) as fs:
        wanted = fs.get_historical_features(pa.table(spine_rows()), service="driver_v1").to_arrow().to_pylist()
    assert table_rows(project, "training") == wanted
    written = pq.read_table(project / "out" / "training.parquet")
    assert written.column_names[-2:] == ["conv", "rating"]
    assert written["conv"].to_pylist() == EXPECTED["conv"] and written["rating"].to_pylist() == EXPECTED["rating"]
    document = results(project)
    assert document["metadata"]["schema_version"] == 2 and document["metadata"]["target"] == "dev"
    assert document["metadata"]["started_at"] <= document["metadata"]["finished_at"]
    assert [(r["node"], r["status"], r["rows"], r["output"], r["message"]) for r in document["results"]] == [
        ("dataset.to_file", "success", 7, {"path": "out/training.parquet"}, None),
        ("dataset.to_table", "success", 7, {"table": "training"}, None),
    ]
    assert all(r["seconds"] >= 0 for r in document["results"])
    to_file, to_table = document["results"]
    # the table: the compiled file's statements, its sources' relative paths read from the project folder
    assert to_table["compiled_file"] == "compiled/duckdb/datasets/to_table.sql"
    assert to_table["matches_compiled_file"] is True and to_table["mismatch"] is None
    assert [s["sql"] for s in to_table["setup"]] == [f"SET file_search_path = '{project}'"]
    # the Parquet file: streamed by the runner, not the file's COPY, and said so
    assert to_file["executed"] is None and to_file["matches_compiled_file"] is False and to_file["mismatch"]
    code, _ = run(capsys, project, "--no-materialize")  # a second run replaces both outputs
    assert code == 0 and table_rows(project, "training") == wanted
    assert sorted(p.name for p in (project / "out").iterdir()) == ["training.parquet"]


def test_a_failing_dataset_leaves_its_old_output_and_the_others_run(project, capsys):
    con = database(project)
    con.execute("CREATE TABLE broken_training AS SELECT 42 AS old_value")
    con.close()
    (project / "datasets.yml").write_text(DATASETS + BROKEN)
    code, output = run(capsys, project, "--no-materialize")
    assert code == 1 and "Traceback" not in output
    assert (f"error[FC062]: dataset 'broken': spine file not found: spines/missing.parquet (looked for "
            f"{project / 'spines' / 'missing.parquet'})") in output
    assert "hint: paths in the project's files are relative to the project folder" in output
    assert "2 datasets built, 1 failed" in output and "broken    failed: error[FC062] above (" in output
    assert table_rows(project, "broken_training") == [{"old_value": 42}]
    by_node = {r["node"]: r for r in results(project)["results"]}
    assert by_node["dataset.broken"]["status"] == "error" and by_node["dataset.broken"]["rows"] is None
    assert "FC062" in by_node["dataset.broken"]["message"] and "missing.parquet" in by_node["dataset.broken"]["message"]
    assert by_node["dataset.to_table"]["status"] == by_node["dataset.to_file"]["status"] == "success"


def test_an_engine_failure_leaves_the_old_table_and_file(project, capsys):
    assert run(capsys, project, "--no-materialize")[0] == 0
    old_table = table_rows(project, "training")
    old_file = (project / "out" / "training.parquet").read_bytes()
    con = database(project)
    con.execute("ALTER TABLE rider_stats RENAME TO rider_stats_away")  # to_file reads it; to_table does not
    con.execute("ALTER TABLE spine_table RENAME TO spine_away")        # to_table's spine
    con.close()
    code, output = run(capsys, project, "--no-materialize")
    assert code == 1 and "Traceback" not in output
    assert "error[FC110]: dataset 'to_file': DuckDB failed: Catalog Error" in output
    assert "dataset 'to_table': the spine table 'spine_table' cannot be read" in output
    assert table_rows(project, "training") == old_table
    assert (project / "out" / "training.parquet").read_bytes() == old_file
    assert sorted(p.name for p in (project / "out").iterdir()) == ["training.parquet"]
    con = database(project)
    leftovers = con.sql("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '__fc%'").fetchall()
    con.close()
    assert leftovers == []


def test_selection(project, capsys):
    code, output = run(capsys, project, "--select", "to_file")
    assert code == 0 and "1 dataset built, 0 failed" in output
    assert [r["node"] for r in results(project)["results"]] == ["dataset.to_file"]
    code, output = run(capsys, project, "--select", "driver")
    assert code == 0 and "other selected node(s) ignored" in output and "nothing to run" in output
    code, output = run(capsys, project, "--select", "to_fiel")
    assert code == 1 and "did you mean 'to_file'?" in output


def test_run_on_the_sample_in_a_subprocess(sample_project):
    result = subprocess.run([sys.executable, "-m", "fcompile", "run", "--project-dir", str(sample_project),
                             "--end", "2025-01-15T00:00:00"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "running dataset driver_ranking_training" in result.stderr  # plain progress lines when piped
    assert "materializing feature view driver_hourly_stats" in result.stderr
    lines = result.stdout.splitlines()  # a line per data test, per dataset and per view, then the summary
    assert [line.split()[0] for line in lines[:5]] == ["PASS"] * 5  # the sample's tests, run first
    lines = lines[5:]
    assert len(lines) == 7 and lines[0].startswith("dataset driver_ranking_training ")
    assert lines[-1] == "1 dataset built, 5 feature views loaded, 0 failed; wrote target/run_results.json"
    assert ".000" not in result.stdout + result.stderr
    orders = sample_project / "seeds" / "orders.parquet"
    with FeatureStore(sample_project) as fs:
        wanted = fs.get_historical_features(orders, service="driver_ranking_orders", full_feature_names=True).to_arrow()
        con = fs.runner.con  # type: ignore[attr-defined]
        built = con.sql('SELECT * FROM "driver_ranking_training"').to_arrow_table()
        # float sums and means of windowed aggregations: their last bits depend on the order DuckDB adds in
        summed = {f"{p.view}__{name}" for p in fs.graph.get("feature_service", "driver_ranking_orders").projections
                  for name in p.features if fs.graph.get("feature_view", p.view) is not None  # not on-demand
                  if (a := fs.graph.feature_view(p.view).feature(name).aggregation) is not None
                  and a.function in ("sum", "avg", "stddev", "variance")}
    assert summed and built.schema == wanted.schema
    for name in built.column_names:
        if name not in summed:
            assert built[name].equals(wanted[name]), name
            continue
        pairs = list(zip(built[name].to_pylist(), wanted[name].to_pylist()))
        assert all(a is None and b is None or a is not None and b is not None
                   and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) for a, b in pairs), name
    entries = {entry["node"]: entry for entry in results(sample_project)["results"]}
    assert entries["dataset.driver_ranking_training"]["rows"] == wanted.num_rows
    with FeatureStore(sample_project) as fs:  # and the online views were loaded up to --end
        online = fs.get_online_features({"driver_id": [1001]}, features=["driver_lifetime_stats:lifetime_trip_count"])
    assert online.to_http_dict()["results"][-1]["statuses"] == ["PRESENT"]


def test_run_also_materializes_the_selected_online_views(project, capsys):
    code, output = run(capsys, project, "--end", "2024-01-01T12:00:00")
    assert code == 0, output
    assert "2 datasets built, 3 feature views loaded, 0 failed" in output
    nodes = {r["node"]: r for r in results(project)["results"]}
    assert set(nodes) == {"dataset.to_file", "dataset.to_table", "feature_view.stats", "feature_view.recent",
                          "feature_view.rider"}
    assert nodes["feature_view.stats"]["keys_written"] == 2 and nodes["feature_view.stats"]["window"]["end"] == \
        "2024-01-01T12:00:00Z"
    with FeatureStore(project) as fs:
        values = fs.get_online_features({"driver_id": [1, 2]}, features=["stats:conv"],
                                        now=dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc)).values()
    assert values["conv"] == [0.25, 0.5]
    code, output = run(capsys, project, "--select", "stats", "--end", "2024-01-01T12:00:00")
    assert code == 0 and "1 feature view read no rows, 0 failed" in output  # incremental: from the watermark
    assert "stats  no new rows since the watermark: none in [2024-01-01T12:00:00Z, 2024-01-01T12:00:00Z]" in output
    assert [r["node"] for r in results(project)["results"]] == ["feature_view.stats"]


def test_dry_run_prints_the_sql_and_windows_and_runs_nothing(project, capsys):
    code, output = run(capsys, project, "--dry-run", "--end", "2024-01-01T12:00:00")
    assert code == 0, output
    assert "dry run on target 'dev' (duckdb)" in output
    assert "dataset to_table -> table training:" in output and 'CREATE OR REPLACE TABLE "training"' in output
    assert "feature view recent -> online store: [2024-01-01T11:00:00Z, 2024-01-01T12:00:00Z] (first run: " \
           "end - ttl)" in output
    assert "feature view stats -> online store: [earliest data, 2024-01-01T12:00:00Z]" in output
    assert not (project / "target" / "run_results.json").exists()
    assert "training" not in {name for (name,) in database(project).sql("SHOW TABLES").fetchall()}
    assert not (project / "out").exists()


def test_dry_run_says_when_the_online_store_cannot_be_read(project, capsys):
    """Without the online store the watermarks are unknown: each view's window is its first run's, and the
    output says so, after a note naming the store's problem; the datasets still print."""
    from tcp_proxy import free_port

    settings = project / "fcompile_project.yml"
    settings.write_text(settings.read_text() + f"  down: {{offline: {{type: duckdb, path: .fcompile/offline.duckdb}}, "
                        f"online: {{type: redis, url: 'redis://127.0.0.1:{free_port()}/0', connect_timeout: 2}}}}\n")
    code, output = run(capsys, project, "--target", "down", "--dry-run", "--end", "2024-01-01T12:00:00")
    assert code == 0, output
    assert "dataset to_table -> table training:" in output
    assert re.search(r"^note: .*redis", output, re.MULTILINE | re.IGNORECASE), output
    assert "feature view recent -> online store: [2024-01-01T11:00:00Z, 2024-01-01T12:00:00Z] (first run: end - " \
           "ttl; its watermark is unknown, the online store could not be read)" in output


def test_a_compile_only_target_is_refused_before_anything_runs(project, capsys):
    code, output = run(capsys, project, "--target", "warehouse", "--dry-run")
    assert code == 1 and "Traceback" not in output
    assert "error[FC111]" in output and "redshift" in output and "compile-only" in output


def test_dry_run_prices_each_query_on_an_engine_that_can(project, capsys, monkeypatch):
    """BigQuery prices a query before running it (`runner.dry_run`); no emulator can here, so an engine
    that answers the same question - DuckDB, counting the statements it would run - stands in for the
    wiring: `--dry-run` asks once per dataset and per view, and prints the answer."""
    from fcompile import runners
    from fcompile.runners.duckdb import DuckDBRunner

    asked = []

    class PricedDuckDB(DuckDBRunner):
        prices_queries = True

        def dry_run(self, plan, label, location=None) -> int:
            asked.append(label)
            return sum(len(sql) for sql in self.statements(plan))

    monkeypatch.setattr(runners, "runner_class", lambda offline_type: PricedDuckDB)
    code, output = run(capsys, project, "--dry-run", "--end", "2024-01-01T12:00:00")
    assert code == 0, output
    assert sorted(asked) == ["dataset 'to_file'", "dataset 'to_table'", "feature view 'recent'",
                             "feature view 'rider'", "feature view 'stats'"]
    assert re.search(r"dataset to_table -> table training; would scan [\d,]+ bytes:", output)
    assert re.search(r"feature view stats -> online store: \[earliest data, 2024-01-01T12:00:00Z\] \(first run: "
                     r"from the earliest data\); would scan [\d,]+ bytes", output)
    assert not (project / "target" / "run_results.json").exists()


def test_a_table_spine_of_zoned_nanoseconds_is_built_by_the_runner_and_said_so(project, capsys):
    """DuckDB's compiled SQL reads times with EPOCH_US, which has no TIMESTAMPTZ_NS overload: a spine table
    of zoned nanoseconds is read through the runner's view in microseconds instead of failing, and
    run_results.json says the file was not run as it is, and why."""
    con = database(project)
    try:
        con.execute("CREATE OR REPLACE TABLE spine_table AS SELECT * REPLACE "
                    "(CAST(event_timestamp AS TIMESTAMPTZ_NS) AS event_timestamp) FROM spine_table")
        assert con.execute("SELECT typeof(event_timestamp) FROM spine_table LIMIT 1").fetchone()[0] == "TIMESTAMPTZ_NS"
    finally:
        con.close()
    code, output = run(capsys, project, "--no-materialize", "--select", "to_table")
    assert code == 0, output
    with FeatureStore(project) as fs:
        wanted = fs.get_historical_features(pa.table(spine_rows()), service="driver_v1").to_arrow()
    assert [row["conv"] for row in table_rows(project, "training")] == wanted["conv"].to_pylist()
    [to_table] = results(project)["results"]
    assert to_table["matches_compiled_file"] is False and "TIMESTAMPTZ_NS" in to_table["mismatch"]
