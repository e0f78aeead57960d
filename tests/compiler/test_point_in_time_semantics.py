"""Hand-written point-in-time cases: fcompile's SQL, run on DuckDB and PostgreSQL with every join
strategy, gives exactly the rows of the spec's reference implementation (docs/concepts/point-in-time.md)."""

from __future__ import annotations

import datetime as dt

import pytest

from fcompile.diagnostics import Code, DiagnosticError
from fcompile.dialects import compile_sql
from fcompile.graph import Projection
from fcompile.planner.plans import JoinStrategy
from fcompile.planner.point_in_time import plan_point_in_time_join

from compiler.harness import (
    Case, EntityDef, Table, ViewDef, assert_same_rows, check_case, check_latest, compile_case, expected, spine_plan,
    write_project,
)

T = dt.datetime(2024, 3, 10, 12, 0, 0)
UTC = dt.timezone.utc
PLUS2 = dt.timezone(dt.timedelta(hours=2))
MINUS5 = dt.timezone(dt.timedelta(hours=-5))
HOUR = dt.timedelta(hours=1)
SEC = dt.timedelta(seconds=1)

DRIVER = EntityDef("driver", (("driver_id", "int64"),))
CUSTOMER = EntityDef("customer", (("customer_id", "string"),))
STATS_COLUMNS = (("driver_id", "int64"), ("event_ts", "timestamp"), ("created", "timestamp"),
                 ("conv", "float64"), ("trips", "int64"), ("tier", "string"))
STATS_FEATURES = (("conv", "float64"), ("trips", "int64"), ("tier", "string"))
STATS = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created", ttl=HOUR)
SPINE_COLUMNS = (("driver_id", "int64"), ("event_timestamp", "timestamp"), ("label", "int64"))


def stats_table(*rows, name="stats_t", columns=STATS_COLUMNS) -> Table:
    return Table(name, columns, [dict(zip([c for c, _ in columns], r)) for r in rows])


def spine(*rows, columns=SPINE_COLUMNS) -> Table:
    return Table("spine_t", columns, [dict(zip([c for c, _ in columns], r)) for r in rows])


def stats_case(name, table, spine_table, view=STATS, features=("conv", "trips", "tier"), **kw) -> Case:
    return Case((DRIVER,), (view,), (table,), spine_table, (Projection(view.name, tuple(features)),), name=name, **kw)


@pytest.fixture
def check(engine, strategy, tmp_path):
    def run(case: Case) -> None:
        check_case(engine, case, write_project(case, tmp_path / case.name), [strategy])
    return run


def test_event_exactly_at_the_spine_time_is_visible_and_later_ones_are_not(check):
    check(stats_case("same_instant", stats_table(
        (1, T, T, 0.1, 1, "a"),
        (1, T + SEC, T, 0.9, 9, "z"),                          # one second in the future
        (2, T - dt.timedelta(microseconds=1), T, 0.2, 2, "b"),
        (2, T + dt.timedelta(microseconds=1), T, 0.8, 8, "y"),
    ), spine((1, T, 10), (2, T, 20), (1, T + SEC, 11))))


def test_ttl_bounds_are_inclusive_and_one_second_past_is_out(check):
    check(stats_case("ttl_bounds", stats_table(
        (1, T - HOUR, T, 0.1, 1, "exactly at ttl"),
        (2, T - HOUR - SEC, T, 0.2, 2, "one second past"),
        (3, T - HOUR - SEC, T, 0.3, 3, "old"),
        (3, T - HOUR + SEC, T, 0.4, 4, "inside"),
        (4, T - HOUR - dt.timedelta(microseconds=1), T, 0.5, 5, "a microsecond past"),
        (5, T - 2 * HOUR, T, 0.6, 6, "older, but inside for the later spine row"),
    ), spine((1, T, 1), (2, T, 2), (3, T, 3), (4, T, 4), (5, T - HOUR, 5), (5, T - HOUR + SEC, 6))))


def test_ttl_bounds_with_a_one_second_ttl(check):
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created", ttl=SEC)
    check(stats_case("ttl_one_second", stats_table(
        (1, T - SEC, T, 0.1, 1, "at"), (2, T - 2 * SEC, T, 0.2, 2, "past"), (3, T, T, 0.3, 3, "now"),
    ), spine((1, T, 1), (2, T, 2), (3, T, 3)), view=view))


def test_equal_event_times_go_to_the_greatest_created_time_and_null_created_is_lowest(check):
    check(stats_case("created_ties", stats_table(
        (1, T - SEC, T, 0.9, 9, "z"),
        (1, T - SEC, T + HOUR, 0.1, 1, "a"),     # corrected later: wins despite smaller values
        (1, T - SEC, None, 1.0, 10, "zz"),
        (2, T - SEC, None, 0.9, 9, "z"),
        (2, T - SEC, T - 2 * HOUR, 0.1, 1, "a"),  # any created time beats NULL
        (3, T - 2 * SEC, T + 5 * HOUR, 0.5, 5, "older event"),
        (3, T - SEC, T - 5 * HOUR, 0.4, 4, "newer event"),  # event time first, created second
    ), spine((1, T, 1), (2, T, 2), (3, T, 3))))


def test_full_ties_give_each_feature_the_greatest_of_the_tied_values(check):
    """Rows equal in keys, event and created time: each feature gets the greatest of their values, feature
    by feature (not the values of one row); NULL only when every tied row has NULL."""
    check(stats_case("full_ties", stats_table(
        (1, T, T, 0.5, 1, "z"),
        (1, T, T, 0.5, 2, "a"),      # conv 0.5, trips 2, tier "z"
        (1, T, T, None, 99, "zz"),   # trips 99, tier "zz"; conv NULL is lowest
        (1, T, None, 9.0, 999, "zzz"),  # NULL created: older, takes no part
        (2, T, None, 0.1, 5, None),
        (2, T, None, 0.1, 5, "b"),   # tier "b": NULL lowest
        (2, T, None, None, None, None),
        (3, T, T, 0.2, 1, "x"),
        (3, T, T, 0.2, 1, "x"),      # exact duplicates
        (4, T, T, None, None, None),
        (4, T, T, None, None, None),  # all NULL: NULL
        (5, T - SEC, T, 0.9, 9, "old"),
        (5, T, T, -1.0, None, ""),
        (5, T, T, -2.0, None, "ab"),  # the empty string is lowest
    ), spine((1, T, 1), (2, T, 2), (3, T, 3), (4, T, 4), (5, T, 5))))


def test_full_ties_do_not_depend_on_which_features_are_requested_or_their_order(check):
    """What a feature gets is a property of the data: requesting [tier, trips] or only [tier] gives the
    values requesting every feature gives, and materialization gives."""
    table = stats_table(
        (1, T, T, 0.5, 1, "z"),
        (1, T, T, 0.9, 0, "a"),
        (2, T, T, None, 7, "m"),
        (2, T, T, 0.0, 3, "b"),
    )
    rows = spine((1, T, 1), (2, T, 2))
    check(stats_case("ties_reordered", table, rows, features=("tier", "trips")))
    check(stats_case("ties_subset", table, rows, features=("tier",)))
    check(stats_case("ties_all", table, rows))


def test_full_ties_without_a_created_column(check):
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, ttl=HOUR)
    columns = tuple(c for c in STATS_COLUMNS if c[0] != "created")
    check(stats_case("ties_no_created", stats_table(
        (1, T, 0.5, 1, "z"), (1, T, 0.5, 2, "a"), (1, T - SEC, 0.9, 9, "zz"),
        (2, T, None, 4, None), (2, T, 0.25, None, "q"),
        columns=columns), spine((1, T, 1), (2, T, 2)), view=view))


NAN = float("nan")
INF = float("inf")


def test_full_ties_with_nan_give_nan(check):
    """NaN is the greatest float in a full tie (what MAX gives on every warehouse), and greater than NULL."""
    check(stats_case("ties_nan", stats_table(
        (1, T, T, 0.5, 1, "a"), (1, T, T, NAN, 1, "a"), (1, T, T, INF, 1, "a"),
        (2, T, T, None, 2, "b"), (2, T, T, NAN, 2, "b"),
        (3, T, T, NAN, 3, "c"), (3, T - SEC, T, 1.0, 3, "c"),
        (4, T - SEC, T, NAN, 4, "d"), (4, T, T, -INF, 4, "d"),  # an older NaN takes no part
    ), spine((1, T, 1), (2, T, 2), (3, T, 3), (4, T, 4))))


def test_full_ties_of_booleans_give_true(check):
    view = ViewDef("flags", ("driver",), "flags_t", (("active", "bool"), ("rank", "int64")), created="created")
    columns = (("driver_id", "int64"), ("event_ts", "timestamp"), ("created", "timestamp"), ("active", "bool"),
               ("rank", "int64"))
    check(stats_case("ties_bool", stats_table(
        (1, T, T, False, 1), (1, T, T, True, 0), (1, T, T, None, None),
        (2, T, T, False, 2), (2, T, T, None, 1), (2, T, None, True, 9),  # NULL created: older
        (3, T, T, None, 3), (3, T, T, None, 3),
        name="flags_t", columns=columns), spine((1, T, 1), (2, T, 2), (3, T, 3)), view=view,
        features=("active", "rank")))


TIE_COLUMNS = (("driver_id", "int64"), ("event_ts", "timestamp"), ("created", "timestamp"), ("seq", "int64"),
               ("conv", "float64"), ("trips", "int64"), ("tier", "string"))


def test_a_declared_tie_breaker_decides_full_ties_before_the_values(check):
    """`tie_breaker: seq`: among rows equal in event (and created) time the greatest seq wins, NULL lowest;
    rows equal in seq as well give each feature the greatest value. With and without a created column."""
    for created in (True, False):
        columns = TIE_COLUMNS if created else tuple(c for c in TIE_COLUMNS if c[0] != "created")
        view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created" if created else None,
                       ttl=HOUR, tie_breaker="seq")

        def row(key, ts, seq, conv, trips, tier):
            return (key, ts, T, seq, conv, trips, tier) if created else (key, ts, seq, conv, trips, tier)

        check(stats_case(f"tie_breaker_{'created' if created else 'no_created'}", stats_table(
            row(1, T, 2, 0.1, 1, "a"), row(1, T, 1, 0.9, 9, "z"),    # seq 2 wins despite smaller values
            row(2, T, None, 0.9, 9, "z"), row(2, T, 0, None, 1, "a"),  # NULL seq is lowest
            row(3, T, 5, 0.1, 9, None), row(3, T, 5, NAN, 1, "b"),    # still tied: each feature's greatest
            row(4, T - SEC, 9, 0.9, 9, "z"), row(4, T, 0, 0.1, 1, "a"),  # event time first
            row(5, T, None, 0.1, 2, "a"), row(5, T, None, 0.2, 1, "b"),
            columns=columns), spine((1, T, 1), (2, T, 2), (3, T, 3), (4, T, 4), (5, T, 5)), view=view))


def test_a_tie_breaker_comes_after_the_created_time(check):
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created", ttl=HOUR,
                   tie_breaker="seq")
    check(stats_case("tie_breaker_after_created", stats_table(
        (1, T, T, 9, 0.9, 9, "z"), (1, T, T + SEC, 1, 0.1, 1, "a"),   # the newer created wins
        (2, T, None, 9, 0.9, 9, "z"), (2, T, T, None, 0.1, 1, "a"),   # any created beats NULL
        columns=TIE_COLUMNS), spine((1, T, 1), (2, T, 2)), view=view))


def test_duplicate_spine_rows_stay_duplicates_in_spine_order(check):
    check(stats_case("duplicate_spine", stats_table(
        (1, T - SEC, T, 0.1, 1, "a"), (2, T - 3 * SEC, T, 0.2, 2, "b"),
    ), spine((2, T, 7), (1, T, 7), (2, T, 7), (1, T, 7), (1, T - HOUR, 7), (2, T, 7))))


def test_null_keys_never_match(check):
    check(stats_case("null_keys", stats_table(
        (None, T - SEC, T, 0.9, 9, "null key"),
        (1, T - SEC, T, 0.1, 1, "a"),
        (None, T - 2 * SEC, T, 0.8, 8, "another null key"),
    ), spine((None, T, 1), (1, T, 2), (None, T - SEC, 3), (3, T, 4))))


PAIR = EntityDef("pair", (("a", "int64"), ("b", "int64")))
PAIR_VIEW = ViewDef("pair_stats", ("pair",), "pair_t", (("v", "string"),))
NAMES = EntityDef("names", (("first", "string"), ("last", "string")))
NAMES_VIEW = ViewDef("name_stats", ("names",), "names_t", (("n", "int64"),), ttl=HOUR)


def test_multi_key_values_that_collide_as_text_stay_apart(check):
    pairs = Table("pair_t", (("a", "int64"), ("b", "int64"), ("event_ts", "timestamp"), ("v", "string")), [
        {"a": 1, "b": 23, "event_ts": T - 2 * SEC, "v": "1,23"},
        {"a": 12, "b": 3, "event_ts": T - SEC, "v": "12,3"},
        {"a": 123, "b": None, "event_ts": T - SEC, "v": "123,NULL"},
        {"a": 1, "b": None, "event_ts": T, "v": "1,NULL"},
    ])
    names = Table("names_t", (("first", "string"), ("last", "string"), ("event_ts", "timestamp"), ("n", "int64")), [
        {"first": "a|b", "last": "c", "event_ts": T - SEC, "n": 1},
        {"first": "a", "last": "b|c", "event_ts": T - 2 * SEC, "n": 2},
        {"first": "ab", "last": "", "event_ts": T - SEC, "n": 3},
        {"first": "", "last": "ab", "event_ts": T - 2 * SEC, "n": 4},
        {"first": "x", "last": None, "event_ts": T - SEC, "n": 5},
    ])
    spine_table = Table("spine_t", (("a", "int64"), ("b", "int64"), ("first", "string"), ("last", "string"),
                                    ("event_timestamp", "timestamp")), [
        {"a": 1, "b": 23, "first": "a", "last": "b|c", "event_timestamp": T},
        {"a": 12, "b": 3, "first": "a|b", "last": "c", "event_timestamp": T},
        {"a": 123, "b": None, "first": "", "last": "ab", "event_timestamp": T},
        {"a": 1, "b": 2, "first": "ab", "last": "", "event_timestamp": T},
        {"a": 1, "b": None, "first": "x", "last": None, "event_timestamp": T},
        {"a": None, "b": None, "first": None, "last": None, "event_timestamp": T},
    ])
    check(Case((PAIR, NAMES), (PAIR_VIEW, NAMES_VIEW), (pairs, names), spine_table,
               (Projection("pair_stats", ("v",)), Projection("name_stats", ("n",))), name="text_collisions"))


def test_no_candidate_at_all_gives_null_features(check):
    check(stats_case("no_rows", stats_table(), spine((1, T, 1), (2, T, 2))))
    check(stats_case("no_match", stats_table(
        (1, T + SEC, T, 0.1, 1, "future"), (2, T - 2 * HOUR, T, 0.2, 2, "too old"), (9, T, T, 0.3, 3, "other key"),
    ), spine((1, T, 1), (2, T, 2), (3, T, 3))))


def test_an_empty_spine_gives_no_rows(check):
    check(stats_case("empty_spine", stats_table((1, T, T, 0.1, 1, "a")), spine()))


CUSTOMER_VIEW = ViewDef("profile", ("customer",), "profile_t", (("balance", "float64"), ("segment", "string")),
                        ts="snapshot_ts", ttl=dt.timedelta(days=1))
AFFINITY_VIEW = ViewDef("affinity", ("driver", "customer"), "affinity_t", (("trips_together", "int64"),),
                        ts="last_trip_at")


def several_views_case(projections, full_feature_names=False, name="several_views") -> Case:
    profile = Table("profile_t", (("customer_id", "string"), ("snapshot_ts", "timestamp"), ("balance", "float64"),
                                  ("segment", "string")), [
        {"customer_id": "c1", "snapshot_ts": T - dt.timedelta(days=1), "balance": 10.0, "segment": "new"},
        {"customer_id": "c1", "snapshot_ts": T - dt.timedelta(days=2), "balance": 5.0, "segment": "old"},
        {"customer_id": "c2", "snapshot_ts": T - dt.timedelta(days=1, seconds=1), "balance": 7.5, "segment": "vip"},
        {"customer_id": "c2", "snapshot_ts": T - 3 * HOUR, "balance": 8.5, "segment": "vip"},
    ])
    affinity = Table("affinity_t", (("driver_id", "int64"), ("customer_id", "string"), ("last_trip_at", "timestamp"),
                                    ("trips_together", "int64")), [
        {"driver_id": 1, "customer_id": "c1", "last_trip_at": T - dt.timedelta(days=300), "trips_together": 3},
        {"driver_id": 1, "customer_id": "c2", "last_trip_at": T - HOUR, "trips_together": 1},
        {"driver_id": 2, "customer_id": "c1", "last_trip_at": T + SEC, "trips_together": 4},
    ])
    stats = stats_table((1, T - HOUR, T, 0.1, 1, "a"), (2, T - HOUR - SEC, T, 0.2, 2, "b"),
                        (2, T - 3 * HOUR, T, 0.3, 3, "c"))
    spine_table = Table("spine_t", (("driver_id", "int64"), ("customer_id", "string"),
                                    ("event_timestamp", "timestamp"), ("label", "bool")), [
        {"driver_id": 1, "customer_id": "c1", "event_timestamp": T, "label": True},
        {"driver_id": 2, "customer_id": "c1", "event_timestamp": T, "label": False},
        {"driver_id": 1, "customer_id": "c2", "event_timestamp": T, "label": None},
        {"driver_id": 2, "customer_id": "c2", "event_timestamp": T - 2 * HOUR, "label": True},
        {"driver_id": 2, "customer_id": "c1", "event_timestamp": T + dt.timedelta(days=1), "label": False},
    ])
    return Case((DRIVER, CUSTOMER), (STATS, CUSTOMER_VIEW, AFFINITY_VIEW), (stats, profile, affinity), spine_table,
                tuple(projections), full_feature_names=full_feature_names, name=name)


def test_several_views_with_different_ttls_and_keys_in_request_order(check):
    check(several_views_case([
        Projection("stats", ("trips",)), Projection("profile", ("segment", "balance")),
        Projection("affinity", ("trips_together",)), Projection("stats", ("conv",)),
    ]))


def test_mixed_strategies_in_one_request(engine, tmp_path):
    case = several_views_case([Projection("affinity", ("trips_together",)), Projection("stats", ("conv", "tier")),
                               Projection("profile", ("balance",))], name="mixed")
    graph = write_project(case, tmp_path)
    mixed = {"stats": JoinStrategy.WINDOW, "profile": JoinStrategy.RANGE, "affinity": JoinStrategy.ASOF}
    check_case(engine, case, graph, [mixed, {"stats": JoinStrategy.ASOF}])


def test_aliases_and_full_feature_names(check):
    check(several_views_case([
        Projection("stats", ("conv", "tier")), Projection("profile", ("segment",)),
    ], full_feature_names=True, name="full_names"))
    check(several_views_case([
        Projection("stats", ("conv",), alias="now"), Projection("profile", ("balance",), alias="cust"),
        Projection("stats", ("conv", "trips"), alias="again"),
    ], full_feature_names=True, name="aliases"))


def test_name_collisions_are_compile_time_errors(tmp_path):
    case = several_views_case([Projection("stats", ("conv",), alias="a"), Projection("stats", ("conv",), alias="b")],
                              name="collision")
    graph = write_project(case, tmp_path)
    with pytest.raises(DiagnosticError) as raised:
        plan_point_in_time_join(graph, spine_plan(case), case.projections)
    assert raised.value.diagnostics[0].code is Code.FEATURE_NAME_COLLISION
    spine_collision = several_views_case([Projection("stats", ("conv",))], name="spine_collision")
    spine_collision = Case(spine_collision.entities, spine_collision.views, spine_collision.tables,
                           Table("spine_t", (("driver_id", "int64"), ("event_timestamp", "timestamp"),
                                             ("conv", "float64")), []), spine_collision.projections)
    with pytest.raises(DiagnosticError):
        plan_point_in_time_join(graph, spine_plan(spine_collision), spine_collision.projections)


ZONED_COLUMNS = (("driver_id", "int64"), ("event_ts", "timestamptz"), ("created", "timestamptz"),
                 ("conv", "float64"), ("trips", "int64"), ("tier", "string"))


def test_zoned_source_and_naive_spine_compare_in_utc(check):
    # T naive is 12:00 UTC. 13:30+02:00 is 11:30 UTC (inside the hour); 07:00-05:00 is 12:00 UTC (at T).
    check(stats_case("zoned_source", stats_table(
        (1, dt.datetime(2024, 3, 10, 13, 30, tzinfo=PLUS2), dt.datetime(2024, 3, 10, 13, 30, tzinfo=PLUS2),
         0.1, 1, "11:30Z"),
        (1, dt.datetime(2024, 3, 10, 12, 30, tzinfo=UTC), dt.datetime(2024, 3, 10, 12, 30, tzinfo=UTC),
         0.9, 9, "12:30Z: future"),
        (2, dt.datetime(2024, 3, 10, 7, 0, tzinfo=MINUS5), dt.datetime(2024, 3, 10, 6, 0, tzinfo=MINUS5),
         0.2, 2, "12:00Z, created 11:00Z"),
        (2, dt.datetime(2024, 3, 10, 14, 0, tzinfo=PLUS2), dt.datetime(2024, 3, 10, 10, 30, tzinfo=UTC),
         0.3, 3, "12:00Z, created 10:30Z"),
        (3, dt.datetime(2024, 3, 10, 12, 59, 59, tzinfo=PLUS2), None, 0.4, 4, "10:59:59Z: past the ttl"),
        (3, dt.datetime(2024, 3, 10, 13, 0, 0, tzinfo=PLUS2), None, 0.5, 5, "11:00Z: at the ttl"),
        columns=ZONED_COLUMNS), spine((1, T, 1), (2, T, 2), (3, T, 3))))


def test_zoned_spine_and_naive_source_compare_in_utc(check):
    columns = (("driver_id", "int64"), ("event_timestamp", "timestamptz"), ("label", "int64"))
    check(stats_case("zoned_spine", stats_table(
        (1, T - HOUR, T, 0.1, 1, "11:00Z"),
        (1, T, T, 0.2, 2, "12:00Z"),
        (2, T + HOUR, T, 0.3, 3, "13:00Z"),
    ), spine(
        (1, dt.datetime(2024, 3, 10, 14, 0, tzinfo=PLUS2), 1),    # 12:00Z
        (1, dt.datetime(2024, 3, 10, 6, 0, tzinfo=MINUS5), 2),    # 11:00Z
        (1, dt.datetime(2024, 3, 10, 12, 59, 59, tzinfo=PLUS2), 3),  # 10:59:59Z: before any row
        (2, dt.datetime(2024, 3, 10, 8, 0, tzinfo=MINUS5), 4),    # 13:00Z
        (2, dt.datetime(2024, 3, 10, 14, 0, tzinfo=UTC), 5),      # 14:00Z: 13:00Z is at the ttl
        (2, dt.datetime(2024, 3, 10, 14, 0, 1, tzinfo=UTC), 6),   # one second past
        columns=columns)))


def test_spine_rows_with_a_null_timestamp_get_null_features(check):
    check(stats_case("null_spine_ts", stats_table((1, T - SEC, T, 0.1, 1, "a"), (2, T, T, 0.2, 2, "b")),
                     spine((1, None, 1), (1, T, 2), (2, None, 3), (None, None, 4))))


def test_source_rows_with_a_null_event_timestamp_are_never_chosen(check):
    check(stats_case("null_event_ts", stats_table(
        (1, None, T + HOUR, 0.9, 9, "no time"), (1, T - SEC, T, 0.1, 1, "a"), (2, None, T, 0.2, 2, "no time"),
    ), spine((1, T, 1), (2, T, 2), (2, None, 3))))


def test_field_mapping_renames_keys_features_and_timestamps(check):
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, ts="happened", created="created", ttl=HOUR,
                   field_mapping=(("drv", "driver_id"), ("conversion", "conv"), ("tier_code", "tier"),
                                  ("when_utc", "happened")))
    columns = (("drv", "int64"), ("when_utc", "timestamp"), ("created", "timestamp"),
               ("conversion", "float64"), ("trips", "int64"), ("tier_code", "string"))
    check(stats_case("field_mapping", stats_table(
        (1, T - SEC, T, 0.1, 1, "a"), (1, T - SEC, T, 0.2, 0, "b"), (2, T - 2 * HOUR, T, 0.3, 3, "old"),
        columns=columns), spine((1, T, 1), (2, T, 2)), view=view))


def test_a_spine_with_other_timestamp_name_and_extra_columns(check):
    columns = (("label", "string"), ("ts", "timestamp"), ("driver_id", "int64"), ("weight", "float64"))
    check(stats_case("spine_shape", stats_table((1, T - SEC, T, 0.1, 1, "a")),
                     spine(("x", T, 1, 1.5), ("y", T, 2, None), columns=columns), spine_ts="ts"))


def test_a_fractional_ttl_is_refused_not_truncated(tmp_path):
    """The SQL works in whole seconds (every dialect's ttl arithmetic takes an integer); a ttl of 1.5s
    used to become 1s silently, dropping rows 1.2s old. The parser refuses it, at the ttl's line."""
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created",
                   ttl=dt.timedelta(seconds=1.5))
    case = stats_case("fractional_ttl", stats_table(), spine(), view=view)
    with pytest.raises(DiagnosticError) as raised:
        write_project(case, tmp_path)
    [problem] = raised.value.diagnostics
    assert problem.code is Code.BAD_DURATION and "stats" in problem.message and "whole" in problem.message


def test_spine_order_holds_for_a_large_spine(engine, strategy, tmp_path):
    n = 30_000
    case = stats_case("large_spine", stats_table(*[(k, T - k * SEC, T, k / 10, k, str(k)) for k in range(50)]),
                      Table("spine_t", SPINE_COLUMNS, [
                          {"driver_id": (i * 7919) % 60, "event_timestamp": T - ((i * 104729) % 4000) * SEC,
                           "label": i} for i in range(n)]))
    engine.load_case(case)
    names, rows = engine.query(compile_case(write_project(case, tmp_path), case, engine.dialect, strategy))
    assert [r["label"] for r in rows] == list(range(n))
    head = Case(case.entities, case.views, case.tables, Table("spine_t", SPINE_COLUMNS, case.spine.rows[:300]),
                case.projections)
    assert_same_rows((names, rows[:300]), expected(head), "the first 300 rows of a large spine")


def test_postgres_lowers_asof_to_the_window_plan(tmp_path):
    case = several_views_case([Projection("stats", ("conv",)), Projection("profile", ("balance",))])
    graph = write_project(case, tmp_path)
    assert compile_case(graph, case, "postgres", JoinStrategy.ASOF) == \
        compile_case(graph, case, "postgres", JoinStrategy.WINDOW)
    assert "ASOF" in compile_case(graph, case, "duckdb", JoinStrategy.ASOF)


# -- latest values (materialization) ---------------------------------------------------------------

def latest_case() -> Case:
    return several_views_case([Projection("stats", ("conv",))], name="latest")


LATEST_ROWS = stats_table(
    (1, T - HOUR, T, 0.1, 1, "at start"),
    (2, T, T, 0.2, 2, "at end"),
    (2, T - SEC, T + HOUR, 0.3, 3, "older event, later created"),
    (3, T + SEC, T, 0.4, 4, "after end"),
    (3, T - HOUR - SEC, T, 0.5, 5, "before start"),
    (4, T - SEC, T, 0.6, 6, "created wins"),
    (4, T - SEC, T + SEC, 0.0, 0, "created wins"),
    (4, T - SEC, None, 0.9, 9, "NULL created loses"),
    (5, T - SEC, T, 0.5, 1, "z"),
    (5, T - SEC, T, 0.5, 2, "a"),   # full tie: trips decides
    (None, T - SEC, T, 0.7, 7, "NULL key"),
    (6, None, T, 0.8, 8, "NULL event time"),
)


@pytest.mark.parametrize("bounds", [
    (T - HOUR, T),
    (T - HOUR + SEC, T - SEC),
    ((T - HOUR).replace(tzinfo=UTC), T.replace(tzinfo=UTC).astimezone(PLUS2)),
    (T + dt.timedelta(days=1), T + dt.timedelta(days=2)),
], ids=["inclusive", "narrower", "zoned", "empty"])
def test_latest_values_match_the_reference(engine, tmp_path, bounds):
    base = latest_case()
    case = Case(base.entities, base.views, (LATEST_ROWS, *base.tables[1:]), base.spine, base.projections)
    check_latest(engine, case, write_project(case, tmp_path), "stats", *bounds)


def test_latest_values_with_multi_key_entities_and_field_mapping(engine, tmp_path):
    view = ViewDef("pair_stats", ("pair",), "pair_t", (("v", "string"), ("w", "int64")), created="made",
                   field_mapping=(("raw_v", "v"), ("key_b", "b")))
    table = Table("pair_t", (("a", "int64"), ("key_b", "int64"), ("event_ts", "timestamp"), ("made", "timestamp"),
                             ("raw_v", "string"), ("w", "int64")), [
        {"a": 1, "key_b": 23, "event_ts": T, "made": None, "raw_v": "x", "w": 1},
        {"a": 12, "key_b": 3, "event_ts": T - SEC, "made": T, "raw_v": "y", "w": 2},
        {"a": 12, "key_b": 3, "event_ts": T - SEC, "made": T, "raw_v": "y", "w": 3},
        {"a": 1, "key_b": None, "event_ts": T, "made": T, "raw_v": "null b", "w": 4},
    ])
    case = Case((PAIR,), (view,), (table,), spine(), (Projection("pair_stats", ("v",)),))
    check_latest(engine, case, write_project(case, tmp_path), "pair_stats", T - HOUR, T)


def test_latest_values_full_ties_agree_with_the_training_join(engine, tmp_path):
    """Consistency (§3): what materialization gives a key in a full tie is what a training set gives that key
    at the end of the window, whatever features the training request names: each feature's greatest."""
    table = stats_table((1, T, T, 0.5, 1, "z"), (1, T, T, 0.9, 0, "a"), (1, T, T, NAN, None, None))
    graph = write_project(stats_case("consistency", table, spine((1, T, 1))), tmp_path)
    from fcompile.planner.point_in_time import plan_latest_values
    latest_sql = compile_sql(plan_latest_values(graph, graph.feature_view("stats")), engine.dialect)
    for features in (("tier",), ("trips", "conv"), ("conv", "trips", "tier")):
        case = stats_case("consistency", table, spine((1, T, 1)), features=features)
        engine.load_case(case)
        _, trained = engine.query(compile_sql(plan_point_in_time_join(graph, spine_plan(case), case.projections,
                                                                      strategy=JoinStrategy.RANGE), engine.dialect))
        _, latest = engine.query(latest_sql, {"start": T - HOUR, "end": T})
        greatest = {"conv": NAN, "trips": 1, "tier": "z"}
        for name in features:
            assert str(trained[0][name]) == str(latest[0][name]) == str(greatest[name]), (features, name)


def test_duckdb_results_do_not_depend_on_the_session_null_order(duckdb_engine, tmp_path):
    duckdb_engine.con.execute("SET default_null_order = 'nulls_first'")
    case = stats_case("null_order", stats_table(
        (1, T - SEC, T, 0.1, 1, "a"), (1, T - SEC, None, 0.9, 9, "NULL created loses"),
    ), spine((1, T, 1)))
    check_case(duckdb_engine, case, write_project(case, tmp_path), [JoinStrategy.RANGE])


def test_array_and_timestamp_features_in_full_ties(check):
    """Arrays pass through every plan; in a full tie each feature takes the greatest of the tied values (the
    tied arrays here are equal: test_full_ties_of_differing_arrays compares them)."""
    view = ViewDef("stats", ("driver",), "stats_t", (("tags", "array<int64>"), ("seen_at", "timestamp"),
                                                     ("trips", "int64")), created="created", ttl=HOUR)
    columns = (("driver_id", "int64"), ("event_ts", "timestamp"), ("created", "timestamp"),
               ("tags", "array<int64>"), ("seen_at", "timestamp"), ("trips", "int64"))
    check(stats_case("arrays", stats_table(
        (1, T, T, [9, 9, 9], T - HOUR, 5),
        (1, T, T, [9, 9, 9], T, 1),         # the later seen_at, trips 5
        (2, T, T, None, None, 7),
        (2, T, T, [], T, 0),                # [], seen_at T, 7: NULL is lowest
        (3, T - SEC, T, [3, None], None, None),
        columns=columns), spine((1, T, 1), (2, T, 2), (3, T, 3), (4, T, 4)), view=view,
        features=("trips", "tags", "seen_at")))


def test_full_ties_of_differing_arrays(check):
    """Where the warehouse orders arrays (DuckDB, PostgreSQL, Spark), a full tie of differing arrays gives the
    greatest, element by element, a prefix before the longer array (BigQuery and Snowflake cannot order
    arrays: they give any one of them, docs/concepts/point-in-time.md)."""
    view = ViewDef("stats", ("driver",), "stats_t", (("tags", "array<int64>"),), created="created", ttl=HOUR)
    columns = (("driver_id", "int64"), ("event_ts", "timestamp"), ("created", "timestamp"), ("tags", "array<int64>"))
    check(stats_case("array_ties", stats_table(
        (1, T, T, [9, 9, 9]), (1, T, T, [10]), (1, T, T, [1, 2, 3, 4]),
        (2, T, T, [1]), (2, T, T, [1, 0]), (2, T, T, None),
        (3, T, T, []), (3, T, T, None),
        columns=columns), spine((1, T, 1), (2, T, 2), (3, T, 3)), view=view, features=("tags",)))


def test_query_sources(check):
    view = ViewDef("stats", ("driver",), "stats_t", STATS_FEATURES, created="created", ttl=HOUR,
                   query="SELECT driver_id, event_ts, created, conv * 2 AS conv, trips, tier FROM stats_t "
                         "WHERE tier <> 'hidden'")
    table = stats_table((1, T - SEC, T, 0.1, 1, "a"), (1, T, T, 0.2, 2, "hidden"), (2, T, T, 0.3, 3, "b"))
    yielded = [{**row, "conv": row["conv"] * 2} for row in table.rows if row["tier"] != "hidden"]
    check(stats_case("query_source", table, spine((1, T, 1), (2, T, 2)), view=view,
                     source_rows={"stats": yielded}))
