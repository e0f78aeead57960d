"""What is particular to the PostgreSQL runner: connecting, sources it cannot read, spines of every kind,
bound parameters, streaming, and atomic outputs. (Agreement with the reference and the other engines is
the conformance suite's: test_reference_cases.py, test_sample_project.py, test_materialize_agreement.py.)"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile import FeatureStore
from fcompile.diagnostics import Code
from fcompile.graph import Projection
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.runners.spines import SpineInput
from fcompile.tasks.training import plan_training_query

from compiler.harness import Case, ViewDef, arrow_table, expected, expected_latest, normalized, write_project
from compiler.test_point_in_time_semantics import DRIVER, HOUR, SEC, STATS_FEATURES, T, stats_case
from engines.engines import (
    add_target, problems, runner_spine, runner_stats_rows, spine_forms, stats_project_on, write_table,
)
from seeded_sample import init_path_sample
from tcp_proxy import free_port as closed_port

STATS_ROWS = runner_stats_rows("a%")
SPINE = runner_spine()



@pytest.fixture
def stats_project(postgres_engine, tmp_path):
    """The stats case as a project whose target `pg` is the test server, its table loaded there."""
    return stats_project_on(postgres_engine, tmp_path, "pg", STATS_ROWS, SPINE)


# -- connecting ------------------------------------------------------------------------------------------

def test_an_unreachable_server_is_one_line_naming_the_target_without_the_password(tmp_path, monkeypatch):
    port = closed_port()
    monkeypatch.setenv("FC_TEST_PG_URL", f"postgresql://fc:s3cret@127.0.0.1:{port}/ml")
    write_project(stats_case("down", STATS_ROWS, SPINE), tmp_path)
    add_target(tmp_path, "pg", {"type": "postgres", "url": "{{ env_var('FC_TEST_PG_URL') }}", "connect_timeout": 3})
    with FeatureStore(tmp_path, target="pg") as fs:
        (found,) = problems(lambda: fs.get_historical_features(arrow_table(SPINE), features=["stats:conv"]))
    assert found.code is Code.OFFLINE_UNREACHABLE
    assert found.message.startswith(
        f"target 'pg': cannot connect to PostgreSQL at postgresql://fc@127.0.0.1:{port}/ml: ")
    assert "refused" in found.message.lower()
    rendered = found.render()
    assert "s3cret" not in rendered and "Traceback" not in rendered and "\n" not in found.message


def test_separate_connection_keys_and_a_missing_schema(postgres_url, tmp_path):
    import psycopg.conninfo

    parts = psycopg.conninfo.conninfo_to_dict(psycopg.conninfo.make_conninfo(postgres_url))
    write_project(stats_case("keys", STATS_ROWS, SPINE), tmp_path)
    add_target(tmp_path, "pg", {"type": "postgres", "host": parts.get("host", "127.0.0.1"),
                                "port": parts.get("port", 5432), "dbname": parts["dbname"],
                                "user": parts.get("user", "root"),
                                "password": "{{ env_var('FC_TEST_UNUSED_PASSWORD', 'unused') }}",
                                "schema": "fc_no_such_schema"})
    with FeatureStore(tmp_path, target="pg") as fs:
        (found,) = problems(lambda: fs.runner)
    assert found.code is Code.OFFLINE_SETTINGS and "schema 'fc_no_such_schema' does not exist" in found.message
    assert "unused" not in found.render()


def test_a_path_source_is_refused_not_uploaded(postgres_engine, tmp_path):
    root = tmp_path / "sample"
    init_path_sample(root, scale=0.02, seed=3)
    add_target(root, "pg", postgres_engine.offline_settings(root))
    with FeatureStore(root, target="pg") as fs:
        found = problems(lambda: fs.get_historical_features(str(root / "data" / "orders.parquet"),
                                                            service="driver_activity_v1"))
        assert [d.code for d in found] == [Code.SOURCE_NOT_READABLE]
        assert "feature view 'driver_hourly_stats'" in found[0].message
        assert str(root / "data" / "driver_stats.parquet") in found[0].message
        assert "PostgreSQL cannot read" in found[0].message and "table" in found[0].hint
        assert found[0].position.path.endswith("driver.yml") and found[0].position.line > 0
        from fcompile.tasks.materialize import materialize_views

        view = fs.graph.feature_view("driver_lifetime_stats")
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [view], dt.datetime(2025, 1, 15))
    assert result.status == "error" and result.diagnostics[0].code is Code.SOURCE_NOT_READABLE


# -- parameters --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("condition, keep", [
    ("tier LIKE 'a%' OR trips % 2 = 1", lambda r: r["tier"].startswith("a") or r["trips"] % 2 == 1),
    ("tier <> '%(start)s' AND tier NOT LIKE '%\\%'", lambda r: "%" not in r["tier"]),
], ids=["like and modulo", "the text of a placeholder"])
def test_a_query_source_with_a_percent_sign_binds_the_window(postgres_engine, tmp_path, condition, keep):
    """The window is bound as %(start)s/%(end)s, psycopg's spelling: a `%` elsewhere in the statement (a
    LIKE pattern, the modulo operator, even the text of a placeholder in a string) must reach the server as
    itself, not be taken for a placeholder."""
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created", ttl=HOUR,
                   query=f"SELECT * FROM stats_t WHERE {condition}")
    rows = [r for r in STATS_ROWS.rows if keep(r)]
    case = Case((DRIVER,), (view,), (STATS_ROWS,), SPINE, (Projection("stats", ("tier",)),), name="percent",
                source_rows={"stats": rows})
    graph = write_project(case, tmp_path)
    runner = postgres_engine.runner()
    postgres_engine.load(runner, STATS_ROWS)
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    got = runner.latest_values(plan, T - HOUR, T + SEC, "percent").read_all().to_pylist()
    want = expected_latest(case, "stats", T - HOUR, T + SEC)
    key = lambda row: row["driver_id"]  # noqa: E731
    assert sorted(({k: normalized(v) for k, v in r.items()} for r in got), key=key) == \
        sorted(({k: normalized(v) for k, v in r.items()} for r in want), key=key)
    stats = runner.window_stats(plan, T - HOUR, T + SEC, "percent")
    assert (stats.rows, stats.keys) == (len(rows), len({r["driver_id"] for r in rows}))
    assert stats.latest == normalized(max(r["event_ts"] for r in rows if r["event_ts"] <= T + SEC))
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    table = runner.to_arrow(query.plan, "percent")
    assert [r["tier"] for r in table.to_pylist()] == [r["tier"] for r in expected(case)[1]]


# -- spines --------------------------------------------------------------------------------------------------

def test_every_kind_of_spine_gives_the_same_rows_in_order(stats_project, postgres_engine, tmp_path):
    root, case, graph = stats_project
    runner = postgres_engine.runner()
    forms = spine_forms(postgres_engine, runner, SPINE, tmp_path, "SELECT * FROM spine_t WHERE label > 0", pandas=True)
    runner.conn.execute("CREATE OR REPLACE VIEW spine_v AS SELECT * FROM spine_t")
    forms["a view"] = SpineInput("table", "spine_v")
    names, wanted = expected(case)
    try:
        for form, spine_input in forms.items():
            query = plan_training_query(graph, runner, spine_input, case.projections, label=form)
            got = runner.to_arrow(query.plan, form)
            assert got.column_names == names, form
            assert [{k: normalized(v) for k, v in r.items()} for r in got.to_pylist()] == \
                [{k: normalized(v) for k, v in r.items()} for r in wanted], form
    finally:
        runner.conn.execute("DROP VIEW spine_v")


def test_spine_problems_are_diagnostics(stats_project, postgres_engine):
    root, case, graph = stats_project
    runner = postgres_engine.runner()
    data = arrow_table(SPINE)
    wrong_key = data.set_column(0, "driver_id", data.column("driver_id").cast(pa.string()))
    (found,) = problems(lambda: plan_training_query(graph, runner, SpineInput("arrow", wrong_key), case.projections))
    assert found.code is Code.JOIN_KEY_DTYPE_MISMATCH and "text (Arrow string)" in found.message
    assert "BIGINT" in found.hint
    odd = data.append_column("span", pa.array([dt.timedelta(seconds=1)] * data.num_rows))
    (found,) = problems(lambda: runner.register_spine(SpineInput("arrow", odd)))
    assert found.code is Code.SPINE_UPLOAD and "'span'" in found.message and "duration" in found.message
    (found,) = problems(lambda: runner.register_spine(SpineInput("query", "SELECT * FROM no_such_table")))
    assert found.code is Code.INVALID_QUERY and "no_such_table" in found.message
    (found,) = problems(lambda: runner.register_spine(SpineInput("table", "no_such_table")))
    assert found.code is Code.ENGINE_ERROR and "the spine table 'no_such_table'" in found.message


# -- streaming and outputs -----------------------------------------------------------------------------------

def test_results_stream_in_bounded_batches_and_an_unread_reader_is_closed(stats_project, postgres_engine):
    root, case, graph = stats_project
    runner = postgres_engine.runner()
    plan = plan_latest_values(graph, graph.feature_view("stats"))
    batches = list(runner.latest_values(plan, T - 2 * HOUR, T + HOUR, "stats", batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 1]
    left = runner.latest_values(plan, T - 2 * HOUR, T + HOUR, "stats", batch_rows=1)
    next(iter(left))
    assert runner.window_stats(plan, None, T + HOUR, "stats").keys == 3  # runs while `left` is unread
    (found,) = problems(left.read_all)
    assert "left unread" in found.message
    assert runner.conn.info.transaction_status == 0  # idle: the reader's transaction ended


def test_write_table_swaps_atomically_and_keeps_the_old_table_on_failure(stats_project, postgres_engine):
    root, case, graph = stats_project
    runner = postgres_engine.runner()
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    assert write_table(runner, query.plan, "training_out", "dataset 'x'") == len(SPINE.rows)
    assert write_table(runner, query.plan, "training_out", "dataset 'x'") == len(SPINE.rows)  # replaces
    runner.conn.execute("ALTER TABLE stats_t RENAME TO stats_gone")
    try:
        (found,) = problems(lambda: write_table(runner, query.plan, "training_out", "dataset 'x'"))
    finally:
        runner.conn.execute("ALTER TABLE stats_gone RENAME TO stats_t")
    assert found.code is Code.ENGINE_ERROR and found.message.startswith("dataset 'x': PostgreSQL failed:")
    assert runner.conn.execute("SELECT count(*) FROM training_out").fetchone()[0] == len(SPINE.rows)
    left = runner.conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_\\_fc\\_building%'").fetchone()
    assert left[0] == 0


def test_write_parquet_replaces_the_file_only_when_complete(stats_project, postgres_engine, tmp_path):
    root, case, graph = stats_project
    runner = postgres_engine.runner()
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    out = tmp_path / "out" / "training.parquet"
    assert runner.write_parquet(query.plan, str(out), "x") == len(SPINE.rows)
    assert pq.read_table(out).num_rows == len(SPINE.rows)
    runner.conn.execute("ALTER TABLE stats_t RENAME TO stats_gone")
    try:
        (found,) = problems(lambda: runner.write_parquet(query.plan, str(out), "x"))
    finally:
        runner.conn.execute("ALTER TABLE stats_gone RENAME TO stats_t")
    assert found.code is Code.ENGINE_ERROR
    assert pq.read_table(out).num_rows == len(SPINE.rows) and sorted(p.name for p in out.parent.iterdir()) == \
        ["training.parquet"]


def test_a_dataset_runs_into_the_configured_schema(stats_project, postgres_engine):
    from fcompile.tasks.datasets import run_dataset

    root, case, graph = stats_project
    runner = postgres_engine.runner()
    postgres_engine.load(runner, SPINE)
    (root / "datasets.yml").write_text(
        "datasets:\n  - name: training\n    spine: {table: spine_t, timestamp_field: event_timestamp}\n"
        "    features: ['stats:conv', 'stats:tier']\n    output: {table: training_set}\n")
    from fcompile.parser import load_project

    graph = load_project(root)
    result = run_dataset(graph, runner, graph.dataset("training"))
    assert result.ok and result.rows == len(SPINE.rows)
    # other test runs on the same server keep schemas of their own: look in ours and in the default one only
    found = runner.conn.execute("SELECT schemaname FROM pg_tables WHERE tablename = 'training_set' "
                                "AND schemaname IN (%s, 'public')", (postgres_engine.schema,)).fetchall()
    assert found == [(postgres_engine.schema,)]


@pytest.mark.parametrize("value", ["soon", 0, -3])
def test_a_connect_timeout_that_is_not_a_positive_whole_number_is_fc132(value):
    from fcompile.runners.postgres import PostgresRunner

    (found,) = problems(lambda: PostgresRunner.connect({"type": "postgres", "url": "postgresql://127.0.0.1/test",
                                                        "connect_timeout": value}, "."))
    assert found.code is Code.OFFLINE_SETTINGS
    assert found.message == f"the PostgreSQL target's `connect_timeout` must be a whole number above 0, not {value!r}"


# -- strings -------------------------------------------------------------------------------------------------

def test_a_full_tie_of_strings_takes_the_greatest_in_byte_order_whatever_the_collation(postgres_engine, tmp_path):
    """Two rows equal in keys, event and created time, tier 'a' and 'B', read from a column in an ICU collation
    that puts 'a' before 'B' (as a database made with en_US.UTF-8 does): the greatest in byte order, 'a', as
    DuckDB, Spark, Snowflake and BigQuery give it - for training and materialization alike."""
    from compiler.test_point_in_time_semantics import stats_table

    rows = stats_table((1, T - SEC, T, 0.1, 1, "a"), (1, T - SEC, T, 0.1, 1, "B"))
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created", ttl=HOUR,
                   query='SELECT driver_id, event_ts, created, conv, trips, tier COLLATE "en-US-x-icu" AS tier '
                         "FROM stats_t")
    case = Case((DRIVER,), (view,), (rows,), SPINE, (Projection("stats", ("tier",)),), name="collation")
    graph = write_project(case, tmp_path)
    runner = postgres_engine.runner()
    postgres_engine.load(runner, rows)
    with runner.conn.cursor() as cur:  # the server's collation orders 'a' before 'B'; byte order does not
        assert cur.execute("""SELECT 'a' < 'B' COLLATE "en-US-x-icu", 'a' < 'B' COLLATE "C" """).fetchone() == \
            (True, False)
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    got = [r["tier"] for r in runner.to_arrow(query.plan, "collation").to_pylist()]
    assert got == [r["tier"] for r in expected(case)[1]]
    assert "a" in got and "B" not in got
    latest = runner.latest_values(plan_latest_values(graph, graph.feature_view("stats")), T - HOUR, T + SEC,
                                  "collation").read_all().to_pylist()
    assert [r["tier"] for r in latest] == ["a"]
