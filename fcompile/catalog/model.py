"""What the catalog shows, computed from a manifest: its nodes, who uses whom, each feature's column lineage,
the search index and the lineage graph's data. Nothing here knows HTML; `fcompile.catalog.site` renders it.

The manifest (`fcompile.artifacts.manifest`) is the only description of the project read here, so the site
says what a build says: a node's spec in plain form, its spec file and line, and its direct dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from fcompile.planner.durations import format_duration

# The kinds that get a page, in the order the overview lists them. Data tests appear on their parent's page.
PAGE_KINDS = ("entity", "source", "push_source", "request_source", "feature_view", "on_demand_view",
              "feature_service", "dataset")
KIND_TITLES = {
    "entity": ("entity", "Entities"), "source": ("source", "Sources"), "push_source": ("push source", "Push sources"),
    "request_source": ("request source", "Request sources"), "feature_view": ("feature view", "Feature views"),
    "on_demand_view": ("on-demand view", "On-demand views"),
    "feature_service": ("feature service", "Feature services"), "dataset": ("dataset", "Datasets"),
}


@dataclass(frozen=True)
class CatalogNode:
    kind: str
    name: str
    spec: Mapping[str, Any]
    location: Mapping[str, Any] | None
    depends_on: tuple[str, ...]  # node ids, "kind.name", as the manifest writes them

    @property
    def id(self) -> str:
        return f"{self.kind}.{self.name}"

    @property
    def href(self) -> str:
        """The page's path relative to the site's root."""
        return f"{self.kind}/{self.name}.html"

    @property
    def description(self) -> str:
        return self.spec.get("description") or ""

    @property
    def owner(self) -> str:
        return self.spec.get("owner") or ""

    @property
    def tags(self) -> list[tuple[str, str]]:
        return [(str(k), str(v)) for k, v in self.spec.get("tags") or ()]


@dataclass(frozen=True)
class ColumnLineage:
    """Where one feature's values come from: the upstream node and column, and how they become the feature."""

    feature: str
    upstream: tuple[tuple[str, str], ...]  # (node id, column or feature name) it reads
    how: str                               # "as is", "renamed from fare_amount", "sum(fare) over 1d", an expression


@dataclass(frozen=True)
class TestResult:
    name: str
    status: str
    failures: int | None
    message: str | None
    column: str | None
    kind: str
    finished_at: str | None = None  # when the run that gave this result finished
    command: str | None = None      # "test" or "run"


@dataclass
class Catalog:
    project: str
    fcompile_version: str
    nodes: dict[str, CatalogNode]
    sql: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # node id -> [(dialect, SQL text)]
    test_results: dict[str, list[TestResult]] = field(default_factory=dict)  # parent node id -> results
    tests_run_at: str | None = None
    # feature view or dataset id -> its newest profile as fcompile.artifacts.profiles summarises it
    statistics: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    used_by: dict[str, list[str]] = field(default_factory=dict)
    # view name -> the (service or dataset id, projection) that take its features
    projections: dict[str, list[tuple[str, Mapping[str, Any]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for node in sorted(self.nodes.values(), key=lambda n: (n.kind, n.name)):
            for projection in node.spec.get("projections") or () if node.kind != "test" else ():
                self.projections.setdefault(projection["view"], []).append((node.id, projection))
        used: dict[str, list[str]] = {node_id: [] for node_id in self.nodes}
        for node in self.nodes.values():
            if node.kind == "test":
                continue
            for dependency in node.depends_on:
                used.setdefault(dependency, []).append(node.id)
        self.used_by = {node_id: sorted(users) for node_id, users in used.items()}

    def of_kind(self, kind: str) -> list[CatalogNode]:
        return sorted((n for n in self.nodes.values() if n.kind == kind), key=lambda n: n.name)

    def get(self, node_id: str) -> CatalogNode | None:
        return self.nodes.get(node_id)

    @property
    def dialects(self) -> list[str]:
        return sorted({dialect for files in self.sql.values() for dialect, _ in files})


def catalog_from_manifest(manifest: Mapping[str, Any], compiled: Mapping[str, bytes],
                          run_results: Mapping[str, Any] | None = None) -> Catalog:
    """The catalog of a manifest; `compiled` maps paths relative to `target/compiled/` to the file's bytes;
    `run_results` is a `target/test_results.json` or `target/run_results.json` document (its data-test
    results are shown, if it has any)."""
    nodes = {}
    for kind, entries in manifest["nodes"].items():
        for name, entry in entries.items():
            node = CatalogNode(kind, name, entry["spec"], entry.get("location"), tuple(entry.get("depends_on", ())))
            nodes[node.id] = node
    sql: dict[str, list[tuple[str, str]]] = {}
    for entry in manifest["compiled"]:
        content = compiled.get(entry["path"].split("/", 1)[1])
        if entry.get("node") and content is not None:
            sql.setdefault(entry["node"], []).append((entry["dialect"], content.decode("utf-8")))
    catalog = Catalog(manifest["metadata"]["project"], manifest["metadata"].get("fcompile_version", ""), nodes, sql)
    if run_results:
        attach_test_results(catalog, run_results)
    return catalog


def attach_test_results(catalog: Catalog, run_results: Mapping[str, Any]) -> None:
    """The data-test results of a test_results document (each test's latest result, with the time of its run)
    or a run_results one (`fcompile test`, or a run that ran the tests first: the time of that run), by the
    node each test checks; results of tests the project no longer has are left out. Drift checks (kind `drift`,
    from `fcompile profile --compare`) and schema checks (kind `schema`, from `fcompile test`) are no node of
    the manifest: they are kept by the view their entry names."""
    found: dict[str, list[TestResult]] = {}
    metadata = run_results.get("metadata") or {}
    for entry in run_results.get("results") or ():
        node_id = entry.get("node") if isinstance(entry, Mapping) else None
        test = catalog.get(node_id) if isinstance(node_id, str) else None
        if test is None and isinstance(entry, Mapping) and entry.get("kind") in ("drift", "schema") and \
                isinstance(node_id, str) and isinstance(entry.get("parent"), str) and \
                catalog.get(entry["parent"]) is not None:
            # a drift check (`fcompile profile --compare`) or a schema check (`fcompile test` against a view's
            # schema) is no node of the manifest: its entry says what it checks
            found.setdefault(entry["parent"], []).append(TestResult(
                node_id.removeprefix("test."), str(entry.get("status", "?")), entry.get("failures"),
                entry.get("message"), entry.get("column"), entry["kind"],
                entry.get("finished_at") or metadata.get("finished_at"), entry.get("command") or metadata.get("command")))
            continue
        if test is None or test.kind != "test":
            continue
        parent = f"{test.spec.get('parent_kind')}.{test.spec.get('parent')}"
        found.setdefault(parent, []).append(TestResult(
            test.name, str(entry.get("status", "?")), entry.get("failures"), entry.get("message"),
            test.spec.get("column"), str(test.spec.get("kind", "")),
            entry.get("finished_at") or metadata.get("finished_at"), entry.get("command") or metadata.get("command")))
    if found:
        catalog.test_results = {parent: sorted(results, key=lambda r: r.name) for parent, results in found.items()}
        times = [r.finished_at for results in found.values() for r in results if isinstance(r.finished_at, str)]
        catalog.tests_run_at = max(times) if times else None


@dataclass(frozen=True)
class FeatureStatistics:
    """One feature's line in a page's statistics table: figures as the profile holds them (None: not kept)."""

    name: str
    type: str
    count: int
    missing: int
    min: float | str | None = None     # numbers; times and dates as their ISO text
    max: float | str | None = None
    mean: float | str | None = None
    std_dev: float | str | None = None
    distinct: int | None = None        # strings
    top_values: tuple[tuple[str, float | str], ...] = ()
    approximate: tuple[str, ...] = ()  # "quantiles", "distinct_count": the figures the engine only estimated

    @property
    def missing_share(self) -> float | None:
        total = self.count + self.missing
        return self.missing / total if total else None


@dataclass(frozen=True)
class DatasetStatistics:
    name: str
    rows: int
    features: tuple[FeatureStatistics, ...]

    @property
    def approximate(self) -> tuple[str, ...]:
        """The figures some feature of the profile has only approximately."""
        return tuple(sorted({what for feature in self.features for what in feature.approximate}))


def statistics_tables(summary: Mapping[str, Any]) -> list[DatasetStatistics]:
    """The compact tables of a profile summary (fcompile.artifacts.profiles): a line per feature with its
    count, NULLs, min/max/mean/standard deviation (numbers; earliest and latest for times and dates) or
    distinct count and top values (strings), and which of its figures are approximate."""
    tables = []
    for dataset in summary.get("datasets") or ():
        lines = []
        for feature in dataset.get("features") or ():
            custom = feature.get("custom_stats") or {}
            approximate = tuple(what for what in ("quantiles", "distinct_count") if custom.get(what) == "approximate")
            line = FeatureStatistics(feature["name"], feature.get("type", ""), int(feature.get("num_non_missing", 0)),
                                     int(feature.get("num_missing", 0)), approximate=approximate)
            if "earliest" in custom or "latest" in custom:
                line = _replaced(line, min=custom.get("earliest"), max=custom.get("latest"))
            elif "mean" in feature:
                line = _replaced(line, min=feature.get("min"), max=feature.get("max"), mean=feature.get("mean"),
                                 std_dev=feature.get("std_dev"))
            elif "top_values" in feature:
                line = _replaced(line, distinct=feature.get("unique"), top_values=tuple(
                    (top["value"], top["frequency"]) for top in feature["top_values"][:3]))
            lines.append(line)
        tables.append(DatasetStatistics(dataset.get("name", ""), int(dataset.get("num_examples", 0)), tuple(lines)))
    return tables


def _replaced(line: FeatureStatistics, **changes: Any) -> FeatureStatistics:
    from dataclasses import replace

    return replace(line, **changes)


def duration_text(seconds: float | None) -> str:
    return "unbounded" if seconds is None else format_duration(seconds)


def column_lineage(catalog: Catalog, node: CatalogNode) -> list[ColumnLineage]:
    """Each feature of a feature view or on-demand view, with the column(s) it reads and how."""
    if node.kind == "on_demand_view":
        lineage = []
        for feature in node.spec.get("features") or ():
            reads = []
            for read in feature.get("reads") or ():
                owner, _, column = read.partition(".")
                reads.append((_input_id(catalog, owner), column))
            lineage.append(ColumnLineage(feature["name"], tuple(reads), feature.get("expr", "")))
        return lineage
    if node.kind != "feature_view":
        return []
    source_id = f"source.{node.spec.get('source')}"
    source = catalog.get(source_id)
    column_of = {name: column for column, name in (source.spec.get("field_mapping") or () if source else ())}
    lineage = []
    for feature in node.spec.get("features") or ():
        aggregation = feature.get("aggregation")
        if aggregation:
            column = aggregation.get("column")
            read = column_of.get(column, column) if column else None
            what = f"{aggregation['function']}({read or '*'})"
            how = f"{what} over {duration_text(aggregation.get('window'))}"
            if node.spec.get("aggregation_step"):
                how += f", every {duration_text(node.spec['aggregation_step'])}"
            lineage.append(ColumnLineage(feature["name"], ((source_id, read),) if read else ((source_id, "*"),), how))
            continue
        column = column_of.get(feature["name"], feature["name"])
        how = "as is" if column == feature["name"] else f"renamed from {column}"
        lineage.append(ColumnLineage(feature["name"], ((source_id, column),), how))
    return lineage


def _input_id(catalog: Catalog, name: str) -> str:
    for kind in ("feature_view", "request_source", "on_demand_view"):
        if f"{kind}.{name}" in catalog.nodes:
            return f"{kind}.{name}"
    return f"feature_view.{name}"


def feature_users(catalog: Catalog, view_id: str) -> dict[str, list[tuple[str, str]]]:
    """For each feature of a view: the services and datasets that take it, with the name they give it."""
    view = catalog.get(view_id)
    found: dict[str, list[tuple[str, str]]] = {}
    for user_id, projection in catalog.projections.get(view.name if view else "", ()):
        prefix = projection.get("alias") or projection["view"]
        for feature in projection.get("features") or ():
            found.setdefault(feature, []).append((user_id, f"{prefix}:{feature}"))
    return found


def search_index(catalog: Catalog) -> list[list[str]]:
    """One entry per node and per feature: [label, kind, searchable text (lower case), href, description]."""
    entries = []
    for kind in PAGE_KINDS:
        for node in catalog.of_kind(kind):
            tags = " ".join(f"{k}:{v}" for k, v in node.tags)
            # the names a node declares that have no page of their own: join keys, request fields
            declared = " ".join(f["name"] for f in (*node.spec.get("join_keys", ()), *node.spec.get("fields", ())))
            text = " ".join((node.name, node.description, tags, node.owner, declared)).lower()
            entries.append([node.name, kind, text, node.href, node.description])
            for feature in node.spec.get("features") or () if kind in ("feature_view", "on_demand_view") else ():
                feature_tags = " ".join(f"{k}:{v}" for k, v in feature.get("tags") or ())
                label = f"{node.name}:{feature['name']}"
                description = feature.get("description") or ""
                entries.append([label, "feature", " ".join((label, description, feature_tags)).lower(),
                                f"{node.href}#feature-{feature['name']}", description])
    return entries


def lineage_data(catalog: Catalog) -> dict[str, Any]:
    """The lineage graph for the site's script: every node with a page and its dependencies (by index), the
    features of each view with their column lineage, and the projections of services and datasets."""
    shown = [n for kind in PAGE_KINDS for n in catalog.of_kind(kind)]
    index = {node.id: i for i, node in enumerate(shown)}
    nodes = []
    for node in shown:
        entry: dict[str, Any] = {"k": node.kind, "n": node.name,
                                 "d": [index[d] for d in node.depends_on if d in index]}
        if node.kind in ("feature_view", "on_demand_view"):
            entry["f"] = [[c.feature, [[index.get(u, -1), col] for u, col in c.upstream], c.how]
                          for c in column_lineage(catalog, node)]
        if node.spec.get("projections"):
            entry["p"] = [[index.get(f"feature_view.{p['view']}", index.get(f"on_demand_view.{p['view']}", -1)),
                           list(p.get("features") or ()), p.get("alias")] for p in node.spec["projections"]]
        nodes.append(entry)
    return {"nodes": nodes}
