"""Random well-typed expressions over the portable subset, as text, and random input rows with the values
where engines like to differ (NULL, 0, -0.0, negatives, huge and tiny numbers, NaN, infinities, empty and
non-ASCII text, the first and last microseconds of the timestamp range)."""

from __future__ import annotations

import datetime as dt
import random

UTC = dt.timezone.utc
INPUTS = {"i1": "int64", "i2": "int64", "f1": "float64", "f2": "float64", "s1": "string", "s2": "string",
          "b1": "bool", "t1": "timestamp", "t2": "timestamp"}
INTS = [0, 1, -1, 2, -2, 3, 7, -7, 13, 60, -1000, 1_000_000, 2**31, -(2**31) - 1, 2**40, 2**62, 2**63 - 1, -(2**63)]
FLOATS = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.285, 1.0, -1.0, 3.0, 10.0, 1e150, -1e150, 1e-150, 1e15 + 0.5,
          4503599627370497.0, float("nan"), float("inf"), float("-inf"), 709.0, 800.0, -800.0]
# characters whose case mappings agree on every engine (no ß, no İ: see docs/concepts/on-demand-features.md)
TEXTS = ["", "a", "Ab", "héllo", "ÉCOLE", "日本語", "🙂x", "Ωmega", "жук", "  space ", "0", "a_b-c", "zz"]
TIMES = [dt.datetime(1, 1, 1, tzinfo=UTC), dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
         dt.datetime(1970, 1, 1, tzinfo=UTC), dt.datetime(2000, 2, 29, 12, 30, tzinfo=UTC),
         dt.datetime(2024, 3, 10, 2, 30, tzinfo=UTC), dt.datetime(2024, 12, 31, 23, 0, 0, 1, tzinfo=UTC),
         dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)]
INT_LITERALS = ["0", "1", "2", "3", "7", "-1", "-13", "24", "1000000", "4294967296"]
FLOAT_LITERALS = ["0.0", "0.5", "-2.5", "1.5", "3.0", "1e10", "1e-5", "0.1", "-0.0"]
STRING_LITERALS = ["''", "'x'", "'é'", "'日'", "'ab'", "'It''s'"]


def input_rows(rng: random.Random, count: int) -> list[dict]:
    """`count` rows of INPUTS: one value of each edge pool per column at least, the rest mixed."""
    rows = []
    for n in range(count):
        def pick(pool, draw):
            if rng.random() < 0.12:
                return None
            return pool[n % len(pool)] if n < len(pool) else draw()
        rows.append({
            "i1": pick(INTS, lambda: rng.choice([rng.randint(-100, 100), rng.choice(INTS)])),
            "i2": pick(INTS[::-1], lambda: rng.randint(-10, 10)),
            "f1": pick(FLOATS, lambda: rng.choice([rng.uniform(-100, 100), rng.choice(FLOATS)])),
            "f2": pick(FLOATS[::-1], lambda: round(rng.uniform(-10, 10), rng.randint(0, 3))),
            "s1": pick(TEXTS, lambda: "".join(rng.choice("aZé日🙂Ωж _") for _ in range(rng.randint(0, 6)))),
            "s2": pick(TEXTS[::-1], lambda: rng.choice(TEXTS)),
            "b1": pick([True, False], lambda: rng.random() < 0.5),
            "t1": pick(TIMES, lambda: _random_time(rng)),
            "t2": pick(TIMES[::-1], lambda: _random_time(rng)),
        })
    return rows


def _random_time(rng: random.Random) -> dt.datetime:
    start = dt.datetime(1900, 1, 1, tzinfo=UTC)
    return start + dt.timedelta(microseconds=rng.randrange(0, 200 * 365 * 86400 * 10**6))


class ExpressionGenerator:
    """Expression text of a given type and depth (the tree's depth, counted in operations)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def expression(self, dtype: str, depth: int) -> str:
        if depth <= 0:
            return self.leaf(dtype)
        builders = getattr(self, f"_{dtype}")()
        return self.rng.choice(builders)(depth - 1)

    def leaf(self, dtype: str) -> str:
        r = self.rng
        columns = [name for name, t in INPUTS.items() if t == dtype]
        if dtype == "int64":
            return r.choice(columns + columns + INT_LITERALS[:3] + [r.choice(INT_LITERALS)])
        if dtype == "float64":
            return r.choice(columns + columns + [r.choice(FLOAT_LITERALS)])
        if dtype == "string":
            return r.choice(columns + columns + [r.choice(STRING_LITERALS)])
        if dtype == "bool":
            return r.choice(columns + columns + ["TRUE", "FALSE"])
        return r.choice(columns)

    # one child at full depth keeps the tree as deep as asked; the others are shallower
    def sub(self, dtype: str, depth: int, full: bool = False) -> str:
        return self.expression(dtype, depth if full else self.rng.randint(0, depth))

    def any_type(self) -> str:
        return self.rng.choice(["int64", "float64", "string", "bool", "timestamp"])

    def _shared(self, dtype: str) -> list:
        s = self.sub
        return [
            lambda d: f"CASE WHEN {s('bool', d)} THEN {s(dtype, d, True)} WHEN {s('bool', d)} THEN {s(dtype, d)} "
                      f"ELSE {s(dtype, d)} END",
            lambda d: f"CASE WHEN {s('bool', d, True)} THEN {s(dtype, d)} END",
            lambda d: f"COALESCE({s(dtype, d, True)}, {s(dtype, d)})",
            lambda d: f"NULLIF({s(dtype, d, True)}, {s(dtype, d)})",
            lambda d: f"LEAST({s(dtype, d, True)}, {s(dtype, d)}, {s(dtype, d)})",
            lambda d: f"GREATEST({s(dtype, d, True)}, {s(dtype, d)})",
        ]

    def _int64(self) -> list:
        s, r = self.sub, self.rng
        return self._shared("int64") + [
            lambda d: f"({s('int64', d, True)} {r.choice(['+', '-', '*', '/', '%'])} {s('int64', d)})",
            lambda d: f"({s('int64', d)} {r.choice(['+', '-', '*', '/', '%'])} {s('int64', d, True)})",
            lambda d: f"-({s('int64', d, True)})",
            lambda d: f"ABS({s('int64', d, True)})",
            lambda d: f"{r.choice(['ROUND', 'FLOOR', 'CEIL'])}({s('int64', d, True)})",
            lambda d: f"LENGTH({s('string', d, True)})",
            lambda d: f"EXTRACT({r.choice(['HOUR', 'DOW', 'DAY', 'MONTH'])} FROM {s('timestamp', d, True)})",
            lambda d: f"CAST({s('float64', d, True)} AS BIGINT)",
            lambda d: f"CAST({s('bool', d, True)} AS BIGINT)",
        ]

    def _float64(self) -> list:
        s, r = self.sub, self.rng
        mixed = lambda d: s(r.choice(["int64", "float64"]), d)  # noqa: E731
        return self._shared("float64") + [
            lambda d: f"({s('float64', d, True)} {r.choice(['+', '-', '*', '/'])} {mixed(d)})",
            lambda d: f"({mixed(d)} {r.choice(['+', '-', '*', '/'])} {s('float64', d, True)})",
            lambda d: f"-({s('float64', d, True)})",
            lambda d: f"{r.choice(['ABS', 'FLOOR', 'CEIL', 'SQRT', 'LN', 'EXP'])}({s('float64', d, True)})",
            lambda d: f"ROUND({s('float64', d, True)}{r.choice(['', ', 0', ', 1', ', 2', ', 6'])})",
            lambda d: f"POWER({s('float64', d, True)}, {r.choice(['2', '0.5', '-1', '3', s('float64', d)])})",
            lambda d: f"CAST({s('int64', d, True)} AS DOUBLE)",
            lambda d: f"SECONDS_BETWEEN({s('timestamp', d, True)}, {s('timestamp', d)})",
        ]

    def _string(self) -> list:
        s, r = self.sub, self.rng
        return self._shared("string") + [
            lambda d: f"{r.choice(['LOWER', 'UPPER'])}({s('string', d, True)})",
            lambda d: f"({s('string', d, True)} || {s('string', d)})",
            lambda d: f"CONCAT({s('string', d, True)}, {s('string', d)}, {s('string', d)})",
            lambda d: f"SUBSTRING({s('string', d, True)}, {s('int64', d)})",
            lambda d: f"SUBSTRING({s('string', d, True)}, {s('int64', d)}, {s('int64', d)})",
            lambda d: f"CAST({s('int64', d, True)} AS VARCHAR)",
            lambda d: f"CAST({s('bool', d, True)} AS VARCHAR)",
        ]

    def _bool(self) -> list:
        s, r = self.sub, self.rng

        def comparison(d: int) -> str:
            t = self.any_type()
            return f"({s(t, d, True)} {r.choice(['=', '<>', '<', '<=', '>', '>='])} {s(t, d)})"

        def membership(d: int) -> str:
            t = r.choice(["int64", "float64", "string"])
            return f"({s(t, d, True)} {r.choice(['IN', 'NOT IN'])} ({s(t, d)}, {self.leaf(t)}))"

        def between(d: int) -> str:
            t = self.any_type()
            return f"({s(t, d, True)} {r.choice(['BETWEEN', 'NOT BETWEEN'])} {s(t, d)} AND {s(t, d)})"

        return self._shared("bool")[:3] + [
            comparison, comparison, membership, between,
            lambda d: f"({s('bool', d, True)} {r.choice(['AND', 'OR'])} {s('bool', d)})",
            lambda d: f"NOT ({s('bool', d, True)})",
            lambda d: f"({s(self.any_type(), d, True)} {r.choice(['IS NULL', 'IS NOT NULL'])})",
            lambda d: f"CAST({s('int64', d, True)} AS BOOLEAN)",
        ]

    def _timestamp(self) -> list:
        return self._shared("timestamp")
