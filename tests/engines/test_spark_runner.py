"""What is particular to the Spark runner: settings, starting Spark, spines of every kind, results read
back by partition, and outputs. (Agreement with the reference and the other engines is the conformance
suite's.)"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile.diagnostics import Code
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.runners.spark import SparkSettings
from fcompile.runners.spines import SpineInput
from fcompile.tasks.training import plan_training_query

from compiler.harness import arrow_table, expected, normalized, write_project
from compiler.test_point_in_time_semantics import HOUR, T, stats_case
from engines.engines import (
    add_target, problems, rows_of, runner_spine, runner_stats_rows, spine_forms, write_table,
)

STATS_ROWS = runner_stats_rows("c")
SPINE = runner_spine()



@pytest.fixture
def stats_project(spark_engine, tmp_path):
    case = stats_case("stats", STATS_ROWS, SPINE)
    graph = write_project(case, tmp_path / "project")
    spark_engine.load(spark_engine.runner(), STATS_ROWS)
    return case, graph



# -- settings and starting ------------------------------------------------------------------------------

def test_settings_are_checked_before_spark_starts(tmp_path):
    (found,) = problems(lambda: SparkSettings.from_target({"type": "spark", "master": "spark://h:7077"}, str(tmp_path)))
    assert found.code is Code.OFFLINE_SETTINGS and "staging_dir" in found.message + found.hint
    (found,) = problems(lambda: SparkSettings.from_target({"type": "spark", "catalog": "glue"}, str(tmp_path)))
    assert found.code is Code.OFFLINE_SETTINGS and "'glue'" in found.message
    settings = SparkSettings.from_target({"type": "spark", "warehouse": "wh", "conf": (("a.b", 2), ("c", True))},
                                         str(tmp_path))
    assert settings.warehouse == str(tmp_path / "wh") and settings.conf == {"a.b": "2", "c": "true"}
    assert settings.is_local and settings.master == "local[*]" and settings.catalog == "hive"
    cluster = SparkSettings.from_target({"type": "spark", "master": "yarn", "staging_dir": "/mnt/x"}, str(tmp_path))
    assert cluster.catalog is None and cluster.staging_dir == "/mnt/x"


def test_spark_that_cannot_start_is_one_line_naming_the_target(tmp_path):
    """Without Java, pyspark cannot launch the JVM; that is FC130, not a Python stack."""
    root = tmp_path / "project"
    write_project(stats_case("nojava", STATS_ROWS, SPINE), root)
    add_target(root, "lake", {"type": "spark", "master": "local[1]"})
    script = textwrap.dedent(f"""
        import json
        from fcompile import FeatureStore
        from fcompile.diagnostics import DiagnosticError
        try:
            with FeatureStore({str(root)!r}, target="lake") as fs:
                fs.get_historical_features("SELECT 1 AS driver_id", features=["stats:conv"])
        except DiagnosticError as error:
            print(json.dumps([[d.code.value, d.message] for d in error.diagnostics]))
    """)
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SPARK", "PYSPARK"))},
           "JAVA_HOME": str(tmp_path / "no-java"), "PATH": str(empty)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    [(code, message)] = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == "FC130" and message.startswith("target 'lake': cannot start Spark (master local[1]): ")
    assert "\n" not in message


# -- spines ------------------------------------------------------------------------------------------------

def test_every_kind_of_spine_gives_the_same_rows_in_order(stats_project, spark_engine, tmp_path):
    case, graph = stats_project
    runner = spark_engine.runner()
    forms = spine_forms(spark_engine, runner, SPINE, tmp_path, "SELECT * FROM spine_t WHERE label > 0", pandas=True)
    forms["a temporary view"] = forms.pop("a table")
    names, wanted = expected(case)
    for form, spine_input in forms.items():
        query = plan_training_query(graph, runner, spine_input, case.projections, label=form)
        got = runner.to_arrow(query.plan, form)
        assert got.column_names == names, form
        assert rows_of(got) == [{k: normalized(v) for k, v in r.items()} for r in wanted], form


def test_a_staging_uri_carries_spines_and_results_and_is_removed_on_close(stats_project, spark_engine, tmp_path):
    """`staging_dir` as a filesystem URI (hdfs://, s3a://, ... on a cluster; file:// is the one this
    machine has): pyarrow writes the spine there and reads the result Spark wrote there, and the run's
    folder goes when the runner closes."""
    from fcompile.runners.spark import SparkRunner

    case, graph = stats_project
    base = tmp_path / "staging"
    settings = SparkSettings.from_target({"type": "spark", "master": "local[2]", "staging_dir": f"file://{base}/"},
                                         str(tmp_path))
    assert settings.staging_dir == f"file://{base}"
    with SparkRunner(settings, session=spark_engine.session) as runner:
        query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
        got = runner.to_arrow(query.plan, "staged")
        names, wanted = expected(case)
        assert got.column_names == names
        assert rows_of(got) == [{k: normalized(v) for k, v in r.items()} for r in wanted]
        (run_folder,) = base.iterdir()
        assert runner.staging().uri == f"file://{run_folder}"
        assert [p.name.startswith("__fc_spine_") for p in run_folder.iterdir()] == [True]  # the result is read and gone
    assert list(base.iterdir()) == []


def test_a_staging_uri_that_cannot_be_used_is_fc132(tmp_path):
    from fcompile.runners.spark import SparkRunner, arrow_uri

    assert arrow_uri("s3a://bucket/prefix") == "s3://bucket/prefix" == arrow_uri("s3n://bucket/prefix")
    assert arrow_uri("hdfs://nn:8020/tmp") == "hdfs://nn:8020/tmp" and arrow_uri("gs://b/p") == "gs://b/p"
    settings = SparkSettings.from_target({"type": "spark", "master": "yarn", "staging_dir": "nosuch://place/x"},
                                         str(tmp_path))
    (found,) = problems(lambda: SparkRunner(settings).staging())
    assert found.code is Code.OFFLINE_SETTINGS and found.message.startswith("cannot use the Spark staging_dir "
                                                                            "nosuch://place/x: ")


def test_spine_problems_are_diagnostics(stats_project, spark_engine):
    case, graph = stats_project
    runner = spark_engine.runner()
    data = arrow_table(SPINE)
    wrong_key = data.set_column(0, "driver_id", data.column("driver_id").cast(pa.string()))
    (found,) = problems(lambda: plan_training_query(graph, runner, SpineInput("arrow", wrong_key), case.projections))
    assert found.code is Code.JOIN_KEY_DTYPE_MISMATCH and "string (Arrow string)" in found.message
    assert "BIGINT" in found.hint
    odd = data.append_column("at", pa.array([None] * data.num_rows, pa.time64("us")))
    (found,) = problems(lambda: runner.register_spine(SpineInput("arrow", odd)))
    assert found.code is Code.SPINE_UPLOAD and "'at'" in found.message
    (found,) = problems(lambda: runner.register_spine(SpineInput("query", "SELECT * FROM no_such_table")))
    assert found.code is Code.INVALID_QUERY and "no_such_table" in found.message


# -- results and outputs -------------------------------------------------------------------------------------

def test_latest_values_stream_in_bounded_batches(stats_project, spark_engine):
    case, graph = stats_project
    runner = spark_engine.runner()
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    batches = list(runner.latest_values(plan, T - 2 * HOUR, T + HOUR, "stats", batch_rows=2))
    assert sum(b.num_rows for b in batches) == 3 and max(b.num_rows for b in batches) <= 2
    stats = runner.window_stats(plan, None, T + HOUR, "stats")
    assert (stats.rows, stats.keys, stats.earliest) == (5, 3, (T - HOUR).replace(tzinfo=dt.timezone.utc))
    assert stats.latest == max(r["event_ts"] for r in STATS_ROWS.rows if r["event_ts"] <= T + HOUR) \
        .replace(tzinfo=dt.timezone.utc)


def test_write_table_replaces_the_table_and_keeps_it_on_failure(stats_project, spark_engine, tmp_path):
    case, graph = stats_project
    runner = spark_engine.runner()
    session = spark_engine.session
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    table = f"{spark_engine.database}.training_out"  # in a database of its own: renames stay inside it
    assert write_table(runner, query.plan, table, "dataset 'x'") == len(SPINE.rows)
    assert write_table(runner, query.plan, table, "dataset 'x'") == len(SPINE.rows)  # replaces
    session.sql("ALTER VIEW stats_t RENAME TO stats_gone")
    try:
        (found,) = problems(lambda: write_table(runner, query.plan, table, "dataset 'x'"))
    finally:
        session.sql("ALTER VIEW stats_gone RENAME TO stats_t")
    assert found.code is Code.ENGINE_ERROR and found.message.startswith("dataset 'x': Spark failed:")
    assert session.table(table).count() == len(SPINE.rows)
    tables = [r.tableName for r in session.sql(f"SHOW TABLES IN {spark_engine.database}").collect()
              if not r.isTemporary]
    assert "training_out" in tables and not [t for t in tables if t.startswith("__fc_")]
    out = tmp_path / "out.parquet"
    assert runner.write_parquet(query.plan, str(out), "x") == len(SPINE.rows)
    assert out.is_file() and [r["label"] for r in pq.read_table(out).to_pylist()] == [r["label"] for r in SPINE.rows]


def test_a_dataset_reading_a_project_file_runs_with_absolute_paths_and_says_so(stats_project, spark_engine,
                                                                               tmp_path):
    """A compiled file names project files relative to the project folder; Spark would resolve them against
    the driver's working directory. `run` then runs the same plan with absolute paths, and its result says the
    statements are not the file's, and why."""
    from fcompile.parser import load_project
    from fcompile.tasks.datasets import run_dataset

    root = tmp_path / "project"
    pq.write_table(arrow_table(SPINE), root / "spine.parquet")
    (root / "datasets.yml").write_text(
        "datasets:\n  - name: training\n    spine: {path: spine.parquet, timestamp_field: event_timestamp}\n"
        f"    features: ['stats:conv']\n    output: {{table: {spark_engine.database}.from_file}}\n")
    graph = load_project(root)
    result = run_dataset(graph, spark_engine.runner(), graph.dataset("training"))
    assert result.ok, [d.render() for d in result.diagnostics]
    assert result.rows == len(SPINE.rows)
    assert result.executed.matches_compiled_file is False
    assert "cannot read paths relative to the project folder" in result.executed.mismatch
