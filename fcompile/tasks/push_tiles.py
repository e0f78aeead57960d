"""Pushed rows into a view's online tiles (docs/concepts/push.md, "Aggregations").

A row pushed online to a view with aggregations is an event: it is added to the tile of its (entity, step) -
rows and counts go up, sums, minimums and maximums take it, the step's mean and M2 take it by Welford's
update, and it becomes the step's `last` value when it is newer (event time, then created time, then the
source's tie_breaker of any type it may have, NULL oldest; full ties: the greater value) than the one there. The next read then
gives what a training set gives once the row is in the offline source.
The stored records of the rows' entities are read, updated and written back with the push's other views in
one `write_batches` (all or nothing). A push drops no tile (reads may ask for past times); the entity's next
materialization drops those no later read takes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from fcompile.online.base import guard_store
from fcompile.online.tiles import TILES_FEATURE, StaleTiles, TileSpec, stale_tiles, version_after
from fcompile.online.values import micros
from fcompile.planner.online_tiles import LatestTiles, input_name
from fcompile.planner.plans import CREATED_TS, EVENT_TS, TIE_BREAKER

if TYPE_CHECKING:
    import pyarrow as pa

    from fcompile.online.base import OnlineStore

UTC = dt.timezone.utc


def tile_batch(store: OnlineStore, spec: TileSpec, plan: LatestTiles, rows: pa.RecordBatch) -> pa.RecordBatch:
    """The updated tile records of the entities of `rows` (laid out as `push.online_batch` lays out a reading:
    join keys, `__fc_event_ts`, `__fc_created_ts`, each input as `__fc_in_<i>`, and `__fc_tie_breaker` where
    the tiles keep a `last` value's tie_breaker: `push.tile_rows`)."""
    import pyarrow as pa

    from fcompile.online.values import to_micros

    keys = [k.name for k in plan.keys]
    key_values = list(zip(*(rows.column(k).to_pylist() for k in keys)))
    events = to_micros(rows.column(EVENT_TS)).to_pylist()
    created = to_micros(rows.column(CREATED_TS)).to_pylist() if CREATED_TS in rows.schema.names else \
        [None] * rows.num_rows
    ties = (_tile_values(rows.column(TIE_BREAKER), spec.tie_dtype.name) if spec.tie_dtype is not None
            and TIE_BREAKER in rows.schema.names else [None] * rows.num_rows)
    inputs = [_tile_values(rows.column(input_name(i)), spec.input_dtypes[i].name) for i in range(len(plan.inputs))]
    by_entity: dict[tuple, list[int]] = {}
    for row, key in enumerate(key_values):
        by_entity.setdefault(key, []).append(row)
    entities = list(by_entity)
    stored = guard_store(store.read, spec.online_view, entities, (TILES_FEATURE,))
    now = dt.datetime.now(UTC)
    records, versions = [], []
    for key, found in zip(entities, stored):
        picked = by_entity[key]
        try:
            tiles = spec.decode(None if found is None else found.values.get(TILES_FEATURE))
        except StaleTiles:
            raise stale_tiles(spec.view) from None
        updated = spec.add_rows(tiles, [events[r] for r in picked], [created[r] for r in picked],
                                [ties[r] for r in picked], [[values[r] for r in picked] for values in inputs])
        records.append(updated)
        versions.append(micros(version_after(None if found is None else found.event_ts, now)))
    records = spec.encode_many(records)
    columns = {name: pa.array([key[i] for key in entities], rows.column(name).type) for i, name in enumerate(keys)}
    columns[EVENT_TS] = pa.array(versions, pa.int64()).cast(pa.timestamp("us", "UTC"))
    columns[TILES_FEATURE] = pa.array(records, pa.binary())
    return pa.RecordBatch.from_pydict(columns)


def _tile_values(column: pa.Array, kind: str) -> list[Any]:
    """A pushed input (or tie_breaker) column as `TileSpec.add_rows` takes it: ints, floats, days (dates),
    microseconds (timestamps), str and bytes."""
    import pyarrow as pa

    if kind == "timestamp":
        from fcompile.online.values import to_micros

        return to_micros(column).to_pylist()
    if kind == "date":
        return column.cast(pa.int32()).to_pylist()
    if kind == "bool":
        return [None if v is None else int(v) for v in column.to_pylist()]
    return column.to_pylist()
