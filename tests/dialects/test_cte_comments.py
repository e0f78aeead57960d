"""Each CTE of a compiled point-in-time join says which rule it implements: view, rule, ttl and the
strategy its SQL uses in the dialect. The comments survive generation in every dialect and the re-parse
check, and nothing in them can end the comment early."""

from __future__ import annotations

import re

import pytest
from sqlglot import exp, parse_one

from fcompile.dialects import DIALECTS, compile_statements, get_dialect
from fcompile.dialects.cte_comments import describe
from fcompile.dialects.lowering import effective_strategy
from fcompile.planner.plans import AggregateJoin

from dialects.projects import STRATEGIES, service_join


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: s.value)
@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_every_cte_says_its_rule(table_graph, name, strategy):
    dialect = get_dialect(name)
    plan = service_join(table_graph, "driver_ranking_v2", strategy)
    text = compile_statements(plan, dialect)[-1]  # after the statement that sets the session's zone, if any
    tree = parse_one(text, read=dialect.sqlglot_name)
    ctes = tree.find(exp.With).expressions
    assert len(ctes) > len(plan.joins) + 1
    # each CTE's first line is its comment (a comment that sqlglot dropped or moved would not be there)
    assert len(re.findall(r" AS \(\n +/\* [^\n]* \*/\n", text)) == len(ctes)
    for index, view in enumerate(plan.joins):
        if isinstance(view, AggregateJoin):  # no ttl nor strategy: each CTE says its step of the aggregation
            own = [c for c in re.findall(r"/\* (.*?) \*/", text) if c.lower().startswith(view.view + ":")]
            assert len(own) >= 6 and any(c.endswith("(microseconds since the epoch)") for c in own), (view.view, own)
            continue
        used = effective_strategy(dialect, view).value
        ttl = {7200: "2h", 172800: "2d", 604800: "1w", None: "none"}[view.ttl_seconds]
        own = [c for c in re.findall(r"/\* (.*?) \*/", text) if c.lower().startswith(view.view + ":")]
        assert own and all(c.endswith(f"; ttl {ttl}; strategy {used}") for c in own), (view.view, own)


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_a_comment_cannot_end_early_or_nest(name):
    """Comment text is names and fixed words, but were it to hold `*/` or `/*`, it would still stay one
    comment (PostgreSQL nests block comments)."""
    dialect = get_dialect(name)
    select = exp.select(exp.column("a")).from_("t")
    query = exp.select(exp.column("a")).from_("c").with_("c", as_=describe(select, "x */ DROP TABLE t; /* y"))
    text = dialect.generate(query)
    assert "DROP TABLE t; /*" not in text and text.count("/*") == text.count("*/") == 1
    assert parse_one(text, read=dialect.sqlglot_name) == parse_one(dialect.generate(exp.select(exp.column("a")).from_(
        "c").with_("c", as_=exp.select(exp.column("a")).from_("t"))), read=dialect.sqlglot_name)
