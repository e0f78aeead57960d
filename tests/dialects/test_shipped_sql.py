"""The SQL templates shipped with fcompile (fcompile/runners/shipped_sql.json): generated through sqlglot now
they equal the shipped file, and filled in for a plan they give sqlglot's own statement, text for text, or
nothing (the plan is then compiled through sqlglot)."""

from __future__ import annotations

import random
import string
from dataclasses import replace

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
    return query_statement(compile_statements(plan, "duckdb"), "duckdb")  # as the compiled file has it


def sqlglot_extent(plan: LatestValues, with_start: bool) -> str:
    dialect = get_dialect("duckdb")
    return dialect.generate(window_estimate_select(dialect, plan, with_start), pretty=False)


def random_plan(rng: random.Random, longest: int) -> LatestValues:
    used: set[str] = set()

    def name() -> str:
        while True:
            first = rng.choice(string.ascii_letters + "_")
            text = first + "".join(rng.choice(string.ascii_letters + string.digits + "_")
                                   for _ in range(rng.randint(0, longest)))
            if text.casefold() not in used and not text.casefold().startswith("__fc"):
                used.add(text.casefold())
                return text

    def pair() -> tuple[str, str]:
        source = name()
        return source, source if rng.random() < 0.5 else name()

    keys = []
    for _ in range(rng.randint(1, 4)):
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
        folder = rng.choice(["/data", "/tmp/it's here", "C:\\data\\x", "/données/ünï code", "/a b/{0}/%s",
                             "/home/someone/projects/feature-store/warehouse/exports/2025/driver_stats/daily"])
        path = f"{folder}/part-{rng.randint(0, 9)}" + rng.choice([".parquet", ".csv", ".csv.gz", "/*.parquet", ""])
        relation = Relation("path", path, zoned)
    else:  # a table: plain parts, now and then a word the tokenizer knows (left to sqlglot)
        parts = [rng.choice([name(), name(), "date", "select", "Year", "_x1"]) for _ in range(rng.randint(1, 3))]
        relation = Relation("table", ".".join(parts), zoned)
    return LatestValues(name(), relation, tuple(keys), event, created, tuple(features))


def expect_template(plan: LatestValues) -> bool:
    """A random plan of short names has a template, but for four keys or a table part that the tokenizer
    takes for a keyword."""
    keywords = set(shipped_sql.shipped()["dialects"]["duckdb"]["table_name_keywords"])
    assert {"select", "date"} <= keywords
    parts = {p.lower() for p in plan.relation.locator.split(".")} if plan.relation.kind == "table" else set()
    return len(plan.keys) <= shipped_sql.MAX_KEYS and not parts & keywords


@pytest.mark.parametrize("seed", range(8))
def test_filled_templates_equal_sqlglot_statements(seed):
    """Text for text, layout included (the compiled file's); names of up to 12 characters always have a
    template, longer ones have one where a shipped variant's line breaks are theirs."""
    rng = random.Random(seed)
    for number in range(40):
        plan = random_plan(rng, longest=12 if number % 2 else 70)
        filled = shipped_sql.latest_values_sql(plan, "duckdb")
        if filled is None:
            assert number % 2 == 0 or not expect_template(plan), plan
            continue
        assert expect_template(plan), plan
        assert filled == sqlglot_query(plan), plan
        for with_start in (True, False):
            assert shipped_sql.window_extent_sql(plan, "duckdb", with_start) == sqlglot_extent(plan, with_start)


def test_a_name_that_moves_a_line_break_takes_the_template_laid_out_so():
    """A key long enough to make the printer break a line that a short one leaves whole takes the template
    variant generated with long sentinels: the layout is the compiler's either way."""
    short = LatestValues("v", Relation("path", "/d/x.parquet"), (KeyColumn("k", "k", DType("int64")),), "ev", None,
                         (FeatureColumn("f", "f", DType("float64")),))
    long = replace(short, keys=(KeyColumn("k" * 60, "k" * 60, DType("int64")),))
    assert sqlglot_query(short)[1].count("\n") < sqlglot_query(long)[1].count("\n")  # more lines broken
    for plan in (short, long):
        assert shipped_sql.latest_values_sql(plan, "duckdb") == sqlglot_query(plan)


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
    plan = replace(PLAIN, **change)
    assert shipped_sql.latest_values_sql(plan, "duckdb") is None
    assert shipped_sql.latest_values_sql(PLAIN, "postgres") is None  # no templates shipped for it
