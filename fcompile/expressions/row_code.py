"""A checked expression compiled to a Python function of one row's values: what the feature server runs for
the few entities of a request, where the fixed cost of each Arrow kernel call (5-10 us) would dominate.

The tree becomes Python source once (`compile_rows`), then `compile()`d: no tree is walked per row. It
means what evaluate.py and the compiled SQL mean (the parity tests run all three): NULL is None; floats
compare in the warehouses' total order; CASE and COALESCE evaluate a branch only for the rows that take
it, as SQL does; int64 results out of range raise ExpressionOverflow. Timestamps are computed with as
epoch microseconds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any, Callable, Sequence

from fcompile.expressions.evaluate import ExpressionOverflow
from fcompile.expressions.to_sql import TWO_TO_52, TWO_TO_63
from fcompile.expressions.tree import Call, Column, Literal, Node, columns

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
DAY_MICROS = 86_400_000_000


def compile_rows(node: Node) -> Callable[[dict[str, Sequence[Any]], int], list]:
    """A function of (input values by resolved name, row count) giving the expression's value per row.
    Timestamps come in as datetimes (naive: UTC) and go out as UTC datetimes."""
    names = columns(node)
    params = {name: f"c{n}" for n, name in enumerate(names)}
    source = f"def row({', '.join(params.values())}):\n    return {_Writer(params).code(node)}\n"
    namespace: dict[str, Any] = dict(_RUNTIME)
    exec(compile(source, f"<expression {node.dtype}>", "exec"), namespace)  # noqa: S102 - our own code
    row = namespace["row"]
    times = {name for name in names if _input_dtype(node, name) == "timestamp"}
    out_time = node.dtype == "timestamp"

    def run(values: dict[str, Sequence[Any]], rows: int) -> list:
        inputs = [_micros_all(values[n]) if n in times else values[n] for n in names]
        result = [row(*r) for r in zip(*inputs)] if inputs else [row()] * rows
        return [None if v is None else EPOCH + dt.timedelta(microseconds=v) for v in result] if out_time else result

    run.source = source  # type: ignore[attr-defined]
    return run


def _input_dtype(node: Node, name: str) -> str:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Column) and n.name == name:
            return n.dtype
        if isinstance(n, Call):
            stack.extend(n.args)
    return ""


def _micros_all(values: Sequence[Any]) -> list:
    return [None if v is None else _micros(v) for v in values]


def _micros(value: dt.datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return (value - EPOCH) // dt.timedelta(microseconds=1)


class _Writer:
    def __init__(self, params: dict[str, str]) -> None:
        self.params = params
        self.temporaries = itertools.count()

    def code(self, node: Node) -> str:
        if isinstance(node, Column):
            return self.params[node.name]
        if isinstance(node, Literal):
            return repr(node.value)
        assert isinstance(node, Call)
        args = [self.code(a) for a in node.args]
        op, dtype = node.op, node.dtype
        operand = node.args[0].dtype if node.args else dtype
        if op == "case":  # lazy, as SQL's CASE: a branch runs only for rows that take it
            tree = args[-1]
            for i in range(len(args) - 3, -1, -2):
                tree = f"({args[i + 1]} if {args[i]} is True else {tree})"
            return tree
        if op == "coalesce":  # lazy, as PostgreSQL's
            tree = args[-1]
            for arg in reversed(args[:-1]):
                t = f"_t{next(self.temporaries)}"
                tree = f"({t} if ({t} := {arg}) is not None else {tree})"
            return tree
        if op in ("add", "sub", "mul", "div", "mod", "neg", "abs"):
            kind = "i" if dtype == "int64" else "f"
            return f"_{kind}{op}({', '.join(args)})"
        if op in ("eq", "ne", "lt", "le", "gt", "ge", "between", "in", "least", "greatest", "nullif"):
            order = "_fkey" if operand == "float64" else "_key"
            return f"_{op}({order}, {', '.join(args)})"
        if op == "cast":
            return f"_cast_{operand}_{dtype}({args[0]})"
        if op == "round":
            return f"_round({args[0]}, {float(10.0 ** node.digits) if node.digits else None!r})"
        return f"_{op}({', '.join(args)})"


# -- the runtime the generated code calls ------------------------------------------------------


def _int(value: int) -> int:
    if value < INT_MIN or value > INT_MAX:
        raise ExpressionOverflow("int64 overflow")
    return value


def _iadd(a, b):
    return None if a is None or b is None else _int(a + b)


def _isub(a, b):
    return None if a is None or b is None else _int(a - b)


def _imul(a, b):
    return None if a is None or b is None else _int(a * b)


def _idiv(a, b):
    if a is None or b is None or b == 0:
        return None
    q = abs(a) // abs(b)
    return _int(q if (a < 0) == (b < 0) else -q)  # toward zero


def _imod(a, b):
    if a is None or b is None or b == 0:
        return None
    r = abs(a) % abs(b)
    return -r if a < 0 else r  # the dividend's sign


def _ineg(a):
    return None if a is None else _int(-a)


def _iabs(a):
    return None if a is None else _int(abs(a))


def _fadd(a, b):
    return None if a is None or b is None else a + b


def _fsub(a, b):
    return None if a is None or b is None else a - b


def _fmul(a, b):
    return None if a is None or b is None else a * b


def _fdiv(a, b):
    return None if a is None or b is None or b == 0 else a / b


def _fneg(a):
    return None if a is None else -a


def _fabs(a):
    return None if a is None else abs(a)


def _key(value):
    return value


def _fkey(value: float):
    return (1, 0.0) if value != value else (0, value)  # NaN above every number, equal to itself


def _eq(key, a, b):
    return None if a is None or b is None else key(a) == key(b)


def _ne(key, a, b):
    return None if a is None or b is None else key(a) != key(b)


def _lt(key, a, b):
    return None if a is None or b is None else key(a) < key(b)


def _le(key, a, b):
    return None if a is None or b is None else key(a) <= key(b)


def _gt(key, a, b):
    return None if a is None or b is None else key(a) > key(b)


def _ge(key, a, b):
    return None if a is None or b is None else key(a) >= key(b)


def _and(a, b):
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a, b):
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _not(a):
    return None if a is None else not a


def _is_null(a):
    return a is None


def _in(key, value, *items):
    result = False
    for item in items:
        result = _or(result, _eq(key, value, item))
    return result


def _between(key, value, low, high):
    return _and(_le(key, low, value), _le(key, value, high))


def _least(key, *values):
    if any(v is None for v in values):
        return None
    return min(values, key=key)


def _greatest(key, *values):
    if any(v is None for v in values):
        return None
    best = values[0]
    for value in values[1:]:
        if key(value) > key(best):
            best = value
    return best


def _nullif(key, a, b):
    return None if a is None or (b is not None and key(a) == key(b)) else a


def _cast_int64_float64(a):
    return None if a is None else float(a)


def _cast_float64_int64(a):
    if a is None or a != a or abs(a) >= TWO_TO_63:
        return None
    return int(a)  # toward zero


def _cast_int64_string(a):
    return None if a is None else str(a)


def _cast_int64_bool(a):
    return None if a is None else a != 0


def _cast_bool_int64(a):
    return None if a is None else int(a)


def _cast_bool_string(a):
    return None if a is None else ("true" if a else "false")


def _floor_value(x: float) -> float:
    if x != x or abs(x) >= TWO_TO_52:
        return x
    return float(math.floor(x))


def _ceil_value(x: float) -> float:
    if x != x or abs(x) >= TWO_TO_52:
        return x
    return float(math.ceil(x))


def _floor(a):
    return None if a is None else _floor_value(a)


def _ceil(a):
    return None if a is None else _ceil_value(a)


def _round(x, scale):
    if x is None:
        return None
    if x != x or abs(x) >= TWO_TO_52:
        return x

    def half_up(v: float) -> float:
        if scale is None:
            return _floor_value(v + 0.5)
        return _floor_value(v * scale + 0.5) / scale

    return -half_up(-x) if x < 0 else half_up(x)


def _sqrt(x):
    return None if x is None or x < 0 else math.sqrt(x)  # NaN < 0 is False: NaN stays NaN


def _ln(x):
    if x is None or (x == x and x <= 0):
        return None
    return math.log(x)


def _exp(x):
    if x is None:
        return None
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _power(x, y):
    if x is None or y is None:
        return None
    if (x == 0 and y == y and y < 0) or (x == x and x < 0 and _fkey(y) != _fkey(_floor_value(y))):
        return None
    try:
        return math.pow(x, y)
    except OverflowError:
        odd = math.isfinite(y) and y == math.floor(y) and int(y) % 2 == 1
        return -math.inf if x < 0 and odd else math.inf


def _simple_case(text: str, method: str) -> str:
    """One code point to one, as the warehouses map case (Python's full mapping turns 'ß' into 'SS')."""
    if text.isascii():
        return getattr(text, method)()
    out = []
    for ch in text:
        mapped = getattr(ch, method)()
        out.append(mapped if len(mapped) == 1 else ch)
    return "".join(out)


def _lower(a):
    return None if a is None else _simple_case(a, "lower")


def _upper(a):
    return None if a is None else _simple_case(a, "upper")


def _length(a):
    return None if a is None else len(a)


def _concat(*parts):
    return None if any(p is None for p in parts) else "".join(parts)


def _clamp(value: int, low: int) -> int:
    return min(max(value, low), 10**9)


def _substring2(text, start):
    if text is None or start is None:
        return None
    return text[_clamp(start, 1) - 1:]


def _substring3(text, start, length):
    if text is None or start is None or length is None:
        return None
    first = _clamp(start, 1) - 1
    return text[first:first + _clamp(length, 0)]


def _moment(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=micros)


def _hour(t):
    return None if t is None else (t % DAY_MICROS) // 3_600_000_000


def _day(t):
    return None if t is None else _moment(t).day


def _month(t):
    return None if t is None else _moment(t).month


def _dow(t):
    return None if t is None else (t // DAY_MICROS + 4) % 7  # 1970-01-01 was a Thursday; Sunday = 0


def _seconds_between(a, b):
    return None if a is None or b is None else float(b - a) / 1e6


def _substring(text, start, *length):
    return _substring3(text, start, *length) if length else _substring2(text, start)


_RUNTIME = {name: value for name, value in globals().items() if name.startswith("_") and callable(value)}
