"""What one worker serves: a fully loaded project (`ServingState`), and how a new one replaces it.

A state is built whole before anyone sees it: the project parsed into its graph (`FeatureStore`, for
small reads on the event loop, a second one on the same graph for writes on the writer thread and a third
for large reads on the reader thread, since a store connection serves one thread at a time; the third
connects when a large read first needs it), the target's serving settings (tokens, limits), the online
store connected, every feature service's read planned and the metadata API's index of the graph built. The server then swaps its single reference to the
new state; a request holds the state it started with until it ends, so none ever sees half of one project
and half of another.

The server looks for changes by polling a fingerprint of the project's files (the project file, every
spec file, `target/manifest.json`: path, modification time and size). When it has changed and then held
still for one polling interval (an editor or a build caught halfway through writing a file must not be
loaded), a new state is loaded in a thread; files that change while they are loaded are loaded again
at the next look. If the project is invalid, the old state keeps serving and the diagnostics are
logged. A new state whose online store cannot be reached is also refused when the store's settings
changed (the old store may still work); with unchanged settings it is taken, since the old one is
down too.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.serving.requests import key_readers
from fcompile.serving.settings import (
    DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_HEADERS, ServingSettings, load_serving_settings,
)

if TYPE_CHECKING:
    from fcompile.sdk import FeatureStore

log = logging.getLogger("fcompile.serve")
Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class ServeConfig:
    """How `fcompile serve` was started (the same in every worker)."""

    project_dir: str               # absolute
    target: str | None = None
    reload_interval: float = 1.0   # seconds between looks at the project's files; 0: never reload
    request_timeout: float = 10.0  # seconds a client may take to send its body
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES  # the serving block's, as `fcompile serve` read it at start
    max_headers: int = DEFAULT_MAX_HEADERS


@dataclass
class ServingState:
    generation: int
    fingerprint: Fingerprint
    store: FeatureStore            # small reads, on the event loop
    writer: FeatureStore           # pushes and writes, on the writer thread (the same graph)
    large_reader: FeatureStore     # large reads, on the reader thread (the same graph; connects on first use)
    settings: ServingSettings
    key_readers: dict[str, tuple[str, Callable[[str], Any], str]]  # name -> (dtype, reader, join key or field)
    services: frozenset[str]
    warnings: list[Diagnostic] = field(default_factory=list)
    store_problem: DiagnosticError | None = None   # the online store could not be connected at load
    loaded_at: float = field(default_factory=time.time)
    metadata: Any = None   # the metadata API's MetadataIndex (metadata.py) of this graph

    @property
    def graph(self) -> Any:
        return self.store.graph

    @property
    def root(self) -> str:
        return self.graph.project.root

    def close_reader(self) -> None:
        _close(self.store, self.generation)

    def close_writer(self) -> None:
        _close(self.writer, self.generation)

    def close_large_reader(self) -> None:
        _close(self.large_reader, self.generation)


def _close(store: FeatureStore, generation: int) -> None:
    try:
        store.close()
    except Exception:  # closing a broken connection: nothing left to do
        log.debug("closing a store of generation %d failed", generation, exc_info=True)


def project_fingerprint(project_dir: str) -> Fingerprint:
    """Path, mtime and size of every file whose change can change what is served."""
    from fcompile.parser import discover_spec_files
    from fcompile.parser.project_file import PROJECT_FILE_NAMES
    from fcompile.artifacts.manifest import MANIFEST_FILE

    root = Path(project_dir)
    paths = [root / name for name in PROJECT_FILE_NAMES] + [root / "target" / MANIFEST_FILE]
    out = []
    for path in paths + discover_spec_files(root):
        try:
            stat = os.stat(path)
        except OSError:
            continue
        out.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(out)


def load_state(config: ServeConfig, generation: int, previous: ServingState | None = None) -> ServingState:
    """A fully loaded state. Raises `DiagnosticError` for an invalid project or serving block, or when the
    online store cannot be reached though its settings differ from the previous state's."""
    from fcompile.sdk import FeatureStore
    from fcompile.serving.metadata import MetadataIndex

    fingerprint = project_fingerprint(config.project_dir)
    store = FeatureStore(config.project_dir, config.target)
    writer = large_reader = None
    try:
        writer = FeatureStore.of_graph(store.graph)
        large_reader = FeatureStore.of_graph(store.graph)
        settings, warnings = load_serving_settings(config.project_dir, config.target, store.graph)
        if project_fingerprint(config.project_dir) != fingerprint:
            raise DiagnosticError([Diagnostic(Code.FILE_UNREADABLE, "the project's files changed while they were "
                                              "being loaded", None, "they are loaded again when they stop changing")])
        problem = None
        try:
            store.online_store  # noqa: B018 - connects
        except DiagnosticError as error:
            same_store = previous is not None and previous.graph.project.target.online == \
                store.graph.project.target.online
            if previous is not None and not same_store:
                raise
            problem = error
        if problem is None:
            _plan_services(store)
            warnings = [*warnings, *_never_materialized(store)]
        graph = store.graph
        metadata = MetadataIndex(graph, generation)  # here, off the event loop (~60 ms for 1,000 views)
        return ServingState(generation, fingerprint, store, writer, large_reader, settings, key_readers(graph),
                            frozenset(s.name for s in graph.feature_services), warnings, problem,
                            metadata=metadata)
    except BaseException:
        for opened in (store, writer, large_reader):
            if opened is not None:
                opened.close()
        raise


def _plan_services(store: FeatureStore) -> None:
    """Plan every service's read now, so the first requests after a (re)load pay no planning. A service
    that cannot be planned (a view with `online: false`) is left to fail when it is asked for."""
    for service in store.graph.feature_services:
        for full_feature_names in (False, True):
            try:
                store.planned_online_request(service=service.name, full_feature_names=full_feature_names)
            except DiagnosticError:
                pass


def _never_materialized(store: FeatureStore) -> list[Diagnostic]:
    """FC182 (a warning, logged at load) for the stored views the online store has no state for: every value of
    theirs answers NOT_FOUND until they are materialized."""
    from fcompile.tasks.online_reads import never_materialized

    graph = store.graph
    views = [v.name for v in graph.feature_views if v.online]
    try:
        warning = never_materialized(store.online_store, views, settings=dict(graph.project.target.online))
    except DiagnosticError:  # the store cannot say: requests will, with their own errors
        return []
    return [warning] if warning is not None else []
