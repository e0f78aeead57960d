"""Training/serving skew, `fcompile profile --online --view V` (issue 18; fcompile/tasks/online_skew.py): on
every online store (SQLite, Redis, PostgreSQL: conftest.py's `backend`) with DuckDB offline. After a
materialization the skew is 0 for every feature; a write to the online store alone (a push that bypassed the
offline log, or a stored value edited directly) shows up for exactly the keys and features it changed; a
view with windowed aggregations too; a sample of the keys is the same for the same seed.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path

import pytest
from aggregation_parity import BASE as TRIPS_BASE
from aggregation_parity import random_trips, write_project, write_trips
from store_backends import new_project

from fcompile import FeatureStore
from fcompile.cli import main
from fcompile.diagnostics import DiagnosticError
from fcompile.online.key_samples import sample_keys
from fcompile.tasks.online_skew import measure_skew, same_value

UTC = dt.timezone.utc
END = dt.datetime(2024, 5, 2, tzinfo=UTC)  # what the tests materialize up to
DRIVERS = list(range(1, 41))

PROJECT = """\
name: {name}
default_target: dev
targets:
  dev: {{offline: {{type: duckdb}}, online: {online}}}
"""
SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: stats_src, path: data/stats.parquet, timestamp_field: ts, created_timestamp_field: created}
feature_views:
  - name: stats
    entities: [driver]
    source: stats_src
    ttl: 1d
    features:
      - {name: score, dtype: float64}
      - {name: trips, dtype: int64}
      - {name: note, dtype: string}
      - {name: seen, dtype: timestamp}
  - name: stats_archive
    entities: [driver]
    source: stats_src
    online: false
    features: [{name: trips, dtype: int64}]
  - name: stats_later
    entities: [driver]
    source: stats_src
    features: [{name: trips, dtype: int64}]
on_demand_views:
  - name: doubled
    inputs: [stats]
    features: [{name: score_x2, dtype: float64, expr: "score * 2"}]
"""


def stats_rows() -> list[dict]:
    """Three rows an hour apart per driver, the newest an hour before END; driver 40's only row 23 hours before
    END (outside the ttl an hour after END). Driver 2's newest score is NaN; every seventh driver has no note."""
    rows = []
    for driver in DRIVERS[:-1]:
        for hours in (3, 2, 1):
            ts = END - dt.timedelta(hours=hours)
            rows.append({"driver_id": driver, "ts": ts, "created": ts, "score": driver + hours / 10,
                         "trips": driver * 10 + hours, "note": None if driver % 7 == 0 else f"n{driver}",
                         "seen": dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(days=driver)})
    rows[5]["score"] = math.nan  # driver 2's newest row
    ts = END - dt.timedelta(hours=23)
    rows.append({"driver_id": 40, "ts": ts, "created": ts, "score": 4.0, "trips": 400, "note": "n40",
                 "seen": dt.datetime(2024, 3, 1, tzinfo=UTC)})
    return rows


def newest(driver: int) -> dict:
    return max((r for r in stats_rows() if r["driver_id"] == driver), key=lambda r: r["ts"])


def _table(rows: list[dict]):
    import pyarrow as pa

    return pa.table({
        "driver_id": pa.array([r["driver_id"] for r in rows], pa.int64()),
        "ts": pa.array([r["ts"] for r in rows], pa.timestamp("us", "UTC")),
        "created": pa.array([r["created"] for r in rows], pa.timestamp("us", "UTC")),
        "score": pa.array([r["score"] for r in rows], pa.float64()),
        "trips": pa.array([r["trips"] for r in rows], pa.int64()),
        "note": pa.array([r["note"] for r in rows], pa.string()),
        "seen": pa.array([r["seen"] for r in rows], pa.timestamp("us", "UTC")),
    })


@pytest.fixture
def root(backend):
    """The project above on the store of `backend`, its source written, `stats` materialized up to END."""
    import pyarrow.parquet as pq

    from fcompile.tasks.materialize import materialize_views

    project = new_project()
    folder = Path(backend.root)
    (folder / "data").mkdir()
    (folder / "fcompile_project.yml").write_text(PROJECT.format(name=project, online=json.dumps(backend.settings)))
    (folder / "features.yml").write_text(SPEC)
    pq.write_table(_table(stats_rows()), folder / "data" / "stats.parquet")
    with FeatureStore(folder) as fs:
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("stats")], END)
        assert result.ok and result.keys_written == 40, [d.render() for d in result.diagnostics]
    yield folder
    backend.cleanup(project)


def counts(report) -> dict[str, tuple[int, int, int, int]]:
    """Per feature: (compared, values differ, online only, offline only)."""
    return {f.name: (f.compared, f.values_differ, f.online_only, f.offline_only) for f in report.features}


NO_SKEW = {name: (40, 0, 0, 0) for name in ("score", "trips", "note", "seen")}


def test_no_skew_after_materialization(root):
    with FeatureStore(root) as fs:
        report = measure_skew(fs.graph, fs.runner, fs.online_store, "stats")
        assert (report.at, report.at_basis, report.watermark) == (END, "watermark", END)
        assert (report.keys_held, report.compared, report.sampled) == (40, 40, False)
        assert counts(report) == NO_SKEW and report.worst_share == 0
        # two hours later driver 40's value is outside the ttl on both sides (NULL = NULL); NaN equals NaN
        later = measure_skew(fs.graph, fs.runner, fs.online_store, "stats", at=END + dt.timedelta(hours=2))
        assert (later.at_basis, counts(later)) == ("--at", NO_SKEW)


def test_a_write_to_the_online_store_alone_shows_up_key_by_key(root):
    three, five = newest(3), newest(5)
    with FeatureStore(root) as fs:
        fs.write_to_online_store("stats", {
            "driver_id": [3, 5, 99], "ts": [END] * 3, "created": [END] * 3,
            "score": [three["score"] + 1, five["score"] * (1 + 1e-12), 1.0],  # 5: within the tolerance
            "trips": [three["trips"], five["trips"] + 1, 1],
            "note": [None, five["note"], "x"],                            # 3: NULL online, a value offline
            "seen": [three["seen"], five["seen"], END],
        })
        report = measure_skew(fs.graph, fs.runner, fs.online_store, "stats")
    assert report.keys_held == report.compared == 41
    assert counts(report) == {"score": (41, 1, 1, 0), "trips": (41, 1, 1, 0), "note": (41, 0, 1, 1),
                              "seen": (41, 0, 1, 0)}
    samples = {f.name: [(s.key, s.online, s.offline) for s in f.samples] for f in report.features}
    assert samples["score"] == [((3,), three["score"] + 1, three["score"]), ((99,), 1.0, None)]
    assert samples["trips"] == [((5,), five["trips"] + 1, five["trips"]), ((99,), 1, None)]
    assert samples["note"] == [((3,), None, "n3"), ((99,), "x", None)]
    assert samples["seen"] == [((99,), END, None)]
    assert report.features[0].share == pytest.approx(2 / 41)


def test_a_stored_value_edited_directly_shows_up(root):
    import pyarrow as pa

    from fcompile.online import online_view
    from fcompile.planner.plans import CREATED_TS, EVENT_TS

    seven = newest(7)
    with FeatureStore(root) as fs:
        view = online_view(fs.graph, "stats")
        # the stored row of driver 7 replaced as it is (same event and created time: the incoming row wins),
        # with another `seen`; driver 8's row deleted: no longer held, so not compared
        fs.online_store.write_batch(view, pa.RecordBatch.from_pydict({
            "driver_id": pa.array([7], pa.int64()), EVENT_TS: pa.array([seven["ts"]], pa.timestamp("us", "UTC")),
            CREATED_TS: pa.array([seven["created"]], pa.timestamp("us", "UTC")),
            "score": [seven["score"]], "trips": [seven["trips"]], "note": pa.array([None], pa.string()),
            "seen": pa.array([END], pa.timestamp("us", "UTC"))}))
        fs.online_store.delete_keys(view, [(8,)])
        report = measure_skew(fs.graph, fs.runner, fs.online_store, "stats")
    assert report.keys_held == 39
    assert counts(report) == {"score": (39, 0, 0, 0), "trips": (39, 0, 0, 0), "note": (39, 0, 0, 0),
                              "seen": (39, 1, 0, 0)}
    assert [(s.key, s.online, s.offline) for s in report.features[3].samples] == [((7,), END, seven["seen"])]


def test_keys_that_do_not_fit_the_join_keys_are_counted_not_compared(root):
    """A key written when the view's join key was a string (the view's table as the store keeps it)."""
    import pyarrow as pa

    from fcompile.graph import DType
    from fcompile.online import online_view
    from fcompile.planner.plans import CREATED_TS, EVENT_TS
    from fcompile.tasks.materialize import materialize_views

    with FeatureStore(root) as fs:
        view = online_view(fs.graph, "stats")
        older = type(view)(view.name, (("driver_id", DType("string")),), view.features, view.has_created)
        batch = pa.RecordBatch.from_pydict({
            "driver_id": pa.array(["D1"]), EVENT_TS: pa.array([END], pa.timestamp("us", "UTC")),
            CREATED_TS: pa.array([END], pa.timestamp("us", "UTC")), "score": [1.0], "trips": [1],
            "note": pa.array(["x"]), "seen": pa.array([END], pa.timestamp("us", "UTC"))})
        if fs.online_store.type_name == "sqlite":
            # SQLite keys the rows of a view keyed by one integer by that integer: a string key cannot join them
            # (the write says so); it joins a table keyed by the encoded key, as the string-keyed view made it
            with pytest.raises(DiagnosticError, match="keyed by one integer"):
                fs.online_store.write_batch(older, batch)
            fs.online_store.drop_view("stats")
            fs.online_store.write_batch(older, batch)
            (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [fs.graph.feature_view("stats")], END)
            assert result.ok and result.keys_written == 40
        else:
            fs.online_store.write_batch(older, batch)
        report = measure_skew(fs.graph, fs.runner, fs.online_store, "stats")
    assert (report.keys_held, report.compared, report.unreadable, report.sampled) == (41, 40, 1, False)
    assert counts(report) == NO_SKEW


def test_a_sample_of_the_keys_is_uniform_and_the_same_for_a_seed(root):
    from fcompile.graph import DType
    from fcompile.online import online_view
    from fcompile.online.keys import decode_key

    with FeatureStore(root) as fs:
        fs.write_to_online_store("stats", {"driver_id": [3, 5, 11, 12], "ts": [END] * 4, "created": [END] * 4,
                                           "score": [0.5] * 4, "trips": [1] * 4, "note": ["x"] * 4, "seen": [END] * 4})
        seen = set()
        for seed in range(6):
            report = measure_skew(fs.graph, fs.runner, fs.online_store, "stats", limit=10, seed=seed)
            again = measure_skew(fs.graph, fs.runner, fs.online_store, "stats", limit=10, seed=seed)
            assert counts(report) == counts(again) and report.seed == seed
            chosen = sample_keys(fs.online_store.stored_keys(online_view(fs.graph, "stats")), 10, seed).keys
            drivers = {decode_key([DType("int64")], key)[0] for key in chosen}
            seen |= drivers
            hit = len(drivers & {3, 5, 11, 12})
            assert (report.keys_held, report.compared, report.sampled) == (40, 10, True)
            assert {f.name: f.values_differ for f in report.features} == {"score": hit, "trips": hit, "note": hit,
                                                                          "seen": hit}
        assert len(seen) > 20  # six samples of 10 of 40 keys: different keys
        whole = measure_skew(fs.graph, fs.runner, fs.online_store, "stats", limit=40, seed=1)
        assert (whole.compared, whole.sampled, whole.features[1].values_differ) == (40, False, 4)


def test_a_view_with_aggregations_and_a_push_online(backend):
    """The aggregation tests' view (plain features and windowed aggregations) after a materialization, then
    after one trip pushed online only: the features that trip changes for its driver differ, for that driver
    alone - as a training set over the source with the trip appended says."""
    import pyarrow as pa

    from fcompile.tasks.materialize import materialize_views

    project = new_project()
    root = Path(backend.root)
    write_project(root, project, backend.settings, pushed=True)
    trips = random_trips(3, 150, keys=8, hours=48)
    end = TRIPS_BASE + dt.timedelta(hours=44, minutes=30)
    write_trips(root, [r for r in trips if r["event_timestamp"] <= end])
    try:
        with FeatureStore(root) as fs:
            view = fs.graph.feature_view("trip_windows")
            (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [view], end)
            assert result.ok, [d.render() for d in result.diagnostics]
            names = [f.name for f in view.features]
            before = measure_skew(fs.graph, fs.runner, fs.online_store, "trip_windows")
            assert before.at == end and before.keys_held == before.compared == 8
            assert counts(before) == {name: (8, 0, 0, 0) for name in names}
            ts = end - dt.timedelta(minutes=40)  # in the last step that ended by `end`
            trip = {"driver_id": 3, "event_timestamp": ts, "created": ts, "fare": 99.5, "km": 33,
                    "seen": ts - dt.timedelta(days=1), "tier": "zz", "tag": b"\xff", "seq": 3}
            fs.push("trips_push", {name: [value] for name, value in trip.items()}, to="online")
            after = measure_skew(fs.graph, fs.runner, fs.online_store, "trip_windows")
            spine = pa.table({"driver_id": pa.array([3], pa.int64()),
                              "event_timestamp": pa.array([end], pa.timestamp("us", "UTC"))})
            offline = fs.get_historical_features(spine, [f"trip_windows:{n}" for n in names]).to_arrow().to_pylist()[0]
        write_trips(root, [r for r in trips if r["event_timestamp"] <= end] + [trip])
        with FeatureStore(root) as fs:  # what the offline side computes once the trip is in the source
            pushed = fs.get_historical_features(spine, [f"trip_windows:{n}" for n in names]).to_arrow().to_pylist()[0]
    finally:
        backend.cleanup(project)
    expected = {name: (8, *_differences(pushed[name], offline[name])) for name in names}
    assert {"trips_1h", "trips_1d"} <= {name for name, found in expected.items() if found != (8, 0, 0, 0)}
    assert counts(after) == expected


def _differences(online, offline) -> tuple[int, int, int]:
    """(values differ, online only, offline only) of one key's values."""
    if online is None or offline is None:
        return 0, int(offline is None and online is not None), int(online is None and offline is not None)
    return int(not same_value(online, offline)), 0, 0


def test_keys_only_in_the_tiles_are_listed_once(backend):
    """A view with plain and aggregated features: a key whose plain row is gone but whose tiles are there is
    still compared, and a key in both is compared once."""
    from fcompile.online import online_view
    from fcompile.tasks.materialize import materialize_views
    from fcompile.tasks.online_skew import _stored_view_keys

    project = new_project()
    root = Path(backend.root)
    write_project(root, project, backend.settings)
    end = TRIPS_BASE + dt.timedelta(hours=30)
    write_trips(root, [r for r in random_trips(4, 100, keys=6, hours=30) if r["event_timestamp"] <= end])
    try:
        with FeatureStore(root) as fs:
            view = fs.graph.feature_view("trip_windows")
            (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [view], end)
            assert result.ok
            fs.online_store.delete_keys(online_view(fs.graph, view), [(2,), (5,)])
            listed = [key for chunk in _stored_view_keys(fs.graph, fs.online_store, view) for key in chunk]
            report = measure_skew(fs.graph, fs.runner, fs.online_store, "trip_windows")
            import pyarrow as pa

            spine = pa.table({"driver_id": pa.array([2, 5], pa.int64()),
                              "event_timestamp": pa.array([end, end], pa.timestamp("us", "UTC"))})
            offline = fs.get_historical_features(spine, ["trip_windows:fare", "trip_windows:seq"]).to_arrow()
    finally:
        backend.cleanup(project)
    assert len(listed) == len(set(listed)) == 6
    assert report.keys_held == 6
    by_name = counts(report)
    # drivers 2 and 5 have no plain row online now: their plain values are offline only; the aggregated ones
    # are still equal
    for name in ("fare", "seq"):
        assert by_name[name] == (6, 0, 0, sum(v is not None for v in offline.column(name).to_pylist())), name
    assert all(by_name[name] == (6, 0, 0, 0) for name in by_name if name not in ("fare", "seq"))


# -- values and samples, without a store -----------------------------------------------------------------

def test_values_compare_within_the_tolerance():
    assert same_value(1.0, 1.0 + 1e-12) and same_value(1e300, 1e300 * (1 + 5e-10))
    assert not same_value(1.0, 1.0 + 1e-8) and not same_value(0.0, 1e-300)
    assert same_value(math.nan, math.nan) and not same_value(math.nan, 1.0)
    assert same_value(math.inf, math.inf) and not same_value(math.inf, -math.inf)
    assert same_value(3, 3.0) and not same_value(True, 1.0) and not same_value("1", 1)
    assert same_value([1.0, None, math.nan], [1.0 + 1e-13, None, math.nan]) and not same_value([1.0], [1.0, 2.0])
    naive, aware = dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert same_value(naive, aware) and same_value(b"\x00", b"\x00") and not same_value(b"\x00", b"\x01")


def test_a_key_sample_depends_on_the_seed_and_the_keys_alone():
    keys = [bytes([1, i // 256, i % 256]) for i in range(1000)]
    one = sample_keys([keys[:400], keys[400:]], 50, seed=7)
    shuffled = keys[:]
    random.Random(1).shuffle(shuffled)
    other = sample_keys([shuffled[i:i + 7] for i in range(0, 1000, 7)] + [shuffled[:300]], 50, seed=7)  # listed twice
    assert one.keys == other.keys and len(one.keys) == 50 and list(one.keys) == sorted(one.keys)
    assert one.listed == 1000 and not one.complete
    assert sample_keys([keys[:400], keys[400:]], 50, seed=8).keys != one.keys
    everything = sample_keys([keys[:10], keys[5:10], keys[10:20]], 20, seed=1)
    assert everything.keys == tuple(keys[:20]) and everything.listed == 20 and everything.complete
    with pytest.raises(ValueError):
        sample_keys([keys], 0, seed=1)


def test_a_key_sample_is_uniform():
    """Each of 30 keys is in a sample of 10 with probability 1/3: over 3,000 seeds, within 5 standard
    deviations of 1,000 times."""
    keys = [b"\x01" + bytes([i]) for i in range(30)]
    chosen = {key: 0 for key in keys}
    for seed in range(3000):
        for key in sample_keys([keys], 10, seed).keys:
            chosen[key] += 1
    sigma = math.sqrt(3000 * (1 / 3) * (2 / 3))
    assert all(abs(count - 1000) < 5 * sigma for count in chosen.values()), chosen


# -- the command line -----------------------------------------------------------------------------------

def _cli(capsys, *args: str) -> tuple[int, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_command_line(root, capsys):
    where = ("--project-dir", str(root))
    code, out = _cli(capsys, "profile", "--online", "--view", "stats", *where)
    assert code == 0, out
    assert "all 40 keys it holds" in out and "2024-05-02T00:00:00Z (its watermark)" in out
    written = sorted((root / "target" / "profiles" / "feature_view.stats").glob("skew-*.json"))
    assert len(written) == 1
    document = json.loads(written[0].read_text())
    assert (document["view"], document["at"], document["keys_compared"], document["sampled"]) == \
        ("stats", "2024-05-02T00:00:00Z", 40, False)
    assert [(f["name"], f["differing"], f["share"]) for f in document["features"]] == \
        [("score", 0, 0.0), ("trips", 0, 0.0), ("note", 0, 0.0), ("seen", 0, 0.0)]
    with FeatureStore(root) as fs:
        fs.write_to_online_store("stats", {"driver_id": [99], "ts": [END], "created": [END], "score": [9.5],
                                           "trips": [1], "note": ["x"], "seen": [END]})
    code, out = _cli(capsys, "profile", "--online", "--view", "stats", "--max-mismatch", "0.05", *where)
    assert code == 0 and "score at driver_id=99: online 9.5, offline NULL" in out, out
    code, out = _cli(capsys, "profile", "--online", "--view", "stats", "--max-mismatch", "0.01", "--limit", "20",
                     "--seed", "4", *where)
    document = json.loads((root / out.split(" -> ", 1)[1].split()[0]).read_text())  # the file it names
    assert (document["seed"], document["keys_compared"], document["keys_held"]) == (4, 20, 41)
    differs = document["features"][0]["differing"]
    assert (code == 1) == (differs > 0)  # 99 is in this sample or not; over 1% either way when it is
    if differs:
        assert "error[FC199]" in out and "differ in 'score', above --max-mismatch 0.01" in out, out
    code, out = _cli(capsys, "profile", "--online", "--view", "stats", "--max-mismatch", "0.01", *where)
    assert code == 1 and out.count("error[FC199]") == 4, out  # every feature of driver 99
    for args, expected in [
        (("--view", "stats"), "error[FC198]: --view goes with --online"),
        (("--online",), "error[FC198]: --online compares one feature view"),
        (("--online", "--view", "stats", "--limit", "0"), "error[FC198]: --limit 0"),
        (("--online", "--view", "stats", "--max-mismatch", "1.5"), "error[FC198]: --max-mismatch 1.5"),
        (("--online", "--view", "stats", "--select", "stats"), "error[FC198]: --select is an option of statistics"),
        (("--seed", "3"), "error[FC198]: --seed goes with --online"),
        (("--online", "--view", "stat"), "error[FC196]: --view stat: no feature view named 'stat'"),
        (("--online", "--view", "doubled"), "'doubled' is an on-demand view"),
        (("--online", "--view", "stats_archive"), "is not loaded into the online store (online: false)"),
        (("--online", "--view", "stats_later"), "error[FC197]: feature view 'stats_later' has not been materialized"),
        (("--online", "--view", "stats", "--at", "yesterday"), "--at 'yesterday' is not an ISO 8601"),
    ]:
        code, out = _cli(capsys, "profile", *args, *where)
        assert code == 1 and expected in out and "Traceback" not in out, (args, out)
    code, out = _cli(capsys, "profile", "--online", "--view", "stats_later", "--at", "2024-05-02", *where)
    assert code == 0 and "(--at), all 0 keys it holds" in out, out


def test_the_command_line_default_limit_is_the_tasks():
    import inspect

    from fcompile.cli import profile
    from fcompile.tasks.online_skew import DEFAULT_LIMIT

    assert inspect.signature(profile).parameters["limit"].default == DEFAULT_LIMIT


def test_measure_skew_refuses_what_the_command_line_refuses(root):
    with FeatureStore(root) as fs:
        for name, code in (("nope", "FC196"), ("doubled", "FC196"), ("stats_later", "FC197")):
            with pytest.raises(DiagnosticError) as caught:
                measure_skew(fs.graph, fs.runner, fs.online_store, name)
            assert [d.code.value for d in caught.value.diagnostics] == [code]
        with pytest.raises(DiagnosticError) as caught:
            measure_skew(fs.graph, fs.runner, fs.online_store, "stats", limit=0)
        assert [d.code.value for d in caught.value.diagnostics] == ["FC198"]
