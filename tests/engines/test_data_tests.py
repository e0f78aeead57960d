"""Data tests (issue 18) on every engine: each test kind's compiled query, run by the engine's runner, returns
the failing rows (or figure) that a plain-Python check over the same rows finds, on hand-written rows with
NULLs, values on both bounds of a range and just past them, duplicated key and time, a NULL key, a mapped
column (field_mapping) and `where:` filters; `run_data_test` gives the status and failing count the check
says."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from fcompile.parser import parse_project
from fcompile.planner.data_tests import plan_data_test
from fcompile.dialects import get_dialect, query_statement
from fcompile.tasks.data_tests import as_utc, run_data_test

from compiler.harness import Table

T0 = dt.datetime(2024, 3, 1, 8, 0, 0)
T1, T2, T3 = T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=3)
TABLE = "dq_rows"
COLUMNS = (("driver_id", "int64"), ("event_ts", "timestamp"), ("created_ts", "timestamp"),
           ("score_raw", "float64"), ("kind", "string"), ("trips", "int64"))
ROWS = [
    # driver, event time, created, score (0 and 1: the inclusive bounds), kind, trips
    (1, T0, T0, 0.0, "a", 1),
    (1, T1, T1, 1.0, "b", 2),
    (2, T0, T0, None, None, 3),
    (2, T0, T0, 1.0000001, "c", 3),        # same key, event and created time as the row above; just past max
    (3, T2, T2, -0.5, "a", None),
    (3, T2, T3, 0.5, "b", 4),              # same key and event time, another created time: no duplicate
    (None, T3, T3, 0.25, "a", 5),          # a NULL key
    (4, T3, None, 0.75, "a", 0),           # a NULL created time
    (5, T1, T1, -1e-9, "b", 7),            # just below min
]
RECORDS = [dict(zip((c for c, _ in COLUMNS), row)) for row in ROWS]
for record in RECORDS:
    record["score"] = record["score_raw"]  # the feature's name (field_mapping: score_raw -> score)

# test spec on the view (or, for `expression`, on the source) -> the Python check: the failing rows
# (as tuples of the columns the query returns), or for an aggregate test the failing figure
CASES: dict[str, tuple[str, Any]] = {
    "not_null": ("feature", "not_null"),
    "range": ("feature", {"range": {"min": 0, "max": 1}}),
    "range_min_only": ("feature", {"range": {"min": 0}}),
    "range_max_only": ("feature", {"range": {"max": 1}}),
    "range_where": ("feature", {"range": {"min": 0, "max": 1}, "where": "trips > 1 AND score IS NOT NULL"}),
    "accepted_values": ("kind", {"accepted_values": ["a", "b"]}),
    "unique": ("kind", "unique"),
    "unique_where": ("kind", {"unique": None, "where": "driver_id IN (1, 3)"}),
    "unique_key_time": ("view", "unique_key_time"),
    "row_count_low": ("view", {"row_count": {"min": 100}}),
    "row_count_ok": ("view", {"row_count": {"min": 9, "max": 9}}),
    "row_count_where": ("view", {"row_count": {"max": 2}, "where": "kind = 'a'"}),
    "null_fraction_fail": ("view", {"null_fraction": {"column": "score", "max": 0.1}}),
    "null_fraction_pass": ("view", {"null_fraction": {"column": "score", "max": 0.2}, "severity": "warn"}),
    "expression": ("source", {"expression": "trips >= 1 AND driver_id IS NOT NULL"}),
    "expression_where": ("source", {"expression": "score_raw BETWEEN 0 AND 1 OR kind IN ('c')",
                                    "where": "NOT driver_id = 5"}),
    # functions of the on-demand subset, lowered as on-demand expressions are: ROUND half away from zero
    "expression_functions": ("source", {"expression": "ROUND(score * 10) <= 2 OR LENGTH(UPPER(kind)) > 1",
                                        "where": "COALESCE(trips, 0) % 2 = 1"}),
    "freshness": ("view", {"freshness": {"warn_after": "2h", "error_after": "4h"}}),
}


def _where(text: str | None) -> Callable[[dict], bool]:
    """The Python reading of the hand-written filters above (three-valued: NULL is not true)."""
    return {
        None: lambda r: True,
        "trips > 1 AND score IS NOT NULL": lambda r: r["trips"] is not None and r["trips"] > 1 and r["score"] is not None,
        "driver_id IN (1, 3)": lambda r: r["driver_id"] in (1, 3),
        "kind = 'a'": lambda r: r["kind"] == "a",
        "NOT driver_id = 5": lambda r: r["driver_id"] is not None and r["driver_id"] != 5,
        "COALESCE(trips, 0) % 2 = 1": lambda r: (r["trips"] or 0) % 2 == 1,
    }[text]


def _round_half_away(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


def _and3(a, b):
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or3(a, b):
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def expected(case: str) -> tuple[str, Any]:
    """("rows", [...]) failing rows, or ("figure", ...) the failing figure (None: passes) - in plain Python."""
    _, spec = CASES[case]
    where = _where(spec.get("where") if isinstance(spec, dict) else None)
    rows = [r for r in RECORDS if where(r)]
    ident = lambda r, col: (r["driver_id"], r["event_ts"], r["created_ts"], r[col])  # noqa: E731
    if case == "not_null":
        return "rows", [ident(r, "score") for r in rows if r["score"] is None]
    if case.startswith("range"):
        bounds = spec["range"]
        low, high = bounds.get("min", -math.inf), bounds.get("max", math.inf)
        return "rows", [ident(r, "score") for r in rows if r["score"] is not None and not low <= r["score"] <= high]
    if case == "accepted_values":
        return "rows", [ident(r, "kind") for r in rows if r["kind"] is not None and r["kind"] not in ("a", "b")]
    if case.startswith("unique") and case != "unique_key_time":
        counts = Counter(r["kind"] for r in rows if r["kind"] is not None)
        return "rows", [(value, n) for value, n in counts.items() if n > 1]
    if case == "unique_key_time":
        counts = Counter((r["driver_id"], r["event_ts"], r["created_ts"]) for r in rows
                         if r["driver_id"] is not None and r["event_ts"] is not None)
        return "rows", [(*key, n) for key, n in counts.items() if n > 1]
    if case.startswith("row_count"):
        bounds = spec["row_count"]
        n = len(rows)
        fails = n < bounds.get("min", 0) or n > bounds.get("max", math.inf)
        return "figure", (n,) if fails else None
    if case.startswith("null_fraction"):
        nulls = sum(r["score"] is None for r in rows)
        limit = spec["null_fraction"]["max"]
        return "figure", (nulls, len(rows)) if nulls > limit * len(rows) else None
    if case == "expression":
        value = lambda r: _and3(None if r["trips"] is None else r["trips"] >= 1, r["driver_id"] is not None)  # noqa: E731
    elif case == "expression_functions":
        value = lambda r: _or3(None if r["score"] is None else _round_half_away(r["score"] * 10) <= 2,  # noqa: E731
                               None if r["kind"] is None else len(r["kind"].upper()) > 1)
    else:
        value = lambda r: _or3(None if r["score_raw"] is None else 0 <= r["score_raw"] <= 1,  # noqa: E731
                               None if r["kind"] is None else r["kind"] in ("c",))
    return "rows", [tuple(r[c] for c, _ in COLUMNS) for r in rows if value(r) is False]


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    root = tmp_path_factory.mktemp("data_tests")
    (root / "fcompile_project.yml").write_text(yaml.safe_dump({
        "name": "dq_engines", "default_target": "dev",
        "targets": {"dev": {"offline": {"type": "duckdb", "path": "x.duckdb"},
                            "online": {"type": "sqlite", "path": "x.db"}}}}))
    feature_tests = {"score": [], "kind": []}
    view_tests, source_tests = [], []
    for _, (place, spec) in CASES.items():
        {"feature": feature_tests["score"], "kind": feature_tests["kind"], "view": view_tests,
         "source": source_tests}[place].append(spec)
    spec = {
        "entities": [{"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64"}]}],
        "sources": [{"name": "dq_src", "table": TABLE, "timestamp_field": "event_ts",
                     "created_timestamp_field": "created_ts", "field_mapping": {"score_raw": "score"},
                     "tests": source_tests}],
        "feature_views": [{"name": "dq", "entities": ["driver"], "source": "dq_src", "tests": view_tests,
                           "features": [{"name": "score", "dtype": "float64", "tests": feature_tests["score"]},
                                        {"name": "kind", "dtype": "string", "tests": feature_tests["kind"]},
                                        {"name": "trips", "dtype": "int64"}]}],
    }
    (root / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = parse_project(root, use_cache=False)
    assert result.ok, [d.render() for d in result.diagnostics]
    return result.graph


def _test_named(graph, case: str):
    """The DataTest written for `case` (tests are named by kind, with _2, _3 for the same kind, in spec order)."""
    place, spec = CASES[case]
    kind = spec if isinstance(spec, str) else next(k for k in spec if k not in ("where", "severity"))
    same = [c for c, (p, s) in CASES.items() if p == place and (s if isinstance(s, str) else
                                                                 next(k for k in s if k not in ("where", "severity"))) == kind]
    index = same.index(case)
    column = {"feature": "score", "kind": "kind"}.get(place)
    if kind == "null_fraction":
        column = "score"
    parent = "dq_src" if place == "source" else "dq"
    base = "__".join(p for p in (parent, column, kind) if p)
    name = base if index == 0 else f"{base}_{index + 1}"
    return next(t for t in graph.tests if t.name == name)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return as_utc(value).replace(tzinfo=None)
    if isinstance(value, float):
        return round(value, 9)
    if hasattr(value, "as_integer_ratio") and not isinstance(value, (int, bool)):  # Decimal
        return round(float(value), 9)
    return value


def test_every_case_is_a_test(graph):
    assert len(graph.tests) == len(CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_failing_rows_match_the_python_check(engine, graph, case):
    runner = engine.runner()
    engine.load(runner, Table(TABLE, COLUMNS, [dict(zip((c for c, _ in COLUMNS), row)) for row in ROWS]))
    test = _test_named(graph, case)
    dialect = get_dialect(runner.dialect)
    leading, sql = query_statement(runner.statements(plan_data_test(graph, test)), dialect)
    for statement in leading:
        runner.run_session_statement(statement)
    columns, rows = runner.query_rows(sql, case)
    got = [tuple(_plain(v) for v in row) for row in rows]
    shape, want = expected(case) if case != "freshness" else ("freshness", None)
    if shape == "rows":
        assert sorted(got, key=repr) == sorted([tuple(_plain(v) for v in row) for row in want], key=repr), sql
    elif shape == "figure":
        assert (got == []) if want is None else (len(got) == 1 and got[0][:len(want)] == want), (got, sql)
        if want is not None and case.startswith("null_fraction"):
            assert abs(float(got[0][2]) - want[0] / want[1]) < 1e-9
    else:  # freshness: the newest event time and the rows counted
        assert got == [(T3, len(ROWS))], sql
    now = T3.replace(tzinfo=dt.timezone.utc) + dt.timedelta(hours=3)
    result = run_data_test(graph, runner, test, now)
    assert result.status != "error", result.message
    if shape == "rows":
        assert result.failures == len(want)
        assert result.status == ("pass" if not want else "fail")
        assert len(result.sample) == min(len(want), 5)
    elif shape == "figure":
        assert result.failures == (0 if want is None else 1)
        assert result.status == ("pass" if want is None else "fail")
    else:
        assert result.status == "warn" and result.failures == 1  # 3h old: past warn_after 2h, within error_after 4h
        assert run_data_test(graph, runner, test, now - dt.timedelta(hours=2)).status == "pass"
        assert run_data_test(graph, runner, test, now + dt.timedelta(hours=1, seconds=1)).status == "fail"


def test_the_python_check_sees_failures_and_passes():
    """The cases are not all trivially passing or failing: the reference finds both."""
    outcomes = {case: expected(case)[1] for case in CASES if case != "freshness"}
    assert [] in outcomes.values() or None in outcomes.values()
    assert sum(bool(v) for v in outcomes.values()) >= 10
    assert expected("range")[1] and len(expected("range")[1]) == 3  # 1.0000001, -0.5, -1e-9; 0 and 1 pass
