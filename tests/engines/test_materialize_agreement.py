"""Materializing the sample through each engine loads the same values into the online store
(docs/concepts/materialization.md): for every entity of every online view, the reference's newest row in the
window, with its event and created times; and the same rows read and keys written. The store is SQLite in
every run, so what differs is only the engine that computed the values (its window counts and its
`LatestValues` query with the window bound as parameters). The sample's hourly stats get full ties of differing
values (NaN among them) at the newest rows of a few drivers, which each feature resolves to its greatest.
A view of windowed aggregations stores tiles: what it serves at a read time is the aggregation reference's
value at that time (docs/concepts/aggregations.md)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fcompile import FeatureStore
from fcompile.online import online_view
from fcompile.parser import load_project
from fcompile.tasks.materialize import materialize_views

from compiler import reference
from compiler.harness import normalized
from engines.engines import reference_aggregate_views, reference_views, sample_on
from engines.test_sample_project import sample  # noqa: F401  (the module's generated sample)

END = dt.datetime(2025, 1, 15, tzinfo=dt.timezone.utc)  # the sample's feature data ends here
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
STORES: dict[str, dict] = {}  # engine -> what its run stored, to compare engines with each other


def stored(fs, graph, views, ref) -> dict:
    """Every entity key of each view's source (in the window or not) -> what the store holds for it."""
    found = {}
    for view in views:
        target = online_view(graph, view)
        keys = sorted({tuple(row[column] for _, column in ref[view.name].keys) for row in ref[view.name].rows
                       if all(row[column] is not None for _, column in ref[view.name].keys)}, key=str)
        names = [name for name, _ in target.features]
        rows = fs.online_store.read(target, keys, names)
        found[view.name] = {key: None if row is None else
                            ({k: normalized(v) for k, v in row.values.items()}, normalized(row.event_ts),
                             normalized(row.created_ts)) for key, row in zip(keys, rows)}
    return found


# read times after the materialization's end: on it, inside its step, and hours later (the short windows
# then hold nothing the store was given)
READ_TIMES = (END, END + dt.timedelta(minutes=37, microseconds=5), END + dt.timedelta(hours=5))


def check_windows_online(fs, view, sample, engine_name: str) -> None:
    """What the store serves for a view of windowed aggregations at a read time t is the aggregation
    reference at t over the source rows the materialization read (event time up to END): for every entity
    of the source and one without rows; float sums, means and deviations within 1e-9 relative."""
    from compiler.aggregation_reference import aggregate_join

    ref = reference_aggregate_views(load_project(sample / "project"), sample / "project" / "seeds")[view.name]
    ref = dataclasses.replace(ref, rows=[r for r in ref.rows if r[ref.event_ts] is not None
                                         and reference.utc(r[ref.event_ts]) <= END])
    [(key, column)] = ref.keys
    entities = sorted({r[column] for r in ref.rows if r[column] is not None}) + [-1]  # -1: no trips
    names = [f.name for f in view.aggregated_features]
    close = {f.name for f in view.aggregated_features if f.aggregation.function in ("avg", "stddev", "variance")
             or (f.aggregation.function == "sum" and f.dtype.name == "float64")}
    for t in READ_TIMES:
        response = fs.get_online_features({key: entities}, [f"{view.name}:{n}" for n in names], now=t)
        values = response.values()
        spine = [{key: e, "t": t} for e in entities]
        wanted = aggregate_join(spine, [key], "t", [(ref, n, n) for n in names])
        for i, want in enumerate(wanted):
            for name in names:
                got, expected = normalized(values[name][i]), normalized(want[name])
                same = (math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
                        if name in close and got is not None and expected is not None
                        else got == expected and (isinstance(got, int) or not isinstance(expected, int)))
                assert same, f"{view.name}.{name} for {key}={want[key]} at {t} on {engine_name}: " \
                             f"online {values[name][i]!r}, reference {want[name]!r}"


TIED_DRIVERS = 3


@pytest.fixture(scope="module")
def tied_sample(sample, tmp_path_factory):  # noqa: F811
    """The sample with full ties at the newest hourly stats row of a few drivers: copies of that row (same
    event and created time) with other values, one NaN, so that no single row has every greatest value."""
    root = tmp_path_factory.mktemp("tied_sample")
    shutil.copytree(sample / "project", root / "project")
    path = root / "project" / "seeds" / "driver_stats.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    def newness(row) -> tuple:
        return (reference.utc(row["event_timestamp"]), row["created"] is not None,
                reference.utc(row["created"] or row["event_timestamp"]))

    newest: dict = {}
    for row in rows:
        if row["driver_id"] is not None and reference.utc(row["event_timestamp"]) <= END:
            if row["driver_id"] not in newest or newness(row) > newness(newest[row["driver_id"]]):
                newest[row["driver_id"]] = row
    latest = sorted(newest.values(), key=lambda r: (newness(r), r["driver_id"]))[-TIED_DRIVERS:]
    copies = []
    for row in latest:
        copies.append({**row, "conversion_rate": float("nan"), "acc_rate": -1.0, "avg_daily_trips": None})
        copies.append({**row, "conversion_rate": 0.0, "acc_rate": 2.0, "avg_rating": -1.0})
    pq.write_table(pa.Table.from_pylist(rows + copies, schema=table.schema), path)
    return root


def test_materialized_values_agree_with_the_reference(engine, tied_sample, tmp_path):
    sample = tied_sample
    root = sample_on(engine, sample, tmp_path / "project")
    with FeatureStore(root, target="engine") as fs:
        graph = fs.graph
        online = [v for v in graph.feature_views if v.online]
        results = materialize_views(graph, fs.runner, fs.online_store, online, END)
        assert all(r.status == "success" for r in results), [d.render() for r in results for d in r.diagnostics]
        views = [v for v in online if not v.has_aggregations]
        ref = reference_views(load_project(sample / "project"), sample / "project" / "seeds")  # the data as files
        contents = stored(fs, graph, views, ref)
        windowed = [v for v in online if v.has_aggregations]
        assert windowed, "the sample serves windowed aggregations"
        for view in windowed:
            check_windows_online(fs, view, sample, engine.name)
    counts = {r.view: (r.rows_read, r.keys_written, r.window.start) for r in results if r.view in ref}
    tied_rows = 0
    for view in views:
        start = END - view.ttl if view.ttl is not None else EARLIEST
        wanted = reference.latest_values(ref[view.name], start, END)
        for key, row in contents[view.name].items():
            want = wanted.get(key)
            if want is None:
                assert row is None, f"{view.name} {key} on {engine.name}: stored {row}, expected nothing"
                continue
            features = {f.name: normalized(want[f.name]) for f in view.features}
            assert row == (features, normalized(want["event_ts"]), normalized(want.get("created_ts"))), \
                f"{view.name} {key} on {engine.name}"
            if view.name == "driver_hourly_stats" and math.isnan(want["conv_rate"]):
                tied_rows += 1
        in_window = [r for r in ref[view.name].rows if all(r[c] is not None for _, c in ref[view.name].keys)
                     and start <= normalized(r[ref[view.name].event_ts]) <= END]
        assert counts[view.name][:2] == (len(in_window), len(wanted)), f"{view.name} counts on {engine.name}"
    assert tied_rows == TIED_DRIVERS, "the full ties are in the window: each driver's NaN conv_rate wins"
    for other, (other_contents, other_counts) in STORES.items():
        assert contents == other_contents, f"{engine.name} stored other values than {other}"
        assert counts == other_counts, f"{engine.name} counted other rows than {other}"
    STORES[engine.name] = (contents, counts)


@pytest.fixture(autouse=True, scope="module")
def _forget_stores():
    yield
    STORES.clear()
