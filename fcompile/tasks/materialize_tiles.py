"""Materialization of a view's windowed aggregations: its tiles, recomputed per step and written per entity
(docs/concepts/materialization.md, "Aggregations").

A run recomputes whole tiles from `since`, a step boundary: on an incremental run the watermark minus the
view's lateness, floored to the step; on a first run, a full refresh or with `--start`, no earlier than the
first step a request after the window's end can read (`end` floored to the step, minus the longest
window). The view's `LatestTiles` query (compiled for the target's dialect, run by the offline engine)
returns the tiles of each entity with rows in [since, end] together; for each such entity the stored record
is read, its tiles from `since` on are replaced by the new ones, tiles no request after `end` can read are
dropped, and the record is written back, a batch of entities per commit. Replacing whole tiles makes a
re-run converge: a run killed midway leaves some entities' tiles recomputed and others as they were, and
the watermark, which moves only after every batch has committed, makes the next run recompute them all.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from fcompile.online.base import guard_store
from fcompile.online.tiles import TILES_FEATURE, StaleTiles, Tiles, TileSpec, stale_tiles, version_after
from fcompile.online.values import datetime_from_micros, micros
from fcompile.planner.online_tiles import STEP, LatestTiles

if TYPE_CHECKING:
    import pyarrow as pa

    from fcompile.online.base import OnlineStore
    from fcompile.runners.base import Runner

UTC = dt.timezone.utc


def tiles_since(spec: TileSpec, start: dt.datetime | None, end: dt.datetime) -> dt.datetime:
    """The first step the run recomputes: `start` floored to a step, but no earlier than the first step a
    request after `end` can read (None: that step)."""
    oldest = spec.oldest_needed(micros(end))
    if start is None:
        return datetime_from_micros(oldest)
    floored = micros(start) // spec.step_us * spec.step_us
    return datetime_from_micros(max(floored, oldest))


def write_tiles(store: OnlineStore, spec: TileSpec, runner: Runner, plan: LatestTiles, since: dt.datetime,
                end: dt.datetime, label: str, batch_rows: int, horizon: dt.datetime) -> int:
    """Recompute the tiles of steps from `since` to `end` and write them, keeping the stored tiles a window
    ending at or after `horizon` reads; returns the entities written. (No progress per batch: a run's progress
    counts source rows, a batch here counts tiles.)"""
    import pyarrow as pa

    reader = runner.latest_values(plan, since, end, label, plan.location, batch_rows)  # type: ignore[arg-type]
    written = 0
    carry: pa.Table | None = None
    for batch in reader:
        table = pa.Table.from_batches([batch])
        if carry is not None and carry.num_rows:
            table = pa.concat_tables([carry, table.cast(carry.schema)])
        table = table.combine_chunks()
        complete = _complete_rows(spec, plan, table)
        written += _write_entities(store, spec, plan, table.slice(0, complete), since, horizon)
        carry = table.slice(complete)
    if carry is not None and carry.num_rows:
        written += _write_entities(store, spec, plan, carry, since, horizon)
    return written


def _encoded_keys(spec: TileSpec, plan: LatestTiles, table: pa.Table) -> pa.BinaryArray:
    from fcompile.online.keys import encode_key_columns
    from fcompile.online.values import arrow_cast, arrow_type

    columns = [arrow_cast(table.column(k.name).combine_chunks(), arrow_type(k.dtype)) for k in plan.keys]
    return encode_key_columns(columns, [k.dtype for k in plan.keys])


def _complete_rows(spec: TileSpec, plan: LatestTiles, table: pa.Table) -> int:
    """The rows before the last entity of `table` (whose tiles may go on in the next batch)."""
    import numpy as np

    from fcompile.online.values import numpy_of

    if table.num_rows < 2:
        return 0
    from fcompile.online.values import arrow_compute

    keys = _encoded_keys(spec, plan, table)
    changes = np.flatnonzero(numpy_of(arrow_compute("not_equal", keys[1:], keys[:-1])))
    return int(changes[-1]) + 1 if len(changes) else 0


def _write_entities(store: OnlineStore, spec: TileSpec, plan: LatestTiles, table: pa.Table, since: dt.datetime,
                    horizon: dt.datetime) -> int:
    """The tiles of the entities of `table` (each entity's rows together, steps ascending) merged into their
    stored records (less the tiles no window ending at or after `horizon` reads) and written in one batch,
    versioned by the time of the write; returns the entities."""
    import numpy as np
    import pyarrow as pa

    from fcompile.online.values import arrow_compute, arrow_from_numpy, arrow_type, binary_array, numpy_of
    from fcompile.planner.plans import EVENT_TS

    if not table.num_rows:
        return 0
    keys = _encoded_keys(spec, plan, table)
    starts = np.concatenate([[0], np.flatnonzero(numpy_of(arrow_compute("not_equal", keys[1:], keys[:-1]))) + 1]) \
        if len(keys) > 1 else np.array([0])
    ends = np.append(starts[1:], table.num_rows)
    firsts = arrow_from_numpy(starts)
    key_columns = [table.column(k.name).combine_chunks().cast(arrow_type(k.dtype)).take(firsts) for k in plan.keys]
    key_tuples = list(zip(*(c.to_pylist() for c in key_columns)))
    stored = guard_store(store.read, spec.online_view, key_tuples, (TILES_FEATURE,))
    tiles = spec.tile_matrix(table, STEP)
    now = dt.datetime.now(UTC)
    since_us, end_us = micros(since), micros(horizon)
    merged, versions = [], []
    for first, last, row in zip(starts.tolist(), ends.tolist(), stored):
        try:
            old = spec.decode(None if row is None else row.values.get(TILES_FEATURE))
        except StaleTiles:
            raise stale_tiles(spec.view) from None
        fresh = Tiles(tiles.matrix[:, first:last], tiles.text)
        merged.append(spec.replaced(old, fresh, since_us, end_us))
        versions.append(micros(version_after(None if row is None else row.event_ts, now)))
    records = spec.encode_many(merged)
    batch = pa.RecordBatch.from_arrays(
        [*key_columns, arrow_from_numpy(np.array(versions, dtype=np.int64)).cast(pa.timestamp("us", "UTC")),
         binary_array(records)],
        names=[*[k.name for k in plan.keys], EVENT_TS, TILES_FEATURE])
    guard_store(store.write_batch, spec.online_view, batch)
    return len(records)
