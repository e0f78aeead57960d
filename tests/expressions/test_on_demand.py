"""On-demand features offline and online: the expressions compiled over a training set of the sample project
(DuckDB) give what the evaluator gives over the values served for the same entities at the same moment,
with statuses: an input that is NOT_FOUND or OUTSIDE_MAX_AGE enters as NULL on both sides, and the
computed feature carries the worst status of its inputs."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from fcompile import FeatureStore
from fcompile.dialects import get_dialect
from fcompile.expressions.check import Scope, check_expression
from fcompile.expressions.on_demand import OnDemandColumn, OnlineInput, compute_online, on_demand_select
from tests.expressions.engines import micros
from tests.seeded_sample import init_seeded_sample

UTC = dt.timezone.utc
END = dt.datetime(2025, 1, 15, tzinfo=UTC)  # the sample's data ends here
FEATURES = {  # view:feature -> dtype
    "driver_hourly_stats:conv_rate": "float64", "driver_hourly_stats:avg_daily_trips": "int64",
    "driver_hourly_stats:avg_rating": "float32", "driver_lifetime_stats:vehicle_class": "string",
    "driver_lifetime_stats:is_premium": "bool",
}
REQUEST = {"order_amount": "float64", "order_hour": "int64", "placed_at": "timestamp", "due_at": "timestamp"}
EXPRESSIONS = {
    "amount_per_trip": ("order_amount / avg_daily_trips", "float64"),
    "big_order": ("order_amount > 3 * conv_rate", "bool"),
    "conv_band": ("CASE WHEN conv_rate >= 0.5 THEN 'high' ELSE 'low' END", "string"),
    "night": ("order_hour < 6 OR order_hour >= 22", "bool"),
    "trips_plus_one": ("COALESCE(avg_daily_trips, 0) + 1", "int64"),
    "vehicle_tag": ("UPPER(vehicle_class) || '-' || CAST(is_premium AS VARCHAR)", "string"),
    "wait_hours": ("SECONDS_BETWEEN(placed_at, due_at) / 3600 + conv_rate", "float64"),
    "rated_amount": ("ROUND(avg_rating * order_amount, 2)", "float64"),
    "placed_dow": ("EXTRACT(DOW FROM placed_at) * avg_daily_trips", "int64"),
}


def _features() -> list[OnDemandColumn]:
    qualified = {ref.replace(":", "."): dtype for ref, dtype in FEATURES.items()} | REQUEST
    bare = {ref.split(":")[1]: (ref.replace(":", "."),) for ref in FEATURES}
    scope = Scope(qualified, bare)
    made = []
    for name, (text, dtype) in EXPRESSIONS.items():
        node = check_expression(text, scope, dtype)
        inputs = tuple((q, q.split(".")[-1], qualified[q]) for q in sorted(qualified) if q in _names(node))
        made.append(OnDemandColumn(name, node, inputs))
    return made


def _names(node) -> set[str]:
    from fcompile.expressions.tree import columns

    return set(columns(node))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = init_seeded_sample(tmp_path_factory.mktemp("on_demand") / "sample", scale=0.2)
    store = FeatureStore(str(root))
    store.materialize(END - dt.timedelta(days=400), END)
    yield store
    store.close()


def test_offline_and_online_agree(sample):
    drivers = [1001, 1002, 1003, 1004, 1005, 999999]  # the last has no rows: NOT_FOUND online, NULL offline
    n = len(drivers)
    request = {"order_amount": [12.5, 0.0, -3.0, None, 1e6, 7.25], "order_hour": [0, 5, 6, 22, None, 23],
               "placed_at": [END, END - dt.timedelta(days=3), None, END, dt.datetime(2000, 1, 1, tzinfo=UTC), END],
               "due_at": [END + dt.timedelta(minutes=90), END, END, None, END, END]}
    features = _features()

    spine = pa.table({"driver_id": pa.array(drivers, pa.int64()),
                      "event_timestamp": pa.array([END] * n, pa.timestamp("us", tz="UTC")),
                      "order_amount": pa.array(request["order_amount"], pa.float64()),
                      "order_hour": pa.array(request["order_hour"], pa.int64()),
                      "placed_at": pa.array(request["placed_at"], pa.timestamp("us", tz="UTC")),
                      "due_at": pa.array(request["due_at"], pa.timestamp("us", tz="UTC"))})
    training = sample.get_historical_features(spine, list(FEATURES)).to_arrow()
    con = duckdb.connect()
    con.register("training_rows", training)
    query = on_demand_select(get_dialect("duckdb"), exp.to_table("training_rows"), ["driver_id"], features)
    offline = con.execute(get_dialect("duckdb").generate(query, pretty=False)).fetchall()

    online = sample.get_online_features(entities={"driver_id": drivers}, features=list(FEATURES), now=END)
    body = online.to_http_dict()
    names = body["metadata"]["feature_names"]
    served = {name: body["results"][i] for i, name in enumerate(names)}
    statuses_seen = set()
    for column, feature in enumerate(features, start=1):
        inputs = {}
        for qualified, col, _ in feature.inputs:
            if qualified in REQUEST:
                inputs[qualified] = OnlineInput(request[qualified])
            else:
                inputs[qualified] = OnlineInput(served[col]["values"], served[col]["statuses"])
        values, statuses = compute_online(feature, inputs, n)
        statuses_seen.update(statuses)
        for row in range(n):
            want, got = offline[row][column], values[row]
            if isinstance(want, dt.datetime):
                want, got = micros(want), micros(got)
            if isinstance(want, float) and isinstance(got, float) and math.isnan(want):
                assert math.isnan(got)
                continue
            assert want == got, f"{feature.name} for driver {drivers[row]}: offline {want!r}, online {got!r}"
        reads_features = any(q not in REQUEST for q, _, _ in feature.inputs)
        assert statuses[-1] == ("NOT_FOUND" if reads_features else "PRESENT")
    assert "NOT_FOUND" in statuses_seen and "PRESENT" in statuses_seen


def test_a_missing_input_is_null_and_gives_its_status():
    node = check_expression("COALESCE(trips, 0) + 1", Scope({"v.trips": "int64"}, {"trips": ("v.trips",)}))
    feature = OnDemandColumn("f", node, (("v.trips", "trips", "int64"),))
    values, statuses = compute_online(feature, {"v.trips": OnlineInput([5, 7, 9], ["PRESENT", "NOT_FOUND",
                                                                                   "OUTSIDE_MAX_AGE"])}, 3)
    assert values == [6, 1, 1]  # a stale or missing value is NULL, as the training join has it
    assert statuses == ["PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"]


def test_the_worst_status_of_the_inputs():
    scope = Scope({"a.x": "float64", "b.y": "float64", "amount": "float64"})
    feature = OnDemandColumn("f", check_expression("a.x + b.y + amount", scope),
                             (("a.x", "x", "float64"), ("amount", "amount", "float64"), ("b.y", "y", "float64")))
    values, statuses = compute_online(feature, {
        "a.x": OnlineInput([1.0, 1.0, 1.0, None], ["PRESENT", "OUTSIDE_MAX_AGE", "PRESENT", "NOT_FOUND"]),
        "b.y": OnlineInput([2.0, 2.0, None, 2.0], ["PRESENT", "PRESENT", "NOT_FOUND", "OUTSIDE_MAX_AGE"]),
        "amount": OnlineInput([0.5, 0.5, 0.5, 0.5])}, 4)
    assert values == [3.5, None, None, None]
    assert statuses == ["PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND", "NOT_FOUND"]


def test_large_requests_are_computed_with_arrow_and_mean_the_same():
    from fcompile.expressions.on_demand import ARROW_FROM_ROWS

    scope = Scope({"v.x": "int64", "v.y": "float64", "s": "string"}, {"x": ("v.x",), "y": ("v.y",)})
    rows = ARROW_FROM_ROWS + 7
    xs = [None if n % 11 == 0 else (n * 7919) % 201 - 100 for n in range(rows)]
    ys = [[0.5, -2.5, float("nan"), None, 1e300][n % 5] for n in range(rows)]
    texts = ["CASE WHEN x > 0 THEN ROUND(y * x, 1) ELSE -y END", "x % 7 + x / 3", "SUBSTRING(s, x, 2) || 'é'",
             # the untaken branch overflows for every row: SQL (and the row code) does not evaluate it
             "CASE WHEN x IS NULL OR x < 1000 THEN 0 ELSE x * 9223372036854775807 END"]
    for text in texts:
        node = check_expression(text, scope)
        inputs = tuple((q, q, t) for q, t in scope.qualified.items() if q in _names(node))
        feature = OnDemandColumn("f", node, inputs)
        given = {"v.x": OnlineInput(xs, ["PRESENT"] * rows), "v.y": OnlineInput(ys, ["PRESENT"] * rows),
                 "s": OnlineInput(["héllo"] * rows)}
        large, _ = compute_online(feature, given, rows)
        small = [compute_online(feature, {k: OnlineInput(v.values[n:n + 1], v.statuses and v.statuses[n:n + 1])
                                          for k, v in given.items()}, 1)[0][0] for n in range(rows)]
        for a, b in zip(large, small):
            assert a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)), text
