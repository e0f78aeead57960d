"""Windowed aggregations through the surfaces (issue 16): `fcompile build` writes their SQL, `fcompile run`
builds a dataset mixing them with plain features, the SDK's training set of a service runs its compiled
file, and a view with a `last` of a string column is materialized and read online like any other."""

from __future__ import annotations

import datetime as dt
import textwrap

import pyarrow.parquet as pq
import pytest

from fcompile import FeatureStore
from fcompile.cli import main
from fcompile.diagnostics import DiagnosticError
from fcompile.graph import Projection

from compiler.aggregation_harness import Agg, AggCase, AggViewDef, assert_rows_match, expected, float_outputs
from compiler.aggregation_cases import DRIVER, E, HOUR, MIN, US, spine, trips
from compiler.harness import Table

PROJECT = """\
name: agg_surfaces
default_target: dev
targets:
  dev:
    offline: {type: duckdb, path: .fcompile/offline.duckdb}
    online: {type: sqlite, path: .fcompile/online.db}
"""

ROWS = trips((1, E - 10 * MIN, E, 2.0, 2, "a"), (1, E - 70 * MIN, E, 3.0, 3, "b"), (1, E - 2 * HOUR, E, None, 4, "c"),
             (2, E - 30 * MIN, E, 5.5, 5, "d"), (2, E - US, E, 1.5, 1, "e"))
SPINE = spine((2, E, 1), (1, E + 5 * MIN, 2), (3, E, 3), (1, E, 4), (1, E - HOUR, 5))
AGGREGATES = (Agg("trips_1h", "count", None, HOUR), Agg("fare_sum_2h", "sum", "fare", 2 * HOUR),
              Agg("fare_avg_3h", "avg", "fare", 3 * HOUR), Agg("km_std_3h", "stddev", "km", 3 * HOUR),
              Agg("last_tier", "last", "tier", 3 * HOUR))


def spec(online: bool) -> str:
    return textwrap.dedent(f"""\
        entities:
          - name: driver
            join_keys: [{{name: driver_id, dtype: int64}}]
        sources:
          - name: trips
            path: data/trips.parquet
            timestamp_field: event_ts
            created_timestamp_field: created
        feature_views:
          - name: trip_windows
            entities: [driver]
            source: trips
            online: {str(online).lower()}
            features:
              - {{name: tier, dtype: string}}
            aggregations:
              step: 1h
              features:
                - {{name: trips_1h, function: count, window: 1h}}
                - {{name: fare_sum_2h, function: sum, column: fare, window: 2h}}
                - {{name: fare_avg_3h, function: avg, column: fare, window: 3h}}
                - {{name: km_std_3h, function: stddev, column: km, window: 3h}}
                - {{name: last_tier, function: last, column: tier, window: 3h}}
        feature_services:
          - name: windows_v1
            features: [trip_windows:trips_1h, trip_windows:tier, trip_windows:fare_sum_2h, trip_windows:fare_avg_3h,
                       trip_windows:km_std_3h, trip_windows:last_tier]
        datasets:
          - name: training
            spine: {{path: data/spine.parquet}}
            service: windows_v1
            output: {{path: out/training.parquet}}
        """)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path, online=False)


def make_project(root, online: bool):
    root.mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(PROJECT)
    (root / "data").mkdir()
    from compiler.harness import arrow_table

    pq.write_table(arrow_table(ROWS), root / "data" / "trips.parquet")
    pq.write_table(arrow_table(SPINE), root / "data" / "spine.parquet")
    (root / "features.yml").write_text(spec(online))
    return root


def wanted(spine_table=SPINE):
    view = AggViewDef("trip_windows", ("driver",), ROWS, HOUR, AGGREGATES, plain=(("tier", "string"),),
                      created="created")
    case = AggCase("surfaces", (DRIVER,), (view,), spine_table,
                   (Projection("trip_windows", ("trips_1h", "tier", "fare_sum_2h", "fare_avg_3h", "km_std_3h",
                                                "last_tier")),))
    return expected(case), float_outputs(case)


def cli(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_build_writes_the_aggregation_sql_and_run_builds_the_dataset(project, capsys):
    code, out = cli(capsys, "build", "--project-dir", str(project))
    assert code == 0, out
    compiled = (project / "target" / "compiled" / "duckdb" / "datasets" / "training.sql").read_text()
    assert "trip_windows: partial aggregates per (driver_id, step)" in compiled
    assert "join trip_windows: windowed aggregations, step 1h" in compiled
    code, out = cli(capsys, "run", "--project-dir", str(project))
    assert code == 0, out
    got = pq.read_table(project / "out" / "training.parquet")
    (names, rows), floats = wanted()
    assert_rows_match((got.column_names, got.to_pylist()), (names, rows), floats, "fcompile run")


def test_the_sdk_runs_the_services_compiled_file(project, capsys):
    assert cli(capsys, "build", "--project-dir", str(project))[0] == 0
    store = FeatureStore(project)
    from compiler.harness import arrow_table

    keys_and_times = Table("spine_t", SPINE.columns[:2], [{k: r[k] for k in ("driver_id", "event_timestamp")}
                                                          for r in SPINE.rows])
    job = store.get_historical_features(arrow_table(keys_and_times), service="windows_v1")
    got = job.to_arrow()
    (names, rows), floats = wanted(keys_and_times)
    assert_rows_match((got.column_names, got.to_pylist()), (names, rows), floats, "SDK, service")
    assert job.compiled_file == "compiled/duckdb/retrieve/windows_v1.sql" and job.matches_compiled_file


def test_materialize_and_runs_online_step_serve_a_last_of_strings(tmp_path, capsys):
    """`last_tier`, a last of a string column, is served online like every other aggregation: `fcompile run`'s
    online step loads the view, and the SDK and `fcompile get-online-features` read at each spine row's time
    what the reference gives that row (the dataset's own values are checked above)."""
    import json

    project = make_project(tmp_path / "online", online=True)
    code, out = cli(capsys, "run", "--project-dir", str(project), "--end", E.isoformat())
    assert code == 0 and "Traceback" not in out, out
    names = ["trips_1h", "fare_sum_2h", "fare_avg_3h", "km_std_3h", "last_tier"]
    (_, rows), floats = wanted()
    assert {row["last_tier"] for row in rows} - {None}, "the spine reads some string"
    with FeatureStore(project) as store:
        for spine_row, want in zip(SPINE.rows, rows):
            at = spine_row["event_timestamp"].replace(tzinfo=dt.timezone.utc)
            asked = names
            if at < E.replace(minute=0, tzinfo=dt.timezone.utc):  # before the run's step: the store keeps the tiles from E's step - 3h
                with pytest.raises(DiagnosticError) as caught:  # the 3h windows at E - 1h reach before them
                    store.get_online_features({"driver_id": [spine_row["driver_id"]]},
                                              [f"trip_windows:{name}" for name in names], now=at)
                assert [d.code.value for d in caught.value.diagnostics] == ["FC183"]
                asked = ["trips_1h", "fare_sum_2h"]  # windows the kept tiles cover: answered
            got = store.get_online_features({"driver_id": [spine_row["driver_id"]]},
                                            [f"trip_windows:{name}" for name in asked], now=at).to_dict()
            assert_rows_match((["driver_id", *asked], [{k: v[0] for k, v in got.items()}]),
                              (["driver_id", *asked], [{"driver_id": want["driver_id"], **{n: want[n] for n in asked}}]),
                              floats, f"online at {at}")
        store.write_to_online_store("trip_windows", {"driver_id": [1], "event_ts": [E], "created": [E], "tier": ["z"]})
    code, out = cli(capsys, "get-online-features", "--project-dir", str(project), "--json", "--now", E.isoformat(),
                    "--features", "trip_windows:last_tier,trip_windows:tier", "--entity=driver_id=1")
    assert code == 0, out
    results = json.loads(out)["results"]
    expected_last = next(w["last_tier"] for r, w in zip(SPINE.rows, rows) if r["driver_id"] == 1 and r["event_timestamp"] == E)
    assert [r["values"] for r in results] == [[1], [expected_last], ["z"]]


def test_the_materialize_file_of_a_view_of_aggregations_only_is_its_tile_query(tmp_path, capsys):
    """What `fcompile materialize` runs for such a view is what `build` wrote, byte for byte."""
    from fcompile.artifacts.queries import project_relative
    from fcompile.dialects import compile_sql
    from fcompile.planner.online_tiles import plan_latest_tiles

    make_project(tmp_path, True)
    (tmp_path / "features.yml").write_text(textwrap.dedent("""\
        entities:
          - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
        sources:
          - {name: trips, path: data/trips.parquet, timestamp_field: event_ts, created_timestamp_field: created}
        feature_views:
          - name: trip_windows
            entities: [driver]
            source: trips
            aggregations:
              step: 1h
              features:
                - {name: trips_1h, function: count, window: 1h}
                - {name: fare_sum_2h, function: sum, column: fare, window: 2h}
                - {name: last_km, function: last, column: km, window: 3h}
        """))
    code, out = cli(capsys, "build", "--project-dir", str(tmp_path))
    assert code == 0, out
    text = (tmp_path / "target" / "compiled" / "duckdb" / "materialize" / "trip_windows.sql").read_text()
    graph = FeatureStore(tmp_path).graph
    plan = plan_latest_tiles(graph, graph.feature_view("trip_windows"))
    assert compile_sql(project_relative(plan, graph.project.root), "duckdb") in text
    assert "the tiles of every entity key and step in it" in text and '"__fc_last_1"' in text
