"""The tiles serving merges windowed aggregations from (issue 16; fcompile/planner/online_tiles.py): every
dialect compiles the tile query, and every engine that runs here computes, for each (entity, step) of a
window, the partials a plain-Python reading of the rows gives - rows, non-NULL counts, sums (exact for
integers), minimums, maximums, the step's mean and sum of squared deviations, and the newest value with its
event and created times - with events on step boundaries, before 1970, NULLs and duplicates. The minimum,
maximum and newest value of a string column (with ties on the newest, broken by the greatest value) are
those of Python's order, by code point, which online tiles keep (fcompile/online/tiles.py)."""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from fractions import Fraction

from fcompile.dialects import compile_statements
from fcompile.dialects.registry import DIALECTS
from fcompile.graph import DType
from fcompile.planner.online_tiles import LatestTiles, TileFeature, TileInput, partial_name
from fcompile.planner.plans import KeyColumn, Relation

from compiler.harness import Table

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1)
BASE = dt.datetime(2024, 3, 1)
STEP = 3600
KINDS = ("count", "sum", "min", "max", "mean", "mean_lo", "m2", "last", "last_event", "last_created")
TEXT_KINDS = ("count", "min", "max", "last", "last_event", "last_created")
# strings whose order by code point differs from a case-blind, accent-blind or UTF-16 order
TIERS = ["a", "B", "b", "Z", "ab", "a b", "", "é", "e", "zz", "\u00ff", "\uffff", "\U0001f600", "\u00e9t\u00e9"]
COLUMNS = ("fare", "km", "seen", "tier")


def _plan(table: str) -> LatestTiles:
    inputs = (TileInput("fare", DType("float64"), KINDS), TileInput("km", DType("int64"), KINDS),
              TileInput("seen", DType("timestamp"), ("count", "max", "last", "last_event", "last_created")),
              TileInput("tier", DType("string"), TEXT_KINDS))
    aggregates = (TileFeature("n", "count", None, 24, DType("int64")),)
    return LatestTiles("v", Relation("table", table), (KeyColumn("driver_id", "driver_id", DType("int64")),),
                       "event_ts", "created", STEP, inputs, aggregates)


def test_every_dialect_compiles_the_tile_query():
    for name in DIALECTS:
        statements = compile_statements(_plan("trips"), name)
        assert "__fc_m2_0" in statements[-1].lower() or "__FC_M2_0" in statements[-1], name


def _rows(seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(160):
        if i < 6:  # before 1970, on and around a step boundary
            ts = dt.datetime(1969, 12, 31, 23) + dt.timedelta(microseconds=rng.choice([-1, 0, 1, 3_599_999_999]))
        elif rng.random() < 0.25:
            ts = BASE + dt.timedelta(hours=rng.randrange(12))
        else:
            ts = BASE + dt.timedelta(microseconds=rng.randrange(12 * 3_600_000_000))
        row = {"driver_id": rng.randrange(1, 5), "event_ts": ts,
               "created": None if rng.random() < 0.2 else ts + dt.timedelta(seconds=rng.choice([0, 1])),
               "fare": None if rng.random() < 0.15 else rng.choice([0.5, 1.25, 1e9 + 0.5, 7.0, -3.5]),
               "km": None if rng.random() < 0.15 else rng.randrange(-5, 1000),
               "seen": None if rng.random() < 0.1 else ts - dt.timedelta(days=rng.randrange(400)),
               "tier": None if rng.random() < 0.15 else rng.choice(TIERS)}
        rows.append(row)
        if rng.random() < 0.08:
            rows.append(dict(row))
        if rng.random() < 0.1:  # tied with the row before on event and created time: the greatest tier is newest
            rows.append(dict(row, tier=rng.choice(TIERS)))
    return rows


def _micros(moment: dt.datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _expected(rows: list[dict], start: dt.datetime, end: dt.datetime) -> dict:
    size = STEP * 1_000_000
    tiles: dict = {}
    for row in rows:
        if start <= row["event_ts"] <= end:
            key = (row["driver_id"], _micros(row["event_ts"]) // size * size)
            tiles.setdefault(key, []).append(row)
    out = {}
    for key, members in tiles.items():
        tile = {"__fc_rows": len(members)}
        for index, column in enumerate(COLUMNS):
            present = [r for r in members if r[column] is not None]
            values = [r[column] if column != "seen" else _micros(r[column]) for r in present]
            tile[partial_name("count", index)] = len(values)
            if not values:
                continue
            tile[partial_name("max", index)] = max(values)
            if column == "tier":
                tile[partial_name("min", index)] = min(values)
            elif column != "seen":
                exact = [Fraction(v) for v in values]
                mean = sum(exact) / len(exact)
                tile[partial_name("sum", index)] = sum(values) if column == "km" else float(sum(exact))
                tile[partial_name("min", index)] = min(values)
                tile[partial_name("mean", index)] = float(mean)
                tile[partial_name("mean_lo", index)] = TwoPartMean(mean)
                tile[partial_name("m2", index)] = float(sum((v - mean) ** 2 for v in exact))
            order = lambda r: (r["event_ts"], r["created"] is not None, r["created"] or EPOCH)  # noqa: E731
            top = max(order(r) for r in present)
            tied = [r for r in present if order(r) == top]
            tile[partial_name("last", index)] = max(r[column] if column != "seen" else _micros(r[column])
                                                    for r in tied)
            tile[partial_name("last_event", index)] = _micros(tied[0]["event_ts"])
            created = tied[0]["created"]
            tile[partial_name("last_created", index)] = None if created is None else _micros(created)
        out[key] = tile
    return out


def test_tiles_on_the_engine(engine):
    table = f"tiles_{uuid.uuid4().hex[:10]}"
    rows = _rows(5)
    runner = engine.runner()
    engine.load(runner, Table(table, (("driver_id", "int64"), ("event_ts", "timestamp"), ("created", "timestamp"),
                                      ("fare", "float64"), ("km", "int64"), ("seen", "timestamp"),
                                      ("tier", "string")), rows))
    plan = _plan(table)
    start, end = dt.datetime(1969, 12, 31, 22), BASE + dt.timedelta(hours=9, minutes=30)
    reader = runner.latest_values(plan, start.replace(tzinfo=UTC), end.replace(tzinfo=UTC), "tiles", None, 1000)
    got = {}
    for record in reader.read_all().to_pylist():
        record = {k.lower(): v for k, v in record.items()}
        got[(record["driver_id"], _plain(record["__fc_step"]))] = record
    want = _expected(rows, start, end)
    assert sorted(got) == sorted(want)
    for key, tile in want.items():
        for column, value in tile.items():
            found = _plain(got[key][column])
            if isinstance(value, TwoPartMean):  # the mean in two parts: their sum is the exact mean, nearly
                high = _plain(got[key][column.replace("mean_lo", "mean")])
                error = abs(Fraction(high) + Fraction(found) - value.exact)
                assert error <= Fraction(1, 10**13) * max(1, abs(value.exact)), (key, column, float(error))
            elif isinstance(value, float) and column.startswith(("__fc_mean", "__fc_m2", "__fc_sum_0")):
                assert math.isclose(found, value, rel_tol=1e-9, abs_tol=1e-6), (key, column, found, value)
            else:
                assert found == value, (key, column, found, value)


class TwoPartMean:
    """What a tile's `mean_lo` must be: with its `mean`, the exact mean (to far below a float's last place)."""

    def __init__(self, exact: Fraction) -> None:
        self.exact = exact


def _plain(value):
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.datetime):
        return _micros(value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value)
    return value
