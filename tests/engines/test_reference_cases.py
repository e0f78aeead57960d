"""The compiler's reference cases, run through each engine's runner (docs/concepts/point-in-time.md).

The hand-written cases of tests/compiler/test_point_in_time_semantics.py (every test there that takes
only `check`) and the randomized shapes and data of test_point_in_time_random.py are planned as a user's
request is (`plan_training_query`: the spine registered by the runner, checked, then planned), run by the
engine's runner and compared row by row, in spine order, with the pure-Python reference
(tests/compiler/reference.py). Each case runs with every join strategy whose SQL differs on the engine
(ASOF is lowered to the window plan where there is no ASOF join), with the spine uploaded from Arrow,
and once more with the spine read in place from a table of the engine; on Spark, where every query is a
job of about a second, a case runs one of its strategies, taken in turn, and a few read the spine in
place. The randomized cases also check the latest values a materialization reads for a random window,
bound as parameters.
"""

from __future__ import annotations

import inspect
from typing import Any, Sequence

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcompile.planner.plans import JoinStrategy
from fcompile.planner.point_in_time import plan_latest_values, plan_point_in_time_join
from fcompile.runners.spines import SpineInput
from fcompile.tasks.training import plan_training_query

from compiler import test_point_in_time_random as randomized
from compiler import test_point_in_time_semantics as semantics
from compiler.harness import (
    STRATEGIES, Case, arrow_table, assert_same_rows, expected, expected_latest, normalized, write_project,
)

HAND_WRITTEN = sorted(name for name, test in vars(semantics).items()
                      if name.startswith("test_") and callable(test)
                      and list(inspect.signature(test).parameters) == ["check"])


def run_case(engine, runner, graph, case: Case, strategies: Sequence[Any] = STRATEGIES,
             in_place: bool = True, wanted: tuple[list[str], list[dict]] | None = None) -> None:
    """The case through the runner: each strategy with distinct SQL on an uploaded spine (or one of
    them, in turn, where the engine says so), then the planner's own choice on the spine read from a
    table of the engine. The rows wanted are the reference's unless given."""
    turn = engine.cases_run
    engine.cases_run += 1
    for table in case.tables:
        engine.load(runner, table)
    wanted = wanted or expected(case)
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(case.spine)), case.projections,
                                case.full_feature_names, case.spine_ts, case.name)
    spine = query.spine.plan(query.plan.spine.timestamp_column)
    distinct: dict[tuple[str, ...], tuple[Any, Any]] = {}
    for strategy in strategies:
        plan = plan_point_in_time_join(graph, spine, case.projections, case.full_feature_names, strategy=strategy)
        distinct.setdefault(tuple(runner.statements(plan)), (strategy, plan))
    chosen = list(distinct.values())
    if engine.one_strategy_per_case:
        chosen = [chosen[turn % len(chosen)]]
    for strategy, plan in chosen:
        got = runner.to_arrow(plan, case.name)
        assert_same_rows((got.column_names, got.to_pylist()), wanted,
                         f"{case.name} on {engine.name}, strategy {strategy}, Arrow spine\n"
                         f"{runner.statements(plan)[0]}")
    if in_place and turn % engine.in_place_every == 0:
        engine.load(runner, case.spine)
        query = plan_training_query(graph, runner, SpineInput("table", case.spine.name), case.projections,
                                    case.full_feature_names, case.spine_ts, case.name)
        got = runner.to_arrow(query.plan, case.name)
        assert_same_rows((got.column_names, got.to_pylist()), wanted,
                         f"{case.name} on {engine.name}, spine read from a table\n{query.sql}")


def test_the_hand_written_cases_are_found():
    assert len(HAND_WRITTEN) >= 15 and "test_ttl_bounds_are_inclusive_and_one_second_past_is_out" in HAND_WRITTEN


@pytest.mark.parametrize("name", HAND_WRITTEN, ids=[n.removeprefix("test_") for n in HAND_WRITTEN])
def test_hand_written_case(engine, name, tmp_path):
    if name in engine.cases_not_run:
        pytest.skip(f"{engine.name}: {engine.cases_not_run[name]}")
    runner = engine.runner()

    def check(case: Case) -> None:
        run_case(engine, runner, write_project(case, tmp_path / case.name), case)

    getattr(semantics, name)(check)


# -- randomized ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    """The project of each random shape, written and parsed once."""
    root, found = tmp_path_factory.mktemp("engine_shapes"), {}

    def graph(index: int, case: Case):
        if index not in found:
            found[index] = write_project(case, root / f"shape{index}")
        return found[index]

    return graph


def check_random_example(engine, runner, graph, index: int, case: Case, window) -> None:
    shape = randomized.SHAPES[index]
    strategies: list[Any] = list(STRATEGIES)
    if len(shape.views) > 1:
        strategies.append(dict(shape.mixed))
    run_case(engine, runner, graph, case, strategies, in_place=False)
    view, start, end = window
    plan = plan_latest_values(graph, graph.feature_view(view))
    got = runner.latest_values(plan, start, end, f"view {view}").read_all()
    want_rows = expected_latest(case, view, start, end)
    if want_rows:
        assert got.column_names == list(want_rows[0])
    rows = sorted(tuple(str(normalized(v)) for v in r.values()) for r in got.to_pylist())
    want = sorted(tuple(str(normalized(v)) for v in r.values()) for r in want_rows)
    assert rows == want, f"{case.name}: latest values of {view} in [{start}, {end}] on {engine.name}"


@pytest.mark.parametrize("index", range(len(randomized.SHAPES)), ids=[f"shape{i}" for i in
                                                                      range(len(randomized.SHAPES))])
def test_random_cases(engine, graphs, index):
    runner = engine.runner()

    @settings(derandomize=True, database=None, max_examples=engine.random_examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def run(data):
        case, window = data.draw(randomized.examples(index))
        check_random_example(engine, runner, graphs(index, case), index, case, window)

    run()


def test_every_strategy_is_tried():
    assert set(STRATEGIES) == set(JoinStrategy)


def test_a_large_spine_keeps_its_order_across_partitions(engine, tmp_path):
    """20,000 spine rows in scrambled time order (on Spark split over four partitions, so the result comes
    back as several files) keep their order, and the first rows are the reference's."""
    n = 20_000
    table = semantics.stats_table(*[(k, semantics.T - k * semantics.SEC, semantics.T, k / 10, k, str(k))
                                    for k in range(50)])
    rows = [{"driver_id": (i * 7919) % 60, "event_timestamp": semantics.T - ((i * 104729) % 4000) * semantics.SEC,
             "label": i} for i in range(n)]
    case = semantics.stats_case("large_spine", table, semantics.Table("spine_t", semantics.SPINE_COLUMNS, rows))
    graph = write_project(case, tmp_path)
    runner = engine.runner()
    engine.load(runner, table)
    query = plan_training_query(graph, runner, SpineInput("arrow", arrow_table(case.spine)), case.projections)
    with engine.several_partitions():
        batches = list(runner.execute(query.plan, "large spine"))
    labels = [label for batch in batches for label in batch.column("label").to_pylist()]
    assert labels == list(range(n))
    if engine.name == "spark":
        assert len(batches) > 1, "the result came back as one part: the test proves nothing about ordering parts"
    head = Case(case.entities, case.views, case.tables, semantics.Table("spine_t", semantics.SPINE_COLUMNS,
                                                                        rows[:300]), case.projections)
    first = pa.Table.from_batches(batches).slice(0, 300)
    assert_same_rows((first.column_names, first.to_pylist()), expected(head), f"large spine on {engine.name}")
