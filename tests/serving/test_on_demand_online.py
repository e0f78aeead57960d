"""On-demand features read online (issue 17): after a materialization, the value the SDK and the feature server
return for random entities, times and request fields equals the training SQL's value (the on-demand join on
DuckDB) for the same (entity, t, request fields), on SQLite, Redis and PostgreSQL; statuses are the worst of
the inputs'; request fields come from the entity rows (FC146 when missing, FC185 when of the wrong type)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from on_demand_project import (
    FEATURES, UTC, random_requests, same, training_values, write_project,
)
from serving_helpers import Server
from store_cleanup import delete_postgres_project, delete_redis_project

from fcompile import FeatureStore
from fcompile.diagnostics import DiagnosticError

pytest.importorskip("uvicorn", reason="the feature server needs the serve extra (pip install 'fcompile[serve]')")

END = dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
STATUSES = {"PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"}


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def online(request):
    """(online settings, cleanup of a project's data) for each online store."""
    if request.param == "sqlite":
        yield {"type": "sqlite", "path": ".fcompile/online.db"}, lambda name: None
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
        yield {"type": "redis", "url": url}, lambda name: delete_redis_project(url, name)
    else:
        url = request.getfixturevalue("postgres_url")
        yield {"type": "postgres", "url": url}, lambda name: delete_postgres_project(url, name)


@pytest.fixture
def project(tmp_path, online):
    settings, cleanup = online
    made = []

    def make(end: dt.datetime, seed: int) -> Path:
        root = tmp_path / f"p{len(made)}"
        made.append(write_project(root, settings, end, seed))
        with FeatureStore(root) as fs:
            _materialize(fs, end)
        return root

    yield make
    for name in made:
        cleanup(name)


def _materialize(fs: FeatureStore, end: dt.datetime) -> None:
    from fcompile.tasks.materialize import materialize_views

    for result in materialize_views(fs.graph, fs.runner, fs.online_store, list(fs.graph.feature_views), end):
        assert result.ok, [d.render() for d in result.diagnostics]


def _rows_of(response) -> list[dict]:
    values = response.to_dict()
    return [dict(zip(values, row)) for row in zip(*values.values())]


def _assert_parity(online_rows: list[dict], training: list[dict], context) -> None:
    for n, (got, want) in enumerate(zip(online_rows, training, strict=True)):
        for name, value in want.items():
            assert same(got[name], value), (context, n, name, got[name], value)


@pytest.mark.parametrize("seed", [0, 1])
def test_sdk_values_equal_the_training_sql(project, seed):
    root = project(END, seed)
    rng = random.Random(seed)
    with FeatureStore(root) as fs:
        statuses_seen = set()
        for step in range(4):
            t = END + dt.timedelta(seconds=rng.randrange(0, 4 * 3600))  # ttl runs out for some on the way
            rows = random_requests(rng, 12, END)
            response = fs.get_online_features(FEATURES, entity_rows=rows, now=t)  # Feast's spelling
            got = _rows_of(response)
            assert [r["driver_id"] for r in got] == [r["driver_id"] for r in rows]
            assert "amount" not in got[0] and "placed_at" not in got[0]  # request fields are not outputs (as Feast)
            _assert_parity(got, training_values(root, rows, [t] * len(rows)), (seed, step, t))
            results = response.to_http_dict()["results"]
            statuses_seen.update(s for column in results for s in column["statuses"])
            columns = {name: [r[name] for r in rows] for name in rows[0]}  # the columnar form gives the same
            again = _flat(fs.get_online_features(columns, FEATURES, now=t))
            assert len(again) == len(_flat(response)) and all(map(same, again, _flat(response)))
        assert statuses_seen == STATUSES
        # 300 entities: computed with Arrow kernels (on_demand.ARROW_FROM_ROWS), the same values
        t = END + dt.timedelta(minutes=100)
        rows = random_requests(rng, 300, END)
        got = _rows_of(fs.get_online_features(FEATURES, entity_rows=rows, now=t))
        _assert_parity(got, training_values(root, rows, [t] * len(rows)), (seed, "arrow", t))


def _flat(response) -> list:
    return [v for column in response.to_dict().values() for v in column]


def test_statuses_are_the_worst_input_status_and_values_survive_it(project):
    root = project(END, 3)
    with FeatureStore(root) as fs:
        # driver 7 has no stats: trips NOT_FOUND enters as NULL, COALESCE(trips, 0) + 1 is 1, NOT_FOUND;
        # derived.bumped_tens reads it and carries NOT_FOUND too, with its value 10
        response = fs.get_online_features({"driver_id": [7, 1], "amount": [1.0, 2.0], "hour": [3, 12],
                                           "placed_at": [END, END]},
                                          ["order_features:bumped", "derived:bumped_tens", "order_features:night"],
                                          now=END)
        bumped, tens, night = response.to_http_dict()["results"][1:]
        assert bumped["values"][0] == 1 and bumped["statuses"] == ["NOT_FOUND", "PRESENT"]
        assert tens["values"][0] == 10 and tens["statuses"] == ["NOT_FOUND", "PRESENT"]
        assert night["values"] == [True, False] and night["statuses"] == ["PRESENT", "PRESENT"]  # fields only
        assert bumped["event_timestamps"][0] == "1970-01-01T00:00:00Z"
        later = fs.get_online_features({"driver_id": [1], "amount": [1.0], "hour": [3], "placed_at": [END]},
                                       ["order_features:bumped"], now=END + dt.timedelta(hours=5))
        assert later.to_http_dict()["results"][1]["statuses"] == ["OUTSIDE_MAX_AGE"]
        assert later.to_dict()["bumped"] == [1]


def test_request_field_problems_are_diagnostics(project):
    root = project(END, 4)
    with FeatureStore(root) as fs:
        with pytest.raises(DiagnosticError) as caught:
            fs.get_online_features(entity_rows=[{"driver_id": 1}], features=["order_features:per_trip"])
        (problem,) = caught.value.diagnostics
        assert problem.code.value == "FC146" and "'amount' (float64)" in problem.message
        # the example names the fields the request takes, in the SDK's spelling, with the values given
        assert problem.hint == ("give each entity its request fields beside its join keys, e.g. "
                                "entity_rows=[{'driver_id': 1, 'amount': ...}]")
        with pytest.raises(DiagnosticError) as caught:
            fs.get_online_features({"amount": [1.0]}, ["order_features:night"])
        (problem,) = caught.value.diagnostics
        assert problem.hint == "give each entity its request fields, e.g. entity_rows=[{'hour': ...}]"
        with pytest.raises(DiagnosticError) as caught:
            fs.get_online_features(entity_rows=[{"driver_id": 1, "amount": "ten", "hour": 1,
                                                 "placed_at": END}], features=["order_features:per_trip"])
        assert [d.code.value for d in caught.value.diagnostics] == ["FC185"]
        assert "request field 'amount'" in caught.value.diagnostics[0].message
        # a service with on-demand features plans and reads like any other
        response = fs.get_online_features({"driver_id": [1], "amount": [2.0], "hour": [3], "placed_at": [END]},
                                          service="orders", now=END)
        assert list(response.to_dict()) == ["driver_id", "per_trip", "night", "trips", "bumped_tens"]


@pytest.mark.parametrize("seed", [5])
def test_http_values_equal_the_training_sql(project, seed):
    """The server checks max age against its own clock: the data ends now, and the training side is asked
    at the moment of each request (re-asked if an hour boundary passed during it: tiles merge per hour)."""
    now = dt.datetime.now(UTC)
    root = project(now, seed)
    rng = random.Random(seed)
    server = Server(root, "--reload-interval", "0")
    try:
        for _ in range(3):
            rows = random_requests(rng, 10, now)
            entities = {name: [r[name] for r in rows] for name in rows[0]}
            entities["placed_at"] = [t.isoformat() for t in entities["placed_at"]]  # timestamps as JSON text
            for _attempt in range(3):
                before = dt.datetime.now(UTC)
                reply = server.online(entities, features=FEATURES)
                after = dt.datetime.now(UTC)
                if before.hour == after.hour:
                    break
            assert reply.status == 200, reply
            body = reply.json
            names = body["metadata"]["feature_names"]
            assert names == ["driver_id", *(f.split(":")[1] for f in FEATURES)]
            got = [dict(zip(names, row)) for row in zip(*(r["values"] for r in body["results"]))]
            _assert_parity(got, _as_json(training_values(root, rows, [before] * len(rows))), before)
        missing = server.online({"driver_id": [1], "amount": [1.0]},
                                features=["order_features:night", "order_features:placed_hour"])
        assert missing.status == 422 and missing.error["code"] == "FC146"
        assert "'hour'" in missing.error["message"] and "'placed_at'" in missing.error["message"]
        assert missing.error["hint"] == ('give each entity its request fields beside its join keys, e.g. '
                                         '{"entities": {"driver_id": [1], "hour": [...], "placed_at": [...]}, ...}')
        wrong = server.online({"driver_id": [1], "amount": ["x"], "hour": [1], "placed_at": ["2024-01-01T00:00:00Z"]},
                              features=["order_features:per_trip"])
        assert wrong.status == 422 and wrong.error["code"] == "FC185"
        bad_time = server.online({"driver_id": [1], "amount": [1.0], "hour": [1], "placed_at": ["yesterday"]},
                                 features=["order_features:placed_hour"])
        assert bad_time.status == 422 and bad_time.error["code"] == "FC185"
        assert "request field 'placed_at'" in bad_time.error["message"]
    finally:
        server.stop()


def _as_json(rows: list[dict]) -> list[dict]:
    """Training values as the server's JSON gives them (NaN and infinities are JSON's strings there)."""
    import math

    def plain(value):
        if isinstance(value, float) and not math.isfinite(value):
            return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
        return value

    return [{name: plain(value) for name, value in row.items()} for row in rows]


def test_cli_takes_request_fields_with_e(project):
    import json
    import subprocess
    import sys

    root = project(END, 6)
    moment = END.isoformat()
    args = [sys.executable, "-m", "fcompile", "get-online-features", "--project-dir", str(root), "--now", moment,
            "--features", "order_features:bumped,order_features:night,order_features:placed_hour",
            "-e", "driver_id=7", "-e", "driver_id=1", "-e", "hour=23", "-e", "hour=12", "-e", "amount=1.5",
            "-e", "amount=2", "-e", f"placed_at={moment}", "-e", f"placed_at={moment}"]
    done = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert results[1] == {"values": [1, results[1]["values"][1]], "statuses": ["NOT_FOUND", "PRESENT"],
                          "event_timestamps": ["1970-01-01T00:00:00Z"] * 2}
    assert results[2]["values"] == [True, False] and results[3]["values"][0] >= 12
    table = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert table.returncode == 0 and "(not found)" not in table.stdout  # a computed value shows, whatever its status
    missing = subprocess.run(args[:-8], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "FC146" in missing.stderr and "Traceback" not in missing.stderr
    # the hint in the CLI's spelling, naming only what the request takes, with the values given
    assert "hint: give each entity its request fields beside its join keys, e.g. -e driver_id=7 -e hour=23 " \
        "-e placed_at=...\n" in missing.stderr and "entity_rows" not in missing.stderr
    wrong = subprocess.run([*args[:-2], "-e", "hour=late"], capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 1 and "error[FC185]: -e 'hour=late': 'late' is not a valid int64 for request field " \
        "'hour'" in wrong.stderr
    key = subprocess.run([*args, "-e", "driver_id=seven"], capture_output=True, text=True, timeout=120)
    assert key.returncode == 1 and "error[FC117]: -e 'driver_id=seven': 'seven' is not a valid int64 for join " \
        "key 'driver_id'" in key.stderr


def test_a_request_field_named_like_a_join_key_takes_the_keys_value(tmp_path):
    """One name in the entity rows, both meanings: the key's value is the field's (dtypes must agree, FC184)."""
    from fcompile.parser import parse_project
    from fcompile.tasks.online_reads import plan_online_request

    spec = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: s, path: data/s.parquet, timestamp_field: ts}
feature_views:
  - {name: stats, entities: [driver], source: s, features: [{name: trips, dtype: int64}]}
request_sources:
  - {name: same, fields: [{name: driver_id, dtype: int64}]}
  - {name: other, fields: [{name: driver_id, dtype: string}]}
on_demand_views:
  - {name: ok, inputs: [stats, same], features: [{name: id_plus, dtype: int64, expr: "driver_id + trips"}]}
  - {name: clash, inputs: [stats, other], features: [{name: id_len, dtype: int64, expr: "LENGTH(driver_id) + trips"}]}
"""
    (tmp_path / "fcompile_project.yml").write_text(
        "name: rf\ndefault_target: dev\ntargets:\n  dev:\n    offline: {type: duckdb, path: x.duckdb}\n"
        "    online: {type: sqlite, path: x.db}\n")
    (tmp_path / "features.yml").write_text(spec)
    graph = parse_project(tmp_path, use_cache=False).graph
    assert graph is not None
    from fcompile.graph import Projection
    from fcompile.online import online_view

    plan = plan_online_request(graph, [Projection("ok", ("id_plus",))], False, lambda v: online_view(graph, v))
    assert plan.key_names == ("driver_id",) and plan.fields == ()  # the key's column serves the field
    with pytest.raises(DiagnosticError) as caught:
        plan_online_request(graph, [Projection("clash", ("id_len",))], False, lambda v: online_view(graph, v))
    assert [d.code.value for d in caught.value.diagnostics] == ["FC184"]


# Feast in a virtualenv of its own, which `make test` builds (no code of ours imports Feast)
FEAST_VENV = Path(__file__).resolve().parents[2] / ".venv-feast"


@pytest.mark.skipif(not (FEAST_VENV / "bin" / "python").exists(),
                    reason=f"Feast's client needs the virtualenv {FEAST_VENV.name}: make .venv-feast/.installed")
def test_feasts_own_client_sends_request_fields_and_reads_the_result(tmp_path):
    """Feast's remote online store client puts the request fields beside the join keys in `entities`, as
    Feast's feature server takes them; fcompile serve answers it and Feast reads the answer."""
    import json
    import subprocess

    now = dt.datetime.now(UTC)
    root = tmp_path / "p"
    write_project(root, {"type": "sqlite", "path": ".fcompile/online.db"}, now, 7)
    with FeatureStore(root) as fs:
        _materialize(fs, now)
    server = Server(root, "--reload-interval", "0")
    try:
        rows = random_requests(random.Random(7), 6, now)
        for row in rows:
            row["placed_at"] = row["placed_at"].isoformat()  # JSON text: the client sends what json.dumps can
        features = ["order_features:bumped", "order_features:night", "order_features:placed_hour", "stats:trips"]
        done = subprocess.run([str(FEAST_VENV / "bin" / "python"), str(Path(__file__).with_name(
            "feast_remote_client.py")), f"http://127.0.0.1:{server.port}",
            json.dumps({"features": features, "entity_rows": rows})], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        read_by_feast = json.loads(done.stdout)
        ours = server.online({name: [r[name] for r in rows] for name in rows[0]}, features=features).json
        names = ours["metadata"]["feature_names"]
        assert list(read_by_feast) == names == ["driver_id", "bumped", "night", "placed_hour", "trips"]
        for name, result in zip(names, ours["results"]):
            assert read_by_feast[name] == result["values"], name
        assert read_by_feast["night"] == [None if r["hour"] is None else r["hour"] < 6 or r["hour"] >= 22
                                          for r in rows]
    finally:
        server.stop()
