"""`fcompile materialize`: load the newest value per entity of each online feature view into the online
store, window by window (docs/concepts/materialization.md).

The window of a view ends at `end` (default now) and starts at
- `start`, when given;
- else the view's watermark minus its `lateness` (an incremental run);
- else, on the first run or with `full_refresh`: `end - ttl` for a view with a ttl (older values could
  never be served), or the earliest event time in the source.

The view's `LatestValues` query runs with the window bound as parameters and its rows stream into the store
in batches of bounded size; each batch commits on its own, and the store keeps the newer of stored and
incoming rows, so a run killed at any point loses nothing and a re-run converges. The watermark moves only
after every batch of the window has committed. `full_refresh` deletes nothing: the newer-wins write gives
the same result, and a run that dies midway leaves every stored value in place. A write the store fails
(it cannot be reached, or refuses or loses the batch) is FC116, naming the view and its window: the
watermark has not moved, so running again is safe. A window may end at most MAX_END_AHEAD after now (FC119),
and the watermark moves to the window's end or to the time the window was read, whichever is earlier (rows
may still arrive for times after it). `full_refresh` sets the watermark even when the stored one is later (how
a watermark moved too far by an earlier version is put back).

A window that holds no rows commits too, and moves the watermark: the watermark says up to when the source
was read, not up to when it had data, so the next incremental run does not read the same empty time again.
Such a run is not a silent success: its result says the window was empty and, unless it started at the
watermark, when the newest older row is (one more count over the source), and `materialize_hints` says how
to load older rows. A window that would end before the watermark is not read at all ("skipped": up to
date) and says so too.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, reference_hint
from fcompile.graph import FeatureGraph, FeatureView
from fcompile.online.base import StoreFailure, guard_store
from fcompile.online.values import as_utc
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.runners.base import Runner
from fcompile.tasks.run_results import _timestamp, run_results_metadata

if TYPE_CHECKING:
    import pyarrow as pa

    from fcompile.online.base import OnlineStore

BATCH_ROWS = 100_000  # rows per batch read from the engine and written to the store (one commit each)
UTC = dt.timezone.utc


@dataclass(frozen=True)
class Window:
    """The event-time window [start, end] of one view's run, both ends inclusive."""

    start: dt.datetime | None  # None: the earliest event time, until counted; then None: no row up to `end`
    end: dt.datetime
    basis: str  # how `start` was chosen: "start", "watermark", "ttl", "earliest", "empty"

    def describe(self) -> str:
        start = _timestamp(self.start) if self.start is not None else "(no data)"
        return f"[{start}, {_timestamp(self.end)}]"


@dataclass(frozen=True)
class ViewResult:
    view: str
    status: str  # "success", "skipped" (the watermark is past the window's end: nothing read) or "error"
    window: Window | None
    rows_read: int | None     # source rows with an event time in the window
    keys_written: int | None  # rows written to the store: one per entity key
    seconds: float
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    newest: dt.datetime | None = None     # an empty window: the source's newest event time before its end
    watermark: dt.datetime | None = None  # the view's watermark before the run
    # a view with aggregations: the first step whose tiles were recomputed (whole steps: before the window's
    # start when it falls inside a step, and the keys written are every entity with rows in those steps)
    tiles_since: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.status != "error"

    @property
    def outcome(self) -> str:
        """What happened, for the summary: "loaded", "empty" (the window held no rows), "up to date"
        (skipped) or "failed"."""
        if self.status == "error":
            return "failed"
        if self.status == "skipped":
            return "up to date"
        return "loaded" if self.rows_read else "empty"

    @property
    def message(self) -> str | None:
        """What happened, in a line (None for a failure: its diagnostics say it)."""
        outcome = self.outcome
        if outcome == "failed":
            return None
        assert self.window is not None
        if outcome == "up to date":
            watermark = _timestamp(self.watermark) if self.watermark is not None else "unknown"
            return (f"up to date: the watermark {watermark} is past the requested end {_timestamp(self.window.end)}; "
                    "nothing read")
        if outcome == "loaded":
            keys, rows = self.keys_written or 0, self.rows_read or 0
            line = (f"loaded {keys:,} key{'s' * (keys != 1)} ({rows:,} row{'s' * (rows != 1)}) in "
                    f"{self.window.describe()}")
            if self.tiles_since is not None and self.window.start is not None and self.tiles_since < self.window.start:
                line += f"; tiles of whole steps from {_timestamp(self.tiles_since)} recomputed"
            return line
        if self.window.start is None:
            return f"no rows: the source has none at or before {_timestamp(self.window.end)}"
        if self.window.basis == "watermark":
            return f"no new rows since the watermark: none in {self.window.describe()}"
        return f"no rows in {self.window.describe()}" + (
            f"; newest row at {_timestamp(self.newest)}" if self.newest is not None
            else "; the source has none before it either")


def materialize_hints(results: Sequence[ViewResult]) -> list[str]:
    """What to do about the views that read nothing, once for all of them (the command prints these after
    its summary)."""
    hints = []
    skipped = [r for r in results if r.outcome == "up to date"]
    if any(r.watermark is not None and as_utc(r.watermark) > dt.datetime.now(UTC) for r in skipped):
        hints.append("a view's watermark is later than now (an earlier run was given a future end): "
                     "`fcompile materialize --reset-watermark` unsets it, keeping the stored values, or "
                     "--full-refresh reads the view's window again and sets it to the end")
    elif skipped:
        hints.append("a view whose watermark is past the requested end loaded that time before (or found it "
                     "empty): add --full-refresh to read its window again, or give --start")
    older = [r.newest for r in results if r.outcome == "empty" and r.newest is not None and r.window is not None
             and r.window.basis in ("ttl", "start")]
    if older:
        newest = _timestamp(max(older))
        hints.append(f"the newest rows of a view are older than its window: `fcompile materialize --full-refresh "
                     f"--end {newest}` loads the values as of then (read them with --now {newest}), or give an "
                     "earlier --start")
    return hints


class MaterializeProgress(Protocol):
    def start(self, view: str, window: Window, total_keys: int | None, estimated: bool = False,
              rows: int | None = None) -> None:
        """`total_keys` None: not counted (the engine's count would cost more than it tells); `rows`: the
        source rows in the window."""

    def advance(self, view: str, keys: int) -> None: ...

    def done(self, result: ViewResult) -> None: ...


class NoProgress:
    def start(self, view: str, window: Window, total_keys: int | None, estimated: bool = False,
              rows: int | None = None) -> None:
        pass

    def advance(self, view: str, keys: int) -> None:
        pass

    def done(self, result: ViewResult) -> None:
        pass


MAX_END_AHEAD = dt.timedelta(days=1)  # how far past now a window may end, and a pushed time may be (clock skew)


def latest_allowed_time() -> dt.datetime:
    """The latest time a window may end at, and a pushed row's event time may be: now plus MAX_END_AHEAD."""
    return dt.datetime.now(UTC) + MAX_END_AHEAD


def check_window_arguments(start: dt.datetime | None, end: dt.datetime) -> None:
    """FC119 for a window that ends before it starts, or that ends more than MAX_END_AHEAD after now."""
    latest = latest_allowed_time()
    if as_utc(end) > latest:
        raise DiagnosticError([Diagnostic(Code.MATERIALIZE_WINDOW, f"the window ends at {_timestamp(as_utc(end))}, "
                                          f"later than {_timestamp(latest.replace(microsecond=0))} (now plus 1 "
                                          "day): such an end is a typo, and its values would be served as "
                                          "current", None, "give an end up to now (omit --end for now; in the "
                                          "SDK, end_date; on the server, end_ts)")])
    if start is not None and as_utc(start) > as_utc(end):
        raise DiagnosticError([Diagnostic(Code.MATERIALIZE_WINDOW, f"the window starts ({_timestamp(as_utc(start))}) "
                                          f"after it ends ({_timestamp(as_utc(end))})", None,
                                          "give a start before the end (--start/--end; in the SDK, start_date/end_date)")])


def views_to_materialize(graph: FeatureGraph, names: list[str] | None) -> list:
    """The named views (all online views when None). Raises FC032 for unknown names, FC118 for a view
    with `online: false`."""
    if names is None:
        return [v for v in graph.feature_views if v.online]
    problems, views = [], []
    known = [v.name for v in graph.feature_views]
    for name in dict.fromkeys(names):
        view = graph.get("feature_view", name)
        if view is None:
            problems.append(Diagnostic(Code.UNKNOWN_VIEW, f"unknown feature view '{name}'", None,
                                       reference_hint(name, "feature view", known)))
        elif not view.online:  # type: ignore[union-attr]
            problems.append(Diagnostic(Code.VIEW_NOT_ONLINE, f"feature view '{name}' is not loaded into the online "
                                       "store (online: false)", None, "leave it out of \"feature_views\", or set "
                                       "`online: true` in its spec"))
        else:
            views.append(view)
    if problems:
        raise DiagnosticError(problems)
    return views


def materialize_views(graph: FeatureGraph, runner: Runner, store: OnlineStore, views: Sequence[FeatureView],
                      end: dt.datetime, start: dt.datetime | None = None, full_refresh: bool = False,
                      progress: MaterializeProgress | None = None, batch_rows: int = BATCH_ROWS) -> list[ViewResult]:
    """Materialize each view on its own: one that fails is reported and the others still run."""
    check_window_arguments(start, end)
    end = as_utc(end)
    start = as_utc(start) if start is not None else None
    progress = progress or NoProgress()
    return [materialize_view(graph, runner, store, view, end, start, full_refresh, progress, batch_rows)
            for view in views]


def materialize_view(graph: FeatureGraph, runner: Runner, store: OnlineStore, view: FeatureView,
                     end: dt.datetime, start: dt.datetime | None = None, full_refresh: bool = False,
                     progress: MaterializeProgress | None = None, batch_rows: int = BATCH_ROWS) -> ViewResult:
    from fcompile.online import online_view

    progress = progress or NoProgress()
    started = time.perf_counter()
    label = f"feature view '{view.name}'"
    window: Window | None = None
    rows_read = written = None
    newest = state = tiles_since = None
    status, problems = "success", ()
    try:
        _check_source_files(graph, view)
        plan = plan_latest_values(graph, view)
        state = guard_store(store.get_state, view.name)
        window = choose_window(view, end, start, None if full_refresh or state is None else state.watermark)
        if window.start is not None and window.start > window.end:  # the watermark is past `end` already
            status, rows_read, written = "skipped", 0, 0
        else:
            # the watermark this run leaves, and the reads its tiles serve: the window's end, or the time of the
            # read if earlier (rows may still come for later times), floored to the second as a default end is,
            # so a run right after this one reads rather than skips
            horizon = min(window.end, dt.datetime.now(UTC).replace(microsecond=0))
            stats = runner.window_stats(plan, window.start, window.end, label, view.location)
            if window.start is None:
                window = replace(window, start=stats.earliest, basis="earliest" if stats.earliest else "empty")
            elif not stats.rows and window.basis != "watermark":  # say when the data ends (an incremental
                # run that finds nothing new, the routine case, does not pay for a second scan)
                newest = runner.window_stats(plan, None, window.end, label, view.location).latest
            rows_read, written = stats.rows, 0
            progress.start(view.name, window, stats.keys, estimated=not stats.keys_exact, rows=stats.rows)
            of = "" if stats.keys is None else f" of {'' if stats.keys_exact else 'about '}{stats.keys:,}"
            what = f"writing the window {window.describe()} failed after 0{of} keys"  # `of`: no "1 keys" below
            try:
                if window.start is not None and stats.rows and view.plain_features:
                    target = online_view(graph, view)
                    reader = runner.latest_values(plan, window.start, window.end, label, view.location, batch_rows)
                    for batch in _utc_batches(reader):
                        written += guard_store(store.write_batch, target, batch)  # committed
                        what = (f"writing the window {window.describe()} failed after {written:,}{of} "
                                f"key{'s' * (bool(of) or written != 1)}")
                        progress.advance(view.name, batch.num_rows)
                if window.start is not None and view.has_aggregations:
                    tiles, tiles_since = _materialize_tiles(graph, runner, store, view, window,
                                                            full_refresh or state is None, label, batch_rows,
                                                            horizon)
                    written = written if view.plain_features else tiles
                what = f"the window {window.describe()} was written ({written:,} keys), but saving its watermark failed"
                _put_state(store, view, None if full_refresh else state, window, rows_read, written, horizon)
            except StoreFailure as failure:
                raise _write_failed(label, state, failure, what) from None
    except DiagnosticError as error:
        status, problems = "error", tuple(_in_context(d, label, view) for d in error.diagnostics)
    result = ViewResult(view.name, status, window, rows_read, written, time.perf_counter() - started, problems,
                        newest, state.watermark if state is not None else None, tiles_since)
    progress.done(result)
    return result


def _materialize_tiles(graph: FeatureGraph, runner: Runner, store: OnlineStore, view: FeatureView, window: Window,
                       first: bool, label: str, batch_rows: int, horizon: dt.datetime) -> tuple[int, dt.datetime]:
    """The view's tiles for the window (tasks/materialize_tiles.py); a first run or a full refresh drops the
    stored tiles first. Returns the entities written and the first step recomputed.

    The tiles kept are those a read at or after `horizon`, the watermark this run leaves (the window's end, or
    the time of the read if earlier: an `--end` in the future), can need: a window ending in the future must
    not drop the tiles that a read now still reads."""
    from fcompile.online import tile_spec
    from fcompile.planner.online_tiles import plan_latest_tiles
    from fcompile.tasks.materialize_tiles import tiles_since, write_tiles

    spec = tile_spec(graph, view)
    if first:
        guard_store(store.drop_view, spec.online_view.name)
    since = tiles_since(spec, None if first and window.basis != "start" else window.start, horizon)
    return write_tiles(store, spec, runner, plan_latest_tiles(graph, view), since, window.end, label, batch_rows,
                       horizon), since


def choose_window(view: FeatureView, end: dt.datetime, start: dt.datetime | None,
                  watermark: dt.datetime | None) -> Window:
    """The window's start by the rules in this module's docstring; None when it is the earliest data."""
    if start is not None:
        return Window(start, end, "start")
    if watermark is not None:
        since = _before(as_utc(watermark), view.lateness)
        return Window(since, end, "watermark") if since is not None else Window(None, end, "earliest")
    if view.ttl is not None:
        since = _before(end, view.ttl)
        return Window(since, end, "ttl") if since is not None else Window(None, end, "earliest")
    return Window(None, end, "earliest")


def _before(moment: dt.datetime, span: dt.timedelta) -> dt.datetime | None:
    """`moment - span`, or None (no lower bound) when that is before datetime's first year."""
    try:
        return moment - span
    except OverflowError:
        return None


def _put_state(store: OnlineStore, view: FeatureView, previous, window: Window, rows_read: int, written: int,
               watermark: dt.datetime) -> None:
    """After every batch committed: the watermark moves to `watermark` (the run's horizon). It never moves
    back, unless `previous` is None: a full refresh sets it even when the stored one is later."""
    from fcompile.online.base import ViewState

    if previous is not None and previous.watermark is not None and as_utc(previous.watermark) > watermark:
        watermark = as_utc(previous.watermark)
    state = ViewState(watermark=watermark, last_run_at=dt.datetime.now(UTC), last_window_start=window.start,
                      rows_read=rows_read, keys_written=written)
    guard_store(store.put_state, view.name, state)
    store.forget_cached_state(view.name)


def _write_failed(label: str, state, failure: DiagnosticError, what: str) -> DiagnosticError:
    """FC116: `what` happened (the store's message follows); the watermark did not move, so running again
    is safe - it reads the window again, and what was written stays (newer rows win). The hint names no
    view, so the views a broken store fails together share it (the command prints it once)."""
    cause = failure.diagnostics[0]
    watermark = state.watermark if state is not None else None
    where = f"at {_timestamp(as_utc(watermark))}" if watermark is not None else "unset"
    hint = ("running `fcompile materialize` again is safe: the watermark did not move, so it reads this window "
            "again, and the rows written before the failure stay (newer rows always win)")
    hint = f"{cause.hint}; {hint}" if cause.hint else hint
    return DiagnosticError([Diagnostic(Code.ONLINE_WRITE_FAILED, f"{label}: {what}: {cause.message}; the watermark "
                                       f"({where}) did not move", None, hint)])


def _utc_batches(reader: pa.RecordBatchReader):
    """The reader's batches with naive timestamp columns marked UTC (what they mean: sessions run in UTC)."""
    import pyarrow as pa

    schema = reader.schema
    fields = [f.with_type(pa.timestamp(f.type.unit, "UTC")) if pa.types.is_timestamp(f.type) and f.type.tz is None
              else f for f in schema]
    target = pa.schema(fields, metadata=schema.metadata)
    if target.equals(schema):
        yield from reader
        return
    for batch in reader:
        yield batch.cast(target)


def _check_source_files(graph: FeatureGraph, view: FeatureView) -> None:
    from fcompile.parser.source_schema import source_files, source_path
    from fcompile.user_paths import looked_for

    source = graph.source(view.source)
    if source.kind == "path" and not source_files(graph.project.root, source):
        where = looked_for(source.locator, source_path(graph.project.root, source))
        raise DiagnosticError([Diagnostic(Code.SOURCE_FILE_NOT_FOUND, f"feature view '{view.name}': its source "
                                          f"'{source.name}' matches no file ('{source.locator}'){where}",
                                          source.location,
                                          "paths are relative to the project folder; generate or copy the data there")])


def _in_context(diagnostic: Diagnostic, label: str, view: FeatureView) -> Diagnostic:
    message = diagnostic.message if diagnostic.message.startswith(label) else f"{label}: {diagnostic.message}"
    return replace(diagnostic, message=message, position=diagnostic.position or view.location)


# -- run_results.json ------------------------------------------------------------------------------------

def materialize_locked(graph: FeatureGraph, runner: Runner | None, views: Sequence[FeatureView], end: dt.datetime,
                       start: dt.datetime | None = None, full_refresh: bool = False,
                       progress: MaterializeProgress | None = None, batch_rows: int = BATCH_ROWS) -> list[ViewResult]:
    """`materialize_views` into the target's online store, holding the project folder's and the store's
    materialization locks (tasks/locks.py: one run at a time, across the CLI, the server's workers and
    other clones of the project; FC129 when one is running). Without a runner, one is connected once the
    locks are held (a busy project is FC129 before the engine is touched)."""
    import contextlib

    from fcompile.runners import connect_runner
    from fcompile.tasks.locks import hold_materialization

    with contextlib.ExitStack() as stack:
        store = stack.enter_context(hold_materialization(graph))
        if runner is None:
            runner = stack.enter_context(connect_runner(graph.project))
        return materialize_views(graph, runner, store, views, end, start, full_refresh, progress, batch_rows)


@dataclass(frozen=True)
class WatermarkReset:
    """A view whose watermark `reset_watermarks` unset, and the watermark it had (None: it had none)."""

    view: str
    previous: dt.datetime | None


def reset_watermarks(graph: FeatureGraph, views: Sequence[FeatureView]) -> list[WatermarkReset]:
    """Unset each view's watermark, keeping its stored values and the rest of its state: the next incremental
    run loads the first-run window (`end - ttl`, or from the earliest data), as on a first run. How a
    watermark that moved too far (a typo'd end, an earlier fcompile) is put right without loading anything
    (docs/concepts/materialization.md). Under the folder's and the store's materialization locks, like a run
    (FC129 while one runs)."""
    from fcompile.tasks.locks import hold_materialization

    resets = []
    with hold_materialization(graph) as store:
        for view in views:
            state = guard_store(store.get_state, view.name)
            previous = state.watermark if state is not None else None
            if state is not None and previous is not None:
                guard_store(store.put_state, view.name, replace(state, watermark=None))
                store.forget_cached_state(view.name)
            resets.append(WatermarkReset(view.name, as_utc(previous) if previous is not None else None))
    return resets


def materialize_and_record(graph: FeatureGraph, runner: Runner | None, names: Sequence[str] | None,
                           end: dt.datetime, start: dt.datetime | None) -> tuple[list[ViewResult], dict]:
    """The SDK's and the server's run: the named online views (all when None) over [start, end] (from each
    watermark without `start`), under the project's lock, recorded in `target/run_results.json`. Returns the
    results and the recorded document."""
    check_window_arguments(start, end)
    views = views_to_materialize(graph, None if names is None else list(names))
    started = dt.datetime.now(UTC)
    results = materialize_locked(graph, runner, views, end, start)
    return results, record_materialization(graph, results, started)


def record_materialization(graph: FeatureGraph, results: Sequence[ViewResult], started_at: dt.datetime) -> dict:
    """The run's `target/run_results.json` document, written; returned."""
    from fcompile.tasks.run_results import write_run_results

    document = materialize_results_document(graph, results, started_at, dt.datetime.now(UTC))
    write_run_results(run_results_path(graph), document)
    return document


def materialize_results_document(graph: FeatureGraph, results: Sequence[ViewResult], started_at: dt.datetime,
                                 finished_at: dt.datetime) -> dict:
    return {"metadata": run_results_metadata(graph, "materialize", started_at, finished_at),
            "results": materialize_result_entries(graph, results)}


def materialize_result_entries(graph: FeatureGraph, results: Sequence[ViewResult]) -> list[dict]:
    """One `run_results.json` entry per view (also what `fcompile run` adds after its datasets)."""
    root = graph.project.root
    return [{
        "node": f"feature_view.{r.view}",
        "status": r.status,
        "window": None if r.window is None else {
            "start": _timestamp(r.window.start) if r.window.start is not None else None,
            "end": _timestamp(r.window.end),
            "basis": r.window.basis,
        },
        "rows_read": r.rows_read,
        "keys_written": r.keys_written,
        "seconds": round(r.seconds, 3),
        "message": "\n".join(d.render(relative_to=root) for d in r.diagnostics) or r.message,
    } for r in results]


def run_results_path(graph: FeatureGraph) -> str:
    return os.path.join(graph.project.root, "target", "run_results.json")
