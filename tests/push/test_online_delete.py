"""Deleting entity keys from the online store: `fcompile online delete --view V -e key=value ...` and the
SDK's `delete_online`, on SQLite, Redis and PostgreSQL. The keys' rows go, whatever their event time (a row
pushed with a wrong, later time can be got rid of); other keys, views and the watermark stay; problems are
diagnostics before anything is deleted."""

from __future__ import annotations

import datetime as dt

import pytest
from push_projects import at, online_values, stats_rows
from test_push_cli import cli

from fcompile import FeatureStore
from fcompile.diagnostics import DiagnosticError
from fcompile.online.base import ViewState

UTC = dt.timezone.utc
RIDES = """\
  - {name: city, join_keys: [{name: city, dtype: string}]}
sources:
  - {name: rides, path: data/rides.parquet, timestamp_field: ts}
feature_views:
  - name: driver_city
    entities: [driver, city]
    source: rides
    features: [{name: fare, dtype: float64}]
"""


def with_rides(project):
    """The project with a view keyed by (driver_id, city)."""
    spec = project / "features.yml"
    text = spec.read_text()
    head, _, rest = text.partition("sources:\n")
    sources, _, views = rest.partition("feature_views:\n")
    extra_entity, _, extra = RIDES.partition("sources:\n")
    extra_sources, _, extra_views = extra.partition("feature_views:\n")
    spec.write_text(head + extra_entity + "sources:\n" + sources + extra_sources + "feature_views:\n" + views +
                    extra_views)
    return project


def fares(fs, keys):
    response = fs.get_online_features({"driver_id": [k[0] for k in keys], "city": [k[1] for k in keys]},
                                      ["driver_city:fare"])
    return response.to_dict()["fare"]


def test_the_sdk_deletes_keys_whatever_their_event_time(online_project):
    with FeatureStore(online_project) as fs:
        fs.write_to_online_store("driver_stats", stats_rows([1, 2, 3], [at(11)] * 3, [0.1, 0.2, 0.3]))
        far = dt.datetime.now(UTC) + dt.timedelta(hours=20)  # accepted (clock skew), and wins over older rows
        fs.write_to_online_store("driver_stats", stats_rows([2], [far], [0.9]))
        fs.online_store.put_state("driver_stats", ViewState(at(12), at(12), None, 3, 3))
        result = fs.delete_online("driver_stats", {"driver_id": [2, 99, 2, 3]})
        assert (result.view, result.key_names, result.deleted, result.not_found) == \
            ("driver_stats", ("driver_id",), ((2,), (3,)), ((99,),))
        assert online_values(fs, "driver_stats", ["conv_rate"], [1, 2, 3]) == \
            {1: ({"conv_rate": 0.1}, "2024-01-01T11:00:00Z"), 2: None, 3: None}
        assert fs.online_store.get_state("driver_stats").watermark == at(12)
        fs.write_to_online_store("driver_stats", stats_rows([2], [at(11)], [0.25]))  # the real value again
        assert online_values(fs, "driver_stats", ["conv_rate"], [2])[2][0] == {"conv_rate": 0.25}
        feast_rows = fs.delete_online("driver_stats", [{"driver_id": 2}])  # Feast's entity rows
        assert feast_rows.deleted == ((2,),)


def test_the_cli_deletes_composite_keys(capsys, online_project):
    project = with_rides(online_project)
    with FeatureStore(project) as fs:
        fs.write_to_online_store("driver_city", {"driver_id": [1, 1, 2], "city": ["Oslo", "Bergen", "Oslo"],
                                                 "ts": [at(10)] * 3, "fare": [1.0, 2.0, 3.0]})
    code, out, err = cli(capsys, "online", "delete", "--view", "driver_city", "-e", "driver_id=1", "-e", "city=Oslo",
                         "-e", "driver_id=7", "-e", "city=Oslo", "--project-dir", str(project))
    assert (code, err) == (0, ""), err
    assert out.splitlines() == ["deleted    driver_id=1 city=Oslo", "not found  driver_id=7 city=Oslo",
                                "feature view driver_city: 1 key deleted, 1 not found (target 'dev')"]
    with FeatureStore(project) as fs:
        assert fares(fs, [(1, "Oslo"), (1, "Bergen"), (2, "Oslo")]) == [None, 2.0, 3.0]


@pytest.mark.parametrize("args, expected", [
    (["--view", "driver_stat", "-e", "driver_id=1"],
     "error[FC032]: unknown feature view 'driver_stat'\n  hint: did you mean 'driver_stats'?"),
    (["--view", "driver_stats_archive", "-e", "driver_id=1"],
     "error[FC118]: feature view 'driver_stats_archive' has no rows in the online store (online: false)"),
    (["--view", "driver_stats", "-e", "driver_id=one"],
     "error[FC117]: -e 'driver_id=one': 'one' is not a valid int64 for join key 'driver_id'"),
    (["--view", "driver_stats", "-e", "driver"], "error[FC090]: -e 'driver' is not key=value"),
    (["--view", "driver_city", "-e", "driver_id=1"], "error[FC117]: feature view 'driver_city' needs join key 'city'"),
    (["--view", "driver_stats"], "error[FC090]: Missing option '--entity'"),
])
def test_cli_problems_are_diagnostics_and_delete_nothing(capsys, project, args, expected):
    with_rides(project)
    with FeatureStore(project) as fs:
        fs.write_to_online_store("driver_stats", stats_rows([1], [at(11)], [0.1]))
    code, out, err = cli(capsys, "online", "delete", *args, "--project-dir", str(project))
    assert code == 1 and expected in err and "Traceback" not in err, err
    with FeatureStore(project) as fs:
        assert online_values(fs, "driver_stats", ["conv_rate"], [1])[1] is not None


def test_sdk_problems_are_diagnostics(project):
    with FeatureStore(project) as fs:
        for view, entities, code in [("nope", {"driver_id": [1]}, "FC032"), (3, {"driver_id": [1]}, "FC090"),
                                     ("driver_stats", {"driver_id": ["1"]}, "FC117"),
                                     ("driver_stats", {"rider": [1]}, "FC117"), ("driver_stats", "1", "FC117")]:
            with pytest.raises(DiagnosticError) as caught:
                fs.delete_online(view, entities)
            assert caught.value.diagnostics[0].code.value == code, (view, entities)
        assert fs.delete_online("driver_stats", {"driver_id": []}).deleted == ()
