"""The tile record's running totals (issue 16): counts and sums of a window read as the difference of two
rows of totals, variances from totals of each tile's squared deviation from a reference, floats only where
an error bound keeps them within 1e-12 of the merge of the tiles (else the tiles are merged). Checked against
exact arithmetic (fractions) over the rows, for windows anywhere in the record, on ordinary data (where the
totals must be used) and on adversarial data (a history of huge values before small ones, values far from
zero, infinities), and records written before the totals (`FCT1`) read the same values and are
rewritten by the next write."""

from __future__ import annotations

import datetime as dt
import math
import random
from fractions import Fraction

import pytest
from aggregation_parity import BASE, FEATURES, random_trips, write_project, write_trips
from store_backends import new_project

from fcompile import FeatureStore
from fcompile.online import tile_spec
from fcompile.online import tiles as tiles_module
from fcompile.online.tiles import _HEAD, PREVIOUS_MAGIC, TILES_FEATURE, TileSpec, Tiles

HOUR_US = 3_600_000_000
HOURS = 60
BASE_US = int(BASE.timestamp()) * 1_000_000
WINDOWED = {  # feature: (function, column, window in hours), as the parity project declares them
    "trips_1d": ("count", None, 24), "fares_3h": ("count", "fare", 3), "fare_sum_1d": ("sum", "fare", 24),
    "km_sum_1d": ("sum", "km", 24), "fare_avg_6h": ("avg", "fare", 6), "fare_std_1d": ("stddev", "fare", 24),
    "km_var_1d": ("variance", "km", 24), "fare_min_1d": ("min", "fare", 24), "km_max_6h": ("max", "km", 6),
}


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> TileSpec:
    from fcompile.planner.online_tiles import plan_latest_tiles

    root = tmp_path_factory.mktemp("records")
    write_project(root, new_project(), {"type": "sqlite", "path": "store/online.db"}, pushed=True)
    write_trips(root, random_trips(1, 20, keys=2, hours=4))  # the columns' types
    with FeatureStore(root) as fs:
        spec = tile_spec(fs.graph, "trip_windows")
        plan = plan_latest_tiles(fs.graph, fs.graph.feature_view(spec.view))
        _INPUTS[spec.view] = [i.source_column for i in plan.inputs]
        return spec


_INPUTS: dict[str, list[str]] = {}  # the view's input columns, in the tiles' order


def _rows(seed: int, kind: str) -> list[tuple[int, float | None, int | None]]:
    """(event microseconds, fare, km) over HOURS hours, some hours without rows."""
    rng = random.Random(seed)
    rows = []
    for hour in range(HOURS):
        if kind != "dense" and rng.random() < 0.15:  # a record without a tile every step: bounds searched
            continue
        for _ in range(rng.randrange(1, 4)):
            at = BASE_US + hour * HOUR_US + rng.randrange(HOUR_US)
            huge = kind == "huge_first" and hour < HOURS // 2
            if kind == "far":
                fare, km = 1e12 + round(rng.gauss(0, 1), 4), 10**15 + rng.randrange(12)
            elif kind == "infinite" and hour == HOURS // 3:
                fare, km = math.inf, rng.randrange(40)
            else:
                fare = 1e15 + rng.gauss(0, 1) if huge else round(rng.uniform(-5, 80), 2)
                km = 10**16 + rng.randrange(12) if huge else rng.randrange(40)
            rows.append((at, None if rng.random() < 0.1 else fare, None if rng.random() < 0.1 else km))
    return rows


def _tiles(spec: TileSpec, rows: list) -> Tiles:
    """The rows' tiles, made as pushed rows make them (every partial from the values)."""
    import numpy as np

    values = {"fare": [r[1] for r in rows], "km": [r[2] for r in rows]}
    inputs = [values.get(name, [None] * len(rows)) for name in _INPUTS[spec.view]]
    empty = Tiles(np.zeros((spec.width, 0), dtype=np.int64), ())
    return spec.add_rows(empty, [r[0] for r in rows], [r[0] for r in rows], [None] * len(rows), inputs)


def _exact(rows: list, function: str, column: str | None, window: int, at_us: int):
    """The feature over the rows of the window ending at `at_us`'s step, in exact arithmetic."""
    end = at_us // HOUR_US * HOUR_US
    inside = [r for r in rows if end - window * HOUR_US <= r[0] < end]
    if column is None:
        return len(inside)
    values = [r[1] if column == "fare" else r[2] for r in inside]
    values = [v for v in values if v is not None]
    if function == "count":
        return len(values)
    if not values:
        return None
    if function in ("min", "max"):
        return min(values) if function == "min" else max(values)
    if any(isinstance(v, float) and not math.isfinite(v) for v in values):
        return math.nan
    exact = [Fraction(v) for v in values]
    if function == "sum":
        return sum(exact) if column == "km" else float(sum(exact))
    mean = sum(exact) / len(exact)
    if function == "avg":
        return float(mean)
    if len(exact) < 2:
        return None
    variance = sum((v - mean) ** 2 for v in exact) / (len(exact) - 1)
    return float(variance) if function == "variance" else math.sqrt(variance)


class _Spy:
    """Counts the reads of floats that the running totals answered and those they left to the tiles."""

    def __init__(self, monkeypatch) -> None:
        self.totals = self.tiles = 0
        difference, bound = tiles_module._float_difference, tiles_module._variance_bound

        def counted_difference(*args):
            found = difference(*args)
            self._count(found is not None)
            return found

        def counted_bound(*args):
            found = bound(*args)
            self._count(found <= tiles_module.TOLERANCE * args[-1] and found < math.inf)
            return found

        monkeypatch.setattr(tiles_module, "_float_difference", counted_difference)
        monkeypatch.setattr(tiles_module, "_variance_bound", counted_bound)

    def _count(self, from_totals: bool) -> None:
        if from_totals:
            self.totals += 1
        else:
            self.tiles += 1


def _check_windows(spec: TileSpec, rows: list, tolerance: float) -> None:
    record = spec.encode(_tiles(spec, rows))
    assert record[:4] == b"FCT2"
    stored = spec.stored(record)
    merge = spec.reader(list(WINDOWED))
    integers = spec.reader(["km_max_6h", "km_sum_1d"])  # a read of integers only: no float view of the record
    for hour in range(0, HOURS + 30, 1):  # windows at the start, in the middle and past the end of the record
        at = BASE_US + hour * HOUR_US + 1_234_567
        got = merge(stored, at) if stored.n else spec.empty_values(list(WINDOWED))
        alone = integers(stored, at) if stored.n else {}
        assert all(alone[name] == got[name] for name in alone), (alone, got)
        for name, (function, column, window) in WINDOWED.items():
            want = _exact(rows, function, column, window, at)
            where = f"{name} at hour {hour}: {got[name]!r}, exactly {want!r}"
            if isinstance(want, Fraction):  # an integer sum: exact
                assert got[name] == want and type(got[name]) is int, where
            elif want is None or isinstance(want, int):
                assert got[name] == want, where
            elif math.isnan(want):
                assert got[name] is not None and not math.isfinite(got[name]), where
            else:
                assert math.isclose(got[name], want, rel_tol=tolerance, abs_tol=0.0) or got[name] == want, where


@pytest.mark.parametrize("seed, kind", [(0, "ordinary"), (1, "ordinary"), (2, "dense")])
def test_ordinary_windows_are_read_from_the_running_totals(spec, monkeypatch, seed, kind):
    spy = _Spy(monkeypatch)
    _check_windows(spec, _rows(seed, kind), 1e-11)
    assert spy.totals > 200 and spy.tiles <= spy.totals // 20, (spy.totals, spy.tiles)


@pytest.mark.parametrize("kind", ["huge_first", "far", "infinite"])
def test_adversarial_windows_keep_their_digits(spec, monkeypatch, kind):
    """Small values after a history of huge ones: their sums and variances are merged from the tiles (the
    totals would have lost them), and still within 1e-9 of the exact values; integer sums stay exact."""
    spy = _Spy(monkeypatch)
    _check_windows(spec, _rows(7, kind), 1e-9)
    if kind != "far":
        assert spy.tiles > 20, (spy.totals, spy.tiles)


def _without_totals(spec: TileSpec, record: bytes) -> bytes:
    """The same tiles as written before the running totals: `FCT1`, the whole matrix and no totals."""
    tiles = spec.decode(record)
    n = tiles.matrix.shape[1]
    text = record[spec.stored(record).text_at:]
    return _HEAD.pack(PREVIOUS_MAGIC, spec.id, n) + tiles.matrix.astype("<i8").tobytes() + text


def test_a_record_without_totals_reads_the_same(spec):
    import numpy as np

    tiles = _tiles(spec, _rows(11, "ordinary"))
    record = spec.encode(tiles)
    old = _without_totals(spec, record)
    assert np.array_equal(spec.decode(old).matrix, tiles.matrix)
    assert np.array_equal(spec.decode(record).matrix, tiles.matrix)
    merge = spec.reader(list(WINDOWED) + ["last_fare", "fare_min_1d", "km_max_6h", "tier_min_3h"])
    for hour in (5, 30, HOURS - 1, HOURS + 3):
        at = BASE_US + hour * HOUR_US
        assert merge(spec.stored(old), at) == merge(spec.stored(record), at)
    assert spec.encode(spec.decode(old)) == record  # rewritten as the current record


def test_stored_records_without_totals_are_served_and_rewritten(tmp_path):
    """In a store: records stored again in the form before the running totals read the same values online,
    and a push rewrites the record it touches with totals."""
    import pyarrow as pa

    from fcompile.planner.plans import EVENT_TS
    from fcompile.tasks.materialize import materialize_views

    write_project(tmp_path, new_project(), {"type": "sqlite", "path": "store/online.db"}, pushed=True)
    trips = random_trips(5, 200, keys=4, hours=30)
    end = BASE + dt.timedelta(hours=29)
    write_trips(tmp_path, [r for r in trips if r["event_timestamp"] <= end])
    with FeatureStore(tmp_path) as fs:
        view = fs.graph.feature_view("trip_windows")
        (result,) = materialize_views(fs.graph, fs.runner, fs.online_store, [view], end)
        assert result.ok
        spec = tile_spec(fs.graph, view)
        drivers = [1, 2, 3, 4]
        t = end + dt.timedelta(minutes=10)
        before = fs.get_online_features({"driver_id": drivers}, FEATURES, now=t).values()
        rows = fs.online_store.read(spec.online_view, [(d,) for d in drivers], (TILES_FEATURE,))
        old = [_without_totals(spec, row.values[TILES_FEATURE]) for row in rows]
        batch = pa.RecordBatch.from_arrays(
            [pa.array(drivers, pa.int64()), pa.array([row.event_ts + dt.timedelta(microseconds=1) for row in rows],
                                                     pa.timestamp("us", "UTC")), pa.array(old, pa.binary())],
            names=["driver_id", EVENT_TS, TILES_FEATURE])
        fs.online_store.write_batch(spec.online_view, batch)
        stored = fs.online_store.read(spec.online_view, [(d,) for d in drivers], (TILES_FEATURE,))
        assert all(row.values[TILES_FEATURE][:4] == PREVIOUS_MAGIC for row in stored)
        assert fs.get_online_features({"driver_id": drivers}, FEATURES, now=t).values() == before
        pushed = dict(trips[0], driver_id=2, event_timestamp=end, created=end)
        fs.push("trips_push", {name: [value] for name, value in pushed.items()}, to="online")
        (row,) = fs.online_store.read(spec.online_view, [(2,)], (TILES_FEATURE,))
        assert row.values[TILES_FEATURE][:4] == b"FCT2"


def test_records_encoded_together_equal_records_encoded_alone(spec):
    """A materialization encodes a batch of entities' records in one padded array: each record is byte for
    byte what encoding it alone gives, whatever the others' lengths and values (infinities, values far from
    zero, a record without tiles, one of a single tile)."""
    import numpy as np

    many = [_tiles(spec, _rows(seed, kind)) for seed, kind in ((3, "ordinary"), (4, "far"), (5, "infinite"),
                                                                 (6, "huge_first"), (7, "dense"))]
    many += [Tiles(np.zeros((spec.width, 0), dtype=np.int64), ()), Tiles(many[0].matrix[:, :1].copy(), many[0].text)]
    together = spec.encode_many(many)
    assert together == [spec.encode_many([tiles])[0] for tiles in many]
    assert [spec.decode(record).matrix.shape[1] for record in together] == [t.matrix.shape[1] for t in many]
