"""Projects and plans the dialect tests compile: the sample project (with its file sources, or rewritten
to table sources, since most warehouses cannot read a local path) and a tiny ttl-boundary project whose
answer is known by construction."""

from __future__ import annotations

import datetime as dt
import functools
from importlib import resources
from pathlib import Path

import yaml
from sqlglot import exp, parse

from fcompile.dialects import DIALECTS, compile_statements, session_statements
from fcompile.graph import FeatureGraph, Projection
from fcompile.parser import load_project
from fcompile.planner.plans import JoinStrategy, PointInTimeJoin, Relation, SpinePlan
from fcompile.planner.point_in_time import plan_point_in_time_join
from fcompile.sample import sample_spec_files

DIALECT_NAMES = tuple(DIALECTS)
PLACEHOLDER_SPINE = Relation("placeholder", "fcompile_spine")
STRATEGIES = tuple(JoinStrategy)


def sample_project(dest: Path, table_sources: bool) -> FeatureGraph:
    """The sample's spec files (no data: compiling needs none) under `dest`: its sources (and the dataset's
    spine) read tables, as shipped; without `table_sources` each reads the Parquet file named after its
    table instead (`path: data/<table>.parquet`)."""
    root = resources.files("fcompile.sample").joinpath("project")
    for relative in sample_spec_files():
        target = dest.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = root.joinpath(*relative.parts).read_text(encoding="utf-8")
        if not table_sources and target.suffix == ".yml" and target.name != "fcompile_project.yml":
            spec = yaml.safe_load(text)
            for source in spec.get("sources", []):
                if "table" in source:
                    source["path"] = f"data/{source.pop('table')}.parquet"
            text = yaml.safe_dump(spec, sort_keys=False)
        target.write_text(text, encoding="utf-8")
    graph = load_project(dest)
    assert all(s.kind == ("table" if table_sources else "path") for s in graph.sources)
    return graph


def service_join(graph: FeatureGraph, service_name: str, strategy: JoinStrategy | None = None) -> PointInTimeJoin:
    """A feature service's point-in-time join against the placeholder spine the runner supplies."""
    service = graph.feature_service(service_name)
    keys: list[str] = []
    for projection in service.projections:
        for key in graph.join_keys(graph.feature_view(projection.view)):
            if key.name not in keys:
                keys.append(key.name)
    spine = SpinePlan(PLACEHOLDER_SPINE, "event_timestamp", columns=(*keys, "event_timestamp"))
    return plan_point_in_time_join(graph, spine, service.projections, strategy=strategy)


def reparse(statement: str, dialect_name: str) -> exp.Expression:
    """The statement parsed back in its own dialect; it must be exactly one statement."""
    trees = [t for t in parse(statement, read=DIALECTS[dialect_name].sqlglot_name) if t is not None]
    assert len(trees) == 1, statement
    return trees[0]


@functools.lru_cache(maxsize=None)
def compiled(plan, dialect_name: str) -> tuple[tuple[str, exp.Expression], ...]:
    """Every statement for the plan after the one that sets the session's time zone (where the dialect has
    one: test_dialects.py checks it), with its tree as re-parsed in its own dialect (what the tests
    inspect is what the warehouse would read, not the tree fcompile built). Plans are frozen, so
    several tests share one compilation; they only read the trees."""
    statements = compile_statements(plan, dialect_name)
    leading = session_statements(DIALECTS[dialect_name]())
    assert statements[:len(leading)] == leading, statements[0]
    return tuple((statement, reparse(statement, dialect_name)) for statement in statements[len(leading):])


# -- the ttl boundary: one feature row, spine rows exactly ttl old, ttl + 1s old, ... -------------------

TTL_SECONDS = 7200  # 2h: the planner's own choice for it is the range join
T0 = dt.datetime(2024, 3, 1, 12, 0, 0)
FEATURE_ROWS = [  # (driver_id, event_ts, created_ts, trips)
    (1, T0, T0, 10),
    (1, T0 - dt.timedelta(days=3), T0, 7),  # older than any ttl here: never the answer for a ttl view
    (2, T0 + dt.timedelta(seconds=1), T0, 20),
]
SPINE_ROWS = [  # (row_no, driver_id, event_ts), then trips expected from the 2h view and the unbounded one
    ((1, 1, T0), 10, 10),                                            # same instant: upper bound inclusive
    ((2, 1, T0 + dt.timedelta(seconds=TTL_SECONDS)), 10, 10),        # exactly ttl old: lower bound inclusive
    ((3, 1, T0 + dt.timedelta(seconds=TTL_SECONDS + 1)), None, 10),  # ttl + 1s old: outside the window
    ((4, 1, T0 - dt.timedelta(seconds=1)), None, 7),                 # only the 3-day-old row is in the past
    ((5, 2, T0), None, None),                                        # the key's only row is 1s in the future
    ((6, 3, T0), None, None),                                        # a key without rows
    ((7, None, T0), None, None),                                     # NULL keys never match
]

def boundary_project(dest: Path, strategy: str | None = None) -> FeatureGraph:
    """Two views of one source, one with a 2h ttl and one unbounded; `strategy`: what both declare."""
    dest.mkdir(parents=True, exist_ok=True)
    declared = {"strategy": strategy} if strategy else {}
    (dest / "fcompile_project.yml").write_text(yaml.safe_dump({
        "name": "ttl_boundary", "default_target": "dev",
        "targets": {"dev": {"offline": {"type": "duckdb", "path": "x.duckdb"},
                            "online": {"type": "sqlite", "path": "x.db"}}},
    }))
    (dest / "features.yml").write_text(yaml.safe_dump({
        "entities": [{"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64"}]}],
        "sources": [{"name": "stats", "table": "stats_src", "timestamp_field": "event_ts",
                     "created_timestamp_field": "created_ts"}],
        "feature_views": [
            {"name": "recent", "entities": ["driver"], "source": "stats", "ttl": f"{TTL_SECONDS}s", **declared,
             "features": [{"name": "trips", "dtype": "int64"}]},
            {"name": "ever", "entities": ["driver"], "source": "stats", **declared,
             "features": [{"name": "trips", "dtype": "int64"}]},
        ],
    }, sort_keys=False))
    return load_project(dest)


def boundary_join(graph: FeatureGraph, views: tuple[str, ...], strategy: JoinStrategy | None) -> PointInTimeJoin:
    """The spine joined to the views' `trips`, output as `<view>__trips`."""
    spine = SpinePlan(Relation("table", "spine"), "event_ts", columns=("row_no", "driver_id", "event_ts"))
    projections = [Projection(view, ("trips",)) for view in views]
    return plan_point_in_time_join(graph, spine, projections, full_feature_names=True, strategy=strategy)


def expected_boundary(views: tuple[str, ...]) -> list[tuple]:
    """(row_no, trips from each view) for every spine row, in spine order."""
    return [(row[0], *(answers[view] for view in views)) for row, *values in SPINE_ROWS
            for answers in [dict(zip(("recent", "ever"), values))]]
