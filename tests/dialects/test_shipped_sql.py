"""The SQL templates shipped with fcompile (fcompile/runners/shipped_sql.json): generated through sqlglot now
they equal the shipped file, and filled in for a plan they give sqlglot's own statement, text for text, or
nothing (the plan is then compiled through sqlglot)."""

from __future__ import annotations

import random
import string

import pytest

from fcompile.dialects import compile_statements, get_dialect, query_statement
from fcompile.dialects.shipped_build import DTYPES, FILE, generate, rendered
from fcompile.graph import DType
from fcompile.parser import load_project
from fcompile.planner.plans import FeatureColumn, KeyColumn, LatestValues, Relation
from fcompile.planner.point_in_time import plan_latest_values
from fcompile.runners import shipped_sql
from fcompile.runners.external import window_estimate_select


def test_the_shipped_templates_are_what_sqlglot_generates_now():
    assert FILE.read_text(encoding="utf-8") == rendered(generate()), \
        "run `python -m fcompile.dialects.shipped_build` and read the diff"


def sqlglot_query(plan: LatestValues) -> tuple[list[str], str]:
    return query_statement(compile_statements(plan, "duckdb", pretty=False), "duckdb")


def sqlglot_extent(plan: LatestValues, with_start: bool) -> str:
    dialect = get_dialect("duckdb")
    return dialect.generate(window_estimate_select(dialect, plan, with_start), pretty=False)


def random_plan(rng: random.Random) -> LatestValues:
    used: set[str] = set()

    def name() -> str:
        while True:
            first = rng.choice(string.ascii_letters + "_")
            text = first + "".join(rng.choice(string.ascii_letters + string.digits + "_")
                                   for _ in range(rng.randint(0, 30)))
            if text.casefold() not in used and not text.casefold().startswith("__fc"):
                used.add(text.casefold())
                return text

    def pair() -> tuple[str, str]:
        source = name()
        return source, source if rng.random() < 0.5 else name()

    keys = []
    for _ in range(rng.randint(1, 3)):
        source, key = pair()
        keys.append(KeyColumn(key, source, DType(rng.choice(["int64", "int32", "string", "bytes", "date"]))))
    features = []
    for _ in range(rng.randint(0, 6)):
        source, output = pair()
        features.append(FeatureColumn(source, output, rng.choice(DTYPES)))
    event = name()
    created = name() if rng.random() < 0.7 else None
    zoned = tuple(t for t in (event, created) if t is not None and rng.random() < 0.5)
    if rng.random() < 0.5:
        folder = rng.choice(["/data", "/tmp/it's here", "C:\\data\\x", "/données/ünï code", "/a b/{0}/%s"])
        path = f"{folder}/part-{rng.randint(0, 9)}" + rng.choice([".parquet", ".csv", ".csv.gz", "/*.parquet", ""])
        relation = Relation("path", path, zoned)
    else:  # a table: plain parts, now and then a word the tokenizer knows (left to sqlglot)
        parts = [rng.choice([name(), name(), "date", "select", "Year", "_x1"]) for _ in range(rng.randint(1, 3))]
        relation = Relation("table", ".".join(parts), zoned)
    return LatestValues(name(), relation, tuple(keys), event, created, tuple(features))


def expect_template(plan: LatestValues) -> bool:
    """Every random plan has a template, but for a table part that the tokenizer takes for a keyword."""
    keywords = set(shipped_sql.shipped()["dialects"]["duckdb"]["table_name_keywords"])
    assert {"select", "date"} <= keywords
    return plan.relation.kind == "path" or not {p.lower() for p in plan.relation.locator.split(".")} & keywords


@pytest.mark.parametrize("seed", range(8))
def test_filled_templates_equal_sqlglot_statements(seed):
    rng = random.Random(seed)
    for _ in range(40):
        plan = random_plan(rng)
        filled = shipped_sql.latest_values_sql(plan, "duckdb")
        if not expect_template(plan):
            assert filled is None, plan
            continue
        assert filled is not None, plan
        assert filled == sqlglot_query(plan), plan
        for with_start in (True, False):
            assert shipped_sql.window_extent_sql(plan, "duckdb", with_start) == sqlglot_extent(plan, with_start)


def test_the_sample_projects_plain_online_views_are_templated(tmp_path):
    from fcompile.sample import init_project

    init_project(tmp_path / "sample", scale=0.01)
    graph = load_project(tmp_path / "sample")
    views = [v for v in graph.feature_views if v.online and v.plain_features]
    assert views
    templated = 0
    for view in views:
        plan = plan_latest_values(graph, view)
        filled = shipped_sql.latest_values_sql(plan, "duckdb")
        if filled is not None:
            templated += 1
            assert filled == sqlglot_query(plan)
            assert shipped_sql.window_extent_sql(plan, "duckdb", True) == sqlglot_extent(plan, True)
    assert templated == len(views)


PLAIN = LatestValues("v", Relation("path", "/d/x.parquet"), (KeyColumn("k", "k", DType("int64")),), "ev", "cr",
                     (FeatureColumn("f", "f", DType("float64")),))


@pytest.mark.parametrize("change", [
    {"relation": Relation("table", "db.a.b.x")},                            # more parts than a table has
    {"relation": Relation("table", "db.from")},
    {"relation": Relation("table", '"quoted".x')},
    {"relation": Relation("query", "SELECT 1")},
    {"relation": Relation("path", "/d/x.parquet", nanosecond_times=("ev",))},
    {"relation": Relation("path", "/d/x.parquet", zoned_times=("f",))},
    {"relation": Relation("path", "/d/line\nbreak.parquet")},
    {"tie_breaker": "f", "tie_breaker_dtype": DType("float64")},
    {"start_parameter": "from"},
    {"features": (FeatureColumn("f", "k", DType("float64")),)},           # an output named as the key
    {"features": (FeatureColumn("F", "F", DType("float64")), FeatureColumn("f", "g", DType("float64")))},
    {"features": (FeatureColumn("f", "__fc_event_ts", DType("float64")),)},
    {"features": (FeatureColumn("f", "x-y", DType("float64")),)},          # not a plain identifier
    {"keys": (KeyColumn("k", "ev", DType("int64")),)},                     # the key is the event time
    {"features": (FeatureColumn("f", "f", DType("array", DType("array", DType("int64")))),)},
])
def test_plans_outside_the_templates_get_none(change):
    from dataclasses import replace

    plan = replace(PLAIN, **change)
    assert shipped_sql.latest_values_sql(plan, "duckdb") is None
    assert shipped_sql.latest_values_sql(PLAIN, "postgres") is None  # no templates shipped for it
