"""What an online store is: key-value tables of the newest feature values per entity, and a state
record per feature view (docs/concepts/materialization.md, docs/reference/online-store-layout.md).

A store holds, for each (project, view, entity key), one row: the feature values, the row's event time
and its created time. Writes keep the newer of stored and incoming by (event_ts, created_ts) - also
between two rows of one batch - so replaying an old window never overwrites newer values, and a re-run
after a crash converges to the state of an uninterrupted run. Each view's `ViewState` (watermark, last
run, row counts) lives in the same store, so it travels with the data.

Batches come straight from a view's `LatestValues` query: the join-key columns, `__fc_event_ts`,
`__fc_created_ts` (only when the view's source has a created timestamp) and one column per feature,
named as `OnlineView` says. Timestamps are UTC.

A store object is used by one thread at a time. Store failures are diagnostics: FC113 when the store
cannot be reached or opened, FC114 when it fails while writing or reading (both raised as `StoreFailure`),
FC115 for an entity key that does not fit the view's join keys. `fcompile materialize` reports a write
that failed as FC116, naming the view and its window. How each store lays its data out:
docs/reference/online-store-layout.md.
"""

from __future__ import annotations

import abc
import datetime as dt
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING, Any, Callable, ClassVar, ContextManager, Iterable, Iterator, Mapping, NamedTuple, Sequence,
    TypeVar,
)

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.graph import DType

T = TypeVar("T")
KEY_SCAN_CHUNK = 1000  # keys per chunk of `stored_keys`: what one statement (one SCAN call) fetches

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class OnlineView:
    """How one feature view is stored: its name, keys and features, in declaration order."""

    name: str
    keys: tuple[tuple[str, DType], ...]       # join keys (name, dtype), in the entities' order
    features: tuple[tuple[str, DType], ...]   # every feature of the view (name, dtype)
    has_created: bool                         # batches carry __fc_created_ts
    ttl_seconds: int | None = None            # for OUTSIDE_MAX_AGE at read time; None: never too old
    # rows of kilobytes (a view's tiles, fcompile/online/tiles.py): SQLite keeps them in a rowid table with a
    # unique key, whose lookups do not walk the rows' overflow pages as a WITHOUT ROWID table's do
    large_rows: bool = False


class StoredRow(NamedTuple):
    """One entity's stored row (a named tuple: reads make one per entity, and a tuple is the cheapest
    immutable object to make)."""

    values: Mapping[str, Any]   # feature name -> Python value (None for NULL)
    event_ts: dt.datetime       # UTC, timezone-aware
    created_ts: dt.datetime | None


@dataclass(frozen=True)
class ViewState:
    """Where materialization of one view stands. The watermark moves only after every chunk of a
    window has committed: the next incremental run starts there (minus the view's lateness)."""

    watermark: dt.datetime | None   # end of the last fully committed window (UTC, aware)
    last_run_at: dt.datetime | None  # when that run finished (UTC, aware)
    last_window_start: dt.datetime | None
    rows_read: int = 0               # rows the last committed window read from the offline engine
    keys_written: int = 0            # entity keys it wrote


class OnlineStore(abc.ABC):
    """One connection to an online store, for one project. Use it as a context manager, or `close()`."""

    type_name: str  # "sqlite", "redis", "postgres": the target's `online.type`
    # where the store is when the target's settings name nothing (`fcompile debug` shows it)
    default_location: ClassVar[str] = "default settings"

    @classmethod
    @abc.abstractmethod
    def connect(cls, settings: Mapping[str, Any], project: str, project_root: str) -> OnlineStore:
        """A store from a target's online settings (`{type: sqlite, path: ...}`, `{type: redis, url: ...}`,
        `{type: postgres, url: ...}`); relative paths are relative to the project root. Raises
        `DiagnosticError` (FC113) when the store cannot be reached, naming it and how to fix it."""

    @abc.abstractmethod
    def write_batch(self, view: OnlineView, batch: pa.RecordBatch) -> int:
        """Upsert the batch's rows, keeping per key the newer of stored and incoming by (event_ts,
        created_ts) - rows of this batch included; equal in both: the incoming row wins (within a
        batch, the later row). Rows with a NULL join key or a NULL event time are skipped: they can
        never be read. Commits before returning. SQLite and PostgreSQL apply a batch all or nothing;
        Redis applies it in chunks of keys, each atomic, so a failure can leave part of a batch
        written - harmless, since the watermark has not moved and a re-run converges. Returns the
        number of rows in the batch."""

    @abc.abstractmethod
    def write_batches(self, writes: Sequence[tuple[OnlineView, pa.RecordBatch]]) -> list[int]:
        """Batches of several views (a push to a push source that feeds more than one view) as one write,
        each as `write_batch` writes it: all or nothing - one transaction on SQLite and PostgreSQL, one
        MULTI/EXEC transaction on Redis. A failure is a `StoreFailure` whose `written` names the views
        written before it failed: none, except on Redis when a command inside the transaction failed
        (Redis runs the rest of a transaction after a failed command). Returns the rows of each batch."""

    @abc.abstractmethod
    def read(self, view: OnlineView, keys: Sequence[tuple[Any, ...]],
             features: Sequence[str]) -> list[StoredRow | None]:
        """The stored rows of these entity keys (tuples in `view.keys` order), None where nothing is
        stored, in the order asked; `values` holds only `features`."""

    def read_values(self, view: OnlineView, keys: Sequence[tuple[Any, ...]],
                    features: Sequence[str]) -> list[tuple | None]:
        """What `read` finds, in the serving path's form: per entity key, None where nothing is stored, else
        one tuple of the row's event time (microseconds since the epoch, UTC), then the values of `features`
        in their order. The SQLite and Redis stores decode their records straight into it."""
        from fcompile.online.values import micros

        return [None if row is None else (micros(row.event_ts), *[row.values.get(f) for f in features])
                for row in self.read(view, keys, features)]

    def read_values_of_key(self, view: OnlineView, values: list, features: Sequence[str]) -> list[tuple | None]:
        """`read_values` for a view of one join key, given the key's values rather than 1-tuples of them: values
        already checked against the key's dtype as `check_entities` (fcompile/tasks/online_reads.py) checks
        them, none of them None (the serving path's common read, which SQLite binds as they are)."""
        return self.read_values(view, list(zip(values)), features)

    def read_many(self, reads: Sequence[tuple[OnlineView, Sequence[Any], Sequence[str], bool]]) -> list[list]:
        """Several reads, each (view, keys, features, of_key): `read_values_of_key(view, keys, features)`
        where `of_key`, else `read_values(view, keys, features)`; their rows in the order given. One after
        the other here; a store that pays a round trip per read makes them one (Redis)."""
        if len(reads) == 1:  # the usual read: one view
            view, keys, features, of_key = reads[0]
            return [self.read_values_of_key(view, keys, features) if of_key else self.read_values(view, keys, features)]
        return [self.read_values_of_key(view, keys, features) if of_key else self.read_values(view, keys, features)
                for view, keys, features, of_key in reads]

    @abc.abstractmethod
    def stored_keys(self, view: OnlineView, chunk: int = KEY_SCAN_CHUNK) -> Iterator[list[bytes]]:
        """The encoded entity keys (fcompile/online/keys.py; `decode_key` turns one back into its tuple) of
        the rows stored for the view, in lists of at most `chunk`, fetched one list at a time: memory holds one
        chunk, whatever the number of keys. SQLite and PostgreSQL give each key once, in byte order (a keyset
        scan of the table's key, one statement per chunk); Redis gives them in no order, by SCAN over the view's
        key prefix, which returns every key present from start to end and may return one twice when the
        server resizes its keyspace during the scan. A view never written holds no keys."""

    @abc.abstractmethod
    def delete_keys(self, view: OnlineView, keys: Sequence[tuple[Any, ...]]) -> list[bool]:
        """Delete the stored rows of these entity keys (tuples in `view.keys` order, each given once), in
        one commit: a key that was stored is gone when this returns. Per key, in the order asked: True when
        a row was stored (and is now deleted), False when nothing was (a key holding a NULL value never is).
        The view's state (its watermark) is left as it is. Raises FC115 for a key that does not fit the
        view's join keys, before anything is deleted."""

    @abc.abstractmethod
    def get_state(self, view: str) -> ViewState | None:
        """The view's state, or None before its first committed run."""

    @abc.abstractmethod
    def put_state(self, view: str, state: ViewState) -> None:
        """Replace the view's state (committed before returning)."""

    # how long `cached_state` remembers a view's state: reads of aggregated features ask for the watermark on
    # every request, and it changes only when a materialization commits
    STATE_CACHE_SECONDS: ClassVar[float] = 1.0

    def cached_state(self, view: str) -> ViewState | None:
        """`get_state(view)` as read at most STATE_CACHE_SECONDS ago by this store object (a run through this
        object forgets it at once: `forget_cached_state`)."""
        import time

        cache = self.__dict__.setdefault("_state_cache", {})
        now = time.monotonic()
        hit = cache.get(view)
        if hit is not None and now - hit[0] < self.STATE_CACHE_SECONDS:
            return hit[1]
        state = self.get_state(view)
        cache[view] = (now, state)
        return state

    def forget_cached_state(self, view: str) -> None:
        self.__dict__.get("_state_cache", {}).pop(view, None)

    @abc.abstractmethod
    def drop_view(self, view: str) -> None:
        """Forget the view's rows and state (`materialize --full-refresh`)."""

    @abc.abstractmethod
    def materialization_lock(self) -> ContextManager[None]:
        """This project's materialization lock in this store, held while the block runs, whichever folder or
        machine the run comes from (fcompile/tasks/locks.py): FC129 (`materialization_busy`) at once when
        another run holds it. SQLite: a `flock` of a file next to the database; PostgreSQL: a session-level
        advisory lock on a connection of its own; Redis: a key with an expiry, renewed while the run lives.
        A killed run frees it with its process (Redis: when the expiry passes)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> OnlineStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- diagnostics shared by the stores ------------------------------------------------------------------

class RecordDecodingStore(OnlineStore):
    """A store whose one `_read` decodes its records into either form: `StoredRow`s for `read`, or the serving
    path's tuples for `read_values` (the SQLite and Redis stores)."""

    def read(self, view: OnlineView, keys: Sequence[tuple[Any, ...]],
             features: Sequence[str]) -> list[StoredRow | None]:
        return self._read(view, keys, features, False)

    def read_values(self, view: OnlineView, keys: Sequence[tuple[Any, ...]],
                    features: Sequence[str]) -> list[tuple | None]:
        return self._read(view, keys, features, True)

    @abc.abstractmethod
    def _read(self, view: OnlineView, keys: Sequence[tuple[Any, ...]], features: Sequence[str],
              as_tuples: bool) -> list:
        """`read`'s rows, or `read_values`' tuples where `as_tuples`."""


class StoreFailure(DiagnosticError):
    """The store itself failed (FC113 or FC114): it could not be reached, or refused or lost an operation.
    Problems of the data given to it (a key or a value that does not fit its dtype) are plain
    `DiagnosticError`s, so a caller can tell "run again later" from "fix the data". `written`: the views
    a `write_batches` did write all the same (by name)."""

    def __init__(self, diagnostics: Iterable[Diagnostic], written: Sequence[str] = ()) -> None:
        super().__init__(diagnostics)
        self.written = tuple(written)


def guard_store(call: Callable[..., T], *args: Any) -> T:
    """A store call. Stores report their failures as diagnostics (FC113-FC115); anything else they raise
    (a driver error they did not expect) becomes a `StoreFailure` (FC114) here."""
    from fcompile.runners.base import first_line

    try:
        return call(*args)
    except DiagnosticError:
        raise
    except Exception as exc:
        raise StoreFailure([Diagnostic(
            Code.ONLINE_STORE_ERROR, f"the online store failed unexpectedly: {type(exc).__name__}: "
            f"{first_line(exc)}", None, "if this repeats, please report it")]) from None


def store_unreachable(store: str, address: str, reason: str, hint: str) -> StoreFailure:
    """FC113: `store` ("Redis", ...) at `address` (a URL without its password, or a path) cannot be used."""
    return StoreFailure([Diagnostic(Code.ONLINE_STORE_UNREACHABLE,
                                    f"cannot reach the {store} online store at {address}: {reason}", None, hint)])


def store_failed(store: str, doing: str, error: BaseException, hint: str | None = None) -> StoreFailure:
    """FC114: the store failed while `doing` ("writing feature view 'x'"), quoting the first line of its error."""
    from fcompile.runners.base import first_line

    return StoreFailure([Diagnostic(Code.ONLINE_STORE_ERROR, f"the {store} online store failed while {doing}: "
                                    f"{first_line(error)}", None, hint or "check that the store is up; a materialization "
                                    "that failed can be run again (newer rows always win)")])


def materialization_busy(store: str, project: str, freed: str) -> DiagnosticError:
    """FC129: a materialization of `project` into `store` ("the PostgreSQL online store at ...", described
    from safe fields only) is running elsewhere; `freed` says when a killed run's lock goes."""
    return DiagnosticError([Diagnostic(
        Code.MATERIALIZE_BUSY, f"a materialization of project '{project}' into {store} is already running (from "
        "another folder, clone or machine)", None, f"wait for it to finish, then run again; {freed}")])


def views_text(names: Sequence[str]) -> str:
    """"feature view 'a'", or "feature views 'a', 'b'": what a write was writing, for messages."""
    return ("feature view " if len(names) == 1 else "feature views ") + ", ".join(f"'{n}'" for n in names)


def unknown_features(view: OnlineView, features: Sequence[str]) -> DiagnosticError | None:
    """FC033 for requested features the view does not have, or None when all are known."""
    from fcompile.diagnostics import reference_hint

    known = {name for name, _ in view.features}
    missing = [f for f in features if f not in known]
    if not missing:
        return None
    return DiagnosticError([Diagnostic(Code.UNKNOWN_FEATURE, f"feature view '{view.name}' has no feature '{f}'",
                                       None, reference_hint(f, "feature", sorted(known))) for f in missing])

