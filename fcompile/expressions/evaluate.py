"""A checked expression as a Python function over Arrow columns: how the feature server computes on-demand
features, a whole request's rows at a time.

`compile_expression` walks the tree once and returns a closure of pyarrow.compute calls; evaluating it
runs each operation once over the columns (no walk of the tree per row, no SQL engine). The meaning is
the one to_sql.py writes for every warehouse, operation by operation (docs/concepts/on-demand-features.md):
floats compare in the total order of the warehouses (NaN equals NaN and is greater than every other
value), int64 arithmetic that leaves the range raises `ExpressionOverflow`, as the training SQL fails.
"""

from __future__ import annotations

from typing import Callable, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from fcompile.expressions.to_sql import TWO_TO_52, TWO_TO_63
from fcompile.expressions.tree import Call, Column, Literal, Node

Value = pa.Array | pa.Scalar
Columns = Mapping[str, pa.Array]
Evaluator = Callable[[Columns], Value]

ARROW_TYPES = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string(), "bool": pa.bool_(),
               "timestamp": pa.timestamp("us", tz="UTC")}


class ExpressionOverflow(ArithmeticError):
    """int64 arithmetic out of range (the warehouses raise on it too)."""


def compile_expression(node: Node) -> Callable[[Columns, int], pa.Array]:
    """A function of (input columns by resolved name, row count) giving the expression's column."""
    evaluate = _compile(node)
    arrow_type = ARROW_TYPES[node.dtype]

    def run(columns: Columns, rows: int) -> pa.Array:
        try:
            result = evaluate(columns)
        except pa.ArrowInvalid as exc:
            if "overflow" in str(exc).lower():
                raise ExpressionOverflow(str(exc)) from None
            raise
        if isinstance(result, pa.Scalar):
            return pa.array([result.as_py()] * rows, arrow_type) if result.is_valid else pa.nulls(rows, arrow_type)
        return result.cast(arrow_type)

    return run


def input_column(values: pa.Array | pa.ChunkedArray, dtype: str) -> pa.Array:
    """An input as the evaluator computes with it: int32 and float32 widened, times in UTC microseconds."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    target = ARROW_TYPES[{"int32": "int64", "float32": "float64"}.get(dtype, dtype)]
    if pa.types.is_timestamp(values.type) and values.type.tz is None:
        values = values.cast(pa.timestamp(values.type.unit, tz="UTC"))
    return values if values.type == target else values.cast(target, safe=False)


# -- the compiler -------------------------------------------------------------------------------


def _compile(node: Node) -> Evaluator:
    if isinstance(node, Column):
        name = node.name
        return lambda columns: columns[name]
    if isinstance(node, Literal):
        scalar = pa.scalar(node.value, ARROW_TYPES[node.dtype])
        return lambda columns: scalar
    assert isinstance(node, Call)
    args = [_compile(a) for a in node.args]
    build = _OPERATIONS[node.op]
    return build(node, args)


def _null(dtype: str) -> pa.Scalar:
    return pa.scalar(None, ARROW_TYPES[dtype])


def _either_null(*values: Value) -> Value:
    result = pc.is_null(values[0])
    for value in values[1:]:
        result = pc.or_(result, pc.is_null(value))
    return result


def _masked(result: Value, *inputs: Value) -> Value:
    """`result`, NULL where any input is NULL."""
    return pc.if_else(_either_null(*inputs), pa.scalar(None, result.type), result)


def _when(condition: Value, then: Value, otherwise: Value) -> Value:
    """`then` where `condition` is true, else `otherwise` (a NULL condition counts as false, as in CASE)."""
    return pc.if_else(pc.fill_null(condition, False), then, otherwise)


def _float(value: float) -> pa.Scalar:
    return pa.scalar(value, pa.float64())


# comparisons: floats in the total order (NaN = NaN, NaN above +inf); others as Arrow compares them (text by
# code point, which is UTF-8 byte order)

def _eq(a: Value, b: Value, dtype: str) -> Value:
    if dtype != "float64":
        return pc.equal(a, b)
    both_nan = pc.and_(pc.is_nan(a), pc.is_nan(b))
    return _masked(pc.or_(pc.fill_null(pc.equal(a, b), False), both_nan), a, b)


def _lt(a: Value, b: Value, dtype: str) -> Value:
    if dtype != "float64":
        return pc.less(a, b)
    value = pc.and_(pc.invert(pc.is_nan(a)), pc.or_(pc.is_nan(b), pc.fill_null(pc.less(a, b), False)))
    return _masked(value, a, b)


def _le(a: Value, b: Value, dtype: str) -> Value:
    if dtype != "float64":
        return pc.less_equal(a, b)
    value = pc.or_(pc.is_nan(b), pc.and_(pc.invert(pc.is_nan(a)), pc.fill_null(pc.less_equal(a, b), False)))
    return _masked(value, a, b)


def _compare(kind: str) -> Callable:
    def build(node: Call, args: list[Evaluator]) -> Evaluator:
        left, right = args
        dtype = node.args[0].dtype
        if kind == "eq":
            return lambda c: _eq(left(c), right(c), dtype)
        if kind == "ne":
            return lambda c: pc.invert(_eq(left(c), right(c), dtype))
        if kind == "lt":
            return lambda c: _lt(left(c), right(c), dtype)
        if kind == "le":
            return lambda c: _le(left(c), right(c), dtype)
        if kind == "gt":
            return lambda c: _lt(right(c), left(c), dtype)
        return lambda c: _le(right(c), left(c), dtype)
    return build


# arithmetic

def _arithmetic(checked: Callable, unchecked: Callable) -> Callable:
    def build(node: Call, args: list[Evaluator]) -> Evaluator:
        left, right = args
        function = checked if node.dtype == "int64" else unchecked
        return lambda c: function(left(c), right(c))
    return build


def _nonzero(divisor: Value, dtype: str) -> Value:
    zero = pa.scalar(0, pa.int64()) if dtype == "int64" else _float(0.0)
    return pc.if_else(pc.equal(divisor, zero), _null(dtype), divisor)


def _divide(node: Call, args: list[Evaluator]) -> Evaluator:
    left, right = args
    if node.dtype == "int64":  # Arrow's integer division truncates toward zero; MIN / -1 raises
        return lambda c: pc.divide_checked(left(c), _nonzero(right(c), "int64"))
    return lambda c: pc.divide(left(c), _nonzero(right(c), "float64"))


def _modulo(node: Call, args: list[Evaluator]) -> Evaluator:
    left, right = args

    def run(c: Columns) -> Value:
        a = left(c)
        b = _nonzero(right(c), "int64")
        b = pc.if_else(pc.equal(b, -1), pa.scalar(1, pa.int64()), b)  # x % -1 is 0, as is x % 1 (no MIN / -1)
        return pc.subtract(a, pc.multiply(pc.divide_checked(a, b), b))  # the remainder takes the dividend's sign
    return run


def _negate(node: Call, args: list[Evaluator]) -> Evaluator:
    (arg,) = args
    function = pc.negate_checked if node.dtype == "int64" else pc.negate
    return lambda c: function(arg(c))


# logic and NULLs

def _in_list(node: Call, args: list[Evaluator]) -> Evaluator:
    subject, *items = args
    dtype = node.args[0].dtype

    def run(c: Columns) -> Value:
        value = subject(c)
        result = _eq(value, items[0](c), dtype)
        for item in items[1:]:
            result = pc.or_kleene(result, _eq(value, item(c), dtype))
        return result
    return run


def _between(node: Call, args: list[Evaluator]) -> Evaluator:
    subject, low, high = args
    dtype = node.args[0].dtype

    def run(c: Columns) -> Value:
        value = subject(c)
        return pc.and_kleene(_le(low(c), value, dtype), _le(value, high(c), dtype))
    return run


def _case(node: Call, args: list[Evaluator]) -> Evaluator:
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args) - 1, 2)]
    default = args[-1]
    arrow_type = ARROW_TYPES[node.dtype]

    def run(c: Columns) -> Value:
        result = default(c)
        for condition, value in reversed(pairs):
            result = _when(condition(c), value(c), result)
        return result.cast(arrow_type) if isinstance(result, pa.Array) else result
    return run


def _coalesce(node: Call, args: list[Evaluator]) -> Evaluator:
    return lambda c: pc.coalesce(*[a(c) for a in args])


def _nullif(node: Call, args: list[Evaluator]) -> Evaluator:
    left, right = args
    dtype = node.args[0].dtype

    def run(c: Columns) -> Value:
        a = left(c)
        return _when(_eq(a, right(c), dtype), _null(dtype), a)
    return run


def _cast(node: Call, args: list[Evaluator]) -> Evaluator:
    (arg,) = args
    source, target = node.args[0].dtype, node.dtype
    if source == "float64" and target == "int64":
        def to_integer(c: Columns) -> Value:
            x = arg(c)
            out_of_range = _le(_float(TWO_TO_63), pc.abs(x), "float64")
            whole = pc.trunc(_when(out_of_range, _float(0.0), x))
            return _when(out_of_range, _null("int64"), pc.cast(whole, pa.int64(), safe=False))
        return to_integer
    if source == "int64" and target == "bool":
        return lambda c: pc.not_equal(arg(c), pa.scalar(0, pa.int64()))
    if source == "bool" and target == "string":
        return lambda c: pc.if_else(arg(c), pa.scalar("true"), pa.scalar("false"))
    arrow_type = ARROW_TYPES[target]
    return lambda c: pc.cast(arg(c), arrow_type, safe=False)


# numbers

def _unary(function: Callable, checked: Callable | None = None) -> Callable:
    def build(node: Call, args: list[Evaluator]) -> Evaluator:
        (arg,) = args
        chosen = checked if checked is not None and node.dtype == "int64" else function
        return lambda c: chosen(arg(c))
    return build


def _round(node: Call, args: list[Evaluator]) -> Evaluator:
    (arg,) = args
    scale = _float(10.0 ** node.digits) if node.digits else None

    def half_up(v: Value) -> Value:
        scaled = pc.multiply(v, scale) if scale is not None else v
        floored = pc.floor(pc.add(scaled, _float(0.5)))
        return pc.divide(floored, scale) if scale is not None else floored

    def run(c: Columns) -> Value:
        x = arg(c)
        large = _le(_float(TWO_TO_52), pc.abs(x), "float64")
        negative = _lt(x, _float(0.0), "float64")
        return _when(large, x, _when(negative, pc.negate(half_up(pc.negate(x))), half_up(x)))
    return run


def _domain(function: Callable, outside: Callable[[Value], Value]) -> Callable:
    def build(node: Call, args: list[Evaluator]) -> Evaluator:
        (arg,) = args

        def run(c: Columns) -> Value:
            x = arg(c)
            return _when(outside(x), _null("float64"), function(x))
        return run
    return build


def _power(node: Call, args: list[Evaluator]) -> Evaluator:
    base, exponent = args

    def run(c: Columns) -> Value:
        x, y = base(c), exponent(c)
        zero = _float(0.0)
        zero_to_negative = pc.and_kleene(_eq(x, zero, "float64"), _lt(y, zero, "float64"))
        fractional = pc.invert(_eq(y, pc.floor(y), "float64"))
        negative_to_fraction = pc.and_kleene(_lt(x, zero, "float64"), fractional)
        return _when(pc.or_kleene(zero_to_negative, negative_to_fraction), _null("float64"), pc.power(x, y))
    return run


def _extreme(least: bool) -> Callable:
    def build(node: Call, args: list[Evaluator]) -> Evaluator:
        dtype = node.dtype

        def run(c: Columns) -> Value:
            values = [a(c) for a in args]
            result = values[0]
            for value in values[1:]:
                keep = _le(result, value, dtype) if least else _le(value, result, dtype)
                result = _when(keep, result, value)
            return _masked(result, *values)
        return run
    return build


# text

def _length(node: Call, args: list[Evaluator]) -> Evaluator:
    (arg,) = args
    return lambda c: pc.cast(pc.utf8_length(arg(c)), pa.int64())


def _concat(node: Call, args: list[Evaluator]) -> Evaluator:
    return lambda c: pc.binary_join_element_wise(*[a(c) for a in args], "", null_handling="emit_null")


def _clamp(value: Value, low: int) -> Value:
    high = 10**9
    return pc.min_element_wise(pc.max_element_wise(value, low, skip_nulls=False), high, skip_nulls=False)


def _substring(node: Call, args: list[Evaluator]) -> Evaluator:
    text_of, start_of, *length_of = args

    def slice_with(text: Value, start: int, length: int | None) -> Value:
        stop = None if length is None else start - 1 + length
        return pc.utf8_slice_codeunits(text, start=start - 1, stop=stop)

    def run(c: Columns) -> Value:
        text = text_of(c)
        start = _clamp(start_of(c), 1)
        length = _clamp(length_of[0](c), 0) if length_of else None
        nulls = _either_null(start, *(() if length is None else (length,)))
        if isinstance(start, pa.Scalar) and (length is None or isinstance(length, pa.Scalar)):
            if not start.is_valid or (length is not None and not length.is_valid):
                return _null("string")
            return slice_with(text, start.as_py(), None if length is None else length.as_py())
        # positions that vary by row: one vectorized slice per distinct (start, length)
        rows = len(start) if isinstance(start, pa.Array) else len(length)
        starts = start if isinstance(start, pa.Array) else pa.array([start.as_py()] * rows, pa.int64())
        lengths = None if length is None else (
            length if isinstance(length, pa.Array) else pa.array([length.as_py()] * rows, pa.int64()))
        # one int64 key per (start, length): both are clamped to [0, 10^9]
        keys = starts if lengths is None else pc.add(pc.multiply(starts, 10**9 + 1), lengths)
        result: Value = _null("string")
        for key in pc.unique(pc.drop_null(keys)).to_pylist():
            first, count = (key, None) if lengths is None else divmod(key, 10**9 + 1)
            result = _when(pc.equal(keys, key), slice_with(text, first, count), result)
        return _when(nulls, _null("string"), result)
    return run


# time

def _epoch_micros(ts: Value) -> Value:
    return pc.cast(pc.cast(ts, pa.timestamp("us", tz="UTC")), pa.int64())


def _seconds_between(node: Call, args: list[Evaluator]) -> Evaluator:
    start, end = args

    def run(c: Columns) -> Value:
        micros = pc.subtract_checked(_epoch_micros(end(c)), _epoch_micros(start(c)))
        return pc.divide(pc.cast(micros, pa.float64(), safe=False), _float(1e6))  # rounded to nearest, as CAST is
    return run


def _field(function: Callable) -> Callable:
    def build(node: Call, args: list[Evaluator]) -> Evaluator:
        (arg,) = args
        return lambda c: pc.cast(function(arg(c)), pa.int64())
    return build


def _lt_zero(x: Value) -> Value:
    return _lt(x, _float(0.0), "float64")


def _le_zero(x: Value) -> Value:
    return _le(x, _float(0.0), "float64")


_OPERATIONS: dict[str, Callable[[Call, list[Evaluator]], Evaluator]] = {
    "add": _arithmetic(pc.add_checked, pc.add), "sub": _arithmetic(pc.subtract_checked, pc.subtract),
    "mul": _arithmetic(pc.multiply_checked, pc.multiply), "div": _divide, "mod": _modulo, "neg": _negate,
    "eq": _compare("eq"), "ne": _compare("ne"), "lt": _compare("lt"), "le": _compare("le"),
    "gt": _compare("gt"), "ge": _compare("ge"),
    "and": lambda n, a: (lambda c: pc.and_kleene(a[0](c), a[1](c))),
    "or": lambda n, a: (lambda c: pc.or_kleene(a[0](c), a[1](c))),
    "not": lambda n, a: (lambda c: pc.invert(a[0](c))),
    "is_null": lambda n, a: (lambda c: pc.is_null(a[0](c))),
    "in": _in_list, "between": _between, "case": _case, "coalesce": _coalesce, "nullif": _nullif, "cast": _cast,
    "abs": _unary(pc.abs, pc.abs_checked), "floor": _unary(pc.floor), "ceil": _unary(pc.ceil), "round": _round,
    "sqrt": _domain(pc.sqrt, _lt_zero), "ln": _domain(pc.ln, _le_zero), "exp": _unary(pc.exp), "power": _power,
    "least": _extreme(True), "greatest": _extreme(False),
    "lower": _unary(pc.utf8_lower), "upper": _unary(pc.utf8_upper), "length": _length, "concat": _concat,
    "substring": _substring,
    "hour": _field(pc.hour), "day": _field(pc.day), "month": _field(pc.month),
    "dow": _field(lambda ts: pc.day_of_week(ts, count_from_zero=True, week_start=7)),
    "seconds_between": _seconds_between,
}
