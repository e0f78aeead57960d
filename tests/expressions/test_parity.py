"""Parity: random well-typed expressions (depth 4 and more, every operation, every type) on random rows
give the same values from the in-process evaluator and from the SQL compiled for DuckDB, PostgreSQL and
Spark: exactly for integers, booleans, strings and timestamps, and for floats except those computed
through EXP, LN or POWER, which stay within engines.FLOAT bounds.

The run is seeded (FCOMPILE_PARITY_SEED overrides the seed, FCOMPILE_PARITY_EXPRESSIONS the count), so a
failure repeats; a counter-example found becomes a case of test_semantics.py.
"""

from __future__ import annotations

import functools
import os
import random
from dataclasses import dataclass

import pyarrow as pa
import pytest

from fcompile.expressions.check import Scope, check_expression
from fcompile.expressions.evaluate import ExpressionOverflow, compile_expression, input_column
from fcompile.expressions.row_code import compile_rows
from fcompile.expressions.to_sql import ExpressionTooLarge, expression_sql
from fcompile.dialects import get_dialect
from sqlglot import exp
from fcompile.expressions.tree import Call, Node, depth, walk
from tests.expressions.engines import DuckDBInputs, PostgresInputs, SparkInputs, same_value
from tests.expressions.generator import INPUTS, ExpressionGenerator, input_rows

SEED = int(os.environ.get("FCOMPILE_PARITY_SEED", "17"))
EXPRESSIONS = int(os.environ.get("FCOMPILE_PARITY_EXPRESSIONS", "300"))
ROWS = 40
BATCH = 60
TRANSCENDENTAL = {"exp", "ln", "power"}
# what PostgreSQL raises where IEEE gives an infinity or a zero (a documented difference)
POSTGRES_RANGE_ERRORS = ("value out of range",)


@dataclass(frozen=True)
class Case:
    text: str
    node: Node
    values: list | None  # None: the evaluator raised ExpressionOverflow
    row_values: list | None  # the row-compiled evaluator's, None where it raised ExpressionOverflow

    @property
    def transcendental(self) -> bool:
        return any(isinstance(n, Call) and n.op in TRANSCENDENTAL for n in walk(self.node))


@functools.lru_cache(maxsize=1)
def generated() -> tuple[list[dict], list[Case]]:
    rng = random.Random(SEED)
    rows = input_rows(rng, ROWS)
    generator = ExpressionGenerator(rng)
    scope = Scope(dict(INPUTS))
    columns = {name: input_column(pa.array([r[name] for r in rows], _arrow(dtype)), dtype)
               for name, dtype in INPUTS.items()}
    cases = []
    types = ["int64", "float64", "string", "bool", "timestamp"]
    for n in range(EXPRESSIONS):
        node = None
        # FLOOR of an integer and the like leave no operation behind; an expression whose SQL is too large
        # is refused (to_sql.MAX_SQL_NODES)
        while node is None or depth(node) < 4 or not _compiles(node):
            text = generator.expression(types[n % len(types)], rng.choice([4, 4, 5]))
            node = check_expression(text, scope)
        try:
            values = compile_expression(node)(columns, ROWS).to_pylist()
        except ExpressionOverflow:
            values = None
        try:
            row_values = compile_rows(node)({n: [r[n] for r in rows] for n in INPUTS}, ROWS)
        except ExpressionOverflow:
            row_values = None
        cases.append(Case(text, node, values, row_values))
    return rows, cases


def _compiles(node: Node) -> bool:
    try:
        for name in ("duckdb", "postgres", "spark"):
            expression_sql(node, get_dialect(name), {n: exp.column(n) for n in INPUTS})
    except ExpressionTooLarge:
        return False
    return True


def _arrow(dtype: str) -> pa.DataType:
    return {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
            "timestamp": pa.timestamp("us", tz="UTC")}[dtype]


def test_the_generated_expressions_cover_the_subset():
    _, cases = generated()
    from fcompile.expressions.evaluate import _OPERATIONS

    ops = {n.op for case in cases for n in walk(case.node) if isinstance(n, Call)}
    assert set(_OPERATIONS) - ops == set()
    assert {case.node.dtype for case in cases} == {"int64", "float64", "string", "bool", "timestamp"}
    assert min(depth(case.node) for case in cases) >= 4
    evaluated = [c for c in cases if c.values is not None]
    assert len(evaluated) >= 0.8 * len(cases), "most expressions must not overflow, or the comparison says little"


@pytest.fixture(scope="module")
def duckdb_inputs():
    inputs = DuckDBInputs(generated()[0])
    yield inputs
    inputs.close()


@pytest.fixture(scope="module")
def postgres_inputs(postgres_url):
    inputs = PostgresInputs(postgres_url, generated()[0])
    yield inputs
    inputs.close()


@pytest.fixture(scope="module")
def spark_inputs(spark_session):
    inputs = SparkInputs(spark_session, generated()[0])
    yield inputs
    inputs.close()


def _run_all(engine, cases: list[Case]) -> dict[int, list | Exception]:
    """Each case's column of values on the engine (or the error it raised), batch by batch; a batch that
    fails runs case by case, so one error names its expression."""
    results: dict[int, list | Exception] = {}
    for start in range(0, len(cases), BATCH):
        batch = list(range(start, min(start + BATCH, len(cases))))
        try:
            rows = engine.run([cases[i].node for i in batch])
        except Exception:  # noqa: BLE001 - the cases one by one say which
            for i in batch:
                try:
                    results[i] = [row[1] for row in engine.run([cases[i].node])]
                except Exception as exc:  # noqa: BLE001
                    results[i] = exc
            continue
        for column, i in enumerate(batch, start=1):
            results[i] = [row[column] for row in rows]
    return results


def test_the_two_evaluators_agree():
    """The row-compiled evaluator (serving's few entities) and the Arrow one give the same values; the row one
    raises no overflow the Arrow one does not (it evaluates CASE and COALESCE branches only where taken)."""
    _, cases = generated()
    for case in cases:
        if case.values is None:
            continue
        assert case.row_values is not None, case.text
        for n, (a, b) in enumerate(zip(case.values, case.row_values)):
            assert same_value(a, b, case.node.dtype, False), f"{case.text}: row {n}: arrow {a!r}, rows {b!r}"


@pytest.mark.parametrize("engine_name", ["duckdb", "postgres", "spark"])
def test_evaluator_and_compiled_sql_agree(engine_name, request):
    rows, cases = generated()
    engine = request.getfixturevalue(f"{engine_name}_inputs")
    comparable = [c for c in cases if c.values is not None]
    results = _run_all(engine, comparable)
    mismatches, range_errors = [], 0
    for i, case in enumerate(comparable):
        result = results[i]
        if isinstance(result, Exception):
            if engine_name == "postgres" and any(m in str(result) for m in POSTGRES_RANGE_ERRORS):
                range_errors += 1
                continue
            mismatches.append(f"{case.text}\n    raised {type(result).__name__}: {str(result).splitlines()[0]}")
            continue
        for n, (expected, actual) in enumerate(zip(case.values, result)):
            if not same_value(expected, actual, case.node.dtype, case.transcendental):
                mismatches.append(f"{case.text}\n    row {n} {rows[n]}\n    evaluator {expected!r}, "
                                  f"{engine_name} {actual!r}")
                break
    assert not mismatches, f"{len(mismatches)} of {len(comparable)} expressions differ:\n" + "\n".join(mismatches[:8])
    assert range_errors <= 0.1 * len(comparable)
