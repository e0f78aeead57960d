"""The SDK's Feast spellings beside its own: each gives what fcompile's own spelling gives, and a call that
mixes or misses them is a diagnostic, never a Python error."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from fcompile import FeatureStore
from fcompile.diagnostics import DiagnosticError
from fcompile.graph import Entity, JoinKey

UTC = dt.timezone.utc
END = dt.datetime(2025, 1, 14, 23, 30, tzinfo=UTC)  # the sample's data ends at 23:00
FEATURES = ["driver_hourly_stats:conv_rate", "driver_lifetime_stats:vehicle_class"]


def problems(call) -> list[tuple[str, str]]:
    with pytest.raises(DiagnosticError) as caught:
        call()
    return [(d.code.value, d.message) for d in caught.value.diagnostics]


@pytest.fixture
def store(sample_project):
    with FeatureStore(repo_path=sample_project) as fs:
        yield fs


def spine() -> pa.Table:
    return pa.table({"driver_id": pa.array([1001, 1002, 1003], pa.int64()),
                     "event_timestamp": pa.array([END - dt.timedelta(minutes=m) for m in (5, 50, 95)],
                                                 pa.timestamp("us", "UTC"))})


def test_repo_path_and_project_dir_name_the_same_folder(sample_project):
    with FeatureStore(sample_project) as own, FeatureStore(repo_path=str(sample_project)) as feast:
        assert own.graph == feast.graph
    assert problems(lambda: FeatureStore(sample_project, repo_path=sample_project)) == [
        ("FC090", "pass the project folder once: as project_dir or as repo_path (Feast's name for it)")]


def test_historical_features_by_entity_df_and_by_a_service_object(store):
    own = store.get_historical_features(spine(), service="driver_activity_v1").to_arrow()
    service = store.get_feature_service("driver_activity_v1")
    assert store.get_historical_features(entity_df=spine(), features=service).to_arrow().equals(own)
    assert store.get_historical_features(spine(), service=service).to_arrow().equals(own)
    assert store.get_historical_features(entity_df=spine(), features=FEATURES).to_df().equals(
        store.get_historical_features(spine(), FEATURES).to_pandas())
    assert own.column("conv_rate").null_count == 0
    assert problems(lambda: store.get_historical_features(spine(), FEATURES, entity_df=spine())) == [
        ("FC090", "pass the spine once: as spine or as entity_df (Feast's name for it)")]
    assert problems(lambda: store.get_historical_features(features=FEATURES)) == [
        ("FC090", "pass the spine once: as spine or as entity_df (Feast's name for it)")]
    positional = store.get_historical_features(spine(), FEATURES, True).to_arrow()  # Feast: (df, features, True)
    assert "driver_hourly_stats__conv_rate" in positional.column_names
    assert problems(lambda: store.get_historical_features(spine(), service, service="driver_activity_v1")) == [
        ("FC090", "pass exactly one of features= and service=")]


def test_online_features_by_entity_rows_in_either_order(store):
    store.materialize_incremental(END)
    rows = [{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 999}]
    own = store.get_online_features({"driver_id": [1001, 1002, 999]}, FEATURES, now=END)
    assert own.to_dict()["driver_id"] == [1001, 1002, 999] and own.to_dict()["conv_rate"][2] is None
    assert None not in own.to_dict()["conv_rate"][:2]
    feast = store.get_online_features(features=FEATURES, entity_rows=rows, now=END)
    assert feast.to_http_dict() == own.to_http_dict()
    assert store.get_online_features(FEATURES, rows, now=END).to_http_dict() == own.to_http_dict()  # Feast's order
    assert store.get_online_features(FEATURES, entity_rows=rows, now=END).to_http_dict() == own.to_http_dict()
    service = store.get_feature_service("driver_activity_v1")
    by_service = store.get_online_features(features=service, entity_rows=rows, full_feature_names=True, now=END)
    assert list(by_service.to_dict()) == ["driver_id", "driver_hourly_stats__conv_rate",
                                          "driver_hourly_stats__acc_rate", "driver_hourly_stats__avg_daily_trips"]
    assert by_service.to_dict() == store.get_online_features({"driver_id": [1001, 1002, 999]}, service=service,
                                                             full_feature_names=True, now=END).to_dict()
    full = store.get_online_features(FEATURES, rows, True, now=END)  # Feast's third positional: full names
    assert list(full.to_dict()) == ["driver_id", *(f.replace(":", "__") for f in FEATURES)]
    assert list(full.to_dict().values()) == list(own.to_dict().values())
    columns = {"driver_id": [1001]}  # newer Feast also takes entity_rows as columns
    assert store.get_online_features(features=FEATURES, entity_rows=columns, now=END).to_dict() == \
        {name: values[:1] for name, values in own.to_dict().items()}


def test_to_dict_with_event_timestamps_and_to_df(store):
    store.materialize_incremental(END)
    response = store.get_online_features(features=FEATURES, entity_rows=[{"driver_id": 1001}, {"driver_id": 999}],
                                         now=END)
    stamps = response.to_http_dict()["results"]
    with_times = response.to_dict(include_event_timestamps=True)
    assert list(with_times) == ["driver_id", "driver_id__ts", "conv_rate", "conv_rate__ts", "vehicle_class",
                                "vehicle_class__ts"]
    assert with_times["driver_id__ts"] == [0, 0] and with_times["conv_rate__ts"][1] == 0  # none: not found
    seen = dt.datetime.fromisoformat(stamps[1]["event_timestamps"][0].replace("Z", "+00:00"))
    assert with_times["conv_rate__ts"][0] == int(seen.timestamp())
    frame = response.to_df()
    assert list(frame.columns) == ["driver_id", "conv_rate", "vehicle_class"] and len(frame) == 2
    assert list(response.to_df(include_event_timestamps=True).columns) == list(with_times)


@pytest.mark.parametrize("call, expected", [
    (lambda fs: fs.get_online_features({"driver_id": [1]}, FEATURES, entity_rows=[{"driver_id": 1}]),
     [("FC090", "pass the entities once: as entities (columns) or as entity_rows (Feast's rows)")]),
    (lambda fs: fs.get_online_features(features=FEATURES),
     [("FC090", "name the entities to read: entities= (columns) or entity_rows= (Feast's rows)")]),
    (lambda fs: fs.get_online_features(features=FEATURES, entity_rows=[{"driver_id": 1}, {"driverid": 2}]),
     [("FC117", "entity row 1 names the keys driverid, but row 0 names driver_id")]),
    (lambda fs: fs.get_online_features(features=FEATURES, entity_rows=[{"driver_id": 1}, 2]),
     [("FC117", "entity row 1 is a int, not a mapping of join key to value")]),
    (lambda fs: fs.get_online_features(features=FEATURES, entity_rows=[2, {"driver_id": 1}, {"driver_id": 3}]),
     [("FC117", "entity row 0 is a int, not a mapping of join key to value")]),  # and no error for the others
    (lambda fs: fs.get_online_features(features=FEATURES, entity_rows="driver_id=1"),
     [("FC117", "entity_rows must be a list of mappings of join key to value, not a str")]),
    (lambda fs: fs.get_online_features(features=FEATURES, entity_rows=[{"driver_id": "1001"}]),
     [("FC117", "entity value '1001' of join key 'driver_id' has type str, but the key is int64")]),
])
def test_online_spelling_mistakes_are_diagnostics(store, call, expected):
    assert problems(lambda: call(store)) == expected


def test_registry_lookups(store):
    assert store.get_feature_view("driver_hourly_stats") is store.graph.feature_view("driver_hourly_stats")
    assert store.get_entity("driver").join_key == "driver_id"
    assert problems(lambda: store.get_feature_view("driver_hourly")) == [
        ("FC032", "unknown feature view 'driver_hourly'")]
    assert problems(lambda: store.get_entity("drivers")) == [("FC030", "unknown entity 'drivers'")]
    assert problems(lambda: store.get_feature_service("driver_activity")) == [
        ("FC034", "unknown feature service 'driver_activity'")]
    assert store.list_entities(tags={"domain": "nowhere"}) == []
    pair = Entity("pair", (JoinKey("a", store.get_entity("driver").join_keys[0].dtype),) * 2)
    with pytest.raises(AttributeError, match="has 2 join keys: use .join_keys"):
        pair.join_key  # noqa: B018


def test_materialize_and_materialize_incremental(store):
    start = END - dt.timedelta(days=1)
    results = store.materialize(start, END, feature_views="driver_hourly_stats")  # one name, not its letters
    assert [(r.view, r.status, r.window.start, r.window.basis) for r in results] == [
        ("driver_hourly_stats", "success", start, "start")]
    assert results[0].keys_written == 10
    again = store.materialize_incremental(END.replace(tzinfo=None) + dt.timedelta(hours=1))  # naive: UTC
    assert [r.view for r in again] == [v.name for v in store.graph.feature_views if v.online]
    hourly = next(r for r in again if r.view == "driver_hourly_stats")
    assert (hourly.window.start, hourly.window.basis) == (END, "watermark")  # from the first run's end
    assert store.get_online_features(features=["driver_hourly_stats:conv_rate"], entity_rows=[{"driver_id": 1001}],
                                     now=END).to_dict()["conv_rate"][0] is not None
    ((code, message),) = problems(lambda: store.materialize(END, start))
    assert code == "FC119" and message.startswith("the window starts (2025-01-14T23:30:00")
    ((code, message),) = problems(lambda: store.materialize_incremental(dt.datetime(2205, 1, 1)))  # a typo'd year
    assert code == "FC119" and message.startswith("the window ends at 2205-01-01T00:00:00Z, later than ")
    assert sorted(problems(lambda: store.materialize_incremental(END, ["driver_onboarding", "nope"]))) == [
        ("FC032", "unknown feature view 'nope'"),
        ("FC118", "feature view 'driver_onboarding' is not loaded into the online store (online: false)")]


def test_materialize_raises_the_failed_views_problems_after_the_others_ran(store, sample_project):
    import json

    store.runner.con.execute("DROP TABLE driver_profile")  # type: ignore[attr-defined]  (the seeded table)
    with pytest.raises(DiagnosticError) as caught:
        store.materialize_incremental(END)
    assert {d.code.value for d in caught.value.diagnostics} == {"FC110"}
    assert {d.message.split(":")[0] for d in caught.value.diagnostics} == {"feature view 'driver_lifetime_stats'"}
    results = json.loads((sample_project / "target" / "run_results.json").read_text())["results"]
    assert {r["node"]: r["status"] for r in results} == {
        "feature_view.customer_daily_profile": "success", "feature_view.driver_customer_affinity": "success",
        "feature_view.driver_hourly_stats": "success", "feature_view.driver_lifetime_stats": "error",
        "feature_view.driver_trip_windows": "success"}
