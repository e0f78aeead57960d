"""Windowed aggregations (docs/concepts/aggregations.md) through each engine's runner, compared row by row,
in spine order, with the pure-Python reference (tests/compiler/aggregation_reference.py): the hand-written
cases of tests/compiler/aggregation_cases.py (window bounds to the microsecond, step boundaries, NULLs,
empty windows, duplicates, ties of `last`, steps of 15m, 1h, 1d and 2d, times before 1970, values with a
large offset, keys of two columns, plain features beside aggregated ones) and small seeded random data.
Each case is planned as a user's request is (`plan_training_query`: the spine uploaded from Arrow), and
once more with the spine read in place from a table of the engine. Floats that are sums, means and
deviations agree within 1e-9 relative; everything else exactly."""

from __future__ import annotations

import pytest

from fcompile.runners.spines import SpineInput
from fcompile.tasks.training import plan_training_query

from compiler import aggregation_cases as cases
from compiler.aggregation_harness import AggCase, assert_rows_match, expected, float_outputs, write_project
from compiler.harness import arrow_table

# Per engine, how many seeded random cases run (Spark: every query is a job of about a second)
RANDOM_SEEDS = {"spark": 2}
DEFAULT_RANDOM_SEEDS = 4


def run_case(engine, case: AggCase, tmp_path, in_place: bool = True) -> None:
    runner = engine.runner()
    graph = write_project(case, tmp_path / case.name)
    for table in case.tables:
        engine.load(runner, table)
    wanted = expected(case)
    floats = float_outputs(case)
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(case.spine)), case.projections,
                                case.full_feature_names, case.spine_ts, case.name)
    got = runner.to_arrow(query.plan, case.name)
    assert_rows_match((got.column_names, got.to_pylist()), wanted, floats,
                      f"{case.name} on {engine.name}, Arrow spine\n{query.sql}")
    if in_place:
        engine.load(runner, case.spine)
        query = plan_training_query(graph, runner, SpineInput("table", case.spine.name), case.projections,
                                    case.full_feature_names, case.spine_ts, case.name)
        got = runner.to_arrow(query.plan, case.name)
        assert_rows_match((got.column_names, got.to_pylist()), wanted, floats,
                          f"{case.name} on {engine.name}, spine read from a table\n{query.sql}")


@pytest.mark.parametrize("name", sorted(cases.HAND_WRITTEN))
def test_hand_written_aggregation_case(engine, name, tmp_path):
    run_case(engine, cases.HAND_WRITTEN[name](), tmp_path, in_place=engine.name != "spark" or name == "nulls")


@pytest.mark.parametrize("seed", range(DEFAULT_RANDOM_SEEDS))
def test_random_aggregation_case(engine, seed, tmp_path):
    if seed >= RANDOM_SEEDS.get(engine.name, DEFAULT_RANDOM_SEEDS):
        pytest.skip(f"{engine.name} runs {RANDOM_SEEDS[engine.name]} seeds (each query is a job of about a second)")
    run_case(engine, cases.random_case(100 + seed), tmp_path, in_place=False)


@pytest.mark.parametrize("seed", range(2))
def test_random_large_offset_case(engine, seed, tmp_path):
    """Values far from zero with a small spread: variances and deviations within 1e-9 of the exact ones."""
    run_case(engine, cases.random_large_offset_case(200 + seed), tmp_path, in_place=False)
