"""The engines the parity tests run compiled expressions on: input rows loaded once into a table `inputs`
(with a row id), then any number of expressions selected from it as one query, their values read back
as Python values (timestamps as epoch microseconds)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pyarrow as pa
from sqlglot import exp

from fcompile.dialects import get_dialect
from fcompile.expressions.to_sql import _Lowering, expression_sql
from fcompile.expressions.tree import Node
from tests.expressions.generator import INPUTS

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def micros(value: dt.datetime) -> int:
    return (value - EPOCH) // dt.timedelta(microseconds=1)


def select_expressions(dialect_name: str, nodes: list[Node], table: str) -> str:
    """SELECT rid, e0, e1, ... FROM table ORDER BY rid, in the dialect, each expression compiled as training
    compiles it (timestamp results as epoch microseconds, so every engine returns them alike)."""
    dialect = get_dialect(dialect_name)
    inputs = {name: exp.column(name) for name in INPUTS}
    columns: list[exp.Expression] = [exp.column("rid")]
    for n, node in enumerate(nodes):
        tree = expression_sql(node, dialect, inputs)
        if node.dtype == "timestamp":
            tree = _Lowering(dialect, inputs).epoch_micros(tree)
        columns.append(exp.alias_(tree, f"e{n}"))
    query = exp.select(*columns).from_(exp.to_table(table)).order_by(exp.column("rid"))
    return dialect.generate(query, pretty=False)


class DuckDBInputs:
    name = "duckdb"

    def __init__(self, rows: list[dict]) -> None:
        import duckdb

        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'America/Los_Angeles'")  # the session's zone must play no part
        arrays = {"rid": pa.array(range(len(rows)), pa.int64())}
        types = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
                 "timestamp": pa.timestamp("us", tz="UTC")}
        for name, dtype in INPUTS.items():
            arrays[name] = pa.array([r[name] for r in rows], types[dtype])
        self.table = pa.table(arrays)
        self.con.register("inputs_arrow", self.table)
        self.con.execute("CREATE TABLE inputs AS SELECT * FROM inputs_arrow")

    def run(self, nodes: list[Node]) -> list[tuple]:
        return self.con.execute(select_expressions("duckdb", nodes, "inputs")).fetchall()

    def close(self) -> None:
        self.con.close()


class PostgresInputs:
    name = "postgres"
    TYPES = {"int64": "BIGINT", "float64": "DOUBLE PRECISION", "string": "TEXT", "bool": "BOOLEAN",
             "timestamp": "TIMESTAMPTZ"}

    def __init__(self, url: str, rows: list[dict]) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("SET TimeZone = 'Asia/Kolkata'")  # the session's zone must play no part
        self.table = f"fc_expr_{uuid.uuid4().hex[:10]}"
        columns = ", ".join(f'"{n}" {self.TYPES[t]}' for n, t in INPUTS.items())
        self.conn.execute(f'CREATE TEMPORARY TABLE "{self.table}" (rid BIGINT, {columns})')
        names = ", ".join(["rid"] + [f'"{n}"' for n in INPUTS])
        marks = ", ".join(["%s"] * (len(INPUTS) + 1))
        with self.conn.cursor() as cur:
            cur.executemany(f'INSERT INTO "{self.table}" ({names}) VALUES ({marks})',
                            [[n] + [r[c] for c in INPUTS] for n, r in enumerate(rows)])

    def run(self, nodes: list[Node]) -> list[tuple]:
        sql = select_expressions("postgres", nodes, self.table)
        with self.conn.cursor(binary=True) as cur:  # binary: a double arrives as its exact value
            cur.execute(sql)
            return cur.fetchall()

    def close(self) -> None:
        self.conn.close()


class SparkInputs:
    name = "spark"

    def __init__(self, session, rows: list[dict]) -> None:
        from pyspark.sql import types as T

        self.session = session
        kinds = {"int64": T.LongType(), "float64": T.DoubleType(), "string": T.StringType(),
                 "bool": T.BooleanType(), "timestamp": T.TimestampType()}
        schema = T.StructType([T.StructField("rid", T.LongType())] +
                              [T.StructField(n, kinds[t]) for n, t in INPUTS.items()])
        data = [tuple([n] + [r[c] for c in INPUTS]) for n, r in enumerate(rows)]
        self.view = f"fc_expr_{uuid.uuid4().hex[:10]}"
        session.createDataFrame(data, schema).createOrReplaceTempView(self.view)

    def run(self, nodes: list[Node]) -> list[tuple]:
        self.session.sql("SET spark.sql.session.timeZone = UTC")
        return [tuple(row) for row in self.session.sql(select_expressions("spark", nodes, self.view)).collect()]

    def close(self) -> None:
        self.session.catalog.dropTempView(self.view)


def same_value(expected: Any, actual: Any, dtype: str, transcendental: bool) -> bool:
    """Whether an engine's value is the evaluator's: exactly, except floats computed through EXP, LN or
    POWER, which each engine takes from its own math library (see FLOAT_BOUND)."""
    if expected is None or actual is None:
        return expected is None and actual is None
    if dtype == "timestamp":
        expected = micros(expected) if isinstance(expected, dt.datetime) else expected
        actual = micros(actual) if isinstance(actual, dt.datetime) else actual
        return expected == actual
    if dtype == "bool":
        return isinstance(actual, bool) and expected == actual
    if dtype == "int64":
        return not isinstance(actual, bool) and int(actual) == expected
    if dtype == "string":
        return expected == actual
    actual = float(actual)
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    if expected == actual:  # -0.0 == 0.0: engines differ on the sign of a zero result; SQL compares them equal
        return True
    return transcendental and within_float_bound(expected, actual)


# The float bound for results computed through EXP, LN or POWER: each engine calls its own math library
# (glibc for DuckDB, PostgreSQL, Arrow and Python; Java's StrictMath for Spark), whose results are within
# an ulp or so of the exact value. Measured (seed 7): DuckDB and PostgreSQL equal the evaluator on all of
# 1,183 and 955 such values; Spark differs on 13 of 637, by at most a relative 6.7e-16 (3 ulp). The test
# accepts a relative 1e-12 (about 4,500 ulp: room for a later subtraction to enlarge a last-bit difference,
# far below any difference of meaning), or an absolute 1e-300 near zero.
RELATIVE_FLOAT_BOUND = 1e-12
ABSOLUTE_FLOAT_BOUND = 1e-300


def within_float_bound(expected: float, actual: float) -> bool:
    if math.isinf(expected) or math.isinf(actual):
        return expected == actual
    return abs(expected - actual) <= max(RELATIVE_FLOAT_BOUND * max(abs(expected), abs(actual)),
                                         ABSOLUTE_FLOAT_BOUND)


class FakesnowInputs:
    """Snowflake's SQL on the fakesnow emulator (in process: Snowflake's dialect translated to DuckDB). It
    checks that the Snowflake lowerings are valid Snowflake that means what the others do; where DuckDB
    underneath computes through a double what Snowflake computes exactly, the emulator differs
    (`EMULATOR_ROUNDING` in test_semantics.py)."""

    name = "snowflake"
    TYPES = {"int64": "NUMBER(38, 0)", "float64": "FLOAT", "string": "VARCHAR", "bool": "BOOLEAN",
             "timestamp": "TIMESTAMP_NTZ"}

    def __init__(self, rows: list[dict]) -> None:
        import fakesnow
        import snowflake.connector

        self._patch = fakesnow.patch()
        self._patch.__enter__()
        self.conn = snowflake.connector.connect(database="FC_EXPRESSIONS", schema="S")
        self.table = f"fc_expr_{uuid.uuid4().hex[:10]}"
        cur = self.conn.cursor()
        columns = ", ".join(f'"{n.upper()}" {self.TYPES[t]}' for n, t in INPUTS.items())
        cur.execute(f'CREATE TABLE "{self.table.upper()}" ("RID" NUMBER(38, 0), {columns})')
        for n, row in enumerate(rows):
            values, marks = [n], ["%s"]
            for name, dtype in INPUTS.items():
                value = row[name]
                if value is not None and dtype == "float64":  # NaN and infinities bind as text
                    values.append(repr(value) if math.isfinite(value) else
                                  {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)])
                    marks.append("CAST(%s AS FLOAT)")
                elif value is not None and dtype == "timestamp":  # a naive UTC time, as utc_instant reads it
                    values.append(value.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(sep=" "))
                    marks.append("CAST(%s AS TIMESTAMP_NTZ)")
                else:
                    values.append(value)
                    marks.append("%s")
            cur.execute(f'INSERT INTO "{self.table.upper()}" SELECT {", ".join(marks)}', values)

    def run(self, nodes: list[Node]) -> list[tuple]:
        cur = self.conn.cursor()
        cur.execute(select_expressions("snowflake", nodes, self.table))
        return [tuple(row) for row in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()
        self._patch.__exit__(None, None, None)
