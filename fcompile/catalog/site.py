"""`fcompile docs generate`: the catalog site written under `target/docs/`.

The project is compiled in memory (as `fcompile plan` does; the compile cache makes a second run cheap), so
the site always describes the project as it is, never a stale `target/`. The pages are rendered with Jinja
from `fcompile/catalog/templates/`; the search index and the lineage graph's data are two script files the
pages load with `<script src>`, which browsers allow from `file://` (a `fetch` of JSON they refuse), so the
folder opens from the disk, offline, and can be published as it is. The graph is drawn by cytoscape.js with
its dagre layout, vendored from npm in `fcompile/catalog/assets/vendor/` (versions and licenses beside them).

The folder is written beside its final place and swapped in whole, so a failed run leaves the last site.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

from fcompile.catalog.model import (
    KIND_TITLES, PAGE_KINDS, Catalog, catalog_from_manifest, column_lineage, duration_text, feature_users,
    lineage_data, search_index, statistics_tables,
)
from fcompile.graph import FeatureGraph

DOCS = "docs"
RUN_RESULTS = "run_results.json"


@dataclass(frozen=True)
class SiteReport:
    folder: Path
    pages: int
    dialects: tuple[str, ...]
    bytes: int
    tests_shown: int
    profiles_shown: int = 0
    checks_shown: tuple[tuple[str, int], ...] = ()  # of tests_shown, the schema and drift checks, by kind


def site_dialects(graph: FeatureGraph, option: str | None, target_folder: Path) -> tuple[str, ...]:
    """`--dialect` (a name or `all`); by default the dialects the last build wrote, else the target's."""
    from fcompile.artifacts.build import COMPILED, resolve_dialects
    from fcompile.dialects.registry import DIALECTS

    if option is not None:
        return resolve_dialects(graph, option)
    compiled = target_folder / COMPILED
    built = sorted(p.name for p in compiled.iterdir() if p.is_dir() and p.name in DIALECTS) if compiled.is_dir() else []
    return tuple(built) or resolve_dialects(graph, None)


def project_catalog(graph: FeatureGraph, dialects: Sequence[str], target_folder: Path) -> Catalog:
    """The catalog of the project as it is: compiled for `dialects`, with the latest data-test results and
    the newest profile of each feature view and dataset (`fcompile profile`)."""
    from fcompile.artifacts.build import compile_project
    from fcompile.artifacts.manifest import build_manifest
    from fcompile.diagnostics import DiagnosticError

    result = compile_project(graph, dialects)
    if not result.ok:
        raise DiagnosticError(result.diagnostics)
    manifest = build_manifest(graph, result.files)
    catalog = catalog_from_manifest(manifest, result.files, latest_test_results(target_folder))
    attach_statistics(catalog, graph.project.root)
    return catalog


def attach_statistics(catalog: Catalog, project_root: str) -> None:
    """The newest profile of each feature view and dataset, read from `target/profiles/` of the project folder
    (where `fcompile profile` writes, whatever `--target-path` says)."""
    from fcompile.artifacts.profiles import node_statistics

    for kind in ("feature_view", "dataset"):
        for node in catalog.of_kind(kind):
            summary = node_statistics(project_root, kind, node.name)
            if summary is not None:
                catalog.statistics[node.id] = summary


def latest_test_results(target_folder: Path) -> dict[str, Any] | None:
    """Each data test's latest result: `test_results.json`, which `fcompile test` and `fcompile run` keep
    whatever runs after them; without one (a target/ of an older fcompile), the tests of `run_results.json`."""
    from fcompile.tasks.test_results import TEST_RESULTS

    kept = read_run_results(target_folder / TEST_RESULTS)
    if kept and kept.get("results"):
        return kept
    return read_run_results(target_folder / RUN_RESULTS)


def read_run_results(path: Path) -> dict[str, Any] | None:
    """The run_results document, or None when there is none (or it cannot be read: it is only shown)."""
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def write_site(catalog: Catalog, folder: Path) -> SiteReport:
    """Render every page and write the site to `folder` (replacing what was there)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".docs-", dir=folder.parent))
    try:
        pages = _render_pages(catalog, staging)
        _copy_assets(staging / "assets")
        _write_script(staging / "assets" / "search-index.js", "FCOMPILE_SEARCH", search_index(catalog))
        _write_script(staging / "assets" / "lineage-data.js", "FCOMPILE_LINEAGE", lineage_data(catalog))
        size = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        old = None
        if folder.exists():
            old = folder.with_name(f"{staging.name}-old")
            os.replace(folder, old)
        os.replace(staging, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    shown = [r.kind for results in catalog.test_results.values() for r in results]
    checks = tuple((kind, shown.count(kind)) for kind in ("schema", "drift") if kind in shown)
    return SiteReport(folder, pages, tuple(catalog.dialects), size, len(shown), len(catalog.statistics), checks)


def _environment():
    import jinja2

    from fcompile.catalog.sql_highlight import highlight_sql

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("fcompile.catalog").joinpath("templates"))),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters["duration"] = duration_text
    env.filters["figure"] = figure_text
    env.filters["highlight_sql"] = lambda text, dialect: highlight_sql(text, dialect)
    env.globals.update(KIND_TITLES=KIND_TITLES, PAGE_KINDS=PAGE_KINDS)
    return env


def _render_pages(catalog: Catalog, folder: Path) -> int:
    env = _environment()
    common = {"catalog": catalog}
    pages = 0
    (folder / "index.html").write_text(env.get_template("index.html.j2").render(root="", **common), "utf-8")
    (folder / "lineage.html").write_text(env.get_template("lineage.html.j2").render(root="", **common), "utf-8")
    node_page = env.get_template("node.html.j2")
    tests: dict[str, list[str]] = {}
    for test in catalog.of_kind("test"):
        tests.setdefault(f"{test.spec.get('parent_kind')}.{test.spec.get('parent')}", []).append(test.id)
    for kind in PAGE_KINDS:
        members = catalog.of_kind(kind)
        if members:
            (folder / kind).mkdir()
        for node in members:
            context = {
                "root": "../", "node": node, "spec": node.spec,
                "users": [catalog.nodes[u] for u in catalog.used_by.get(node.id, ())],
                "dependencies": [catalog.nodes[d] for d in node.depends_on if d in catalog.nodes],
                "lineage": {c.feature: c for c in column_lineage(catalog, node)},
                "feature_users": feature_users(catalog, node.id),
                "tests": [catalog.nodes[t] for t in tests.get(node.id, ())],
                "results": catalog.test_results.get(node.id, []),
                "sql": catalog.sql.get(node.id, []),
                "statistics": catalog.statistics.get(node.id),
                "statistics_tables": statistics_tables(catalog.statistics.get(node.id) or {}),
            }
            (folder / node.href).write_text(node_page.render(**common, **context), "utf-8")
            pages += 1
    return pages + 2


def figure_text(value: Any) -> str:
    """A statistic as a page shows it: integers whole, other numbers to 6 significant digits; text (ISO times,
    "NaN") as it is; nothing for None."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.6g}"


def _copy_assets(folder: Path) -> None:
    source = resources.files("fcompile.catalog").joinpath("assets")
    with resources.as_file(source) as path:
        shutil.copytree(path, folder)


def _write_script(path: Path, name: str, value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    path.write_text(f"window.{name} = {text};\n", "utf-8")
