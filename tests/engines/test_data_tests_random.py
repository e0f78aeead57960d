"""Data tests (issue 18) on randomized rows, on every engine: for a few seeded random tables (NULLs, repeated
keys and times, values on and around the bounds), the failing count `run_data_test` reports for each test
kind equals a plain-Python count over the same rows."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

import pytest
import yaml

from fcompile.parser import parse_project
from fcompile.tasks.data_tests import run_data_test

from compiler.harness import Table

TABLE = "dq_random"
COLUMNS = (("driver_id", "int64"), ("event_ts", "timestamp"), ("value", "float64"), ("label", "string"))
SPECS = {
    "dq__value__not_null": "not_null",
    "dq__value__range": {"range": {"min": -1.5, "max": 2.0}},
    "dq__label__accepted_values": {"accepted_values": ["x", "y"]},
    "dq__label__unique": "unique",
    "dq__unique_key_time": "unique_key_time",
    "dq__value__null_fraction": {"null_fraction": {"column": "value", "max": 0.2}},
    "dq__row_count": {"row_count": {"min": 20, "max": 40}},
}
T0 = dt.datetime(2024, 5, 1)


def random_rows(seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(rng.randint(5, 60)):
        rows.append({
            "driver_id": rng.choice([None, 1, 2, 3, 4]),
            "event_ts": T0 + dt.timedelta(hours=rng.randint(0, 5)),
            "value": rng.choice([None, -1.5, 2.0, -1.75, 2.25, 0.0, round(rng.uniform(-3, 3), 3)]),
            "label": rng.choice([None, "x", "y", "z", "x y"]),
        })
    return rows


def failing(name: str, rows: list[dict]) -> int:
    """The failing count in plain Python (1 for a failing aggregate test)."""
    values = [r["value"] for r in rows]
    if name.endswith("not_null"):
        return sum(v is None for v in values)
    if name.endswith("range"):
        return sum(v is not None and not -1.5 <= v <= 2.0 for v in values)
    if name.endswith("accepted_values"):
        return sum(r["label"] is not None and r["label"] not in ("x", "y") for r in rows)
    if name.endswith("label__unique"):
        return sum(n > 1 for n in Counter(r["label"] for r in rows if r["label"] is not None).values())
    if name.endswith("unique_key_time"):
        keys = Counter((r["driver_id"], r["event_ts"]) for r in rows if r["driver_id"] is not None)
        return sum(n > 1 for n in keys.values())
    if name.endswith("null_fraction"):
        return int(sum(v is None for v in values) > 0.2 * len(rows))
    return int(not 20 <= len(rows) <= 40)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    root = tmp_path_factory.mktemp("data_tests_random")
    (root / "fcompile_project.yml").write_text(yaml.safe_dump({
        "name": "dq_random", "default_target": "dev",
        "targets": {"dev": {"offline": {"type": "duckdb", "path": "x.duckdb"},
                            "online": {"type": "sqlite", "path": "x.db"}}}}))
    by_column = {"value": [], "label": []}
    for name, spec in SPECS.items():
        parts = name.split("__")
        if len(parts) == 3 and parts[2] != "null_fraction":
            by_column[parts[1]].append(spec)
    spec = {
        "entities": [{"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64"}]}],
        "sources": [{"name": "dq_src", "table": TABLE, "timestamp_field": "event_ts"}],
        "feature_views": [{"name": "dq", "entities": ["driver"], "source": "dq_src",
                           "tests": [s for n, s in SPECS.items() if n.count("__") == 1 or n.endswith("null_fraction")],
                           "features": [{"name": "value", "dtype": "float64", "tests": by_column["value"]},
                                        {"name": "label", "dtype": "string", "tests": by_column["label"]}]}],
    }
    (root / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    result = parse_project(root, use_cache=False)
    assert result.ok, [d.render() for d in result.diagnostics]
    assert sorted(t.name for t in result.graph.tests) == sorted(SPECS)
    return result.graph


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_rows_fail_as_the_python_count_says(engine, graph, seed):
    rows = random_rows(seed)
    runner = engine.runner()
    engine.load(runner, Table(TABLE, COLUMNS, rows))
    now = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc)
    got = {t.name: run_data_test(graph, runner, t, now) for t in graph.tests}
    for name, result in got.items():
        assert result.status != "error", result.message
        assert result.failures == failing(name, rows), (name, seed, engine.name)
        assert result.status == ("pass" if not result.failures else "fail")
