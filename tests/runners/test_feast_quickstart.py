"""Feast's quickstart, ported: the calls of Feast's quickstart (and of the test_workflow.py its `feast init`
template writes), with only the import changed, on the fcompile sample project, whose driver_hourly_stats
has the features of Feast's (conv_rate, acc_rate, avg_daily_trips) for drivers 1001-1100.

Left out: Feast's on-demand feature view `transformed_conv_rate` (fcompile has no on-demand
transformations; its entity_df columns `val_to_add*` went with it) and `feast apply` (fcompile reads the
specs when the store opens). Every value is checked against the point-in-time rule computed here from the
source's rows (the newest row at or before the time, within the view's ttl of 2 hours, the later `created`
winning a tie) and against fcompile's own spelling of the same call.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pytest

from seeded_sample import init_seeded_sample

pd = pytest.importorskip("pandas")

from fcompile import FeatureStore  # noqa: E402  (Feast: from feast import FeatureStore)

FEATURES = ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]
TTL = dt.timedelta(hours=2)


@pytest.fixture(autouse=True)
def utc_clock(monkeypatch):
    """Feast's quickstart uses naive `datetime.now()`, which fcompile (like Feast) reads as UTC: the calls are
    ported unchanged, so the local clock is UTC here, whatever the machine's zone."""
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def feature_repo(tmp_path) -> Path:
    """The sample project with its data ending now (as `fcompile init` makes it), seeded,
    since the quickstart reads features as of "now". All that is particular to the sample is here."""
    return init_seeded_sample(tmp_path / "feature_repo", as_of=dt.datetime.now(dt.timezone.utc))


def as_of(stats: pd.DataFrame, driver_id: int, moment: dt.datetime) -> tuple:
    """(conv_rate, acc_rate, avg_daily_trips) of `driver_id` at `moment` by the point-in-time rule."""
    moment = pd.Timestamp(moment).tz_localize("UTC") if pd.Timestamp(moment).tzinfo is None else pd.Timestamp(moment)
    rows = stats[(stats.driver_id == driver_id) & (stats.event_timestamp <= moment)
                 & (stats.event_timestamp >= moment - TTL)]
    if rows.empty:
        return (None, None, None)
    row = rows.sort_values(["event_timestamp", "created"]).iloc[-1]
    return (float(row.conversion_rate), float(row.acc_rate), int(row.avg_daily_trips))


def plain(values) -> list:
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def test_feast_quickstart_calls(feature_repo, monkeypatch):
    monkeypatch.chdir(feature_repo)
    stats = pd.read_parquet(feature_repo / "seeds" / "driver_stats.parquet")
    from datetime import datetime, timedelta

    # -- Feast's quickstart, "Generating training data" ---------------------------------------------------
    entity_df = pd.DataFrame.from_dict(
        {
            # entity's join key -> entity values
            "driver_id": [1001, 1002, 1003],
            # (optional) label name -> label values. Feast does not process these
            "label_driver_reported_satisfaction": [1, 5, 3],
            # "event_timestamp" (reserved key) -> timestamps
            "event_timestamp": [
                datetime.now() - timedelta(minutes=11),
                datetime.now() - timedelta(minutes=36),
                datetime.now() - timedelta(minutes=73),
            ],
        }
    )
    store = FeatureStore(repo_path=".")
    training_df = store.get_historical_features(
        entity_df=entity_df,
        features=[
            "driver_hourly_stats:conv_rate",
            "driver_hourly_stats:acc_rate",
            "driver_hourly_stats:avg_daily_trips",
        ],
    ).to_df()

    assert list(training_df.columns) == [*entity_df.columns, "conv_rate", "acc_rate", "avg_daily_trips"]
    assert training_df["driver_id"].tolist() == [1001, 1002, 1003]
    expected = [as_of(stats, d, t) for d, t in zip(entity_df.driver_id, entity_df.event_timestamp)]
    got = list(zip(*(plain(training_df[c].tolist()) for c in ("conv_rate", "acc_rate", "avg_daily_trips"))))
    assert got == expected and all(v is not None for row in got for v in row)
    with FeatureStore(feature_repo) as own:  # fcompile's own spelling gives the same rows
        own_df = own.get_historical_features(pa.Table.from_pandas(entity_df), FEATURES).to_pandas()
    pd.testing.assert_frame_equal(training_df, own_df)

    # -- "batch scoring": the same call as of now ------------------------------------------------------
    entity_df["event_timestamp"] = pd.to_datetime("now", utc=True)
    scoring_df = store.get_historical_features(entity_df=entity_df, features=FEATURES).to_df()
    now = entity_df["event_timestamp"][0]
    assert list(zip(*(plain(scoring_df[c].tolist()) for c in ("conv_rate", "acc_rate", "avg_daily_trips")))) == \
        [as_of(stats, d, now) for d in (1001, 1002, 1003)]

    # -- "Load features into your online store" -------------------------------------------------------
    store.materialize_incremental(end_date=datetime.now())

    # -- "Fetching feature vectors for inference" ------------------------------------------------------
    feature_vector = store.get_online_features(
        features=[
            "driver_hourly_stats:conv_rate",
            "driver_hourly_stats:acc_rate",
            "driver_hourly_stats:avg_daily_trips",
        ],
        entity_rows=[
            # {join_key: entity_value}
            {"driver_id": 1004},
            {"driver_id": 1005},
        ],
    ).to_dict()

    now = datetime.now()
    rows = [as_of(stats, d, now) for d in (1004, 1005)]
    assert feature_vector == {"driver_id": [1004, 1005], "conv_rate": [r[0] for r in rows],
                              "acc_rate": [r[1] for r in rows], "avg_daily_trips": [r[2] for r in rows]}
    assert None not in feature_vector["conv_rate"]
    assert store.get_online_features({"driver_id": [1004, 1005]}, FEATURES).values() == feature_vector

    # -- "Fetching feature vectors using feature services" ---------------------------------------------
    feature_service = store.get_feature_service("driver_activity_v1")
    service_vector = store.get_online_features(
        features=feature_service,
        entity_rows=[
            # {join_key: entity_value}
            {"driver_id": 1004},
            {"driver_id": 1005},
        ],
    ).to_dict()
    assert service_vector == feature_vector
    training_by_service = store.get_historical_features(entity_df=entity_df, features=feature_service).to_df()
    pd.testing.assert_frame_equal(training_by_service, scoring_df)

    # -- the registry, as `feast feature-views list` / `feast entities list` show it ---------------------
    assert [fv.name for fv in store.list_feature_views()] == [
        "customer_daily_profile", "driver_customer_affinity", "driver_hourly_stats", "driver_lifetime_stats",
        "driver_onboarding", "driver_trip_windows"]
    assert [(e.name, e.join_key) for e in store.list_entities()] == [("customer", "customer_id"),
                                                                      ("driver", "driver_id")]
    assert [s.name for s in store.list_feature_services()] == ["driver_activity_v1", "driver_ranking_orders",
                                                                    "driver_ranking_v2"]
    store.close()


def test_feature_view_and_service_attributes_feast_users_touch(feature_repo):
    store = FeatureStore(repo_path=str(feature_repo))
    (fv,) = [fv for fv in store.list_feature_views() if fv.name == "driver_hourly_stats"]
    assert fv.entities == ("driver",)
    assert [(f.name, str(f.dtype)) for f in fv.features] == [
        ("conv_rate", "float64"), ("acc_rate", "float64"), ("avg_daily_trips", "int64"), ("avg_rating", "float32")]
    assert fv.ttl == dt.timedelta(hours=2) and fv.online
    assert dict(fv.tags) == {"team": "driver-performance", "tier": "gold"}
    assert fv.owner == "driver-performance@example.com" and fv.description.startswith("Recent driver performance")
    (driver,) = store.list_entities(tags={"domain": "supply"})
    assert [(k.name, str(k.dtype)) for k in driver.join_keys] == [("driver_id", "int64")]
    service = store.get_feature_service("driver_ranking_v2")
    assert [(p.view, p.alias) for p in service.projections][0] == ("driver_hourly_stats", "driver_recent")
    assert service.owner == "ranking-ml@example.com" and dict(service.tags)["stage"] == "candidate"
    assert store.get_feature_view("driver_onboarding").online is False
    assert [fv.name for fv in store.list_feature_views(tags={"tier": "silver"})] == [
        "driver_customer_affinity", "driver_lifetime_stats", "driver_trip_windows"]
    store.close()


def test_a_write_as_feasts_remote_online_store_sends_it_uses_the_feature_names(feature_repo):
    """driver_stats maps conversion_rate -> conv_rate; Feast's clients name the feature (issue: FC121)."""
    with FeatureStore(feature_repo) as store:
        written = store.write_to_online_store("driver_hourly_stats", {
            "driver_id": [1001], "conv_rate": [0.99], "acc_rate": [0.98], "avg_daily_trips": [42],
            "avg_rating": [4.5], "event_timestamp": [dt.datetime.now(dt.timezone.utc).isoformat()],
            "created": [None]})
        assert written == 1
        online = store.get_online_features(features=FEATURES, entity_rows=[{"driver_id": 1001}]).to_dict()
    assert online == {"driver_id": [1001], "conv_rate": [0.99], "acc_rate": [0.98], "avg_daily_trips": [42]}
