"""A spine or `query:` source is read as part of fcompile's statements, so it may only read: a statement
that writes, anywhere in its tree (a data-modifying CTE, SELECT INTO, ...), is FC101 before anything runs,
and the rows it names are still there."""

from __future__ import annotations

import duckdb
import pytest
from runner_projects import spine_rows
from test_sdk_diagnostics import problems, run_cli

from fcompile import FeatureStore
from fcompile.diagnostics import Code
from fcompile.dialects import DIALECTS

DELETING_CTE = "WITH gone AS (DELETE FROM spine_table RETURNING *) SELECT * FROM gone"
WRITING = [
    (DELETING_CTE, "DELETE"),
    ("WITH t AS (UPDATE spine_table SET label = 9 RETURNING *) SELECT * FROM t", "UPDATE"),
    ("WITH t AS (INSERT INTO spine_table SELECT * FROM spine_table RETURNING *) SELECT * FROM t", "INSERT"),
    ("SELECT * INTO copied FROM spine_table", "INTO"),
]


def spine_count(project) -> int:
    con = duckdb.connect(str(project / ".fcompile" / "offline.duckdb"), read_only=True)
    try:
        return con.execute("SELECT count(*), sum(label) FROM spine_table").fetchone()
    finally:
        con.close()


@pytest.mark.parametrize("query, what", WRITING)
def test_a_writing_spine_query_is_refused_and_nothing_changes(small_project, query, what):
    before = spine_count(small_project)
    assert before[0] == len(spine_rows()["driver_id"])
    with FeatureStore(small_project) as store:
        (found,) = problems(lambda: store.get_historical_features(query, features=["stats:conv"]).to_arrow())
    assert found.code is Code.INVALID_QUERY
    assert f"a query must only read data, but it holds {what}" in found.message
    assert spine_count(small_project) == before


def test_the_cli_refuses_a_deleting_cte_as_spine(small_project, capsys):
    before = spine_count(small_project)
    code, output = run_cli(capsys, "get-historical-features", "--project-dir", str(small_project), "--spine",
                           DELETING_CTE, "--features", "stats:conv", "--output", str(small_project / "out.parquet"))
    assert code == 1 and "error[FC101]" in output and "holds DELETE" in output and "Traceback" not in output
    assert spine_count(small_project) == before and not (small_project / "out.parquet").exists()


def test_a_deleting_cte_as_query_source_or_dataset_spine_is_refused_by_run(small_project, capsys):
    spec = small_project / "features.yml"
    text = spec.read_text()
    text = text.replace("  - {name: rider_src, table: rider_stats, timestamp_field: ts}\n",
                        "  - {name: rider_src, table: rider_stats, timestamp_field: ts}\n"
                        f"  - {{name: evil_src, query: \"{DELETING_CTE}\", timestamp_field: event_timestamp}}\n")
    text = text.replace("feature_services:\n", "  - {name: evil, entities: [driver], source: evil_src, "
                        "features: [{name: label, dtype: int64}]}\nfeature_services:\n")
    text += ("datasets:\n"
             f"  - {{name: evil_spine, spine: {{query: \"{DELETING_CTE}\"}}, features: [\"stats:conv\"],"
             " output: {table: evil_out}}\n")
    spec.write_text(text)
    before = spine_count(small_project)
    with FeatureStore(small_project) as store:
        (found,) = problems(lambda: store.get_historical_features(
            "SELECT driver_id, event_timestamp FROM spine_table", features=["evil:label"]).to_arrow())
    assert found.code is Code.INVALID_QUERY and "holds DELETE" in found.message
    assert spine_count(small_project) == before
    code, output = run_cli(capsys, "run", "--project-dir", str(small_project), "--select", "evil_spine")
    assert code == 1 and "error[FC101]" in output and "holds DELETE" in output and "Traceback" not in output
    assert spine_count(small_project) == before
    code, output = run_cli(capsys, "build", "--project-dir", str(small_project))
    assert code == 1 and "error[FC101]" in output and "holds DELETE" in output
    assert spine_count(small_project) == before


def test_ordinary_with_and_select_queries_still_run(small_project):
    with FeatureStore(small_project) as store:
        for query in ("WITH s AS (SELECT * FROM spine_table WHERE label = 1) SELECT * FROM s",
                      "SELECT * FROM spine_table UNION ALL SELECT * FROM spine_table WHERE false",
                      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2) "
                      "SELECT s.* FROM spine_table s JOIN n ON n.i = 1"):
            rows = store.get_historical_features(query, features=["stats:conv"]).to_arrow()
            assert rows.num_rows == sum(spine_rows()["label"]) if "label = 1" in query else rows.num_rows == 7


@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_every_dialect_refuses_a_writing_query(dialect):
    from fcompile.diagnostics import DiagnosticError
    from fcompile.dialects import get_dialect

    with pytest.raises(DiagnosticError) as caught:
        get_dialect(dialect).parse_query("WITH t AS (DELETE FROM x RETURNING *) SELECT * FROM t")
    [found] = caught.value.diagnostics
    assert found.code is Code.INVALID_QUERY
