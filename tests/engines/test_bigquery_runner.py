"""The BigQuery runner's parts that need no BigQuery: its settings, its job labels and a connection that
fails before any request (no credentials). Its client path - load jobs, query jobs, Storage API reads,
dry runs - is not exercised here: no emulator runs on this machine and no live project is reachable
(test_bigquery_sql_on_duckdb.py executes the SQL it sends)."""

from __future__ import annotations

import pytest

from fcompile import FeatureStore
from fcompile.diagnostics import Code, DiagnosticError
from fcompile.runners import RUNNABLE_TYPES, runner_class

from compiler.harness import arrow_table, write_project
from compiler.test_point_in_time_semantics import SEC, T, spine, stats_case, stats_table
from engines.engines import add_target

pytest.importorskip("google.cloud.bigquery", reason="google-cloud-bigquery is not installed (pip install "
                    "'fcompile[dev]')")

from fcompile.runners.bigquery import BigQueryRunner, _label_value, connection_settings  # noqa: E402


def problems(call) -> list:
    with pytest.raises(DiagnosticError) as raised:
        call()
    return raised.value.diagnostics


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
], ids=["no project", "no dataset", "missing key file", "bad maximum"])
def test_settings_that_cannot_work_are_fc132(tmp_path, settings, wanted):
    (found,) = problems(lambda: connection_settings({"type": "bigquery", **settings}, str(tmp_path)))
    assert found.code is Code.OFFLINE_SETTINGS and wanted in found.message


def test_settings_are_read(tmp_path):
    project, dataset, location, credentials, maximum = connection_settings(
        {"type": "bigquery", "project": "p", "dataset": "d", "location": "EU", "maximum_bytes_billed": "1000"},
        str(tmp_path))
    assert (project, dataset, location, credentials, maximum) == ("p", "d", "EU", None, 1000)


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
