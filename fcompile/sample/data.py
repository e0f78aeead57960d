"""Deterministic data for the sample project, generated with DuckDB.

Why not `random()`: the sample is used by tests and benchmarks that compare outputs across runs and machines,
so every value is a pure function of (row number, seed). A small integer mixer (`fc_hash`, below) stands in
for a random generator; because it has no state, DuckDB may compute rows in any order and on any number of
threads and still produce the same table. DuckDB's own `hash()` is avoided because its output is not promised
to stay the same across DuckDB versions.

Why SQL text here although fcompile builds SQL as sqlglot trees elsewhere: this is fixed, internal SQL with no
user identifiers; the only values spliced in are integers validated in this module. File paths never enter
the SQL text: relations are written with DuckDB's `write_parquet`.

All timestamps are `TIMESTAMPTZ` (Parquet: timestamp, adjusted to UTC) inside a window that ends at `as_of`
(floored to the minute), never at the moment the code runs: the same seed, scale and `as_of` always give the
same data. `fcompile init` passes the time it runs, so the sample is live: its newest hourly rows are an hour
old, and stay within their 2h ttl for at least an hour (the hourly grid is counted back from `as_of`, not
from the clock's hours, so it never turns stale at the top of the next hour). The
Python default is the fixed `DEFAULT_AS_OF`, which tests and benchmarks rely on. Nothing is later than
`as_of`: no event time, no snapshot, no `created` time (a correction that would arrive after `as_of` has not
arrived yet) and no order.

Fresh at `as_of` (what `fcompile init` followed by a bare `fcompile materialize` and a read with no `--now`
shows as PRESENT for an hour after `as_of`), at every seed and scale:
- every driver has a `driver_stats` row for the last hour, `as_of - 1h` (the gaps skip it), inside the
  2h ttl of `driver_hourly_stats`; and a `driver_profile` snapshot (no ttl);
- every customer has a `customer_profile` snapshot at most a day old (ttl 2 days);
- every regular driver-customer pair was updated within the last 3.5 days (ttl 1 week); the first driver,
  1001, always rides with customer C00000001, so (1001, C00000001) is a pair to show.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from fcompile.parser.seeds import SEEDS_FOLDER

if TYPE_CHECKING:
    import duckdb

DEFAULT_AS_OF = datetime(2025, 1, 15, tzinfo=UTC)
"""Where the data ends when no `as_of` is given (tests and benchmarks): a fixed hour, never "now"."""
WINDOW_DAYS = 14
"""Length of the feature data window, which ends at `as_of`. Orders start one day before it and end at `as_of`."""
WINDOW_START = DEFAULT_AS_OF - timedelta(days=WINDOW_DAYS)
"""First hour of feature data (inclusive) for `DEFAULT_AS_OF`."""
SPINE_MARGIN_DAYS = 1

DRIVERS_PER_SCALE = 100
CUSTOMERS_PER_SCALE = 500
ORDERS_PER_SCALE = 5_000
MAX_PAIRS_PER_DRIVER = 10
TRIP_EVENTS_PER_PAIR = 4
TRIPS_PER_SCALE = 20_000
"""Trips over the feature window: about 14 per driver and day at the default 100 drivers."""
MAX_SCALE = 10_000.0
"""Keeps every hashed row number (at most 2 * drivers * hours) below 2**32, the mixer's input width."""

GAP_RATE = 0.02
"""Share of driver hours with no statistics row (driver offline), so the 2h ttl matters."""
CORRECTION_RATE = 0.01
"""Share of driver hours re-sent later with the same event time and a later `created`."""
PAIRED_ORDER_RATE = 0.6
"""Share of orders placed between a driver and one of their regular customers."""
ON_THE_HOUR_RATE = 0.02
MISSING_DISTANCE_RATE = 0.02
"""Share of trips whose distance was not recorded (NULL), so aggregations that skip NULLs are exercised."""
"""Share of orders placed exactly on an hour of the statistics' grid (counted back from `as_of`), at the
event time of a `driver_stats` row, so inclusive time bounds are exercised."""

_MASK = 0xFFFF_FFFF  # The mixer works on 32-bit values held in BIGINT; products stay below 2**63.

_MIXER_MACROS = """
CREATE TEMP MACRO fc_seeded(k, salt) AS
    (CAST(k AS BIGINT) * 668265263 + CAST(salt AS BIGINT) * 374761393 + {seed}) & {mask};
CREATE TEMP MACRO fc_mix(x) AS (xor(x >> 16, x) * 73244475) & {mask};
CREATE TEMP MACRO fc_hash(k, salt) AS
    xor(fc_mix(fc_mix(fc_seeded(k, salt))) >> 16, fc_mix(fc_mix(fc_seeded(k, salt))));
CREATE TEMP MACRO fc_unit(k, salt) AS (fc_hash(k, salt) / 4294967296.0);
CREATE TEMP MACRO fc_ts(epoch_seconds) AS to_timestamp(epoch_seconds);
CREATE TEMP MACRO fc_customer_id(c) AS ('C' || lpad(CAST(c + 1 AS VARCHAR), 8, '0'));
CREATE TEMP MACRO fc_driver_id(d) AS CAST(1001 + d AS BIGINT);
CREATE TEMP MACRO fc_driver_quality(d) AS fc_unit(d, 1);
CREATE TEMP MACRO fc_pair_customer(d, slot) AS
    ((CASE WHEN d = 0 THEN 0 ELSE fc_hash(d, 2) END) + slot * {pair_stride}) % {customers};
"""
"""Helpers shared by all tables.

`fc_hash(k, salt)` is a 32-bit integer hash of the row number `k`, a per-column `salt` and the seed: two
xor-shift-multiply rounds and a final xor-shift, each a bijection on 32-bit values. Row numbers stay below
2**32 (see MAX_SCALE), so distinct rows never share an input; seeds are taken modulo 2**32. `fc_unit` scales
the hash to [0, 1). Hashes sit in projections rather than in WHERE or CASE where possible: DuckDB expands
macros inline and only de-duplicates the repeated sub-expressions inside projections, which makes that a
several-fold difference at scale. Salts 1 and 2 are per-driver traits shared by several tables, so a driver's
quality drives both its statistics and whether its orders complete. The first driver's regular customers start
at the first customer, so the pair (1001, C00000001) exists at every seed and scale."""

_DRIVER_STATS = """
WITH hours AS (
    SELECT range AS k, range // {drivers} AS hour_index, range % {drivers} AS d
    FROM range({drivers} * {hours})
    WHERE fc_unit(range, 10) >= {gap_rate} OR range // {drivers} = {hours} - 1
),
drawn AS (
    SELECT k, hour_index, d, fc_driver_quality(d) AS quality, fc_unit(k, 11) < {correction_rate} AS corrected
    FROM hours
),
revisions AS (
    SELECT drawn.*, revision FROM drawn CROSS JOIN (VALUES (0), (1)) AS r(revision) WHERE revision = 0 OR corrected
)
SELECT
    fc_driver_id(d) AS driver_id,
    fc_ts({start} + hour_index * 3600) AS event_timestamp,
    fc_ts({start} + hour_index * 3600 + 60 + fc_hash(k, 12) % 840 + revision * (3540 + fc_hash(k, 13) % 6360))
        AS created,
    round(least(1.0, 0.05 + 0.6 * quality + 0.35 * fc_unit(2 * k + revision, 14)), 4) AS conversion_rate,
    round(least(1.0, 0.3 + 0.4 * quality + 0.3 * fc_unit(2 * k + revision, 15)), 4) AS acc_rate,
    CAST(5 + floor(20 * quality) + fc_hash(2 * k + revision, 16) % 6 AS BIGINT) AS avg_daily_trips,
    CAST(round(3.0 + 1.5 * quality + 0.5 * fc_unit(2 * k + revision, 17), 2) AS FLOAT) AS avg_rating
FROM revisions
WHERE {start} + hour_index * 3600 + 60 + fc_hash(k, 12) % 840 + revision * (3540 + fc_hash(k, 13) % 6360) <= {end}
"""
"""Hour `i` of the window (event time `start + i h`, the last one `as_of - 1h`) is written 1 to 15 minutes
after it; a correction comes 1 to 3 hours later, and is left out when that is after `as_of`. No gap falls in
the last hour, so every driver is fresh at `as_of`."""

_DRIVER_PROFILE = """
WITH days AS (
    SELECT range // {drivers} AS day_index, range % {drivers} AS d FROM range({drivers} * {days})
)
SELECT
    fc_driver_id(d) AS driver_id,
    fc_ts({day_start} + day_index * 86400 + 7200) AS updated_at,
    CAST(100 + fc_hash(d, 20) % 5000 + day_index * (5 + fc_hash(d, 21) % 20) AS BIGINT) AS lifetime_trip_count,
    fc_unit(d, 22) < 0.15 OR (fc_unit(d, 22) < 0.3 AND day_index >= 7) AS is_premium,
    ['economy', 'comfort', 'xl', 'green'][1 + fc_hash(d, 23) % 4] AS vehicle_class,
    fc_ts({start} - 86400 * (30 + fc_hash(d, 24) % 700) + fc_hash(d, 25) % 86400) AS onboarded_at,
    CAST(fc_ts({start} - 86400 * (30 + fc_hash(d, 24) % 700) + fc_hash(d, 25) % 86400) AS DATE) AS signup_date
FROM days
WHERE day_index >= fc_hash(d, 26) % 4 AND {day_start} + day_index * 86400 + 7200 <= {end}
"""
"""Each driver's first snapshot appears on one of the first four days, so early orders see NULLs even in the
unbounded view. Snapshots are taken at 02:00 UTC on the window's days (the last one is `as_of`'s day, whose
snapshot is left out when `as_of` is earlier than 02:00)."""

_CUSTOMER_PROFILE = """
WITH days AS (
    SELECT range AS k, range // {customers} AS day_index, range % {customers} AS c
    FROM range({customers} * {days})
),
traits AS (
    SELECT *,
        fc_unit(c, 30) AS wealth,
        fc_unit(c, 31) < 0.2 AS joins_late,
        fc_hash(c, 32) % {days} AS join_day
    FROM days
),
customers AS (
    SELECT *, CASE WHEN joins_late THEN join_day ELSE 0 END AS first_day FROM traits
)
SELECT
    fc_customer_id(c) AS customer_id,
    fc_ts({day_start} + day_index * 86400) AS snapshot_ts,
    round(wealth * 1000 * (0.5 + fc_unit(k, 33)), 2) AS current_balance,
    CAST(least(850, 300 + floor(400 * wealth) + fc_hash(c, 34) % 151) AS INTEGER) AS credit_score,
    CAST(fc_hash(c, 35) % 200 + (day_index - first_day) * (fc_hash(c, 36) % 3) AS BIGINT) AS lifetime_order_count,
    CASE
        WHEN joins_late AND day_index - first_day < 3 THEN 'new'
        WHEN wealth > 0.85 THEN 'vip'
        ELSE 'regular'
    END AS customer_segment
FROM customers
WHERE day_index >= first_day
"""

_DRIVER_CUSTOMER_TRIPS = """
WITH events AS (
    SELECT range AS k, range // {trip_events} AS p, range % {trip_events} AS j
    FROM range({drivers} * {pairs_per_driver} * {trip_events})
),
pairs AS (
    SELECT k, j, p % {drivers} AS d, p // {drivers} AS slot, p FROM events
)
SELECT
    fc_driver_id(d) AS driver_id,
    fc_customer_id(fc_pair_customer(d, slot)) AS customer_id,
    fc_ts({start} + j * {trip_event_spacing} + fc_hash(k, 40) % {trip_event_spacing}) AS last_trip_at,
    CAST(fc_hash(p, 41) % 20 + j + 1 AS BIGINT) AS trip_count,
    CAST(round(3.5 + 1.5 * fc_unit(k, 42), 2) AS FLOAT) AS rating_given_avg
FROM pairs
"""
"""Regular pairs: driver d rides with `pairs_per_driver` distinct customers, each pair updated a few times."""

_ORDERS = """
WITH draws AS (
    SELECT
        range AS k,
        {spine_start} + (range * {spine_seconds}) // {orders} + fc_hash(range, 50) % {order_spacing} AS placed,
        fc_unit(range, 53) < {on_the_hour_rate} AS on_the_hour,
        fc_unit(range, 52) < {paired_order_rate} AS paired,
        fc_hash(range, 51) % ({drivers} * {pairs_per_driver}) AS p,
        fc_hash(range, 54) % {drivers} AS any_driver,
        fc_hash(range, 55) % {customers} AS any_customer
    FROM range({orders})
),
parties AS (
    SELECT
        k, paired,
        CASE WHEN on_the_hour THEN placed - ((placed - {start}) % 3600 + 3600) % 3600 ELSE placed END AS placed,
        CASE WHEN paired THEN p % {drivers} ELSE any_driver END AS d,
        CASE WHEN paired THEN fc_pair_customer(p % {drivers}, p // {drivers}) ELSE any_customer END AS c
    FROM draws
)
SELECT
    CAST(100001 + k AS BIGINT) AS order_id,
    fc_driver_id(d) AS driver_id,
    fc_customer_id(c) AS customer_id,
    fc_ts(placed) AS event_timestamp,
    round(5 + 40 * fc_unit(k, 56), 2) AS fare_amount,
    fc_unit(k, 57) < 0.45 + 0.4 * fc_driver_quality(d) + CASE WHEN paired THEN 0.1 ELSE 0 END AS completed,
    CAST(round(8 + 120 * fc_unit(k, 58) * fc_unit(k, 59), 2) AS DOUBLE) AS order_amount,
    CAST((placed % 86400 + 86400) % 86400 // 3600 AS BIGINT) AS order_hour  -- the UTC hour, whatever the session's zone
FROM parties
"""
"""Orders run in time order from a day before the feature window to `as_of` (none later: an order after `as_of`
would be in the future), so the earliest orders find no feature values. `order_amount` and `order_hour` are the
request fields of `order_request`: what the app sends with each order, which the on-demand view
`order_features` computes from at request time."""


_TRIPS = """
WITH draws AS (
    SELECT
        range AS k,
        {start} + (range * {window_seconds}) // {trips} + fc_hash(range, 60) % {trip_spacing} AS ended,
        fc_unit(range, 61) < {on_the_hour_rate} AS on_the_hour,
        CASE WHEN range % 97 = 0 THEN 0 ELSE fc_hash(range, 62) % {drivers} END AS d,
        fc_hash(range, 63) % {customers} AS c
    FROM range({trips})
)
SELECT
    CAST(500001 + k AS BIGINT) AS trip_id,
    fc_driver_id(d) AS driver_id,
    fc_customer_id(c) AS customer_id,
    fc_ts(CASE WHEN on_the_hour THEN ended - ((ended - {start}) % 3600 + 3600) % 3600 ELSE ended END)
        AS event_timestamp,
    round(4 + 40 * fc_unit(k, 64) * (0.6 + 0.4 * fc_driver_quality(d)), 2) AS fare,
    CASE WHEN fc_unit(k, 65) < {missing_distance_rate} THEN NULL ELSE round(0.5 + 25 * fc_unit(k, 66), 2) END
        AS distance_km
FROM draws
"""
"""One row per finished trip, in time order over the feature window (none after `as_of`): the events a
windowed aggregation reads. Every 97th trip is driven by the first driver, 1001, so it has trips in every
window worth showing; some trips end exactly on an hour of the grid (a window's boundary), and some have no
recorded distance."""


@dataclass(frozen=True)
class SampleSizes:
    """Entity counts derived from `scale`; every table size follows from these."""

    drivers: int
    customers: int
    orders: int
    trips: int

    @classmethod
    def for_scale(cls, scale: float) -> SampleSizes:
        return cls(
            drivers=max(1, round(DRIVERS_PER_SCALE * scale)),
            customers=max(1, round(CUSTOMERS_PER_SCALE * scale)),
            orders=max(1, round(ORDERS_PER_SCALE * scale)),
            trips=max(1, round(TRIPS_PER_SCALE * scale)),
        )

    @property
    def pairs_per_driver(self) -> int:
        return min(MAX_PAIRS_PER_DRIVER, self.customers)


TABLES: Mapping[str, str] = {
    "driver_stats.parquet": _DRIVER_STATS,
    "driver_profile.parquet": _DRIVER_PROFILE,
    "customer_profile.parquet": _CUSTOMER_PROFILE,
    "driver_customer_trips.parquet": _DRIVER_CUSTOMER_TRIPS,
    "orders.parquet": _ORDERS,
    "trips.parquet": _TRIPS,
}
"""File name under `seeds/` → the query producing it: each file is the seed of the table named by its stem."""


def generate_sample_data(project_dir: Path, *, scale: float = 1.0, seed: int = 42,
                         as_of: datetime = DEFAULT_AS_OF) -> dict[str, int]:
    """Write the sample's Parquet files under `project_dir/seeds/` and return rows per file name. The data
    ends at `as_of` (an aware time, or a naive one read as UTC), floored to the minute.

    Each file is written to a temporary name and renamed into place, so a reader never sees half a file.
    """
    _check_scale(scale)
    _check_seed(seed)
    end = data_end(as_of)
    import duckdb  # Lazy: `import fcompile` must stay fast.

    data_dir = Path(project_dir) / SEEDS_FOLDER
    data_dir.mkdir(parents=True, exist_ok=True)
    parameters = _query_parameters(SampleSizes.for_scale(scale), seed, end)
    rows: dict[str, int] = {}
    with duckdb.connect(":memory:") as con:
        # DuckDB 2 refuses new work while a result is pending, so even statements without rows are fetched.
        con.execute("SET TimeZone = 'UTC'").fetchall()
        con.execute(_render(_MIXER_MACROS, parameters)).fetchall()
        for file_name, template in TABLES.items():
            rows[file_name] = _write_table(con, _render(template, parameters), data_dir / file_name)
    return rows


def _write_table(con: duckdb.DuckDBPyConnection, query: str, destination: Path) -> int:
    partial = destination.with_name(destination.name + ".partial")
    con.sql(query).write_parquet(str(partial), compression="zstd")
    os.replace(partial, destination)
    [(count,)] = con.execute("SELECT count(*) FROM read_parquet($1)", [str(destination)]).fetchall()
    return int(count)


def data_end(as_of: datetime) -> datetime:
    """The moment the sample's data ends at for `as_of`: `as_of` in UTC (naive: UTC), floored to the minute."""
    if not isinstance(as_of, datetime):
        raise TypeError(f"as_of must be a datetime, got {type(as_of).__name__}")
    moment = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
    return moment.replace(second=0, microsecond=0)


def _query_parameters(sizes: SampleSizes, seed: int, end: datetime) -> dict[str, int | float]:
    end_seconds = int(end.timestamp())
    start = end_seconds - WINDOW_DAYS * 86_400
    spine_seconds = (WINDOW_DAYS + SPINE_MARGIN_DAYS) * 86_400
    return {
        "mask": _MASK,
        "seed": seed & _MASK,
        "start": start,
        "end": end_seconds,
        "day_start": -(-start // 86_400) * 86_400,  # the first midnight (UTC) in the window
        "days": WINDOW_DAYS,
        "hours": WINDOW_DAYS * 24,
        "drivers": sizes.drivers,
        "customers": sizes.customers,
        "orders": sizes.orders,
        "trips": sizes.trips,
        "window_seconds": WINDOW_DAYS * 86_400,
        "trip_spacing": max(1, WINDOW_DAYS * 86_400 // sizes.trips),
        "missing_distance_rate": MISSING_DISTANCE_RATE,
        "pairs_per_driver": sizes.pairs_per_driver,
        "pair_stride": sizes.customers // sizes.pairs_per_driver,
        "trip_events": TRIP_EVENTS_PER_PAIR,
        "trip_event_spacing": WINDOW_DAYS * 86_400 // TRIP_EVENTS_PER_PAIR,
        "spine_start": start - SPINE_MARGIN_DAYS * 86_400,
        "spine_seconds": spine_seconds,
        "order_spacing": max(1, spine_seconds // sizes.orders),
        "gap_rate": GAP_RATE,
        "correction_rate": CORRECTION_RATE,
        "paired_order_rate": PAIRED_ORDER_RATE,
        "on_the_hour_rate": ON_THE_HOUR_RATE,
    }


def _render(template: str, parameters: Mapping[str, int | float]) -> str:
    """Fill a query template, refusing anything but plain numbers so no text can reach the SQL."""
    for name, value in parameters.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise TypeError(f"sample query parameter {name!r} must be a finite number, got {value!r}")
    return template.format(**{name: repr(value) for name, value in parameters.items()})


def _check_scale(scale: float) -> None:
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        raise TypeError(f"scale must be a number, got {type(scale).__name__}")
    if not math.isfinite(scale) or not 0 < scale <= MAX_SCALE:
        raise ValueError(f"scale must be greater than 0 and at most {MAX_SCALE:g}, got {scale!r}")


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
