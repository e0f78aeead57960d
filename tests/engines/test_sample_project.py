"""The sample project on every engine: its feature services and its dataset give the reference's training
sets, row by row in spine order (docs/concepts/point-in-time.md), whichever engine computes them.

The sample is generated once (scale 0.05: 250 orders, about 2,300 feature rows over four sources with
late corrections, ties and gaps). Its sources are tables: on every engine its seeds are loaded as `fcompile
seed` loads them (engines.sample_on), and the test reads the same tables. The expected rows come from the pure-Python
reference (tests/compiler/reference.py; windowed aggregations: tests/compiler/aggregation_reference.py), so every engine is held to the same answer, not to another engine.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fcompile import FeatureStore
from fcompile.parser import load_project
from fcompile.sample import init_project
from fcompile.tasks.datasets import run_dataset

from compiler.harness import assert_same_rows
from compiler.test_session_time_zone import file_statements, spark_rows
from engines.engines import reference_service_rows, sample_on

SCALE, SEED = 0.05, 11
FILE_DATASET = """
datasets:
  - name: activity_file
    description: driver_activity_v1 for every order, written to a Parquet file.
    spine: orders
    service: driver_activity_v1
    output: {path: target/activity.parquet}
  - name: activity_table
    description: driver_activity_v1 for every order, as a table (its one view is joined by range, no ASOF JOIN).
    spine: orders
    service: driver_activity_v1
    output: {table: activity_training}
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("engine_sample")
    init_project(root / "project", scale=SCALE, seed=SEED)
    return root


@pytest.fixture(scope="module")
def expected_rows(sample):
    """The references' training set for each feature service, over the orders in file order (aggregated
    features by tests/compiler/aggregation_reference.py)."""
    graph = load_project(sample / "project")
    data = sample / "project" / "seeds"
    orders = pq.read_table(data / "orders.parquet")

    def rows(service: str, full_feature_names: bool) -> tuple[list[str], list[dict]]:
        names, found, _ = reference_service_rows(graph, data, orders, "event_timestamp", service, full_feature_names)
        return names, found

    return rows


@pytest.fixture(scope="module")
def close_columns(sample):
    """Per (service, full names): the float aggregates, compared within 1e-9 relative."""
    graph = load_project(sample / "project")
    data = sample / "project" / "seeds"
    spine = pq.read_table(data / "orders.parquet").slice(0, 0)
    return lambda service, full: reference_service_rows(graph, data, spine, "event_timestamp", service, full)[2]


@pytest.mark.parametrize("service, full_feature_names", [("driver_activity_v1", False), ("driver_ranking_v2", True)])
def test_feature_services_give_the_reference_rows(engine, sample, expected_rows, close_columns, tmp_path, service,
                                                  full_feature_names):
    root = sample_on(engine, sample, tmp_path / "project")
    orders = pq.read_table(sample / "project" / "seeds" / "orders.parquet")
    with FeatureStore(root, target="engine") as fs:
        got = fs.get_historical_features(orders, service=service, full_feature_names=full_feature_names).to_arrow()
    assert_same_rows((got.column_names, got.to_pylist()), expected_rows(service, full_feature_names),
                     f"{service} on {engine.name}", close=close_columns(service, full_feature_names))


def test_the_datasets_give_the_reference_rows(engine, sample, expected_rows, close_columns, tmp_path):
    """The sample's dataset (a table in the engine's database) and one written to a Parquet file."""
    root = sample_on(engine, sample, tmp_path / "project")
    (root / "datasets" / "file.yml").write_text(FILE_DATASET)
    with FeatureStore(root, target="engine") as fs:
        graph, runner = fs.graph, fs.runner
        table = run_dataset(graph, runner, graph.dataset("driver_ranking_training"))
        assert table.ok, [d.render() for d in table.diagnostics]
        names, wanted = expected_rows("driver_ranking_v2", True)
        assert table.rows == len(wanted)
        written = engine.read_table(runner, engine.output_prefix() + "driver_ranking_training").to_pylist()
        # the dataset is driver_ranking_orders: driver_ranking_v2's columns, then the on-demand ones (their values
        # are proven in test_on_demand_training.py; here `night` from the spine's order_hour)
        for row in written:
            hour = row["order_hour"]
            assert row["order_features__night"] == (None if hour is None else (hour < 6 or hour >= 22)), row
        written = [{name: row[name] for name in names} for row in written]
        by_order = lambda row: row["order_id"]  # noqa: E731  (a table has no order: compare by spine row)
        assert_same_rows((names, sorted(written, key=by_order)), (names, sorted(wanted, key=by_order)),
                         f"dataset driver_ranking_training on {engine.name}",
                         close=close_columns("driver_ranking_v2", True))
        file = run_dataset(graph, runner, graph.dataset("activity_file"))
        assert file.ok, [d.render() for d in file.diagnostics]
    written = pq.read_table(root / "target" / "activity.parquet")
    assert_same_rows((written.column_names, written.to_pylist()), expected_rows("driver_activity_v1", False),
                     f"dataset activity_file on {engine.name}")


ZONES = ("Australia/Adelaide", "America/Los_Angeles")
ZONE_STATEMENTS = {"duckdb": "SET TimeZone='{}'", "postgres": "SET TIME ZONE '{}'", "spark": "SET TIME ZONE '{}'"}


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("spine_times", ["naive", "zoned"])
def test_compiled_retrieve_files_give_the_reference_rows_in_any_session_zone(engine, sample, expected_rows, tmp_path,
                                                                             zone, spine_times):
    """The compiled retrieve file of a service, run as a reviewer or a scheduler would run it - as it is, in a
    session whose time zone is not UTC - against the sample's zoned sources, with the spine's times naive (read
    as UTC) or zoned. On Spark the file's first statement sets the session's zone to UTC: its statements run in
    order, as `spark-sql -f` runs them. (Snowflake's emulator has no session zone: test_session_time_zone.py
    checks its SQL text.)"""
    import pyarrow as pa

    from fcompile.artifacts.queries import SPINE_RELATION, compile_node
    from fcompile.artifacts.selection import NodeRef
    from fcompile.dialects import get_dialect

    if engine.name not in ZONE_STATEMENTS:
        pytest.skip(f"{engine.name}: no session zone to run in (BigQuery compares instants; fakesnow emulates no "
                    "Snowflake TIMEZONE)")
    root = sample_on(engine, sample, tmp_path / "project")
    orders = pq.read_table(sample / "project" / "seeds" / "orders.parquet")
    if spine_times == "naive":
        at = orders.schema.get_field_index("event_timestamp")
        orders = orders.set_column(at, "event_timestamp", orders["event_timestamp"].cast(pa.timestamp("us")))
    graph = load_project(root)
    text = compile_node(graph, NodeRef("feature_service", "driver_activity_v1"), get_dialect(engine.name)).text
    with FeatureStore(root, target="engine") as fs:
        runner = fs.runner
        if engine.name == "duckdb":
            runner.con.register(SPINE_RELATION, orders)
            run = runner.con.execute
        elif engine.name == "spark":
            pq.write_table(orders, tmp_path / "spine.parquet")
            runner.spark.read.parquet(str(tmp_path / "spine.parquet")).createOrReplaceTempView(SPINE_RELATION)
            run = runner.spark.sql
        else:
            kind = "TIMESTAMPTZ" if spine_times == "zoned" else "TIMESTAMP"
            runner.conn.execute(f"CREATE TEMPORARY TABLE {SPINE_RELATION} (order_id BIGINT, driver_id BIGINT, "
                                f"customer_id TEXT, event_timestamp {kind}, fare_amount DOUBLE PRECISION, "
                                "completed BOOLEAN, order_amount DOUBLE PRECISION, order_hour BIGINT)")
            columns = ", ".join(orders.column_names)
            with runner.conn.cursor() as cur, cur.copy(f"COPY {SPINE_RELATION} ({columns}) FROM STDIN") as copy:
                for row in orders.to_pylist():
                    copy.write_row([row[c] for c in orders.column_names])
            run = runner.conn.execute
        run(ZONE_STATEMENTS[engine.name].format(zone))
        try:
            if engine.name == "duckdb":
                got = runner.con.sql(text).to_arrow_table()
                found = (got.column_names, got.to_pylist())
            elif engine.name == "spark":
                *leading, query = file_statements(text)
                for statement in leading:
                    runner.spark.sql(statement)
                found = spark_rows(runner.spark.sql(query), tmp_path / "result")
            else:
                with runner.conn.cursor() as cur:
                    cur.execute(text)
                    names = [d.name for d in cur.description]
                    found = (names, [dict(zip(names, row)) for row in cur.fetchall()])
        finally:
            run(ZONE_STATEMENTS[engine.name].format("UTC"))
            if engine.name == "postgres":
                runner.conn.execute(f"DROP TABLE {SPINE_RELATION}")
            if engine.name == "spark":
                runner.spark.catalog.dropTempView(SPINE_RELATION)
    _, wanted = expected_rows("driver_activity_v1", False)
    names = found[0]  # the file returns the spine columns it names (keys, time), then the features
    assert_same_rows(found, (names, [{n: row[n] for n in names} for row in wanted]),
                     f"compiled driver_activity_v1 on {engine.name} in {zone}")


class Recording:
    """Stands for an engine's connection, session or client: every call of `method` (on it, or on a cursor
    it hands out) is recorded with its SQL text, then made on the real object. What the engine was given,
    seen from outside the runner."""

    def __init__(self, target, methods: tuple[str, ...], log: list[str]) -> None:
        self._target, self._methods, self._log = target, methods, log

    def __getattr__(self, name: str):
        found = getattr(self._target, name)
        if name in self._methods:
            def recorded(sql, *args, **kwargs):
                self._log.append(sql)
                return found(sql, *args, **kwargs)
            return recorded
        if name == "cursor":
            return lambda *args, **kwargs: Recording(found(*args, **kwargs), self._methods, self._log)
        return found

    def __enter__(self):
        self._target.__enter__()
        return self

    def __exit__(self, *exc_info):
        return self._target.__exit__(*exc_info)


# where each runner hands its SQL to the engine: the attribute holding the engine's object, and its methods
ENGINE_CALLS = {"duckdb": ("con", ("execute", "sql")), "postgres": ("conn", ("execute",)),
                "spark": ("_session", ("sql",)), "snowflake": ("conn", ("execute",)),
                "bigquery": ("client", ("query",))}


def record_engine_calls(monkeypatch, log: list[str]) -> list:
    """Every runner the CLI or SDK connects from now on hands its SQL to the engine through a `Recording` into
    `log`; returns the list of those runners."""
    import fcompile.runners

    connect, runners = fcompile.runners.connect_runner, []

    def recording_runner(project):
        runner = connect(project)
        runners.append(runner)
        attribute, methods = ENGINE_CALLS[runner.dialect]
        if attribute == "_session":
            runner.spark  # noqa: B018  (started here, so that the recording stands for the session)
        setattr(runner, attribute, Recording(getattr(runner, attribute), methods, log))
        return runner

    monkeypatch.setattr(fcompile.runners, "connect_runner", recording_runner)
    return runners


@pytest.mark.parametrize("dataset", ["driver_ranking_training", "activity_table"])
def test_run_executes_the_compiled_dataset_file(engine, sample, tmp_path, monkeypatch, dataset):
    """`fcompile run` executes the statements of the dataset's compiled file - the one `fcompile build` wrote
    for the target's dialect - byte for byte (header comments aside), as the engine receives them; and
    run_results.json records each statement's sha256, the manifest's sha256 of the file, and that they match.
    On fakesnow (no ASOF JOIN) only the dataset whose views are all joined by range runs its file as it is."""
    import hashlib
    import json

    from fcompile.cli import main

    root = sample_on(engine, sample, tmp_path / "project")
    (root / "datasets" / "file.yml").write_text(FILE_DATASET)
    log: list[str] = []
    runners = record_engine_calls(monkeypatch, log)
    for command in (["build"], ["run", "--no-materialize"]):
        try:
            main([*command, "--project-dir", str(root), "--target", "engine", "-s", dataset])
        except SystemExit as finished:
            assert finished.code in (0, None), command
    compiled = f"compiled/{runners[0].dialect}/datasets/{dataset}.sql"
    text = (root / "target" / compiled).read_text()
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("-- "))
    executed = None
    difference = runners[0].compiled_file_difference if "ASOF JOIN" in body else None  # asof_join: false changes only ASOF joins
    if difference is None:
        runs = [log[i:j] for i in range(len(log)) for j in range(i + 1, len(log) + 1)
                if ";\n\n".join(log[i:j]) + "\n" == body]
        assert runs, f"{engine.name}: no run of the statements the engine was given is the compiled file {compiled}"
        executed = runs[0]

    manifest = json.loads((root / "target" / "manifest.json").read_text())
    (filed,) = [f["sha256"] for f in manifest["compiled"] if f["path"] == compiled]
    (result,) = [r for r in json.loads((root / "target" / "run_results.json").read_text())["results"]
                 if r["node"] == f"dataset.{dataset}"]
    assert result["status"] == "success", result["message"]
    assert result["compiled_file"] == compiled
    assert result["compiled_sha256"] == filed == hashlib.sha256(text.encode()).hexdigest()
    if executed is None:  # the target changes the SQL (fakesnow: no ASOF JOIN): run_results says why
        assert result["matches_compiled_file"] is False and result["mismatch"] == difference
        return
    assert result["executed"] == [{"sha256": hashlib.sha256(s.encode()).hexdigest()} for s in executed]
    assert result["matches_compiled_file"] is True and result["mismatch"] is None


def test_a_service_training_set_executes_the_compiled_retrieve_file(engine, sample, expected_rows, tmp_path,
                                                                   monkeypatch):
    """The SDK asked for a feature service with a spine of the columns its compiled retrieve file reads (the
    join keys and event_timestamp, here in an order that is not the file's rows' order) runs that file - the one
    `fcompile build` wrote for the target's dialect - byte for byte, the spine supplied as `fcompile_spine`; the
    rows are the reference's, in spine order. Where the runner cannot (Snowflake and BigQuery keep no row order
    through a view), the job says why, and the rows are still the reference's."""
    import hashlib
    import json
    import random

    import pyarrow as pa

    from fcompile.cli import main

    root = sample_on(engine, sample, tmp_path / "project")
    try:
        main(["build", "--project-dir", str(root), "--target", "engine", "-s", "driver_activity_v1"])
    except SystemExit as finished:
        assert finished.code in (0, None)
    log: list[str] = []
    record_engine_calls(monkeypatch, log)
    orders = pq.read_table(sample / "project" / "seeds" / "orders.parquet")
    order = list(range(orders.num_rows))
    random.Random(5).shuffle(order)
    spine = orders.select(["driver_id", "event_timestamp"]).take(pa.array(order))
    names, wanted = expected_rows("driver_activity_v1", False)
    features = names[len(orders.column_names):]
    wanted = [{c: wanted[i][c] for c in ["driver_id", "event_timestamp", *features]} for i in order]
    with FeatureStore(root, target="engine") as fs:
        job = fs.get_historical_features(spine, service="driver_activity_v1")
        runner = fs.runner
        got = job.to_arrow()
    assert_same_rows((got.column_names, got.to_pylist()), (["driver_id", "event_timestamp", *features], wanted),
                     f"driver_activity_v1 by the SDK on {engine.name}")

    compiled = f"compiled/{runner.dialect}/retrieve/driver_activity_v1.sql"
    text = (root / "target" / compiled).read_text()
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    (filed,) = [f["sha256"] for f in manifest["compiled"] if f["path"] == compiled]
    assert job.compiled_file == compiled
    assert job.compiled_sha256 == filed == hashlib.sha256(text.encode()).hexdigest()
    expected_reason = (runner.compiled_file_difference if "ASOF JOIN" in text else None) or (
        None if runner.supplies_named_spine else
        f"the {runner.dialect} runner does not supply the spine as the relation fcompile_spine (its engine keeps "
        "no row order through a view): it reads the spine where it registered it")
    if expected_reason is not None:
        assert not job.matches_compiled_file and job.mismatch == expected_reason
        return
    assert job.matches_compiled_file and job.mismatch is None, job.mismatch
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("-- "))
    log = [sql for sql in log if isinstance(sql, str)]  # not psycopg's composed COPY of the spine's rows
    runs = [log[i:j] for i in range(len(log)) for j in range(i + 1, len(log) + 1)
            if ";\n\n".join(log[i:j]) + "\n" == body]
    assert runs, f"{engine.name}: no run of the statements the engine was given is the compiled file {compiled}"
    assert job.sql.endswith(body.rstrip("\n") + ";\n")
    supplied = [s for s in log if "fcompile_spine" in s.lower() and "view" in s.lower()]
    assert supplied, f"{engine.name}: the spine was not supplied as a view named fcompile_spine"
