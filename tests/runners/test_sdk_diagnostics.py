"""Every user error of a training-set request is a diagnostic raised before anything runs (or, for an
engine failure, naming the request): its code, what it names, and on the command line exit code 1
without a traceback."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest
from runner_projects import spine_rows

from fcompile import FeatureStore
from fcompile.cli import main
from fcompile.diagnostics import Code, DiagnosticError


def spine(**changes) -> pa.Table:
    columns = {**spine_rows(), **changes}
    return pa.table({k: v for k, v in columns.items() if v is not None})


def problems(call) -> list:
    with pytest.raises(DiagnosticError) as caught:
        call()
    return caught.value.diagnostics


@pytest.fixture
def store(small_project):
    with FeatureStore(small_project) as fs:
        yield fs


def test_missing_join_key_column(store):
    data = spine(driver_id=None, driverid=[1] * 7)
    (found,) = problems(lambda: store.get_historical_features(data, features=["stats:conv"]))
    assert found.code is Code.MISSING_COLUMN
    assert "no column 'driver_id'" in found.message and "entity 'driver'" in found.message
    assert "did you mean 'driverid'?" in found.hint and "rider_id, event_timestamp, label, driverid" in found.hint


def test_join_key_of_the_wrong_type(store):
    data = spine(driver_id=[str(v) for v in spine_rows()["driver_id"]])
    (found,) = problems(lambda: store.get_historical_features(data, features=["stats:conv"]))
    assert found.code is Code.JOIN_KEY_DTYPE_MISMATCH
    assert "'driver_id' is VARCHAR (Arrow string)" in found.message and "declares it int64" in found.message
    assert "BIGINT" in found.hint


def test_integer_keys_of_any_width_fit(store):
    data = spine().set_column(0, "driver_id", pa.array(spine_rows()["driver_id"], pa.int32()))
    assert store.get_historical_features(data, features=["stats:conv"]).to_arrow().num_rows == 7


def test_missing_source_file(store, small_project):
    (small_project / "data" / "stats.parquet").unlink()
    (found,) = problems(lambda: store.get_historical_features(spine(), features=["stats:conv", "rider:rating"]))
    assert found.code is Code.SOURCE_FILE_NOT_FOUND
    assert "source 'stats_src'" in found.message and "'data/stats.parquet'" in found.message


@pytest.mark.parametrize("request_kwargs, code, text, hint", [
    ({"features": ["stat:conv"]}, Code.UNKNOWN_VIEW, "unknown feature view 'stat'", "did you mean 'stats'?"),
    ({"features": ["stats:conf"]}, Code.UNKNOWN_FEATURE, "has no feature 'conf'", "did you mean 'conv'?"),
    ({"features": ["stats"]}, Code.BAD_ARGUMENT, "'stats' is not a feature reference", "view:feature"),
    ({"service": "driver_v2"}, Code.UNKNOWN_SERVICE, "unknown feature service 'driver_v2'",
     "did you mean 'driver_v1'?"),
    ({}, Code.BAD_ARGUMENT, "exactly one of features= and service=", "service="),
    ({"features": ["stats:conv"], "service": "driver_v1"}, Code.BAD_ARGUMENT, "exactly one", "service="),
    ({"features": ["stats:conv", "recent:conv"]}, Code.FEATURE_NAME_COLLISION, "output column 'conv'",
     "full_feature_names"),
])
def test_bad_requests(store, request_kwargs, code, text, hint):
    (found,) = problems(lambda: store.get_historical_features(spine(), **request_kwargs))
    assert found.code is code and text in found.message and hint in (found.hint or "")


def test_spine_queries_that_do_not_parse_or_run(store):
    (found,) = problems(lambda: store.get_historical_features("SELECT FROM WHERE", features=["stats:conv"]))
    assert found.code is Code.INVALID_QUERY and found.message.startswith("the spine query does not parse")
    (found,) = problems(lambda: store.get_historical_features("SELECT * FROM no_such_table", features=["stats:conv"]))
    assert found.code is Code.INVALID_QUERY and "does not run" in found.message and "no_such_table" in found.message
    failing = "SELECT *, CAST('x' || label AS INTEGER) AS broken FROM spine_table"
    (found,) = problems(lambda: store.get_historical_features(failing, features=["stats:conv"]))
    assert found.code is Code.INVALID_QUERY and "Conversion Error" in found.message


@pytest.mark.parametrize("data, column, code, text", [
    (spine(event_timestamp=None), None, Code.SPINE_TIMESTAMP, "has no timestamp column"),
    (spine(event_timestamp=None, a=spine_rows()["event_timestamp"], b=spine_rows()["event_timestamp"]), None,
     Code.SPINE_TIMESTAMP, "several timestamp columns: a, b"),
    (spine(), "when", Code.MISSING_COLUMN, "has no timestamp column 'when'"),
    (spine(), "label", Code.SPINE_TIMESTAMP, "timestamp column 'label' is BIGINT (Arrow int64), not a timestamp"),
    (spine(event_timestamp=["2024-01-01"] * 7), None, Code.SPINE_TIMESTAMP, "is VARCHAR"),
])
def test_timestamp_column_problems(store, data, column, code, text):
    found = problems(lambda: store.get_historical_features(data, features=["stats:conv"], timestamp_column=column))
    assert [d.code for d in found] == [code] and text in found[0].message


def test_spine_problems(store, tmp_path):
    (found,) = problems(lambda: store.get_historical_features(str(tmp_path / "nope.parquet"), features=["stats:conv"]))
    assert found.code is Code.SOURCE_FILE_NOT_FOUND and "nope.parquet" in found.message
    (found,) = problems(lambda: store.get_historical_features("no_table", features=["stats:conv"]))
    assert found.code is Code.ENGINE_ERROR and "the spine table 'no_table' cannot be read" in found.message
    assert "otherwise a table" in found.hint
    (found,) = problems(lambda: store.get_historical_features(spine(__fc_x=[1] * 7), features=["stats:conv"]))
    assert found.code is Code.BAD_ARGUMENT and "'__fc_x'" in found.message
    (found,) = problems(lambda: store.get_historical_features([1, 2], features=["stats:conv"]))
    assert found.code is Code.BAD_ARGUMENT and "cannot be a list" in found.message
    (tmp_path / "bad.parquet").write_text("not parquet")
    (found,) = problems(lambda: store.get_historical_features(str(tmp_path / "bad.parquet"), features=["stats:conv"]))
    assert found.code is Code.FILE_UNREADABLE


def test_several_problems_are_reported_at_once(store, small_project):
    (small_project / "data" / "stats.parquet").unlink()
    data = spine(driver_id=None, event_timestamp=None)
    found = problems(lambda: store.get_historical_features(data, features=["stats:conv"]))
    assert {d.code for d in found} == {Code.SOURCE_FILE_NOT_FOUND, Code.SPINE_TIMESTAMP, Code.MISSING_COLUMN}


def test_engine_errors_name_the_request(store, small_project):
    job = store.get_historical_features(spine(), features=["rider:rating"])
    store.runner.con.execute("DROP TABLE rider_stats")  # type: ignore[attr-defined]
    (found,) = problems(job.to_arrow)
    assert found.code is Code.ENGINE_ERROR
    assert found.message.startswith("the request: DuckDB failed: Catalog Error: Table with name rider_stats")
    (found,) = problems(lambda: store.get_historical_features(spine(), service="both_v1").to_arrow())
    assert found.message.startswith("feature service 'both_v1': DuckDB failed:")


def test_no_runner_for_the_target(small_project):
    with FeatureStore(small_project, target="warehouse") as fs:
        (found,) = problems(lambda: fs.get_historical_features(spine(), features=["stats:conv"]))
    assert found.code is Code.NO_RUNNER and "'redshift'" in found.message and "target 'warehouse'" in found.message


def test_a_locked_database_is_a_diagnostic(small_project):
    script = ("import duckdb, time, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
              "time.sleep(30)")
    holder = subprocess.Popen([sys.executable, "-c", script, str(small_project / ".fcompile" / "offline.duckdb")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with FeatureStore(small_project) as fs:
            (found,) = problems(lambda: fs.get_historical_features(spine(), features=["stats:conv"]))
        assert found.code is Code.ENGINE_ERROR and "offline database" in found.message
    finally:
        holder.kill()
        holder.wait()


# -- the command line --------------------------------------------------------------------------------

def run_cli(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("args, text", [
    (["--features", "stats:conf"], "error[FC033]: the request: feature view 'stats' has no feature 'conf'"),
    (["--service", "driver_v1", "--features", "stats:conv"], "error[FC090]: name exactly one of --service and"),
    (["--service", "nope"], "error[FC034]: unknown feature service 'nope'"),
    (["--features", "stats:conv", "--spine", "SELECT nope FROM spine_table"], "error[FC101]: the spine query"),
    (["--features", "stats:conv", "--timestamp-column", "label"], "error[FC112]"),
    (["--features", "stats:conv", "--spine", "missing.csv"], "error[FC062]: spine file not found"),
    (["--features", "stats:conv", "--spine", "SELECT 'unterminated"], "error[FC101]: the spine query does not parse"),
    (["--features", "stats:conv", "--spine", '"'], "error[FC090]: the spine '\"' is not a table name, a query"),
    (["--features", "stats:conv", "--spine", "x'"], "error[FC090]: the spine 'x'' is not a table name"),
    (["--features", "stats:conv", "--spine", "/*"], "error[FC090]: the spine '/*' is not a table name"),
    (["--features", "stats:conv", "--spine", "spine_table; x"], "error[FC090]: the spine 'spine_table; x' is not"),
    (["--features", "stats:conv", "--spine", "\x00"], "error[FC090]: the spine '\\x00' holds a control character"),
])
def test_cli_errors_exit_1_without_traceback(small_project, capsys, args, text):
    if "--spine" not in args:
        args = [*args, "--spine", "spine_table"]
    code, output = run_cli(capsys, "get-historical-features", "--project-dir", str(small_project),
                           "--output", str(small_project / "out.parquet"), *args)
    assert code == 1 and text in output and "Traceback" not in output
    assert not (small_project / "out.parquet").exists()


def test_cli_missing_key_column_in_a_subprocess(small_project, tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(spine(driver_id=None), tmp_path / "spine.parquet")
    result = subprocess.run([sys.executable, "-m", "fcompile", "get-historical-features", "--project-dir",
                             str(small_project), "--spine", str(tmp_path / "spine.parquet"), "--service", "driver_v1",
                             "--output", str(tmp_path / "out.parquet")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr
    assert "error[FC061]" in result.stderr and "no column 'driver_id'" in result.stderr


def test_cli_writes_the_training_set(small_project, capsys):
    import pyarrow.parquet as pq

    code, output = run_cli(capsys, "get-historical-features", "--project-dir", str(small_project), "--spine",
                           "spine_table", "--service", "driver_v1", "--output", str(small_project / "out.parquet"))
    assert code == 0 and "wrote 7 rows to" in output
    assert pq.read_table(small_project / "out.parquet").column_names[-2:] == ["conv", "trips"]


def test_cli_notes_why_it_ran_sql_planned_for_the_spine(small_project, capsys):
    """A spine with columns (a label) the service's compiled file has not: a note (not an error) that says the
    label is carried through; a spine of the file's columns runs the file as built."""
    import pyarrow.parquet as pq

    assert run_cli(capsys, "build", "--project-dir", str(small_project))[0] == 0
    code, output = run_cli(capsys, "get-historical-features", "--project-dir", str(small_project), "--spine",
                           "spine_table", "--service", "driver_v1", "--output",
                           str(small_project / "out.parquet"))
    assert code == 0, output
    note = next(line for line in output.splitlines() if "compiled/duckdb/retrieve/driver_v1.sql" in line)
    assert note.startswith("note: ran SQL planned for this request (the same point-in-time join), not "
                           "target/compiled/duckdb/retrieve/driver_v1.sql as built: the spine has columns ")
    assert note.endswith("(rider_id, label): the SQL is planned for its own columns, which the training set carries through")
    assert "label" in pq.read_table(small_project / "out.parquet").column_names
    try:  # the note is on stderr, not stdout
        main(["get-historical-features", "--project-dir", str(small_project), "--spine", "spine_table", "--service",
              "driver_v1", "--output", str(small_project / "out.parquet")])
    except SystemExit as exc:
        assert not exc.code
    captured = capsys.readouterr()
    assert "note: ran SQL planned" in captured.err and "note:" not in captured.out, captured
    code, output = run_cli(capsys, "get-historical-features", "--project-dir", str(small_project), "--spine",
                           "SELECT driver_id, event_timestamp FROM spine_table", "--service", "driver_v1", "--output",
                           str(small_project / "out.parquet"))
    assert code == 0 and "ran target/compiled/duckdb/retrieve/driver_v1.sql as built" in output, output


def test_any_spine_text_is_a_diagnostic_or_a_training_set(small_project, tmp_path, monkeypatch):
    """Fuzzed spine text through the SDK (classified, then registered on DuckDB): never an internal error."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    monkeypatch.chdir(tmp_path)  # a text taken as a relative glob looks only here
    pieces = st.sampled_from(["'", '"', "`", "[", "]", "(", ")", ";", ".", ",", "*", "/*", "--", "\\", " ", "\n",
                              "\x00", "\x1b", "$", "{", "}", ":", "=", "SELECT ", "WITH ", "select", "from",
                              "spine_table", "driver_id", "1", "x", "é", "\u202e", ".csv", ".parquet", "**"])
    texts = st.one_of(st.lists(pieces, max_size=12).map("".join), st.text(max_size=24))

    with FeatureStore(small_project) as store:
        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(texts)
        def check(text):
            try:
                store.get_historical_features(text, features=["stats:conv"]).to_arrow()
            except DiagnosticError as error:
                assert error.diagnostics

        check()
