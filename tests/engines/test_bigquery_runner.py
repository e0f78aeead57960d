"""What is particular to the BigQuery runner. Without a server: its settings (FC132, FC133), its job labels
and a connection that fails before any request. On the bqemulator server (BigQuery's REST and Storage API
in front of DuckDB, the real google-cloud-bigquery client talking to it; bigquery_emulator.py):
connecting, spines of every kind (load jobs into tables created with their schema and expiry, dropped on
close), the labels every job carries, the window bound as TIMESTAMP parameters, dry runs, CREATE OR
REPLACE TABLE, errors as one-line diagnostics, and a table read through the Storage API. Agreement with
the reference and the other engines is the conformance suite's (engines `bigquery`, `bigquery_live`).

What the emulator keeps of a job's labels and a table's expiry is only its answer to the request that
carried them (jobs.get and jobs.list return no labels; tables forget `expirationTime`): what is checked
here is what reached the server, as it answered.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile import FeatureStore
from fcompile.diagnostics import Code
from fcompile.graph import DatasetOutput
from fcompile.planner.plans import BuildDataset
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.runners import RUNNABLE_TYPES, runner_class
from fcompile.runners.spines import SpineInput
from fcompile.tasks.training import plan_training_query

from compiler.harness import Case, Table, ViewDef, arrow_table, expected, expected_latest, normalized, write_project
from compiler.test_point_in_time_semantics import HOUR, SEC, STATS_FEATURES, T, spine, stats_case, stats_table
from engines.engines import (
    add_target, problems, rows_of, runner_spine, runner_stats_rows, spine_forms, stats_project_on, write_table,
)
from engines.test_reference_cases import run_case

pytest.importorskip("google.cloud.bigquery", reason="google-cloud-bigquery is not installed (pip install "
                    "'fcompile[dev]')")

from fcompile.runners import bigquery as bigquery_runner  # noqa: E402
from fcompile.runners.bigquery import BigQueryRunner, _label_value, connection_settings  # noqa: E402
from tcp_proxy import free_port

STATS_ROWS = runner_stats_rows("a'%")
SPINE = runner_spine()




def wanted_rows(case: Case) -> list[dict]:
    return [{k: normalized(v) for k, v in r.items()} for r in expected(case)[1]]


@pytest.fixture
def stats_project(bigquery_engine, tmp_path):
    """The stats case as a project whose target `bq` is the emulator, its table loaded there."""
    return stats_project_on(bigquery_engine, tmp_path, "bq", STATS_ROWS, SPINE)


@pytest.fixture
def recorded(monkeypatch):
    """`recorded(runner)`: a list that gets every job the runner's client starts, as the server answered
    the request that created it (labels, dry run, parameters, dispositions)."""
    def record(runner) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = []
        for method in ("query", "load_table_from_file"):
            def started(*args, _start=getattr(runner.client, method), **kwargs):
                job = _start(*args, **kwargs)
                seen = {"type": job.job_type, "labels": dict(job.labels)}
                if job.job_type == "query":
                    seen.update(query=job.query, dry_run=bool(job.dry_run),
                                parameters={p.name: (p.type_, p.value) for p in job.query_parameters})
                else:
                    seen.update(write=job.write_disposition, create=job.create_disposition)
                jobs.append(seen)
                return job
            monkeypatch.setattr(runner.client, method, started)
        return jobs

    return record


# -- settings, without a server ------------------------------------------------------------------------------

def test_snowflake_and_bigquery_are_runnable_and_redshift_and_trino_are_not():
    assert runner_class("bigquery") is BigQueryRunner and {"snowflake", "bigquery"} <= set(RUNNABLE_TYPES)
    for compile_only in ("redshift", "trino"):
        (found,) = problems(lambda: runner_class(compile_only))
        assert found.code is Code.NO_RUNNER and "compile-only" in found.message


@pytest.mark.parametrize("settings, wanted", [
    ({"dataset": "features"}, "sets no `project`"),
    ({"project": "p"}, "sets no `dataset`"),
    ({"project": "p", "dataset": "d", "keyfile": "missing.json"}, "cannot read the BigQuery key file"),
    ({"project": "p", "dataset": "d", "maximum_bytes_billed": "lots"}, "`maximum_bytes_billed` must be a whole"),
    ({"project": "p", "dataset": "d", "connect_timeout": "soon"}, "`connect_timeout` must be a whole"),
    ({"project": "p", "dataset": "d", "api_endpoint": "localhost:9050"}, "`api_endpoint` must be an http:// or"),
    ({"project": "p", "dataset": "d", "api_endpoint": "ftp://example.com"}, "`api_endpoint` must be an http:// or"),
    ({"project": "p", "dataset": "d", "api_endpoint": "http://127.0.0.1:port"}, "`api_endpoint` must be an"),
    ({"project": "p", "dataset": "d", "storage_endpoint": "127.0.0.1:9060"}, "`storage_endpoint` must be an"),
    ({"project": "p", "dataset": "d", "read_api": "grpc"}, "`read_api` must be one of storage, rest, not 'grpc'"),
    ({"project": "p", "dataset": "d", "api_endpoint": "https://bq.example.com", "read_api": "storage"},
     "`read_api: storage` and an `api_endpoint` but no `storage_endpoint`"),
    ({"project": "p", "dataset": "d", "api_endpoint": "http://127.0.0.1:9050", "keyfile": "key.json"},
     "`keyfile` cannot go with the plaintext endpoint http://127.0.0.1:9050"),
], ids=["no project", "no dataset", "missing key file", "bad maximum", "bad timeout", "endpoint without scheme",
        "endpoint not http", "endpoint with a bad port", "bad storage endpoint", "unknown read api",
        "storage api without its endpoint", "key file to a plaintext endpoint"])
def test_settings_that_cannot_work_are_fc132(tmp_path, settings, wanted):
    (found,) = problems(lambda: connection_settings({"type": "bigquery", **settings}, str(tmp_path)))
    assert found.code is Code.OFFLINE_SETTINGS and wanted in found.message and found.hint


def test_the_storage_api_asked_for_without_its_client_is_fc133(tmp_path, monkeypatch):
    monkeypatch.setattr(bigquery_runner, "_storage_installed", lambda: False)
    (found,) = problems(lambda: connection_settings({"project": "p", "dataset": "d", "read_api": "storage"},
                                                    str(tmp_path)))
    assert found.code is Code.DRIVER_MISSING and "google-cloud-bigquery-storage" in found.message
    assert connection_settings({"project": "p", "dataset": "d"}, str(tmp_path)).read_api == "rest"  # the default


def test_settings_are_read(tmp_path):
    from google.auth.credentials import AnonymousCredentials

    found = connection_settings({"type": "bigquery", "project": "p", "dataset": "d", "location": "EU",
                                 "maximum_bytes_billed": "1000", "connect_timeout": 5}, str(tmp_path))
    assert (found.project, found.dataset, found.location, found.credentials, found.maximum_bytes_billed,
            found.connect_timeout) == ("p", "d", "EU", None, 1000, 5)
    assert found.read_api == "storage" and found.api_endpoint is None  # Google's endpoints, the Storage API
    emulator = connection_settings({"project": "p", "dataset": "d", "api_endpoint": "http://127.0.0.1:9050/"},
                                   str(tmp_path))
    assert isinstance(emulator.credentials, AnonymousCredentials) and emulator.api_endpoint == "http://127.0.0.1:9050"
    assert emulator.read_api == "rest"  # where its Storage API is is not known
    both = connection_settings({"project": "p", "dataset": "d", "api_endpoint": "http://127.0.0.1:9050",
                                "storage_endpoint": "http://127.0.0.1:9060"}, str(tmp_path))
    assert both.read_api == "storage" and both.storage_endpoint == "http://127.0.0.1:9060"
    private = connection_settings({"project": "p", "dataset": "d", "api_endpoint": "https://bq.example.com",
                                   "read_api": "rest"}, str(tmp_path))
    assert private.credentials is None and private.read_api == "rest"  # https: application-default credentials


def test_job_labels_are_what_bigquery_accepts():
    assert _label_value("dataset 'Driver-Training'") == "dataset_driver-training"
    assert _label_value("feature view 'driver_hourly_stats'") == "feature_view_driver_hourly_stats"
    assert len(_label_value("x" * 100)) == 63 and _label_value("'") == "fcompile"


def test_missing_credentials_are_one_line_naming_the_target(tmp_path, monkeypatch):
    """No key file and no application-default credentials: FC130 naming the target, before any request."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    table = stats_table((1, T - SEC, T, 0.1, 1, "a"))
    write_project(stats_case("bq", table, spine((1, T, 1))), tmp_path)
    add_target(tmp_path, "bq", {"type": "bigquery", "project": "fc-test", "dataset": "features"})
    with FeatureStore(tmp_path, target="bq") as fs:
        (found,) = problems(lambda: fs.get_historical_features(arrow_table(spine((1, T, 1))),
                                                               features=["stats:conv"]))
    assert found.code is Code.OFFLINE_UNREACHABLE
    assert found.message.startswith("target 'bq': cannot connect to BigQuery project 'fc-test': ")
    assert "no-such-key.json" in found.message and "\n" not in found.message


def test_an_unreachable_endpoint_is_one_line_naming_it_within_the_timeout(tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"
    (found,) = problems(lambda: BigQueryRunner.connect({"project": "p", "dataset": "d", "api_endpoint": endpoint,
                                                        "connect_timeout": 1}, str(tmp_path)))
    assert found.code is Code.OFFLINE_UNREACHABLE and "\n" not in found.message
    assert found.message.startswith(f"cannot connect to BigQuery project 'p' at {endpoint}: ")


# -- connecting, on the emulator -----------------------------------------------------------------------------

def test_a_dataset_that_does_not_exist_is_fc132(bigquery_engine):
    settings = {**bigquery_engine.offline_settings(Path('.')), "dataset": "no_such_dataset"}
    (found,) = problems(lambda: BigQueryRunner.connect(settings, "."))
    assert found.code is Code.OFFLINE_SETTINGS and "dataset 'no_such_dataset' does not exist" in found.message
    assert "bq mk" in found.hint


# -- spines --------------------------------------------------------------------------------------------------

def test_every_kind_of_spine_gives_the_same_rows_in_order(stats_project, bigquery_engine, tmp_path):
    root, case, graph = stats_project
    runner = bigquery_engine.runner()
    forms = spine_forms(bigquery_engine, runner, SPINE, tmp_path)
    names, _ = expected(case)
    for form, spine_input in forms.items():
        query = plan_training_query(graph, runner, spine_input, case.projections, label=form)
        got = runner.to_arrow(query.plan, form)
        assert got.column_names == names, form
        if spine_input.kind in ("table", "query"):  # read in place: in the order BigQuery reads the table
            got = got.sort_by("label")
        assert rows_of(got) == wanted_rows(case), form


def test_an_uploaded_spine_is_created_with_its_schema_and_expiry_then_appended_and_dropped_on_close(
        bigquery_engine, recorded, monkeypatch):
    """One request creates the table with the spine's schema and its expiry (it never exists without
    one), a load job appends the Parquet to it (creating nothing), and closing the runner drops it."""
    runner = BigQueryRunner.connect(bigquery_engine.offline_settings(Path('.')), ".")
    created: list[Any] = []
    create = runner.client.create_table
    monkeypatch.setattr(runner.client, "create_table", lambda table, **kw: created.append(table) or create(table, **kw))
    jobs = recorded(runner)
    data = pa.table({"driver_id": pa.array([1, 2], pa.int32()), "at": pa.array([T, T], pa.timestamp("us")),
                     "city": pa.array(["a", None], pa.large_string()), "when": pa.array([dt.date(2025, 1, 1), None]),
                     "flag": pa.array([None, True]), "nothing": pa.nulls(2)})
    before = dt.datetime.now(dt.timezone.utc)
    found = runner.register_spine(SpineInput("arrow", data))
    name = found.relation.locator
    assert found.types == {"driver_id": "INT64", "at": "TIMESTAMP", "city": "STRING", "when": "DATE",
                           "flag": "BOOL", "nothing": "STRING"}
    (table,) = created
    assert [(f.name, f.field_type) for f in table.schema] == [*found.types.items(), ("__fc_spine_row", "INT64")]
    expiry = table.expires - before
    assert dt.timedelta(hours=23, minutes=59) < expiry < dt.timedelta(hours=24, minutes=1)
    (load,) = jobs
    assert (load["write"], load["create"]) == ("WRITE_APPEND", "CREATE_NEVER")
    assert load["labels"] == {"fcompile_project": "fcompile", "fcompile_node": "spine"}
    assert bigquery_engine.client.get_table(name).num_rows == 2
    runner.close()
    assert name.rpartition(".")[2] not in [t.table_id for t in bigquery_engine.client.list_tables(
        f"{bigquery_engine.project}.{bigquery_engine.dataset}")]


def test_naive_spine_timestamps_come_back_naive_and_zoned_ones_in_utc(stats_project, bigquery_engine):
    root, case, graph = stats_project
    runner = bigquery_engine.runner()
    naive = arrow_table(SPINE)
    zoned = naive.set_column(1, "event_timestamp", naive.column("event_timestamp").cast(pa.timestamp("us", "UTC")))
    for data, wanted in ((naive, pa.timestamp("us")), (zoned, pa.timestamp("us", "UTC"))):
        query = plan_training_query(graph, runner, SpineInput("arrow", data), case.projections)
        got = runner.to_arrow(query.plan, "spine")
        assert got.schema.field("event_timestamp").type == wanted
        assert rows_of(got) == wanted_rows(case)


def test_spine_problems_are_diagnostics(stats_project, bigquery_engine):
    root, case, graph = stats_project
    runner = bigquery_engine.runner()
    odd = arrow_table(SPINE).append_column("big", pa.array([2**63] * len(SPINE.rows), pa.uint64()))
    (found,) = problems(lambda: runner.register_spine(SpineInput("arrow", odd)))
    assert found.code is Code.SPINE_UPLOAD and "'big'" in found.message and "uint64" in found.message
    (found,) = problems(lambda: runner.register_spine(SpineInput("query", "SELECT * FROM no_such_table")))
    assert found.code is Code.INVALID_QUERY and "no_such_table" in found.message and "\n" not in found.message
    (found,) = problems(lambda: runner.register_spine(SpineInput("table", "no_such_table")))
    assert found.code is Code.ENGINE_ERROR and "the spine table 'no_such_table' cannot be read" in found.message


# -- jobs: labels, parameters, dry runs ----------------------------------------------------------------------

def test_every_job_is_labelled_with_the_project_and_what_runs(stats_project, recorded):
    from fcompile.tasks.materialize import materialize_views

    root, case, graph = stats_project
    with FeatureStore(root, target="bq") as fs:
        jobs = recorded(fs.runner)
        got = fs.get_historical_features(arrow_table(SPINE), features=["stats:conv", "stats:trips",
                                                                       "stats:tier"]).to_arrow()
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("stats")],
                                      T + HOUR)
    assert rows_of(got) == wanted_rows(case) and result.status == "success"
    project = _label_value(graph.project.name)
    assert [(j["type"], j["labels"]) for j in jobs] == [
        ("load", {"fcompile_project": project, "fcompile_node": "spine"}),  # the spine's upload
        ("query", {"fcompile_project": project, "fcompile_node": "the_request"}),  # the training set
        *[("query", {"fcompile_project": project, "fcompile_node": "feature_view_stats"})] * 2]  # count, values


def test_latest_values_and_window_counts_bind_the_window_as_timestamp_parameters(stats_project, bigquery_engine,
                                                                                   recorded):
    """Both ends are inclusive and bound as TIMESTAMP parameters @start/@end, never pasted into the SQL; a
    query source with a quote and a percent sign in a literal keeps them. (An `@start` inside a string
    literal is text to BigQuery; the emulator takes it for a parameter, so that is not tried here.)"""
    root, case, graph = stats_project
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created", ttl=HOUR,
                   query="SELECT * FROM stats_t WHERE tier NOT LIKE '%\\'%'")
    rows = [r for r in STATS_ROWS.rows if "'" not in r["tier"]]
    quoted = dataclasses.replace(case, views=(view,), name="quoted", source_rows={"stats": rows})
    graph = write_project(quoted, root / "quoted")
    runner = bigquery_engine.runner()
    jobs = recorded(runner)
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    for start, end in ((T - HOUR, T), (T - SEC, T - SEC), (T + SEC, T + HOUR)):
        got = runner.latest_values(plan, start, end, "window").read_all()
        want = expected_latest(quoted, "stats", start, end)
        key = lambda row: row["driver_id"]  # noqa: E731
        assert sorted(rows_of(got), key=key) == \
            sorted(({k: normalized(v) for k, v in r.items()} for r in want), key=key), (start, end)
    stats = runner.window_stats(plan, T - HOUR, T + SEC, "window")
    assert (stats.rows, stats.keys) == (len(rows), len({r["driver_id"] for r in rows}))
    assert stats.earliest == normalized(T - HOUR)
    assert stats.latest == normalized(max(r["event_ts"] for r in rows if r["event_ts"] <= T + SEC))
    unbounded = runner.window_stats(plan, None, T, "window")
    assert unbounded.rows == len([r for r in rows if r["event_ts"] <= T])
    utc = dt.timezone.utc
    assert jobs[0]["parameters"] == {"start": ("TIMESTAMP", (T - HOUR).replace(tzinfo=utc)),
                                     "end": ("TIMESTAMP", T.replace(tzinfo=utc))}
    assert jobs[-1]["parameters"] == {"end": ("TIMESTAMP", T.replace(tzinfo=utc))}
    assert all("@end" in j["query"] and str(T.year) not in j["query"] for j in jobs)
    batches = list(runner.latest_values(plan, T - 2 * HOUR, T + HOUR, "window", batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 1]


def test_a_dry_run_sends_only_dry_run_jobs_and_writes_nothing(stats_project, bigquery_engine, recorded):
    """The emulator answers 0 bytes (a live project gives the real count); what is proven here is that every
    statement goes as a dry-run job and nothing is written."""
    root, case, graph = stats_project
    runner = bigquery_engine.runner()
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    jobs = recorded(runner)
    build = BuildDataset("dataset 'dry'", DatasetOutput("table", "dry_out"), query.plan, None)
    found = runner.dry_run(build, "dataset 'dry'")
    assert isinstance(found, int) and found >= 0
    latest = runner.dry_run(plan_latest_values(graph, graph.feature_view("stats")), "view")
    assert isinstance(latest, int)
    assert [j["dry_run"] for j in jobs] == [True, True] and "CREATE OR REPLACE TABLE" in jobs[0]["query"]
    assert "dry_out" not in [t.table_id for t in bigquery_engine.client.list_tables(
        f"{bigquery_engine.project}.{bigquery_engine.dataset}")]
    missing = dataclasses.replace(case, views=(dataclasses.replace(case.views[0], table="no_such_table"),),
                                  name="missing")
    graph = write_project(missing, root / "missing")
    (problem,) = problems(lambda: runner.dry_run(plan_latest_values(graph, graph.feature_view("stats")), "view"))
    assert problem.code is Code.ENGINE_ERROR and problem.message.startswith("view: BigQuery failed: ")
    assert "no_such_table" in problem.message and "\n" not in problem.message


# -- outputs and errors --------------------------------------------------------------------------------------

def test_write_table_creates_and_replaces_the_table_read_back_through_the_storage_api(stats_project,
                                                                                       bigquery_engine):
    """CREATE OR REPLACE TABLE ... AS, then the table read with the Storage API (the emulator's gRPC port,
    `storage_endpoint`): the client the runner builds for `read_api: storage` reads a table. (The emulator
    cannot read a query's result table through it, so the suite reads results over REST.)"""
    root, case, graph = stats_project
    settings = {**bigquery_engine.offline_settings(root), "read_api": "storage",
                "storage_endpoint": bigquery_engine.emulator.storage}
    with BigQueryRunner.connect(settings, ".") as runner:
        assert runner.read_client is not None
        query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
        assert write_table(runner, query.plan, "training_out", "dataset 'x'") == len(SPINE.rows)
        fewer = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(Table(
            "spine_t", SPINE.columns, SPINE.rows[:3]))), case.projections)
        assert write_table(runner, fewer.plan, "training_out", "dataset 'x'") == 3  # replaced
        sessions = []
        start = runner.read_client.create_read_session
        runner.read_client.create_read_session = lambda *a, **kw: sessions.append(kw) or start(*a, **kw)
        written = bigquery_engine.read_table(runner, "training_out")
    assert len(sessions) == 1
    assert written.column_names == expected(case)[0]
    assert sorted(rows_of(written), key=lambda r: r["label"]) == wanted_rows(case)[:3]


def test_a_query_error_is_one_line_naming_the_request(stats_project, bigquery_engine, tmp_path):
    root, case, graph = stats_project
    runner = bigquery_engine.runner()
    missing = dataclasses.replace(case, views=(dataclasses.replace(case.views[0], table="no_such_table"),),
                                  name="missing")
    graph = write_project(missing, root / "missing")
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    for call in (lambda: runner.to_arrow(query.plan, "the request"),
                 lambda: write_table(runner, query.plan, "never_written", "the request"),
                 lambda: runner.write_parquet(query.plan, str(tmp_path / "never.parquet"), "the request")):
        (found,) = problems(call)
        assert found.code is Code.ENGINE_ERROR and found.message.startswith("the request: BigQuery failed: ")
        assert "no_such_table" in found.message and "\n" not in found.message
    assert not (tmp_path / "never.parquet").exists()


def test_write_parquet_streams_the_rows_into_a_file(stats_project, bigquery_engine, tmp_path):
    root, case, graph = stats_project
    runner = bigquery_engine.runner()
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    out = tmp_path / "out" / "training.parquet"
    assert runner.write_parquet(query.plan, str(out), "x") == len(SPINE.rows)
    assert rows_of(pq.read_table(out)) == wanted_rows(case)


def test_an_empty_result_keeps_its_columns(stats_project, bigquery_engine):
    root, case, graph = stats_project
    runner = bigquery_engine.runner()
    empty = Table("spine_t", SPINE.columns, [])
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(empty)), case.projections)
    got = runner.to_arrow(query.plan, "empty")
    assert got.num_rows == 0 and got.column_names == expected(case)[0]
    assert got.schema.field("event_timestamp").type == pa.timestamp("us")


# -- arrays as BigQuery has them -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bigquery", "bigquery_live"])
def test_arrays_as_bigquery_has_them(engines, name, tmp_path):
    """The reference case of array features (tests/compiler: arrays in full ties) with what BigQuery
    can hold: no NULL element in an array, and a missing array (no row in the ttl) read as [] - BigQuery
    returns a NULL array as an empty one."""
    from compiler.test_point_in_time_semantics import test_array_and_timestamp_features_in_full_ties

    engine = engines(name)
    cases: list[Case] = []
    test_array_and_timestamp_features_in_full_ties(cases.append)
    (case,) = cases
    (table,) = case.tables
    rows = [{**row, "tags": None if row["tags"] is None else [t for t in row["tags"] if t is not None]}
            for row in table.rows]
    case = dataclasses.replace(case, tables=(Table(table.name, table.columns, rows),))
    names, wanted = expected(case)
    wanted = [{**row, "tags": row["tags"] or []} for row in wanted]
    assert [row["tags"] for row in wanted] == [[9, 9, 9], [], [3], []]
    run_case(engine, engine.runner(), write_project(case, tmp_path), case, wanted=(names, wanted))
