"""The Python SDK: training sets from a spine in one call, and online feature values.

    from fcompile import FeatureStore

    with FeatureStore("my_project") as fs:
        job = fs.get_historical_features(orders_df, service="driver_activity_v1")
        training = job.to_pandas()
        online = fs.get_online_features({"driver_id": [1001, 1002]}, service="driver_activity_v1").to_dict()
        fs.push("driver_stats_push", rows_df, to="online")  # rows of a push source, served at once

Feast's spellings work too, so that code written for Feast's SDK runs with only its import changed:
`FeatureStore(repo_path=...)`, `get_historical_features(entity_df=..., features=[...] or a feature
service).to_df()`, `get_online_features(features=..., entity_rows=[{...}, ...]).to_dict()`,
`materialize(start_date, end_date)`, `materialize_incremental(end_date)`, `get_feature_service(name)` and
`list_feature_views()`, `list_entities()`, `list_feature_services()` (which return the project's own
frozen graph nodes: `fcompile.graph.FeatureView`, `Entity`, `FeatureService`).

A job is lazy: the spine is registered and everything is checked when it is created, but no feature
row is read until `to_arrow`, `to_batches`, `to_pandas` (`to_df`) or `to_parquet` runs it. Every user error
is a `fcompile.diagnostics.DiagnosticError` listing all problems at once.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, reference_hint
from fcompile.graph import Entity, FeatureService, FeatureView
from fcompile.planner.naming import uses_full_feature_names
from fcompile.tasks.online_reads import (  # no heavy imports
    entity_rows_as_columns, plan_store_reads, read_online_features,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from fcompile.graph import FeatureGraph, Projection
    from fcompile.online.base import OnlineStore, OnlineView
    from fcompile.runners.base import Runner
    from fcompile.tasks.materialize import ViewResult, WatermarkReset
    from fcompile.tasks.online_deletes import OnlineDeletion
    from fcompile.tasks.online_reads import OnlineRequest, OnlineResponse, PlannedRead, Spelling
    from fcompile.tasks.push import PushResult
    from fcompile.tasks.training import TrainingQuery


class RetrievalJob:
    """A planned training set. Each `to_*` call runs its query again on the store's engine; a reader
    from `to_batches` must be consumed before the store runs anything else."""

    def __init__(self, runner: Runner, query: TrainingQuery) -> None:
        self._runner = runner
        self._query = query
        self._runs = 0

    @property
    def sql(self) -> str:
        """The statements that run, in order: the spine's registration (if it took any) and, for a feature
        service, the view that supplies it as its compiled file reads it; then the query."""
        return self._query.sql

    @property
    def compiled_file(self) -> str | None:
        """For a feature service: its compiled file for the target's dialect, relative to `target/`."""
        return None if self._query.compiled is None else self._query.compiled.path

    @property
    def compiled_sha256(self) -> str | None:
        """The sha256 of that file as `fcompile build` writes it (manifest.json records the same)."""
        return None if self._query.compiled is None else self._query.compiled.sha256

    @property
    def matches_compiled_file(self) -> bool:
        """Whether the query that runs is the service's compiled file, byte for byte (its header aside)."""
        return self._query.matches_compiled_file

    @property
    def mismatch(self) -> str | None:
        """Why the query that runs is not the service's compiled file (None when it is, or for a list of
        features, which has no file)."""
        return self._query.mismatch

    @property
    def columns(self) -> tuple[str, ...]:
        """The output columns: every spine column, then the features in request order."""
        return self._query.spine.columns + self._query.plan.feature_names

    def to_arrow(self) -> pa.Table:
        self._start()
        return self._runner.to_arrow(self._query.plan, self._query.label, self._query.location)

    def to_batches(self) -> pa.RecordBatchReader:
        """The rows, streamed in batches as the engine produces them."""
        self._start()
        return self._runner.execute(self._query.plan, self._query.label, self._query.location)

    def to_pandas(self):
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ModuleNotFoundError("to_pandas() needs pandas: pip install 'fcompile[pandas]'") from None
        return self.to_arrow().to_pandas()

    to_df = to_pandas  # Feast's name

    def to_parquet(self, path: str | os.PathLike[str]) -> int:
        """Write the rows to a Parquet file, streamed by the engine (never held in Python); the file is
        replaced only once it is complete. Returns the number of rows written. A job that runs its
        service's compiled file streams that file's rows into the file (the engine's own writer would wrap
        the query in a statement of its own)."""
        if self._query.matches_compiled_file:
            from fcompile.runners.external import stream_to_parquet

            return stream_to_parquet(self.to_batches(), os.fspath(path))
        self._start()
        return self._runner.write_parquet(self._query.plan, os.fspath(path), self._query.label,
                                          self._query.location)

    def _start(self) -> None:
        if self._query.spine.read_once and self._runs:
            raise DiagnosticError([Diagnostic(
                Code.BAD_ARGUMENT, "this job's spine is a RecordBatchReader, which can be read only once", None,
                "pass a pyarrow Table (reader.read_all()) to run the job more than once")])
        self._runs += 1
        for statement in self._query.supply:  # again each time: another job may have supplied its own spine
            self._runner.run_session_statement(statement)


class FeatureStore:
    """A project's features, on the offline engine of one of its targets (default: `default_target`)."""

    def __init__(self, project_dir: str | os.PathLike[str] | None = None, target: str | None = None, *,
                 repo_path: str | os.PathLike[str] | None = None) -> None:
        """`project_dir` (Feast: `repo_path`) is the folder of `fcompile_project.yml`, default the current one."""
        from fcompile.parser import load_project

        if project_dir is not None and repo_path is not None:
            raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "pass the project folder once: as project_dir or as "
                                              "repo_path (Feast's name for it)", None,
                                              "FeatureStore(repo_path='my_project')")])
        self._attach(load_project(project_dir if project_dir is not None else repo_path or ".", target))

    @classmethod
    def of_graph(cls, graph: FeatureGraph) -> FeatureStore:
        """A second store on a project already loaded (the graph is immutable): its own engine session
        and online store connection, for another thread (the feature server's writer)."""
        store = cls.__new__(cls)
        store._attach(graph)
        return store

    def _attach(self, graph: FeatureGraph) -> None:
        self.graph: FeatureGraph = graph
        self._runner: Runner | None = None
        self._online_store: OnlineStore | None = None
        self._online_views: dict[str, OnlineView] = {}
        self._online_requests: dict[tuple, OnlineRequest] = {}

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            from fcompile.runners import connect_runner

            self._runner = connect_runner(self.graph.project)
        return self._runner

    def get_historical_features(self, spine: Any = None, features: Sequence[str] | FeatureService | None = None,
                                service: str | FeatureService | None = None, full_feature_names: bool = False,
                                timestamp_column: str | None = None, *, entity_df: Any = None) -> RetrievalJob:
        """A point-in-time-correct training set (docs/concepts/point-in-time.md): one row per spine row, in
        spine order, every spine column and then the features, each as of its row's time (the newest value
        at or before it, within the view's ttl).

        `spine` (Feast: `entity_df`): a pandas DataFrame, a pyarrow Table or RecordBatchReader, a
        Parquet/CSV path, a table of the target's database, or a SELECT/WITH query on it. Its timestamp
        column is `timestamp_column`, else `event_timestamp`, else its only timestamp-typed column; naive
        timestamps are UTC. Name the features as `["view:feature", "view:*", ...]`, or by `service` (a
        name, or a service from `get_feature_service`, which Feast passes as `features`)."""
        from fcompile.runners.spines import spine_input
        from fcompile.tasks.training import plan_training_query

        if (spine is None) == (entity_df is None):
            raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "pass the spine once: as spine or as entity_df "
                                              "(Feast's name for it)", None,
                                              "get_historical_features(entity_df=orders, features=[...])")])
        spine = spine if spine is not None else entity_df
        if isinstance(service, bool):  # Feast's third positional: get_historical_features(df, features, True)
            service, full_feature_names = None, service
        features, service = _service_spelling(features, service)
        projections, label = self._projections(features, service)
        full = uses_full_feature_names(projections, full_feature_names, service=service is not None)
        query = plan_training_query(self.graph, self.runner, spine_input(spine), projections, full,
                                    timestamp_column, label, service=service)
        return RetrievalJob(self.runner, query)

    @property
    def online_store(self) -> OnlineStore:
        """The target's online store, connected on first use."""
        if self._online_store is None:
            from fcompile.online import connect_online_store

            self._online_store = connect_online_store(self.graph.project)
        return self._online_store

    def get_online_features(self, entities: Mapping[str, Sequence[Any]] | None = None,
                            features: Sequence[str] | FeatureService | None = None,
                            service: str | FeatureService | None = None, full_feature_names: bool = False, *,
                            now: dt.datetime | None = None,
                            entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]] | None = None,
                            ) -> OnlineResponse:
        """The newest materialized values of features for entities (`{"driver_id": [1001, 1002]}`, every
        join key the features need, one value per entity; or Feast's `entity_rows=[{"driver_id": 1001},
        ...]`). Each value comes with a status (`PRESENT`, `NOT_FOUND`, or `OUTSIDE_MAX_AGE` when
        `now - event_ts > ttl`, its value then None) and its event time. `now` (default: the current time)
        is the moment the max-age check is made for (only that: the store holds the newest value, so an
        earlier `now` does not bring back an older one). Features are named as in `get_historical_features`;
        Feast's order of arguments, `get_online_features(features, entity_rows)`, is taken too.

        `.to_dict()` is Feast's `{name: [value per entity]}`; `.to_http_dict()` the feature server's body."""
        if isinstance(service, bool):  # Feast's third positional: get_online_features(features, rows, True)
            service, full_feature_names = None, service
        if type(entities) is not dict or entity_rows is not None:
            entities, features = self._feast_entities(entities, features, entity_rows)
        if features is not None and type(features) is not list:
            features, service = _service_spelling(features, service)
        elif isinstance(service, FeatureService):
            service = service.name
        return self.read_online(features, service, full_feature_names, entities, now)

    def read_online(self, features: Sequence[str] | None, service: str | None, full_feature_names: bool,
                    entities: Mapping[str, Sequence[Any]], now: dt.datetime | None = None,
                    spelling: Spelling = "sdk") -> OnlineResponse:
        """The online read every surface makes once it has its arguments in hand (`{join_key: [values]}`
        entities, a features list or a service): planned once per shape, then read. `spelling`: how hints write
        entities, as the surface takes them (the SDK, the command line, the HTTP API)."""
        return read_online_features(self.online_store, self.planned_online_request(features, service,
                                                                                    full_feature_names),
                                    entities, now, spelling)

    def plan_online_read(self, features: Sequence[str] | None, service: str | None, full_feature_names: bool,
                         entities: Mapping[str, Sequence[Any]], now: dt.datetime | None = None,
                         spelling: Spelling = "sdk") -> PlannedRead:
        """`read_online` up to its store reads, which `online_store.read_many(planned.reads)` then makes and
        `finish_online_read` turns into the response (fcompile/tasks/online_reads.py): the feature server
        reads together the store reads of the requests that arrive together."""
        return plan_store_reads(self.online_store, self.planned_online_request(features, service,
                                                                               full_feature_names),
                                entities, now, spelling)

    @staticmethod
    def _feast_entities(entities: Any, features: Any, entity_rows: Any) -> tuple[Any, Any]:
        """The entities as columns, from `entity_rows` (Feast's name) or from Feast's positional order
        (`features, entity_rows`), with the features that came with them."""
        if entity_rows is not None:
            if features is None and _names_features(entities):  # Feast's get_online_features(features, entity_rows=)
                entities, features = None, entities
            if entities is not None:
                raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "pass the entities once: as entities (columns) "
                                                  "or as entity_rows (Feast's rows)", None,
                                                  "entity_rows=[{'driver_id': 1001}, {'driver_id': 1002}]")])
            return entity_rows_as_columns(entity_rows), features
        if _names_features(entities) and _holds_entities(features):  # Feast's order: features, entity_rows
            return entity_rows_as_columns(features), entities
        if entities is None:
            raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "name the entities to read: entities= (columns) or "
                                              "entity_rows= (Feast's rows)", None,
                                              "entities={'driver_id': [1001, 1002]}")])
        return entities, features

    def planned_online_request(self, features: Sequence[str] | None = None, service: str | None = None,
                               full_feature_names: bool = False) -> OnlineRequest:
        """The plan of an online read (which views, keys and output columns), made once per shape of
        request and kept; the feature server plans every service this way when it loads a project."""
        key = (tuple(features) if features is not None and not isinstance(features, str) else features,
               service, full_feature_names)
        try:
            request = self._online_requests.get(key)
        except TypeError:  # an unhashable feature reference: planned (and refused) uncached
            key, request = None, None
        if request is None:
            request = self._online_request(features, service, full_feature_names)
            if key is not None:
                self._online_requests[key] = request
        return request

    def materialize(self, start_date: dt.datetime, end_date: dt.datetime,
                    feature_views: Sequence[str] | None = None) -> list[ViewResult]:
        """Load the newest value per entity with an event time in [start_date, end_date] of each online
        feature view (or of the named ones) into the online store, as `fcompile materialize --start --end`
        does (Feast's `materialize`); each view's watermark moves to `end_date` (never back). Naive times
        are UTC. Raises `DiagnosticError` with the problems of the views that failed, after the others ran."""
        return self._materialize(end_date, start_date, feature_views)

    def materialize_incremental(self, end_date: dt.datetime,
                                feature_views: Sequence[str] | None = None) -> list[ViewResult]:
        """`materialize` from each view's watermark (minus its lateness; on a first run from `end_date -
        ttl`, or the earliest data) to `end_date`, as a bare `fcompile materialize --end` does (Feast's
        `materialize_incremental`)."""
        return self._materialize(end_date, None, feature_views)

    def _materialize(self, end: dt.datetime, start: dt.datetime | None,
                     names: Sequence[str] | None) -> list[ViewResult]:
        from fcompile.tasks.materialize import materialize_and_record

        if isinstance(names, str):  # one view's name, not its letters
            names = [names]
        results, _ = materialize_and_record(self.graph, self.runner, names, end, start)
        problems = [d for r in results for d in r.diagnostics]
        if problems:
            raise DiagnosticError(problems)
        return results

    def list_feature_views(self, tags: Mapping[str, str] | None = None) -> list[FeatureView]:
        """Every feature view (online or not), by name; with `tags`, those carrying all of them (Feast's
        filter). Tags are `(key, value)` pairs: `dict(view.tags)` is Feast's form."""
        return [v for v in self.graph.feature_views if _tagged(v.tags, tags)]

    def list_entities(self, tags: Mapping[str, str] | None = None) -> list[Entity]:
        return [e for e in self.graph.entities if _tagged(e.tags, tags)]

    def list_feature_services(self, tags: Mapping[str, str] | None = None) -> list[FeatureService]:
        return [s for s in self.graph.feature_services if _tagged(s.tags, tags)]

    def get_feature_view(self, name: str) -> FeatureView:
        return self._node("feature_view", name, Code.UNKNOWN_VIEW)  # type: ignore[return-value]

    def get_entity(self, name: str) -> Entity:
        return self._node("entity", name, Code.UNKNOWN_ENTITY)  # type: ignore[return-value]

    def get_feature_service(self, name: str) -> FeatureService:
        """The feature service, to pass as `service=` (or, as Feast does, as `features=`)."""
        return self._node("feature_service", name, Code.UNKNOWN_SERVICE)  # type: ignore[return-value]

    def _node(self, kind: str, name: str, code: Code):
        node = self.graph.get(kind, name)
        if node is None:
            words = kind.replace("_", " ")
            names = [n.name for n in dict(self.graph.by_kind())[kind]]
            raise DiagnosticError([Diagnostic(code, f"unknown {words} '{name}'", None,
                                              reference_hint(str(name), words, names))])
        return node

    def push(self, push_source_name: str, df: Any, to: str = "online") -> PushResult:
        """Write rows of a push source (docs/concepts/push.md, Feast's push). `df`: a pandas DataFrame, a pyarrow Table
        or RecordBatch, or a mapping of column name to a list of values, named as the columns of the push
        source's batch source or, where the source maps a column (`field_mapping`), by the name it maps it to
        (as Feast takes them; giving both names of one column is FC121); timestamps may be datetimes or ISO
        8601 text (naive ones are UTC).

        `to="online"` writes into every online feature view that names the push source (newer wins: a row
        older than the stored one changes nothing; the materialization watermark stays); `"offline"` appends
        the rows to the batch source, where training sets and the next materialization read them;
        `"online_and_offline"` does both. Everything is checked before anything is written."""
        from fcompile.tasks.push import push_rows

        return push_rows(self.graph, push_source_name, df, to, lambda: self.online_store, lambda: self.runner,
                         self._online_view)

    def write_to_online_store(self, feature_view_name: str, df: Any) -> int:
        """Write rows of one online feature view into the online store, newer wins (Feast's
        write_to_online_store). `df` holds the view's join keys, event timestamp, optional created timestamp
        and features, named as its source's columns or by the names its `field_mapping` gives them; it is
        taken in the forms `push` takes. Returns the number of rows written."""
        from fcompile.tasks.push import write_view_rows

        return write_view_rows(self.graph, feature_view_name, df, lambda: self.online_store, self._online_view)

    def delete_online(self, feature_view_name: str,
                      entities: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> OnlineDeletion:
        """Delete the rows of these entities from one online feature view (docs/concepts/push.md), as
        `fcompile online delete` does: `entities` as `get_online_features` takes them (`{"driver_id": [1001,
        1002]}`, every join key of the view, or Feast's entity rows `[{"driver_id": 1001}, ...]`), each value
        checked against its key's dtype. The view's watermark stays. Returns which keys were deleted and
        which held nothing; raises `DiagnosticError` (FC032, FC118, FC117) before deleting anything."""
        from fcompile.tasks.online_deletes import delete_online_keys

        return delete_online_keys(self.graph, feature_view_name, entities, lambda: self.online_store,
                                  self._online_view)

    def reset_watermarks(self, feature_views: Sequence[str] | None = None) -> list[WatermarkReset]:
        """Unset the materialization watermark of each online feature view (or of the named ones), keeping
        their stored values, as `fcompile materialize --reset-watermark` does; the next
        `materialize_incremental` then loads each view's first-run window (`end - ttl`, or from the earliest
        data). Takes the project's materialization lock (FC129 while one runs). Returns, per view, the
        watermark it had (None when it had none)."""
        from fcompile.tasks.materialize import reset_watermarks, views_to_materialize

        if isinstance(feature_views, str):  # one view's name, not its letters
            feature_views = [feature_views]
        views = views_to_materialize(self.graph, None if feature_views is None else list(feature_views))
        return reset_watermarks(self.graph, views)

    def _online_request(self, features: Sequence[str] | None, service: str | None,
                        full_feature_names: bool) -> OnlineRequest:
        from fcompile.tasks.online_reads import plan_online_request

        projections, label = self._projections(features, service)
        full = uses_full_feature_names(projections, full_feature_names, service=service is not None)
        return plan_online_request(self.graph, projections, full, self._online_view, label)

    def _online_view(self, view: FeatureView) -> OnlineView:
        found = self._online_views.get(view.name)
        if found is None:
            from fcompile.online import online_view

            found = self._online_views[view.name] = online_view(self.graph, view)
        return found

    def _projections(self, features: Sequence[str] | None, service: str | None) -> tuple[tuple[Projection, ...], str]:
        if (features is None) == (service is None):
            raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "pass exactly one of features= and service=", None,
                                              "features=['view:feature', ...] or service='name'")])
        if service is not None:
            node = self.graph.get("feature_service", service)
            if node is None:
                names = [s.name for s in self.graph.feature_services]
                raise DiagnosticError([Diagnostic(Code.UNKNOWN_SERVICE, f"unknown feature service '{service}'",
                                                  None, reference_hint(service, "feature service", names))])
            return node.projections, f"feature service '{service}'"  # type: ignore[union-attr]
        from fcompile.parser.resolve import resolve_feature_references

        references = [features] if isinstance(features, str) else list(features or ())
        return resolve_feature_references(self.graph, references), "the request"

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
            self._runner = None
        if self._online_store is not None:
            self._online_store.close()
            self._online_store = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _service_spelling(features: Any, service: Any) -> tuple[Any, Any]:
    """`features` and `service` with a feature service object (Feast passes one as `features`) as its name."""
    if isinstance(features, FeatureService):
        if service is not None:
            raise DiagnosticError([Diagnostic(Code.BAD_ARGUMENT, "pass exactly one of features= and service=", None,
                                              "features=['view:feature', ...] or service='name'")])
        return None, features.name
    if isinstance(service, FeatureService):
        return features, service.name
    return features, service


def _names_features(value: Any) -> bool:
    """Whether `value` can only be features: a feature service, or a list of "view:feature" texts."""
    return isinstance(value, FeatureService) or (
        isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) for v in value))


def _holds_entities(value: Any) -> bool:
    """Whether `value` can only be entities: a mapping of join keys, or a list of entity rows."""
    return isinstance(value, Mapping) or (
        isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Mapping) for v in value))


def _tagged(tags: tuple[tuple[str, str], ...], wanted: Mapping[str, str] | None) -> bool:
    if not wanted:
        return True
    have = dict(tags)
    return all(have.get(key) == value for key, value in wanted.items())
