"""Pushing rows into the feature store: the SDK's `push` and `write_to_online_store`, which the feature
server's `POST /push` and `POST /write-to-online-store` call (docs/concepts/push.md).

`push(source, rows, to)` takes rows of a push source - named as its batch source's columns, or, where the
source maps a column (`field_mapping`), by the name it maps it to, as Feast's clients send them - and writes them
- `online`: into every online feature view that names the push source, through the store's newer-wins
  `write_batches`, so a row older than the stored one changes nothing: all the views at once or none of
  them (one transaction). The materialization watermark stays.
- `offline`: appended to the batch source (tasks/push_offline.py), where training sets and the next
  materialization read them.
- `online_and_offline`: both; the offline append first, so that rows which reached the online store are
  always in the offline data too.

`write_to_online_store(view, rows)` writes rows of one online view the same way.

Mapped names are renamed to the source's columns first (`source_column_names`), so the offline append
writes the source's own column names; rows giving both names of one column are refused (FC121).

Online batches are laid out as materialization's are: the view's `LatestValues` plan maps source columns to
join keys, `__fc_event_ts`, `__fc_created_ts` and features, and the store's `write_batch` casts, keeps the
newest row per key and applies newer-wins. Every check - names, mode, columns, every value, the offline
dataset - runs before anything is written, so a request that fails validation stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, reference_hint
from fcompile.graph import DType, FeatureGraph, FeatureView, Source
from fcompile.planner.plans import CREATED_TS, EVENT_TS, TIE_BREAKER, LatestValues
from fcompile.planner.online_tiles import LatestTiles, plan_latest_tiles
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.tasks.push_offline import plan_offline_append
from fcompile.tasks.push_values import (
    TIMESTAMP, BadValue, ColumnNeed, PushedRows, convert_column, first_null_row, hint_for, read_rows, show_value,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from fcompile.online.base import OnlineStore, OnlineView
    from fcompile.runners.base import Runner

PUSH_MODES = ("online", "offline", "online_and_offline")  # Feast's PushMode names


@dataclass(frozen=True)
class PushResult:
    """What a push wrote: the rows it was given, the views whose online rows it wrote (by name), and the
    rows appended to the batch source offline (0 when it pushed online only)."""

    rows: int
    views_written: tuple[str, ...]
    offline_rows: int


def push_rows(graph: FeatureGraph, push_source: str, rows: Any, to: str, online_store: Callable[[], OnlineStore],
              runner: Callable[[], Runner], online_view: Callable[[FeatureView], OnlineView]) -> PushResult:
    """Write `rows` of a push source online, offline or both (module docstring). `online_store` and `runner`
    connect on first call; `online_view` describes a view as the store keeps it."""
    mode = push_mode(to)
    online, offline = mode != "offline", mode != "online"
    label = f"push source '{push_source}'"
    source = graph.source(_push_source(graph, push_source).batch_source)
    pushed = source_column_names(read_rows(rows, label), source, label)
    pushed_to = [v for v in graph.push_views(push_source) if v.online] if online else []
    views = [v for v in pushed_to if v.plain_features or not v.has_aggregations]
    readings = [plan_latest_values(graph, view) for view in views]
    tiled = [v for v in pushed_to if v.has_aggregations]  # their tiles take the rows (tasks/push_tiles.py)
    tile_readings = [plan_latest_tiles(graph, view) for view in tiled]
    needs = [need for reading in [*readings, *tile_readings] for need in reading_needs(reading)]
    if offline:  # every view reading the batch source will read the appended rows
        needs += [need for view in graph.feature_views if view.source == source.name
                  for need in _view_needs(graph, view)] + source_needs(source)
    check_columns(pushed, needs, label, source)
    converted, problems = convert_columns(pushed, needs, label)
    append = plan_offline_append(graph, source, pushed, converted, needs, label, runner, problems) if offline else None
    if problems:
        raise DiagnosticError(problems)
    store = online_store() if (readings or tile_readings) and pushed.count else None  # reachable before writing
    offline_rows = append.write() if append is not None and pushed.count else 0
    written: tuple[str, ...] = ()
    if store is not None:
        batches = [(online_view(view), online_batch(reading, converted)) for view, reading in zip(views, readings)]
        if tiled:
            from fcompile.online import tile_spec
            from fcompile.online.tiles import TILES_SUFFIX
            from fcompile.tasks.push_tiles import tile_batch

            for view, reading in zip(tiled, tile_readings):
                spec = tile_spec(graph, view)
                batches.append((spec.online_view, tile_batch(store, spec, reading,
                                                             tile_rows(reading, converted))))
            written = tuple(dict.fromkeys(name.removesuffix(TILES_SUFFIX) for name in _write_views(store, batches)))
        else:
            written = _write_views(store, batches)
    return PushResult(pushed.count, written, offline_rows)


def _view_needs(graph: FeatureGraph, view: FeatureView) -> list[ColumnNeed]:
    """The source columns a view reads: its plain features' and, with aggregations, its tiles' inputs."""
    needs = reading_needs(plan_latest_values(graph, view))
    if view.has_aggregations:
        needs += reading_needs(plan_latest_tiles(graph, view))  # type: ignore[arg-type]
    return needs


def write_view_rows(graph: FeatureGraph, view_name: str, rows: Any, online_store: Callable[[], OnlineStore],
                    online_view: Callable[[FeatureView], OnlineView]) -> int:
    """Write rows of one online feature view (its join keys, event and created timestamps and features, by
    its source's column names or the names its `field_mapping` gives them) into the online store, newer
    wins. Returns the rows written."""
    _check_name_text(view_name, "feature view")
    view = graph.get("feature_view", view_name)
    if not isinstance(view, FeatureView):
        names = [v.name for v in graph.feature_views]
        raise DiagnosticError([Diagnostic(Code.UNKNOWN_VIEW, f"unknown feature view '{view_name}'", None,
                                          reference_hint(view_name, "feature view", names))])
    label = f"feature view '{view_name}'"
    if not view.online:
        raise DiagnosticError([Diagnostic(Code.VIEW_NOT_ONLINE, f"{label} is not in the online store (online: "
                                          "false)", view.location, "set online: true on the view to serve it online")])
    source = graph.source(view.source)
    pushed = source_column_names(read_rows(rows, label), source, label)
    reading = plan_latest_values(graph, view)
    needs = reading_needs(reading)
    check_columns(pushed, needs, label, source)
    converted, problems = convert_columns(pushed, needs, label)
    if problems:
        raise DiagnosticError(problems)
    if not pushed.count:
        return 0
    from fcompile.online.base import guard_store

    return guard_store(online_store().write_batch, online_view(view), online_batch(reading, converted))


FEAST_EVENT_COLUMN, FEAST_CREATED_COLUMN = "event_timestamp", "created"


def with_feast_time_columns(graph: FeatureGraph, view_name: str, df: dict[str, Any]) -> dict[str, Any]:
    """Rows for `write_view_rows` sent by Feast's remote online store, which always names the time columns
    `event_timestamp` and `created`, whatever the source calls them: each is renamed to the source column
    the view reads (as its `LatestValues` plan reads it, field mapping included) when that column is
    absent, and `created` is dropped when the view reads no created time and no column of that name."""
    view = graph.get("feature_view", view_name)
    if not isinstance(view, FeatureView):
        return df  # write_view_rows names the unknown view
    reading = plan_latest_values(graph, view)
    out = dict(df)
    for column, feast_name in ((reading.event_timestamp, FEAST_EVENT_COLUMN),
                               (reading.created_timestamp, FEAST_CREATED_COLUMN)):
        if column is not None and column not in out and feast_name in out:
            out[column] = out.pop(feast_name)
    if FEAST_CREATED_COLUMN in out and FEAST_CREATED_COLUMN not in {n.column for n in reading_needs(reading)}:
        del out[FEAST_CREATED_COLUMN]
    return out


def push_mode(to: Any) -> str:
    """`to` as one of PUSH_MODES (any letter case, as Feast's server takes it); FC123 otherwise."""
    mode = to.lower() if isinstance(to, str) else None
    if mode not in PUSH_MODES:
        from fcompile.diagnostics import did_you_mean

        shown = repr(to) if not isinstance(to, str) else f"'{to}'"
        raise DiagnosticError([Diagnostic(Code.PUSH_REQUEST, f"unknown push destination {shown}", None,
                                          (did_you_mean(to, PUSH_MODES) if isinstance(to, str) else None)
                                          or "use 'online', 'offline' or 'online_and_offline' (--to on the command line, to= in "
                                          "the SDK and the HTTP body)")])
    return mode  # type: ignore[return-value]


def reading_needs(reading: LatestValues) -> list[ColumnNeed]:
    """The source columns a view's rows are made of, as its `LatestValues` plan reads them."""
    view = reading.view
    needs = [ColumnNeed(k.source_column, k.dtype, f"join key '{k.name}'", non_null=True) for k in reading.keys]
    needs.append(ColumnNeed(reading.event_timestamp, TIMESTAMP, "event timestamp", non_null=True, event_time=True))
    if reading.created_timestamp:
        needs.append(ColumnNeed(reading.created_timestamp, TIMESTAMP, "created timestamp", required=False,
                                event_time=True))
    needs += [ColumnNeed(f.source_column, f.dtype, f"feature '{f.output_name}' of view '{view}'")
              for f in reading.features]
    if isinstance(reading, LatestTiles) and reading.keeps_tie:  # a `last` keeps it to compare pushed rows
        needs.append(ColumnNeed(reading.tie_breaker, reading.tie_breaker_dtype, "tie_breaker",  # type: ignore[arg-type]
                                required=False))
    return needs


def source_needs(source: Source) -> list[ColumnNeed]:
    """The time columns of a source, which rows appended to it need even when no view reads it."""
    column_of = {name: column for column, name in source.field_mapping}
    needs = [ColumnNeed(column_of.get(source.timestamp_field, source.timestamp_field), TIMESTAMP,
                        "event timestamp", non_null=True, event_time=True)]
    if source.created_timestamp_field:
        needs.append(ColumnNeed(column_of.get(source.created_timestamp_field, source.created_timestamp_field),
                                TIMESTAMP, "created timestamp", required=False, event_time=True))
    return needs


def source_column_names(pushed: PushedRows, source: Source, label: str) -> PushedRows:
    """The rows with each column named by the name `source.field_mapping` gives it (`conv_rate` for a
    mapping `conversion_rate: conv_rate`) renamed to the source's column, as Feast's push and write take
    either name. A name that is itself a mapped column of the source stays that column. FC121 when the
    rows give both names of one column: which one holds the values is not for fcompile to guess."""
    renames = {name: column for column, name in _column_aliases(source).items() if name in pushed.columns}
    if not renames:
        return pushed
    both = [(column, name) for name, column in renames.items() if column in pushed.columns]
    if both:
        shown = "; ".join(f"'{column}' and '{name}'" for column, name in both)
        raise DiagnosticError([Diagnostic(
            Code.PUSH_COLUMNS, f"{label}: the rows give both names of one column of source '{source.name}' "
            f"(field_mapping): {shown}", None, "give each column once, by the source's column name or by the "
            "name the source maps it to")])
    return PushedRows({renames.get(name, name): values for name, values in pushed.columns.items()}, pushed.count)


def _column_aliases(source: Source) -> dict[str, str]:
    """Source column -> the other name pushed rows may give it: the name its field mapping gives it,
    unless that name is itself a mapped column of the source."""
    mapped_columns = {column for column, _ in source.field_mapping}
    return {column: name for column, name in source.field_mapping if name != column and name not in mapped_columns}


def check_columns(pushed: PushedRows, needs: Sequence[ColumnNeed], label: str, source: Source) -> None:
    """FC121 naming every required column the rows lack (and its other name, if the source maps it), with
    the columns expected."""
    missing = sorted({n.column for n in needs if n.required and n.column not in pushed.columns})
    if not missing:
        return
    aliases = _column_aliases(source)
    named = {column: f"'{column}'" + (f" (or '{aliases[column]}')" if column in aliases else "") for column in missing}
    expected: dict[str, str] = {}
    for need in needs:
        alias = f" or {aliases[need.column]}" if need.column in aliases else ""
        expected.setdefault(need.column, f"{need.column}{alias} ({need.dtype}{'' if need.required else ', optional'})")
    have = ", ".join(pushed.columns) or "none"
    raise DiagnosticError([Diagnostic(
        Code.PUSH_COLUMNS, f"{label}: the rows lack the column{'s' if len(missing) > 1 else ''} "
        f"{', '.join(named[m] for m in missing)} (they have: {have})", None,
        f"rows are named as the columns of source '{source.name}': {', '.join(expected.values())}")])


def convert_columns(pushed: PushedRows, needs: Sequence[ColumnNeed],
                    label: str) -> tuple[dict[tuple[str, DType], pa.Array], list[Diagnostic]]:
    """Every needed column present, converted to its dtype (keyed by column and dtype: two views may read
    one column as different dtypes), and FC122 for each column with a value that does not fit, is empty
    where it may not be, or is an event time later than now plus a day (`future_event_time`)."""
    converted: dict[tuple[str, DType], pa.Array] = {}
    problems: list[Diagnostic] = []
    failed: set[str] = set()
    for need in needs:
        key = (need.column, need.dtype)
        if need.column not in pushed.columns or key in converted or need.column in failed:
            continue
        try:
            array = convert_column(pushed.columns[need.column], need.dtype)
        except BadValue as bad:
            failed.add(need.column)
            problems.append(Diagnostic(
                Code.PUSH_VALUE_TYPE, f"{label}: column '{need.column}' ({need.role}) must hold {need.dtype} values, "
                f"but row {bad.row} holds {show_value(bad.value)}, which {bad.problem}", None, hint_for(need.dtype)))
            continue
        converted[key] = array
    for need in needs:
        array = converted.get((need.column, need.dtype))
        row = first_null_row(array) if need.non_null and array is not None else None
        if row is not None and need.column not in failed:
            failed.add(need.column)
            problems.append(Diagnostic(Code.PUSH_VALUE_TYPE, f"{label}: column '{need.column}' ({need.role}) is "
                                       f"empty in row {row}", None,
                                       "every row needs a value here: a row without one could never be read"))
    for need in needs:
        array = converted.get((need.column, need.dtype))
        if need.event_time and array is not None and need.column not in failed:
            problem = future_event_time(array, need, label)
            if problem is not None:
                failed.add(need.column)
                problems.append(problem)
    return converted, problems


def future_event_time(array: pa.Array, need: ColumnNeed, label: str) -> Diagnostic | None:
    """FC122 naming the first row of `array` (event times, UTC) later than now plus MAX_END_AHEAD - the
    limit a materialization window's end has (FC119) - or None. Stored, such a row would win over every
    value of its key until then (newer wins), and offline it would be loaded the day it is "due"."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from fcompile.tasks.datasets import _timestamp
    from fcompile.tasks.materialize import latest_allowed_time

    limit = latest_allowed_time()
    late = pc.greater(array, pa.scalar(limit, type=array.type))
    count = pc.sum(late).as_py() or 0
    if not count:
        return None
    row = pc.index(late, True).as_py()
    more = f" (and {count - 1:,} more row{'s' * (count != 2)})" if count > 1 else ""
    return Diagnostic(Code.PUSH_VALUE_TYPE, f"{label}: column '{need.column}' ({need.role}) holds "
                      f"{_timestamp(array[row].as_py())} in row {row}{more}, later than {_timestamp(limit)} (now "
                      "plus 1 day)", None, "an event or created time may be at most 1 day ahead of now (clock skew): a later "
                      "row would win over every real value of its key until then; correct the row's time (a typo "
                      "in the year?); nothing was written")


def online_batch(reading: LatestValues, converted: dict[tuple[str, DType], pa.Array]) -> pa.RecordBatch:
    """The rows laid out as materialization writes a view: join keys, `__fc_event_ts`, `__fc_created_ts`
    (when the source has a created timestamp; NULL where the rows have none) and the features."""
    import pyarrow as pa

    count = len(converted[(reading.event_timestamp, TIMESTAMP)])
    columns = {k.name: converted[(k.source_column, k.dtype)] for k in reading.keys}
    columns[EVENT_TS] = converted[(reading.event_timestamp, TIMESTAMP)]
    if reading.created_timestamp:
        columns[CREATED_TS] = converted.get((reading.created_timestamp, TIMESTAMP),
                                            pa.nulls(count, pa.timestamp("us", "UTC")))
    for feature in reading.features:
        columns[feature.output_name] = converted[(feature.source_column, feature.dtype)]
    return pa.RecordBatch.from_pydict(columns)


def tile_rows(reading: LatestTiles, converted: dict[tuple[str, DType], pa.Array]) -> pa.RecordBatch:
    """The rows as `online_batch` lays them out for a view's tiles, and, where its tiles keep the order of a
    `last` (a source with a tie_breaker), the tie_breaker as `__fc_tie_breaker` (NULL where the rows have none)."""
    import pyarrow as pa

    from fcompile.online.values import arrow_type

    batch = online_batch(reading, converted)  # type: ignore[arg-type]
    if not reading.keeps_tie:
        return batch
    dtype = reading.tie_breaker_dtype
    absent = pa.nulls(batch.num_rows, arrow_type(dtype))  # type: ignore[arg-type]
    ties = converted.get((reading.tie_breaker, dtype), absent)  # type: ignore[arg-type]
    return batch.append_column(TIE_BREAKER, ties)


def _write_views(store: OnlineStore, batches: list[tuple[OnlineView, pa.RecordBatch]]) -> tuple[str, ...]:
    """The views' rows through the store's newer-wins `write_batches`: all of them or none (one transaction;
    docs/concepts/push.md). A store that fails is FC113/FC114 (`guard_store`); for a push to several views
    its message says which were written and which were not. Returns the views written, by name."""
    from dataclasses import replace

    from fcompile.online.base import StoreFailure, guard_store

    names = tuple(view.name for view, _ in batches)
    try:
        guard_store(store.write_batches, batches)
    except StoreFailure as failure:
        if len(names) < 2:
            raise
        written = [name for name in names if name in failure.written]
        missed = [name for name in names if name not in failure.written]
        told = (f"; written: views {', '.join(written)}; not written: views {', '.join(missed)}" if written else
                f"; none of the views {', '.join(names)} was written (they are written together, all or none)")
        raise StoreFailure([replace(d, message=d.message + told) for d in failure.diagnostics], written) from None
    return names


def _push_source(graph: FeatureGraph, name: Any):
    _check_name_text(name, "push source")
    node = graph.get("push_source", name)
    if node is not None:
        return node
    if graph.get("source", name) is not None:
        pushes = [p.name for p in graph.push_sources if p.batch_source == name]
        hint = (f"push to '{pushes[0]}', the push source whose batch source it is" if pushes else
                f"declare one: sources: [{{name: {name}_push, push: {{batch_source: {name}}}}}]")
        raise DiagnosticError([Diagnostic(Code.PUSH_SOURCE_KIND, f"source '{name}' is not a push source", None, hint)])
    names = [p.name for p in graph.push_sources]
    raise DiagnosticError([Diagnostic(Code.UNKNOWN_SOURCE, f"unknown push source '{name}'", None,
                                      reference_hint(name, "push source", names))])


def _check_name_text(name: Any, kind: str) -> None:
    if not isinstance(name, str):
        raise DiagnosticError([Diagnostic(Code.PUSH_REQUEST, f"a {kind} is named by text, not {type(name).__name__}",
                                          None, f"give the {kind}'s name as a string")])
