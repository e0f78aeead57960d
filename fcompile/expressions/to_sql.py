"""A checked expression as a sqlglot tree in one dialect, with the one meaning everywhere.

The rules (docs/concepts/on-demand-features.md): NULL propagates and logic is three-valued; a division or
`%` by zero is NULL; integer division truncates toward zero; `%` takes the dividend's sign; SQRT and LN
outside their domain, and POWER of zero to a negative or of a negative to a non-integer, are NULL; ROUND
is half away from zero, computed as FLOOR(|x| * 10^d + 0.5) / 10^d; CAST of a float to int64 truncates
(NaN, infinities and values out of range give NULL); LEAST and GREATEST are NULL when an argument is;
text compares by code point; EXTRACT reads timestamps in UTC with Sunday = 0. Where a warehouse means
something else the dialect's `ExpressionTraits` say so, and the lowering here spells the common meaning.
"""

from __future__ import annotations

from typing import Callable, Mapping

from sqlglot import exp

from fcompile.expressions.traits import ExpressionTraits
from fcompile.expressions.tree import Call, Column, Literal, Node

_SQL_TYPES = {"int64": "BIGINT", "float64": "DOUBLE", "string": "TEXT", "bool": "BOOLEAN", "timestamp": "TIMESTAMP"}
TWO_TO_52 = 4503599627370496.0   # every double at least this large is an integer
TWO_TO_63 = 9223372036854775808.0  # the first double past int64
EXP_OVERFLOW = 709.782712893384   # EXP of anything greater is infinite in float64
EXP_UNDERFLOW = -745.1332191019412  # EXP of anything smaller is 0 in float64


# Lowerings that need an operand more than once repeat it (ROUND, SQRT, LN, POWER, a CAST to BIGINT,
# LEAST and GREATEST where the engine skips NULLs, Spark's FLOOR): nested ones multiply. An expression whose
# SQL would exceed this many nodes is refused rather than handed to an engine that may take minutes to
# plan it; the user splits it into several features.
MAX_SQL_NODES = 5000


class ExpressionTooLarge(ValueError):
    def __init__(self, dialect_name: str, nodes: int) -> None:
        self.dialect_name, self.nodes = dialect_name, nodes
        super().__init__(f"the expression compiles to {nodes:,} SQL nodes on {dialect_name} (at most "
                         f"{MAX_SQL_NODES:,}): nested ROUND, SQRT, LN, POWER, LEAST, GREATEST or CAST repeat "
                         "their operand")


def expression_sql(node: Node, dialect, inputs: Mapping[str, exp.Expression]) -> exp.Expression:
    """`node` in `dialect` (a `SqlDialect`), each input column spelled as `inputs` maps it; raises
    ExpressionTooLarge past MAX_SQL_NODES."""
    tree = _Lowering(dialect, inputs).sql(node)
    size = sum(1 for _ in tree.walk())
    if size > MAX_SQL_NODES:
        raise ExpressionTooLarge(dialect.name, size)
    return tree


class _Lowering:
    def __init__(self, dialect, inputs: Mapping[str, exp.Expression]) -> None:
        self.dialect = dialect
        self.traits: ExpressionTraits = dialect.EXPRESSIONS
        self.inputs = inputs
        self.ops: dict[str, Callable[[Call], exp.Expression]] = {
            "add": self.binary(exp.Add), "sub": self.binary(exp.Sub), "mul": self.binary(exp.Mul),
            "div": self.divide, "mod": self.modulo, "neg": lambda c: exp.Neg(this=self.operand(c.args[0])),
            "eq": self.compare(exp.EQ), "ne": self.compare(exp.NEQ), "lt": self.compare(exp.LT),
            "le": self.compare(exp.LTE), "gt": self.compare(exp.GT), "ge": self.compare(exp.GTE),
            "and": self.binary(exp.And), "or": self.binary(exp.Or),
            "not": lambda c: exp.Not(this=self.operand(c.args[0])),
            "is_null": lambda c: exp.Is(this=self.operand(c.args[0]), expression=exp.Null()),
            "in": self.in_list, "between": self.between, "case": self.case,
            "coalesce": lambda c: exp.Coalesce(this=self.sql(c.args[0]), expressions=self.all(c.args[1:])),
            "nullif": lambda c: exp.Nullif(this=self.sql(c.args[0]), expression=self.sql(c.args[1])),
            "cast": self.cast, "abs": lambda c: exp.Abs(this=self.sql(c.args[0])),
            "floor": lambda c: self.floor(self.sql(c.args[0]), exp.Floor),
            "ceil": lambda c: self.floor(self.sql(c.args[0]), exp.Ceil),
            "round": self.round, "sqrt": self.sqrt, "ln": self.ln, "exp": self.exp, "power": self.power,
            "least": self.extreme(exp.Least), "greatest": self.extreme(exp.Greatest),
            "lower": lambda c: exp.Lower(this=self.sql(c.args[0])),
            "upper": lambda c: exp.Upper(this=self.sql(c.args[0])),
            "length": lambda c: exp.cast(exp.Length(this=self.sql(c.args[0])), "BIGINT"),
            "concat": self.concat, "substring": self.substring,
            "hour": self.extract("HOUR"), "day": self.extract("DAY"), "month": self.extract("MONTH"),
            "dow": self.day_of_week, "seconds_between": self.seconds_between,
        }

    # -- shared ----------------------------------------------------------------------------------

    def sql(self, node: Node, typed_literal: bool = True) -> exp.Expression:
        if isinstance(node, Column):
            return self.inputs[node.name].copy()
        if isinstance(node, Literal):
            return self.literal(node, typed_literal)
        assert isinstance(node, Call)
        return self.ops[node.op](node)

    def all(self, nodes) -> list[exp.Expression]:
        return [self.sql(n) for n in nodes]

    def operand(self, node: Node, typed_literal: bool = True) -> exp.Expression:
        """An operand of an operator, parenthesized when it is itself an operation."""
        return _wrapped(self.sql(node, typed_literal))

    def operands(self, call: Call) -> list[exp.Expression]:
        """The operands of a binary operator: literals bare beside an input (the engine types them from it),
        typed where every operand is a constant (an integer literal is INT on PostgreSQL, a decimal one
        NUMERIC: `2 * 3` must be BIGINT arithmetic, `0.5 * 2.0` DOUBLE)."""
        constant = all(_is_constant(a) for a in call.args)
        return [self.operand(a, typed_literal=constant) for a in call.args]

    @staticmethod
    def literal(node: Literal, typed: bool) -> exp.Expression:
        if node.value is None:
            return exp.cast(exp.Null(), _SQL_TYPES[node.dtype])
        if node.dtype == "bool":
            return exp.Boolean(this=node.value)
        if node.dtype == "string":
            return exp.Literal.string(node.value)
        if node.dtype == "int64":
            if node.value == -2**63:  # no engine reads 9223372036854775808 as a BIGINT to negate
                return exp.Paren(this=exp.Sub(this=exp.Neg(this=exp.cast(exp.Literal.number(2**63 - 1), "BIGINT")),
                                              expression=exp.Literal.number(1)))
            number = exp.Literal.number(abs(node.value))
            tree = exp.cast(number, "BIGINT") if typed else number
            return exp.Neg(this=tree) if node.value < 0 else tree
        number = exp.Literal.number(repr(abs(node.value)))
        tree = exp.cast(number, "DOUBLE") if typed else number
        return exp.Neg(this=tree) if node.value < 0 or str(node.value) == "-0.0" else tree

    def binary(self, kind: type) -> Callable[[Call], exp.Expression]:
        return lambda c: kind(**dict(zip(("this", "expression"), self.operands(c))))

    def ordered(self, tree: exp.Expression, dtype: str) -> exp.Expression:
        """A text operand of an ordering comparison, in code-point order."""
        if dtype == "string" and self.traits.code_point_collation:
            # parenthesized: PostgreSQL's grammar takes no COLLATE in a BETWEEN bound
            return exp.Paren(this=exp.Collate(this=_wrapped(tree), expression=exp.Identifier(
                this=self.traits.code_point_collation, quoted=True)))
        return tree

    def guard_nulls(self, args: list[exp.Expression], tree: exp.Expression) -> exp.Expression:
        """`tree`, or NULL when any of `args` is NULL."""
        condition = _any([exp.Is(this=a.copy(), expression=exp.Null()) for a in args])
        return exp.Case(ifs=[exp.If(this=condition, true=exp.Null())], default=tree)

    def double(self, value: float) -> exp.Expression:
        number = exp.cast(exp.Literal.number(repr(abs(value))), "DOUBLE")
        return exp.Neg(this=number) if value < 0 else number

    def infinity(self) -> exp.Expression:
        return exp.cast(exp.Literal.string("Infinity"), "DOUBLE")

    # -- arithmetic ------------------------------------------------------------------------------

    def zero_as_null(self, divisor: exp.Expression, dtype: str) -> exp.Expression:
        zero = exp.Literal.number(0) if dtype == "int64" else self.double(0.0)
        return exp.Nullif(this=divisor, expression=zero)

    def divide(self, c: Call) -> exp.Expression:
        left, right = self.operands(c)
        right = self.zero_as_null(right, c.dtype)
        if c.dtype == "int64" and self.traits.int_division == "intdiv":
            return exp.IntDiv(this=left, expression=right)
        return exp.Div(this=left, expression=right, typed=True)  # typed: no cast sqlglot adds for its own reasons

    def modulo(self, c: Call) -> exp.Expression:
        left, right = self.operands(c)
        return exp.Mod(this=left, expression=self.zero_as_null(right, c.dtype))

    def compare(self, kind: type) -> Callable[[Call], exp.Expression]:
        def build(c: Call) -> exp.Expression:
            left, right = self.operands(c)
            if kind not in (exp.EQ, exp.NEQ):
                left, right = self.ordered(left, c.args[0].dtype), self.ordered(right, c.args[1].dtype)
            return kind(this=left, expression=right)
        return build

    def in_list(self, c: Call) -> exp.Expression:
        constant = all(_is_constant(a) for a in c.args)
        return exp.In(this=self.operand(c.args[0], constant),
                      expressions=[self.sql(a, constant) for a in c.args[1:]])

    def between(self, c: Call) -> exp.Expression:
        constant = all(_is_constant(a) for a in c.args)
        value, low, high = (self.ordered(self.operand(a, constant), a.dtype) for a in c.args)
        return exp.Between(this=value, low=low, high=high)

    def case(self, c: Call) -> exp.Expression:
        pairs = [c.args[i:i + 2] for i in range(0, len(c.args) - 1, 2)]
        return exp.Case(ifs=[exp.If(this=self.sql(w), true=self.sql(t)) for w, t in pairs],
                        default=self.sql(c.args[-1]))

    def cast(self, c: Call) -> exp.Expression:
        arg = c.args[0]
        value = self.sql(arg)
        if arg.dtype == "float64" and c.dtype == "int64":
            return self.float_to_integer(value)
        if arg.dtype == "bool" and c.dtype == "int64":  # PostgreSQL has no boolean -> bigint cast
            return exp.Case(ifs=[exp.If(this=value, true=exp.cast(exp.Literal.number(1), "BIGINT")),
                                 exp.If(this=exp.Not(this=exp.Paren(this=value.copy())),
                                        true=exp.cast(exp.Literal.number(0), "BIGINT"))])
        if arg.dtype == "int64" and c.dtype == "bool":
            return exp.NEQ(this=self.operand(arg), expression=exp.Literal.number(0))
        return exp.cast(value, _SQL_TYPES[c.dtype])

    def float_to_integer(self, value: exp.Expression) -> exp.Expression:
        # NaN is the greatest double on every engine fcompile runs, so `ABS(x) >= 2^63` also holds for it
        out_of_range = exp.GTE(this=exp.Abs(this=value.copy()), expression=self.double(TWO_TO_63))
        whole = value if self.traits.float_to_integer_truncates else exp.Anonymous(this="TRUNC", expressions=[value])
        return exp.Case(ifs=[exp.If(this=out_of_range, true=exp.cast(exp.Null(), "BIGINT"))],
                        default=exp.cast(whole, "BIGINT"))

    def floor(self, value: exp.Expression, kind: type) -> exp.Expression:
        if not self.traits.float_floor_gives_integer:
            return kind(this=value)
        # FLOOR gives a BIGINT here: only values it can hold go through it (a double of 2^52 or more, an
        # infinity or NaN is its own floor)
        large = exp.GTE(this=exp.Abs(this=value.copy()), expression=self.double(TWO_TO_52))
        return exp.Case(ifs=[exp.If(this=large, true=value.copy())], default=exp.cast(kind(this=value), "DOUBLE"))

    def round(self, c: Call) -> exp.Expression:
        x = self.sql(c.args[0])
        scale = self.double(10.0 ** c.digits) if c.digits else None

        def half_up(v: exp.Expression) -> exp.Expression:
            scaled = exp.Mul(this=_wrapped(v), expression=scale.copy()) if scale is not None else v
            floored = self.floor(exp.Add(this=scaled, expression=self.double(0.5)), exp.Floor)
            return exp.Div(this=floored, expression=scale.copy(), typed=True) if scale is not None else floored

        large = exp.GTE(this=exp.Abs(this=x.copy()), expression=self.double(TWO_TO_52))
        negative = exp.LT(this=x.copy(), expression=self.double(0.0))
        return exp.Case(ifs=[exp.If(this=large, true=x.copy()),
                             exp.If(this=negative, true=exp.Neg(this=_wrapped(half_up(exp.Neg(this=_wrapped(x.copy()))))))],
                        default=half_up(x.copy()))

    def sqrt(self, c: Call) -> exp.Expression:
        x = self.sql(c.args[0])
        return exp.Case(ifs=[exp.If(this=exp.LT(this=x.copy(), expression=self.double(0.0)),
                                    true=exp.cast(exp.Null(), "DOUBLE"))], default=exp.Sqrt(this=x))

    def ln(self, c: Call) -> exp.Expression:
        x = self.sql(c.args[0])
        return exp.Case(ifs=[exp.If(this=exp.LTE(this=x.copy(), expression=self.double(0.0)),
                                    true=exp.cast(exp.Null(), "DOUBLE"))], default=exp.Ln(this=x))

    def exp(self, c: Call) -> exp.Expression:
        x = self.sql(c.args[0])
        if not self.traits.exp_raises_out_of_range:
            return exp.Exp(this=x)
        # IEEE's infinity and zero past the limits (NaN, greater than any number here, stays NaN)
        nan = exp.cast(exp.Literal.string("NaN"), "DOUBLE")
        return exp.Case(ifs=[exp.If(this=exp.EQ(this=x.copy(), expression=nan), true=x.copy()),
                             exp.If(this=exp.GT(this=x.copy(), expression=self.double(EXP_OVERFLOW)), true=self.infinity()),
                             exp.If(this=exp.LT(this=x.copy(), expression=self.double(EXP_UNDERFLOW)), true=self.double(0.0))],
                        default=exp.Exp(this=x))

    def power(self, c: Call) -> exp.Expression:
        x, y = self.sql(c.args[0]), self.sql(c.args[1])
        zero = self.double(0.0)
        zero_to_negative = exp.And(this=exp.EQ(this=x.copy(), expression=zero.copy()),
                                   expression=exp.LT(this=y.copy(), expression=zero.copy()))
        fractional = exp.NEQ(this=y.copy(), expression=self.floor(y.copy(), exp.Floor))
        negative_to_fraction = exp.And(this=exp.LT(this=x.copy(), expression=zero.copy()), expression=fractional)
        return exp.Case(ifs=[exp.If(this=exp.Or(this=exp.Paren(this=zero_to_negative),
                                                expression=exp.Paren(this=negative_to_fraction)),
                                    true=exp.cast(exp.Null(), "DOUBLE"))],
                        default=exp.Pow(this=x, expression=y))

    def extreme(self, kind: type) -> Callable[[Call], exp.Expression]:
        def build(c: Call) -> exp.Expression:
            args = [self.ordered(a, c.dtype) for a in self.all(c.args)]
            # ignore_nulls says what the native function does, so that sqlglot writes it as it is
            skips = self.traits.extremes_skip_nulls
            tree = kind(this=args[0], expressions=[a.copy() for a in args[1:]], ignore_nulls=skips)
            tree = self.guard_nulls(args, tree) if skips else tree
            if c.dtype == "string" and self.traits.code_point_collation:
                # the code-point collation compared the arguments; the result takes the default one back, or
                # LOWER and UPPER of it would map ASCII letters only
                tree = exp.Collate(this=_wrapped(tree), expression=exp.Identifier(this="default", quoted=True))
            return tree
        return build

    # -- text ------------------------------------------------------------------------------------

    def concat(self, c: Call) -> exp.Expression:
        args = [self.operand(a) for a in c.args]
        tree = args[0]
        for arg in args[1:]:  # `||`: NULL when any operand is (CONCAT skips NULLs on PostgreSQL and DuckDB)
            tree = exp.DPipe(this=tree, expression=arg, safe=False)
        return tree

    def substring(self, c: Call) -> exp.Expression:
        text = self.sql(c.args[0])
        start = self.clamped(self.sql(c.args[1]), 1)
        length = self.clamped(self.sql(c.args[2]), 0) if len(c.args) > 2 else None
        return exp.Substring(this=text, start=start, length=length)

    def clamped(self, value: exp.Expression, low: int) -> exp.Expression:
        """`value` held within [low, 10^9] (NULL stays NULL) as an INT, the type every engine's SUBSTRING
        takes: a start before 1 counts as 1, a negative length as 0."""
        if isinstance(value, exp.Literal) and low <= int(value.this) <= 10**9:
            return value
        return exp.cast(exp.Case(ifs=[exp.If(this=exp.LT(this=value.copy(), expression=exp.Literal.number(low)),
                                    true=exp.Literal.number(low)),
                             exp.If(this=exp.GT(this=value.copy(), expression=exp.Literal.number(10**9)),
                                    true=exp.Literal.number(10**9))],
                        default=value), "INT")

    # -- time ------------------------------------------------------------------------------------

    def wall_clock(self, ts: exp.Expression) -> exp.Expression:
        kind = self.traits.wall_clock
        if kind == "instant_at_utc":
            return exp.AtTimeZone(this=exp.Paren(this=self.dialect.utc_instant(ts)), zone=exp.Literal.string("UTC"))
        if kind == "utc_instant":
            return self.dialect.utc_instant(ts)
        if kind == "from_epoch_us":
            return exp.Anonymous(this="MAKE_TIMESTAMP", expressions=[self.epoch_micros(ts)])
        return ts

    def extract(self, unit: str) -> Callable[[Call], exp.Expression]:
        # BIGINT: EXTRACT gives NUMERIC on PostgreSQL, INT on Spark
        return lambda c: exp.cast(exp.Extract(this=exp.var(unit), expression=self.wall_clock(self.sql(c.args[0]))),
                                  "BIGINT")

    def day_of_week(self, c: Call) -> exp.Expression:
        ts = self.wall_clock(self.sql(c.args[0]))
        kind = self.traits.day_of_week
        if kind == "dayofweek_minus_one":
            day = exp.Sub(this=exp.Extract(this=exp.var("DAYOFWEEK"), expression=ts), expression=exp.Literal.number(1))
        elif kind == "iso_modulo_seven":
            iso = exp.Anonymous(this=self.dialect.ISO_DAY_OF_WEEK_FUNCTION, expressions=[ts])
            day = exp.Mod(this=iso, expression=exp.Literal.number(7))
        else:
            day = exp.Extract(this=exp.var("DOW"), expression=ts)
        return exp.cast(day, "BIGINT")

    def epoch_micros(self, ts: exp.Expression) -> exp.Expression:
        """Whole microseconds since the epoch, as the dialect spells them for windowed aggregations too, of the
        time as a UTC instant (naive: read as UTC)."""
        return self.dialect.epoch_microseconds(self.dialect.utc_instant(ts))

    def seconds_between(self, c: Call) -> exp.Expression:
        start, end = (self.epoch_micros(self.sql(a)) for a in c.args)
        micros = exp.Sub(this=end, expression=start)
        return exp.Div(this=exp.cast(exp.Paren(this=micros), "DOUBLE"), expression=self.double(1e6), typed=True)


def _wrapped(tree: exp.Expression) -> exp.Expression:
    """`tree` in parentheses when it is an operation (an operand of another operator)."""
    if isinstance(tree, (exp.Binary, exp.Unary, exp.Between, exp.In, exp.Is, exp.Not, exp.Neg)) and \
            not isinstance(tree, exp.Paren):
        return exp.Paren(this=tree)
    return tree


def _is_constant(node: Node) -> bool:
    if isinstance(node, Literal):
        return True
    return isinstance(node, Call) and all(_is_constant(a) for a in node.args)


def _any(conditions: list[exp.Expression]) -> exp.Expression:
    tree = conditions[0]
    for condition in conditions[1:]:
        tree = exp.Or(this=tree, expression=condition)
    return tree
