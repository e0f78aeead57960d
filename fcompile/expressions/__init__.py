"""On-demand expressions: a SQL expression in a portable subset, checked and typed once (check.py), compiled
to each warehouse's SQL (to_sql.py, with the differences as `ExpressionTraits` on the dialect classes) and
evaluated in process for serving (row_code.py for a request's few entities, evaluate.py with Arrow kernels
for many; on_demand.py puts either side together), with one meaning everywhere. The parity tests
(tests/expressions/) hold the evaluators and the SQL of DuckDB, PostgreSQL, Spark and Snowflake (fakesnow)
to it; BigQuery, Redshift and Trino get the same lowerings but are not run.

The subset. Names: an input's feature (bare when one input has it, `view.feature` otherwise) or a request
field. Literals: integers (int64), decimals and exponents (float64), 'text', TRUE, FALSE, NULL. Operators:
`+ - * /`, `%` (int64 only), unary `-`, `= <> != < <= > >=`, AND, OR, NOT, IS [NOT] NULL, [NOT] IN (list),
[NOT] BETWEEN, CASE (searched and simple), `||`. Functions: COALESCE, NULLIF, CAST, ABS, ROUND(x[, d]) with
d an integer literal 0-15, FLOOR, CEIL, SQRT, LN, EXP, POWER, LEAST, GREATEST, LOWER, UPPER, LENGTH,
CONCAT, SUBSTRING(s, start[, length]), EXTRACT(HOUR|DOW|DAY|MONTH FROM ts), SECONDS_BETWEEN(start, end).
Types: bool, int64, float64, string, timestamp (int32 and float32 inputs widen exactly; date, bytes and
arrays are not taken). CAST converts int64 to float64, string or bool; float64 to int64; bool to int64 or
string; the others (a float's or a timestamp's text, parsing text) are spelled differently by every engine.
An int64 operand of a float64 operation widens to float64.

The one meaning:
- NULL propagates through every operator and function except IS NULL, COALESCE, CASE, AND and OR, which
  follow SQL's three-valued logic; LEAST and GREATEST are NULL when an argument is (PostgreSQL, DuckDB,
  Spark and Redshift skip NULLs natively: guarded); CONCAT is `||`, NULL when a part is.
- Division and `%` by zero give NULL on every engine (`NULLIF(divisor, 0)`). int64 / int64 is int64,
  truncated toward zero; `%` takes the dividend's sign; x % -1 is 0.
- int64 results out of range are an error: the evaluator raises ExpressionOverflow, DuckDB and PostgreSQL
  raise. Differences: Spark (without ANSI mode) wraps around; Snowflake computes NUMBER(38, 0) exactly.
- float64 follows IEEE 754 (NaN, infinities, signed zeros) except where SQL decides: NaN equals NaN and is
  greater than every other value including +inf (the order of PostgreSQL, DuckDB, Spark and Snowflake),
  for comparisons, IN, BETWEEN, NULLIF, LEAST and GREATEST. SQRT of a negative, LN of zero or a negative,
  POWER(0, negative) and POWER(negative, non-integer) give NULL. EXP past the float range gives inf or 0
  (guarded on PostgreSQL, which raises). Difference: PostgreSQL raises "value out of range" when +, -, *,
  / or POWER overflow to infinity or underflow to zero from finite, nonzero operands.
- ROUND(x, d) is half away from zero on the binary value: FLOOR(|x| * 10^d + 0.5) / 10^d with x's sign,
  every step an IEEE operation (so ROUND(2.5) = 3, ROUND(-2.5) = -3, ROUND(0.285, 2) = 0.28 because 0.285
  is 0.28499999999999998...); values of 2^52 or more, infinities and NaN are returned as they are. FLOOR
  and CEIL of a float64 are float64. CAST of a float64 to int64 truncates toward zero; NaN, infinities and
  values outside int64 give NULL.
- Text is compared by code point (PostgreSQL: COLLATE "C"); LENGTH and SUBSTRING count code points;
  SUBSTRING's start before 1 counts as 1, a negative length as 0. LOWER and UPPER map one code point to
  one: characters whose mapping engines disagree on (German sharp s, dotted capital I, final sigma) are
  outside the guarantee, and on PostgreSQL they follow the database's LC_CTYPE (C maps ASCII only).
- Timestamps are instants read in UTC (a naive one is UTC). EXTRACT gives int64: HOUR 0-23, DAY 1-31,
  MONTH 1-12, DOW 0 (Sunday) to 6 (Saturday). SECONDS_BETWEEN(start, end) is end - start in seconds as a
  float64: the difference in microseconds, divided by 1e6.

Floats are compared exactly between the evaluators and the engines, but for results computed through EXP,
LN or POWER, which each engine takes from its own math library (glibc, Java's StrictMath): within a
relative 1e-12 (Spark was measured 3 ulp away at most; tests/expressions/engines.py says why). An
expression whose SQL would exceed to_sql.MAX_SQL_NODES nodes on a dialect is refused.
"""
