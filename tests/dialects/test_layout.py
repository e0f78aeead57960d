"""Layout of compiled SQL: lists one item per line, so that adding a feature adds one line."""

from __future__ import annotations

import difflib

import pytest
from sqlglot import exp, parse_one

from fcompile.dialects import DIALECTS, get_dialect


def ranked(columns: list[str]) -> exp.Select:
    order = [exp.Ordered(this=exp.column(c), desc=True) for c in columns]
    window = exp.Window(this=exp.RowNumber(), partition_by=[exp.column("k")], order=exp.Order(expressions=order))
    return exp.select(*[exp.column(c) for c in columns], exp.alias_(window, "r")).from_("t")


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_one_more_order_key_is_one_more_line(name):
    dialect = get_dialect(name)
    before = dialect.generate(ranked(["a", "b"])).splitlines()
    after = dialect.generate(ranked(["a", "b", "c"])).splitlines()
    changed = [line for line in difflib.unified_diff(before, after, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    # the new select item and the new sort key; the comma that a last item gains is the third line
    assert len([line for line in changed if line.startswith("+")]) == 3, changed
    assert len([line for line in changed if line.startswith("-")]) == 1, changed
    flat = dialect.generate(ranked(["a", "b", "c"]), pretty=False)
    assert parse_one("\n".join(after), read=dialect.sqlglot_name) == parse_one(flat, read=dialect.sqlglot_name)


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_a_window_with_a_broken_order_puts_each_part_on_its_own_line(name):
    text = get_dialect(name).generate(ranked(["a", "b"]))
    over = text[text.index("OVER ("):]
    assert over.splitlines()[1].strip().upper().startswith("PARTITION BY")
    assert over.splitlines()[2].strip().upper() == "ORDER BY"


def test_one_key_stays_on_its_line():
    text = get_dialect("duckdb").generate(ranked(["a"]))
    assert 'ORDER BY "a" DESC' in text
