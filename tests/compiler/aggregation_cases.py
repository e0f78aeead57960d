"""Hand-written and randomized windowed-aggregation cases (docs/concepts/aggregations.md), shared by the DuckDB
tests of tests/compiler/ and the engine conformance suite of tests/engines/."""

from __future__ import annotations

import datetime as dt
import random

from fcompile.graph import Projection

from compiler.aggregation_harness import Agg, AggCase, AggViewDef
from compiler.harness import EntityDef, Table

US = dt.timedelta(microseconds=1)
SEC = dt.timedelta(seconds=1)
MIN = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
E = dt.datetime(2024, 3, 10, 12, 0, 0)  # a step boundary of 15m, 1h and 1d alike (and of 2d: 2024-03-10 is even)

DRIVER = EntityDef("driver", (("driver_id", "int64"),))
ROUTE = EntityDef("route", (("city", "string"), ("zone", "int64")))
TRIP_COLUMNS = (("driver_id", "int64"), ("event_ts", "timestamp"), ("created", "timestamp"), ("fare", "float64"),
                ("km", "int64"), ("tier", "string"))
SPINE_COLUMNS = (("driver_id", "int64"), ("event_timestamp", "timestamp"), ("label", "int64"))

ALL_FUNCTIONS = ("count", "count_fare", "sum", "sum_km", "avg", "min", "max", "stddev", "variance", "last",
                 "max_tier", "min_ts")


def table(name, columns, *rows) -> Table:
    return Table(name, columns, [dict(zip([c for c, _ in columns], r)) for r in rows])


def trips(*rows) -> Table:
    return table("trips_t", TRIP_COLUMNS, *rows)


def spine(*rows, columns=SPINE_COLUMNS) -> Table:
    return table("spine_t", columns, *rows)


def every_function(window: dt.timedelta, suffix: str = "") -> tuple[Agg, ...]:
    return (
        Agg(f"n{suffix}", "count", None, window),
        Agg(f"n_fare{suffix}", "count", "fare", window),
        Agg(f"fare_sum{suffix}", "sum", "fare", window),
        Agg(f"km_sum{suffix}", "sum", "km", window),
        Agg(f"fare_avg{suffix}", "avg", "fare", window),
        Agg(f"fare_min{suffix}", "min", "fare", window),
        Agg(f"km_max{suffix}", "max", "km", window),
        Agg(f"fare_std{suffix}", "stddev", "fare", window),
        Agg(f"km_var{suffix}", "variance", "km", window),
        Agg(f"last_fare{suffix}", "last", "fare", window),
        Agg(f"tier_max{suffix}", "max", "tier", window),
        Agg(f"tier_last{suffix}", "last", "tier", window),
    )


def trips_case(name: str, rows: Table, spine_rows: Table, step: dt.timedelta, aggregates: tuple[Agg, ...],
               features: tuple[str, ...] | None = None, created: str | None = "created", **kw) -> AggCase:
    view = AggViewDef("trip_windows", ("driver",), rows, step, aggregates, created=created)
    wanted = features or tuple(a.name for a in aggregates)
    return AggCase(name, (DRIVER,), (view,), spine_rows, (Projection(view.name, wanted),), **kw)


# -- hand-written -----------------------------------------------------------------------------------------

def case_window_bounds() -> AggCase:
    """Events at e - window, at e, and one microsecond either side of each; spine times on a step boundary,
    one microsecond before it, and inside a step."""
    w = 2 * HOUR
    rows = trips(
        (1, E - w - US, E, 1.0, 1, "a"),   # just before the window of t = E
        (1, E - w, E, 2.0, 2, "b"),        # the window's first microsecond: in
        (1, E - w + US, E, 4.0, 4, "c"),
        (1, E - US, E, 8.0, 8, "d"),       # the window's last microsecond: in
        (1, E, E, 16.0, 16, "e"),          # at e: out (the window ends before e)
        (1, E + US, E, 32.0, 32, "f"),
    )
    return trips_case("window_bounds", rows, spine(
        (1, E, 1),                  # e = E
        (1, E - US, 2),             # e = E - 1h: the window [E - 3h, E - 1h)
        (1, E + 30 * MIN, 3),       # e = E still
        (1, E + HOUR, 4),           # e = E + 1h: [E - 1h, E + 1h)
        (1, E + HOUR - US, 5),      # e = E
    ), HOUR, every_function(w) + (Agg("n_1h", "count", None, HOUR), Agg("sum_1h", "sum", "km", HOUR)))


def case_nulls_and_empty_windows() -> AggCase:
    """NULL values are ignored except by count without a column; an empty window gives count 0 and NULL for
    the others; so does an entity without rows, a NULL key and a NULL time."""
    rows = trips(
        (1, E - 30 * MIN, E, None, None, None),
        (1, E - 20 * MIN, E, 3.0, 3, "x"),
        (1, E - 10 * MIN, E, None, None, None),    # the newest row, but NULL: last skips it
        (2, E - 10 * MIN, E, None, None, None),    # only NULLs
        (3, E - 5 * HOUR, E, 5.0, 5, "y"),         # outside every window
        (None, E - 10 * MIN, E, 7.0, 7, "z"),       # a NULL key belongs to no entity
    )
    return trips_case("nulls", rows, spine((1, E, 1), (2, E, 2), (3, E, 3), (4, E, 4), (None, E, 5), (1, None, 6)),
                      HOUR, every_function(HOUR))


def case_duplicates_and_spine_order() -> AggCase:
    """Two identical events both count; duplicate spine rows stay, in the spine's order."""
    rows = trips(
        (1, E - 10 * MIN, E, 2.5, 2, "a"),
        (1, E - 10 * MIN, E, 2.5, 2, "a"),
        (1, E - 40 * MIN, E, 1.5, 1, "b"),
        (2, E - 50 * MIN, E, 9.0, 9, "c"),
    )
    return trips_case("duplicates", rows, spine((2, E, 1), (1, E, 2), (1, E, 2), (2, E + MIN, 3), (1, E, 2)),
                      HOUR, every_function(HOUR))


def case_last_ties() -> AggCase:
    """last: the newest row of the window; equal event times go to the newest created time, equal created
    times to the greatest value (the point-in-time join's rule)."""
    rows = trips(
        (1, E - 10 * MIN, E - 5 * MIN, 1.0, 1, "created_late"),
        (1, E - 10 * MIN, E - 9 * MIN, 9.0, 9, "created_early"),
        (2, E - 10 * MIN, E, 1.0, 1, "b"),
        (2, E - 10 * MIN, E, 3.0, 3, "a"),          # full tie: the greatest of each column
        (3, E - 10 * MIN, None, 4.0, 4, "null_created"),
        (3, E - 10 * MIN, E - 20 * MIN, 5.0, 5, "old_created"),   # a created time beats NULL
    )
    return trips_case("last_ties", rows, spine((1, E, 1), (2, E, 2), (3, E, 3)), HOUR,
                      (Agg("last_fare", "last", "fare", HOUR), Agg("tier_last", "last", "tier", HOUR),
                       Agg("km_last", "last", "km", HOUR)))


def case_steps(step: dt.timedelta, window: dt.timedelta) -> AggCase:
    """A step and window of their own; events placed around step boundaries, a spine time on one."""
    rows = []
    for i in range(-6, 3):
        at = E + i * step
        rows += [(1, at - US, E, float(i), i, f"t{i + 10}"), (1, at, E, i + 0.5, 2 * i, f"u{i + 10}"),
                 (2, at + step // 2, E, 1.0 / (i + 7), i * i, "v")]
    spine_rows = spine(*[(k, E + j * step + off, j) for k in (1, 2) for j in (-2, 0, 1)
                         for off in (dt.timedelta(0), step // 3)])
    return trips_case(f"step_{int(step.total_seconds())}s", trips(*rows), spine_rows, step,
                      every_function(window) + (Agg("n_step", "count", None, step),))


def case_before_1970() -> AggCase:
    """Steps floor before the epoch too: e = floor(t / step) * step for a negative t."""
    t = dt.datetime(1969, 12, 30, 5, 0, 0)
    rows = trips((1, t - HOUR, t, 1.0, 1, "a"), (1, dt.datetime(1969, 12, 29, 23, 0, 0), t, 2.0, 2, "b"),
                 (1, dt.datetime(1969, 12, 28, 0, 0, 0) - US, t, 4.0, 4, "c"))
    return trips_case("before_1970", rows, spine((1, t, 1), (1, dt.datetime(1970, 1, 1, 0, 0, 0), 2)), 2 * DAY,
                      (Agg("n", "count", None, 2 * DAY), Agg("n4", "count", None, 4 * DAY),
                       Agg("s4", "sum", "km", 4 * DAY)))


def case_large_values_variance() -> AggCase:
    """Values with a common offset a million times their spread: the variance keeps its digits to 1e-9, as
    merged moments do (their error grows with offset/spread), where a sum of squares minus N*mean^2 would lose
    about 1e-4 of it (its error grows with the square of offset/spread)."""
    rows = trips(*[(1, E - k * 7 * MIN - US, E, 1e6 + k % 4 + 0.25, 10**6 + k % 3, "a") for k in range(1, 30)])
    return trips_case("large_values", rows, spine((1, E, 1), (1, E - HOUR, 2)), 15 * MIN,
                      (Agg("fare_var", "variance", "fare", 3 * HOUR), Agg("fare_std", "stddev", "fare", 2 * HOUR),
                       Agg("km_var", "variance", "km", 3 * HOUR), Agg("fare_avg", "avg", "fare", 3 * HOUR),
                       Agg("km_sum", "sum", "km", 3 * HOUR)))


def case_huge_offsets() -> AggCase:
    """Adversarial moments: values 1e12 apart from zero and about 1 apart from each other (a float64 mean of a
    step is off by up to 1e-4 of that spread, so a merge of the steps' float means would be too), integers
    of 10**15 + a few; and a key whose window of small values follows a history of huge ones (a window
    across both, too). Variances and deviations agree with the exact ones within 1e-9."""
    rng = random.Random(16)
    rows = [(1, E - k * 7 * MIN - US, E, 1e12 + round(rng.gauss(0, 1), 6), 10**15 + k % 5, "a") for k in range(1, 40)]
    rows += [(2, E - 4 * HOUR - k * 5 * MIN, E, 1e12 + round(rng.gauss(0, 1), 6), 10**15 + k % 3, "b")
             for k in range(1, 20)]
    rows += [(2, E - k * 6 * MIN, E, 0.5 + round(rng.gauss(0, 1), 6), k % 4, "c") for k in range(1, 20)]
    aggs = (Agg("fare_var", "variance", "fare", 3 * HOUR), Agg("fare_std", "stddev", "fare", 2 * HOUR),
            Agg("fare_std_6h", "stddev", "fare", 6 * HOUR), Agg("km_var", "variance", "km", 3 * HOUR),
            Agg("km_std_6h", "stddev", "km", 6 * HOUR), Agg("fare_avg", "avg", "fare", 3 * HOUR),
            Agg("fare_sum", "sum", "fare", 3 * HOUR))
    return trips_case("huge_offsets", trips(*rows), spine((1, E, 1), (1, E - HOUR, 2), (2, E, 3), (2, E - 2 * HOUR, 4),
                                                         (2, E - 4 * HOUR, 5), (2, E + HOUR, 6)), 15 * MIN, aggs)


def case_multi_column_keys() -> AggCase:
    """A key of two columns: rows match only when both are equal."""
    columns = (("city", "string"), ("zone", "int64"), ("event_ts", "timestamp"), ("amount", "float64"))
    rows = table("rides_t", columns, ("a", 1, E - MIN, 1.0), ("a", 2, E - MIN, 2.0), ("b", 1, E - MIN, 4.0),
                 ("a", 1, E - 2 * MIN, 8.0), ("a", None, E - MIN, 16.0))
    view = AggViewDef("route_windows", ("route",), rows, 15 * MIN,
                      (Agg("rides", "count", None, HOUR), Agg("amount", "sum", "amount", HOUR)))
    spine_rows = table("spine_t", (("city", "string"), ("zone", "int64"), ("event_timestamp", "timestamp")),
                       ("a", 1, E), ("a", 2, E), ("b", 2, E), ("a", None, E), ("b", 1, E + MIN))
    return AggCase("multi_column_keys", (ROUTE,), (view,), spine_rows,
                   (Projection("route_windows", ("rides", "amount")),))


def case_mixed_with_plain_features() -> AggCase:
    """Aggregated and plain features of the same view and of another view in one request, under full feature
    names and an alias."""
    rows = trips((1, E - 10 * MIN, E, 2.0, 2, "a"), (1, E - 70 * MIN, E, 3.0, 3, "b"), (2, E + MIN, E, 5.0, 5, "c"))
    windows = AggViewDef("trip_windows", ("driver",), rows, HOUR,
                         (Agg("n", "count", None, HOUR), Agg("fare_sum", "sum", "fare", 2 * HOUR)),
                         plain=(("tier", "string"), ("fare", "float64")), created="created")
    other_rows = table("other_t", (("driver_id", "int64"), ("event_ts", "timestamp"), ("rating", "float64")),
                       (1, E - DAY, 4.5), (2, E - DAY, 3.5))
    other = AggViewDef("ratings", ("driver",), other_rows, DAY, (Agg("ratings_7d", "count", None, 7 * DAY),),
                       plain=(("rating", "float64"),))
    return AggCase("mixed", (DRIVER,), (windows, other), spine((2, E + 2 * MIN, 1), (1, E, 2), (3, E, 3)),
                   (Projection("trip_windows", ("fare_sum", "tier")), Projection("ratings", ("rating", "ratings_7d")),
                    Projection("trip_windows", ("n", "fare"), alias="tw")), full_feature_names=True)


HAND_WRITTEN = {
    "window_bounds": case_window_bounds,
    "nulls": case_nulls_and_empty_windows,
    "duplicates": case_duplicates_and_spine_order,
    "last_ties": case_last_ties,
    "step_15m": lambda: case_steps(15 * MIN, HOUR),
    "step_1h": lambda: case_steps(HOUR, 3 * HOUR),
    "step_1d": lambda: case_steps(DAY, 2 * DAY),
    "step_2d": lambda: case_steps(2 * DAY, 6 * DAY),
    "before_1970": case_before_1970,
    "large_values": case_large_values_variance,
    "huge_offsets": case_huge_offsets,
    "multi_column_keys": case_multi_column_keys,
    "mixed": case_mixed_with_plain_features,
}


# -- randomized ---------------------------------------------------------------------------------------------

def random_case(seed: int, events: int = 80, spine_rows: int = 40) -> AggCase:
    """Small seeded data: a few keys, times near step boundaries (and on them), NULLs, duplicates, ties."""
    rng = random.Random(seed)
    step = rng.choice([15 * MIN, HOUR, DAY])
    span = 6 * step
    def when() -> dt.datetime:
        base = E - span + rng.randrange(8) * step
        return base + rng.choice([dt.timedelta(0), US, -US, step // 2, rng.randrange(int(step / US)) * US])
    rows = []
    for _ in range(events):
        fare = None if rng.random() < 0.15 else round(rng.uniform(-50, 200), 3)
        km = None if rng.random() < 0.15 else rng.randrange(-5, 100)
        tier = None if rng.random() < 0.15 else rng.choice("abcde")
        created = None if rng.random() < 0.1 else E - rng.randrange(3) * MIN
        row = (rng.randrange(1, 5), when(), created, fare, km, tier)
        rows.append(row)
        if rng.random() < 0.1:
            rows.append(row)  # a duplicate
    windows = [step * rng.randrange(1, 7) for _ in range(3)]
    aggs = tuple(a for i, w in enumerate(windows) for a in every_function(w, f"_{i}"))
    keys = [1, 2, 3, 4, 5, None]  # 5: no events; None: matches nothing
    spine_table = spine(*[(rng.choice(keys if k else [1, 2]), when() + rng.choice([dt.timedelta(0), span // 3]), k)
                          for k in range(spine_rows)])
    return trips_case(f"random_{seed}", trips(*rows), spine_table, step, aggs)


def random_large_offset_case(seed: int, events: int = 120, spine_rows: int = 30) -> AggCase:
    """Seeded data whose values sit far from zero (1e9 or 1e12 for floats, 10**12 or 10**15 for integers)
    with a spread of about 1 to 10: the moments' adversarial case, with NULLs and empty windows."""
    rng = random.Random(seed)
    step = rng.choice([15 * MIN, HOUR])
    span = 8 * step
    offset, spread = rng.choice([1e9, 1e12]), rng.choice([1.0, 10.0])
    km_offset = rng.choice([10**12, 10**15])
    rows = []
    for _ in range(events):
        when = E - span + rng.randrange(int(span / US)) * US
        fare = None if rng.random() < 0.1 else offset + round(rng.gauss(0, spread), 4)
        km = None if rng.random() < 0.1 else km_offset + rng.randrange(0, 12)
        rows.append((rng.randrange(1, 4), when, E, fare, km, "a"))
    windows = sorted({step * rng.randrange(1, 8) for _ in range(3)})
    aggs = tuple(a for i, w in enumerate(windows) for a in (
        Agg(f"fare_std_{i}", "stddev", "fare", w), Agg(f"fare_var_{i}", "variance", "fare", w),
        Agg(f"km_std_{i}", "stddev", "km", w), Agg(f"fare_avg_{i}", "avg", "fare", w),
        Agg(f"fare_sum_{i}", "sum", "fare", w)))
    spine_table = spine(*[(rng.choice([1, 2, 3, 4]), E - rng.randrange(int(span / US)) * US + step, k)
                          for k in range(spine_rows)])
    return trips_case(f"large_offset_{seed}", trips(*rows), spine_table, step, aggs)
