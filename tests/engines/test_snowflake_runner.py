"""What is particular to the Snowflake runner, on the fakesnow emulator through the real connector:
connecting and its settings (password and key-pair), spines of every kind, names coming back in the
request's case, bound parameters, the join-strategy setting, and the outputs. (Agreement with the
reference and the other engines is the conformance suite's; the `ASOF JOIN ... MATCH_CONDITION` form,
which fakesnow cannot parse, is run by test_snowflake_asof_rewrite.py.)"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile import FeatureStore
from fcompile.diagnostics import Code
from fcompile.graph import Projection
from fcompile.planner.plans import JoinStrategy
from fcompile.planner.point_in_time import plan_latest_values, plan_point_in_time_join
from fcompile.runners.snowflake import SnowflakeRunner, bind_by_number, connection_arguments
from fcompile.runners.spines import SpineInput
from fcompile.tasks.training import plan_training_query

from compiler.harness import Case, Table, ViewDef, arrow_table, expected, expected_latest, normalized, write_project
from compiler.test_point_in_time_semantics import DRIVER, HOUR, SEC, STATS_FEATURES, T, stats_case
from engines.engines import (
    add_target, problems, rows_of, runner_spine, runner_stats_rows, spine_forms, stats_project_on, write_table,
)
from seeded_sample import init_path_sample
from tcp_proxy import free_port

STATS_ROWS = runner_stats_rows("a'%")
SPINE = runner_spine()




@pytest.fixture
def stats_project(snowflake_engine, tmp_path):
    """The stats case as a project whose target `sf` is the emulator, its table loaded there."""
    return stats_project_on(snowflake_engine, tmp_path, "sf", STATS_ROWS, SPINE)


# -- connecting ------------------------------------------------------------------------------------------

def test_an_unreachable_account_is_one_line_naming_the_target_without_the_password(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("FC_TEST_SF_PASSWORD", "s3cret")
    write_project(stats_case("down", STATS_ROWS, SPINE), tmp_path)
    add_target(tmp_path, "sf", {"type": "snowflake", "account": "xy12345", "user": "fc",
                                "password": "{{ env_var('FC_TEST_SF_PASSWORD') }}", "host": "127.0.0.1",
                                "port": port, "protocol": "http", "login_timeout": 2})
    with FeatureStore(tmp_path, target="sf") as fs:
        (found,) = problems(lambda: fs.get_historical_features(arrow_table(SPINE), features=["stats:conv"]))
    assert found.code is Code.OFFLINE_UNREACHABLE
    assert found.message.startswith("target 'sf': cannot connect to Snowflake account 'xy12345' as user 'fc': ")
    rendered = found.render()
    assert "s3cret" not in rendered and "Traceback" not in rendered and "\n" not in found.message


@pytest.mark.parametrize("settings, wanted", [
    ({"user": "u", "password": "pw-s3cret"}, ["sets no `account`"]),
    ({"account": "a", "user": "u"}, ["exactly one of password, private_key_path and authenticator"]),
    ({"account": "a", "user": "u", "password": "pw-s3cret", "private_key_path": "k.p8"},
     ["exactly one of", "not password and private_key_path"]),
    ({"account": "a", "user": "u", "password": "pw-s3cret", "authenticator": "okta"}, ["`authenticator` must be one of"]),
    ({"account": "a", "user": "u", "private_key_path": "missing.p8"}, ["cannot read the Snowflake private key"]),
    ({"account": "a", "user": "u", "password": "pw-s3cret", "login_timeout": "soon"}, ["`login_timeout` must be a whole"]),
], ids=["no account", "no credentials", "two credentials", "unknown authenticator", "missing key", "bad timeout"])
def test_settings_that_cannot_work_are_fc132(tmp_path, settings, wanted):
    found = problems(lambda: connection_arguments({"type": "snowflake", **settings}, str(tmp_path)))
    assert [d.code for d in found] == [Code.OFFLINE_SETTINGS] * len(found)
    text = " ".join(d.message for d in found)
    assert all(w in text for w in wanted), text
    assert all("pw-s3cret" not in d.render() for d in found)  # the password is never shown


def test_external_browser_authentication_sends_no_password(tmp_path):
    arguments, address = connection_arguments({"account": "a", "user": "u", "authenticator": "externalbrowser",
                                               "database": "ML", "schema": "FEATURES", "warehouse": "WH"},
                                              str(tmp_path))
    assert arguments["authenticator"] == "externalbrowser" and "password" not in arguments
    assert (arguments["database"], arguments["schema"], arguments["warehouse"]) == ("ML", "FEATURES", "WH")
    assert arguments["session_parameters"]["TIMEZONE"] == "UTC" and arguments["paramstyle"] == "numeric"
    assert address == "account 'a' as user 'u'"


def test_key_pair_authentication_signs_in_with_an_encrypted_key(snowflake_engine, tmp_path):
    """The connector signs a JWT with the key (fakesnow accepts any signature: what is proven is that the key
    is read, decrypted with its passphrase and handed to the connector, which signs in with it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "fc.p8").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"open sesame")))
    settings = {k: v for k, v in snowflake_engine.offline_settings(tmp_path).items() if k != "password"}
    with SnowflakeRunner.connect({**settings, "private_key_path": "keys/fc.p8",
                                  "private_key_passphrase": "open sesame"}, str(tmp_path)) as runner:
        with runner.conn.cursor() as cur:
            assert cur.execute("SELECT 1").fetchone() == (1,)
    (found,) = problems(lambda: SnowflakeRunner.connect({**settings, "private_key_path": "keys/fc.p8",
                                                         "private_key_passphrase": "wrong"}, str(tmp_path)))
    assert found.code is Code.OFFLINE_SETTINGS and "keys/fc.p8" in found.message and "wrong" not in found.render()


def test_a_path_source_is_refused_not_uploaded(snowflake_engine, tmp_path):
    root = tmp_path / "sample"
    init_path_sample(root, scale=0.02, seed=3)
    add_target(root, "sf", snowflake_engine.offline_settings(root))
    with FeatureStore(root, target="sf") as fs:
        found = problems(lambda: fs.get_historical_features(str(root / "data" / "orders.parquet"),
                                                            service="driver_activity_v1"))
        assert [d.code for d in found] == [Code.SOURCE_NOT_READABLE]
        assert "feature view 'driver_hourly_stats'" in found[0].message and "Snowflake cannot read" in found[0].message
        from fcompile.tasks.materialize import materialize_views

        view = fs.graph.feature_view("driver_lifetime_stats")
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [view], dt.datetime(2025, 1, 15))
    assert result.status == "error" and result.diagnostics[0].code is Code.SOURCE_NOT_READABLE


# -- spines and names ----------------------------------------------------------------------------------------

def test_every_kind_of_spine_gives_the_same_rows_in_order(stats_project, snowflake_engine, tmp_path):
    root, case, graph = stats_project
    runner = snowflake_engine.runner()
    forms = spine_forms(snowflake_engine, runner, SPINE, tmp_path)
    names, wanted = expected(case)
    for form, spine_input in forms.items():
        query = plan_training_query(graph, runner, spine_input, case.projections, label=form)
        got = runner.to_arrow(query.plan, form)
        assert got.column_names == names, form
        assert rows_of(got) == [{k: normalized(v) for k, v in r.items()} for r in wanted], form


def test_names_come_back_as_the_request_spells_them(stats_project, snowflake_engine):
    """Snowflake upper-cases every unquoted name ("ORDERID"); the runner hands back the spine's own names and
    the features' output names, whatever their case."""
    root, case, graph = stats_project
    runner = snowflake_engine.runner()
    data = arrow_table(SPINE).rename_columns(["driver_id", "event_timestamp", "orderLabel"])
    query = plan_training_query(graph, runner, SpineInput("arrow", data), case.projections, True)
    got = runner.to_arrow(query.plan, "names")
    assert got.column_names == ["driver_id", "event_timestamp", "orderLabel", "stats__conv", "stats__trips",
                                "stats__tier"]
    assert query.spine.types["orderLabel"] == "NUMBER(38, 0)" and query.spine.types["event_timestamp"] == \
        "TIMESTAMP_NTZ"


def test_spine_problems_are_diagnostics(stats_project, snowflake_engine):
    root, case, graph = stats_project
    runner = snowflake_engine.runner()
    data = arrow_table(SPINE)
    wrong_key = data.set_column(0, "driver_id", data.column("driver_id").cast(pa.string()))
    (found,) = problems(lambda: plan_training_query(graph, runner, SpineInput("arrow", wrong_key), case.projections))
    assert found.code is Code.JOIN_KEY_DTYPE_MISMATCH and "VARCHAR (Arrow string)" in found.message
    assert "NUMBER(38, 0)" in found.hint
    odd = data.append_column("span", pa.array([dt.timedelta(seconds=1)] * data.num_rows))
    (found,) = problems(lambda: runner.register_spine(SpineInput("arrow", odd)))
    assert found.code is Code.SPINE_UPLOAD and "'span'" in found.message and "duration" in found.message
    (found,) = problems(lambda: runner.register_spine(SpineInput("query", "SELECT * FROM no_such_table")))
    assert found.code is Code.INVALID_QUERY and "NO_SUCH_TABLE" in found.message.upper()
    assert "\n" not in found.message
    (found,) = problems(lambda: runner.register_spine(SpineInput("table", "no_such_table")))
    assert found.code is Code.ENGINE_ERROR and "the spine table 'no_such_table'" in found.message


# -- parameters and strategies -------------------------------------------------------------------------------

def test_the_window_is_bound_by_number_not_pasted():
    sql, values = bind_by_number('SELECT 1 FROM "T" WHERE "A" >= :start AND "A" <= :end AND "B" = \':start\'',
                                 {"start": 1, "end": 2})
    assert sql == 'SELECT 1 FROM "T" WHERE "A" >= :1 AND "A" <= :2 AND "B" = \':start\'' and values == (1, 2)


def test_latest_values_bind_the_window_inclusively(stats_project, snowflake_engine):
    """Both ends are inclusive; a query source with a quote and a percent sign in a literal keeps them."""
    root, case, graph = stats_project
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created", ttl=HOUR,
                   query="SELECT * FROM stats_t WHERE tier <> ':start' AND tier NOT LIKE '%''%'")
    rows = [r for r in STATS_ROWS.rows if "'" not in r["tier"]]
    quoted = Case((DRIVER,), (view,), (STATS_ROWS,), SPINE, (Projection("stats", ("tier",)),), name="quoted",
                  source_rows={"stats": rows})
    graph = write_project(quoted, root / "quoted")
    runner = snowflake_engine.runner()
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
    batches = list(runner.latest_values(plan, T - 2 * HOUR, T + HOUR, "window", batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 1]


def test_asof_join_false_runs_the_window_plan_and_true_sends_match_condition(stats_project, snowflake_engine):
    """`asof_join: false` (the emulator's target) plans ASOF views as the window plan; with the default the
    runner sends Snowflake's ASOF JOIN ... MATCH_CONDITION, which fakesnow cannot parse: an engine error
    on one line, not a stack."""
    root, case, graph = stats_project
    runner = snowflake_engine.runner()
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    plan = plan_point_in_time_join(graph, query.spine.plan("event_timestamp"), case.projections,
                                   strategy=JoinStrategy.ASOF)
    window = plan_point_in_time_join(graph, query.spine.plan("event_timestamp"), case.projections,
                                     strategy=JoinStrategy.WINDOW)
    assert runner.statements(plan) == runner.statements(window) and "MATCH_CONDITION" not in runner.statements(plan)[0]
    assert rows_of(runner.to_arrow(plan, "asof")) == [{k: normalized(v) for k, v in r.items()}
                                                       for r in expected(case)[1]]
    native = SnowflakeRunner(runner.conn, "fakesnow")  # the same session, with native ASOF joins
    (sql,) = native.statements(plan)
    assert "ASOF JOIN" in sql and "MATCH_CONDITION" in sql
    (found,) = problems(lambda: native.to_arrow(plan, "the request"))
    assert found.code is Code.ENGINE_ERROR and found.message.startswith("the request: Snowflake failed: ")
    assert "\n" not in found.message


# -- outputs ---------------------------------------------------------------------------------------------

def test_write_table_replaces_the_table_and_keeps_it_on_failure(stats_project, snowflake_engine):
    root, case, graph = stats_project
    runner = snowflake_engine.runner()
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    assert write_table(runner, query.plan, "training_out", "dataset 'x'") == len(SPINE.rows)
    assert write_table(runner, query.plan, "training_out", "dataset 'x'") == len(SPINE.rows)  # replaces
    with runner.conn.cursor() as cur:
        cur.execute('ALTER TABLE "STATS_T" RENAME TO "STATS_GONE"')
        try:
            (found,) = problems(lambda: write_table(runner, query.plan, "training_out", "dataset 'x'"))
        finally:
            cur.execute('ALTER TABLE "STATS_GONE" RENAME TO "STATS_T"')
    assert found.code is Code.ENGINE_ERROR and found.message.startswith("dataset 'x': Snowflake failed:")
    written = snowflake_engine.read_table(runner, "training_out")
    assert written.column_names == ["driver_id", "event_timestamp", "label", "conv", "trips", "tier"]
    assert sorted(written.column("label").to_pylist()) == sorted(r["label"] for r in SPINE.rows)


def test_write_parquet_replaces_the_file_only_when_complete(stats_project, snowflake_engine, tmp_path):
    root, case, graph = stats_project
    runner = snowflake_engine.runner()
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(SPINE)), case.projections)
    out = tmp_path / "out" / "training.parquet"
    assert runner.write_parquet(query.plan, str(out), "x") == len(SPINE.rows)
    assert rows_of(pq.read_table(out)) == [{k: normalized(v) for k, v in r.items()} for r in expected(case)[1]]
    with runner.conn.cursor() as cur:
        cur.execute('ALTER TABLE "STATS_T" RENAME TO "STATS_GONE"')
        try:
            (found,) = problems(lambda: runner.write_parquet(query.plan, str(out), "x"))
        finally:
            cur.execute('ALTER TABLE "STATS_GONE" RENAME TO "STATS_T"')
    assert found.code is Code.ENGINE_ERROR
    assert pq.read_table(out).num_rows == len(SPINE.rows) and sorted(p.name for p in out.parent.iterdir()) == \
        ["training.parquet"]


def test_an_empty_result_keeps_its_columns(stats_project, snowflake_engine):
    root, case, graph = stats_project
    runner = snowflake_engine.runner()
    empty = Table("spine_t", SPINE.columns, [])
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(empty)), case.projections)
    got = runner.to_arrow(query.plan, "empty")
    assert got.num_rows == 0 and got.column_names == expected(case)[0]
    assert got.schema.field("event_timestamp").type == pa.timestamp("us")
