"""Parser stage: a project directory in, a validated `FeatureGraph` (or every diagnostic) out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fcompile.diagnostics import (
    Code, Diagnostic, DiagnosticError, DiagnosticSink, Severity, did_you_mean, sort_diagnostics,
)
from fcompile.graph import FeatureGraph
from fcompile.parser.cache import ParseCache, ParsedFile, content_digest
from fcompile.parser.positioned_yaml import load_yaml
from fcompile.parser.aggregations import settle_aggregations
from fcompile.parser.project_file import PROJECT_FILE_NAMES, find_project_file, load_project_file, read_text
from fcompile.parser.resolve import Resolver, iter_items
from fcompile.parser.source_schema import check_source_schemas
from fcompile.parser.tie_breakers import settle_tie_breakers
from fcompile.parser.structure import LIST_LABELS, check_structure

SKIPPED_DIRS = {"target", "node_modules", "__pycache__"}
SPEC_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class ParseResult:
    graph: FeatureGraph | None
    diagnostics: list[Diagnostic]

    @property
    def ok(self) -> bool:
        return self.graph is not None


def discover_spec_files(root: Path) -> list[Path]:
    """Every *.yml/*.yaml below root except project files, `target/`, hidden folders and folders
    holding a project of their own."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames
            if not d.startswith(".") and d not in SKIPPED_DIRS
            and not any(os.path.isfile(os.path.join(dirpath, d, n)) for n in PROJECT_FILE_NAMES))
        for name in filenames:
            if name.endswith(SPEC_SUFFIXES) and not name.startswith(".") and name not in PROJECT_FILE_NAMES:
                found.append(Path(dirpath) / name)
    return sorted(found)


def parse_project(project_dir: str | os.PathLike[str], target: str | None = None,
                  environ: dict[str, str] | None = None, check_sources: bool = True,
                  use_cache: bool = True) -> ParseResult:
    """Parse and resolve a project; never raises for bad input (internal errors still raise).

    `environ` replaces os.environ for env_var(); `use_cache` reuses unchanged files' parses."""
    root = Path(project_dir).resolve()
    sink = DiagnosticSink()
    project = load_project_file(root, target, sink, environ)
    if project is None and (not root.is_dir() or find_project_file(root) is None):
        # not a project: nothing below it is ours to read (or to cache), however many YAML files it holds
        return ParseResult(None, sort_diagnostics(sink.items))
    cache = ParseCache(root, enabled=use_cache)
    items = []
    unread: list[str] = []  # spec files that are not YAML may define what the others refer to
    for path in discover_spec_files(root):
        text = read_text(path, sink)
        if text is None:
            unread.append(path.relative_to(root).as_posix())
            continue
        parsed = _parse_spec_file(str(path), text, cache)
        sink.extend(parsed.diagnostics)
        if parsed.document is not None and parsed.document.data is not None:
            items.extend(iter_items(parsed.document, set(parsed.invalid_paths)))
        elif parsed.document is None:
            unread.append(path.relative_to(root).as_posix())
    if project is None:
        cache.save()
        return ParseResult(None, sort_diagnostics(sink.items))
    graph = Resolver(project.info, items, sink, unread_files=tuple(unread), cache=cache).resolve()
    cache.save()
    columns: dict = {}
    if not sink.has_errors:
        columns = check_source_schemas(graph, sink) if check_sources else {}
        if not sink.has_errors:
            graph = settle_aggregations(graph, columns, sink)
            graph = settle_tie_breakers(graph, columns, sink)
    if graph.tests:
        from fcompile.parser.data_tests import check_data_test_expressions

        graph = check_data_test_expressions(graph, columns, sink)
    return ParseResult(None if sink.has_errors else graph, sort_diagnostics(sink.items))


def load_project(project_dir: str | os.PathLike[str], target: str | None = None) -> FeatureGraph:
    """The graph of a valid project; raises `DiagnosticError` listing every problem otherwise."""
    result = parse_project(project_dir, target)
    if result.graph is None:
        raise DiagnosticError(result.diagnostics)
    return result.graph


def _parse_spec_file(path: str, text: str, cache: ParseCache) -> ParsedFile:
    digest = content_digest(text)
    hit = cache.get(path, digest)
    if hit is not None:
        return hit
    doc, problems = load_yaml(path, text)
    invalid: set = set()
    if doc is not None and isinstance(doc.data, dict) and doc.data and not set(doc.data) & set(LIST_LABELS):
        # another tool's YAML in the tree (docker-compose.yml, a CI workflow): say so, don't fail on it
        first = next(iter(doc.data))
        hint = did_you_mean(first, list(LIST_LABELS)) or "move it outside the project, or ignore this warning"
        problems = problems + [Diagnostic(Code.FILE_SHAPE, "not an fcompile spec file (it has none of "
                                          f"{', '.join(LIST_LABELS)}); skipped", doc.key_position((first,)),
                                          hint, Severity.WARNING)]
        doc = None
    elif doc is not None and doc.data is not None:
        structural, invalid = check_structure(doc, "spec")
        problems = problems + structural
    parsed = ParsedFile(digest, doc, tuple(problems), frozenset(invalid))
    cache.put(path, parsed)
    return parsed
