"""An `expr` text checked against the portable subset and typed: sqlglot's parse in, a `tree.Node` out, or
every problem as a diagnostic pointing inside the text.

What is checked: the text is one SQL expression; each operator and function is in the subset
(docs/concepts/on-demand-features.md lists it); each name is an input's feature (bare when only one input
has it, `view.feature` otherwise) or a request field; the operands' types fit; a CAST is between types the
subset converts. Implicit conversions (int64 to float64, a NULL taking its context's type) become explicit
`cast` nodes and typed literals, so the compilers never infer a type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

from sqlglot import exp, parse_one
from sqlglot.errors import ParseError, SqlglotError, TokenError

from fcompile.diagnostics import Code, did_you_mean
from fcompile.expressions.tree import (EXPRESSION_TYPES, NUMERIC, WIDENED, Call, Column,
                                       Literal, Node)

# The functions of the subset as a user writes them (the hint when one outside it is used).
FUNCTIONS = ("ABS", "CEIL", "COALESCE", "CONCAT", "EXP", "EXTRACT", "FLOOR", "GREATEST", "LEAST", "LENGTH",
             "LN", "LOWER", "NULLIF", "POWER", "ROUND", "SECONDS_BETWEEN", "SQRT", "SUBSTRING", "UPPER")
MAX_ROUND_DIGITS = 15
# CAST targets as written -> the type they mean (the project's dtype names are accepted too)
_CAST_TARGETS = {
    exp.DataType.Type.BIGINT: "int64", exp.DataType.Type.DOUBLE: "float64", exp.DataType.Type.TEXT: "string",
    exp.DataType.Type.VARCHAR: "string", exp.DataType.Type.BOOLEAN: "bool", exp.DataType.Type.TIMESTAMP: "timestamp",
}
# Which conversions the subset has (source -> targets): the others spell differently on every engine
# (a float's text, a string's parse, a timestamp's text).
CASTS = {
    "int64": ("int64", "float64", "string", "bool"),
    "float64": ("float64", "int64"),
    "bool": ("bool", "int64", "string"),
    "string": ("string",),
    "timestamp": ("timestamp",),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an expression: a diagnostic code, a message, a hint, and where in the text."""

    code: Code
    message: str
    offset: int = 0
    hint: str | None = None


@dataclass(frozen=True)
class Scope:
    """The names an expression may use: `qualified` maps `view.feature` and each request field's name (a data
    test's: each column of its source) to its dtype; `bare` maps a bare name to the qualified names it may
    mean (one: it resolves; several: it is ambiguous)."""

    qualified: Mapping[str, str]
    bare: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unknown_hint: str = "use a feature of an input or a request field"  # for a name it has not, nothing close


class ExpressionProblems(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def check_expression(text: str, scope: Scope, declared: str | None = None) -> Node:
    """`text` as a typed tree over `scope`; raises ExpressionProblems with every problem found. `declared`:
    the feature's dtype, which the expression must produce (an int64 result widens to a declared float64)."""
    try:
        parsed = parse_one(text, read=None)
    except (ParseError, TokenError, SqlglotError) as exc:
        raise ExpressionProblems([_syntax_problem(text, exc)]) from None
    if parsed is None or isinstance(parsed, (exp.Query, exp.Command, exp.DDL, exp.DML, exp.Alias, exp.Block)) or \
            isinstance(parsed, exp.Star):
        raise ExpressionProblems([Problem(Code.EXPRESSION_SYNTAX, "an expression must be one SQL value expression, "
                                          "not a statement (or several), an alias or a star", 0,
                                          "write it as it would follow SELECT, without AS")])
    checker = _Checker(scope)
    node = checker.node(parsed)
    if not checker.problems and declared is not None:
        node = checker.declare(node, declared)
    if checker.problems:
        raise ExpressionProblems(checker.problems)
    return node


# the text of the sqlglot node classes that stand for an operator or keyword, as a message names them
_OPERATOR_WORDS = {
    "And": "AND", "Or": "OR", "Not": "NOT", "Xor": "XOR", "Add": "+", "Sub": "-", "Mul": "*", "Div": "/",
    "IntDiv": "//", "Mod": "%", "DPipe": "||", "EQ": "=", "NEQ": "<>", "GT": ">", "GTE": ">=", "LT": "<",
    "LTE": "<=", "NullSafeEQ": "<=>", "Is": "IS", "Like": "LIKE", "ILike": "ILIKE", "In": "IN", "Between": "BETWEEN",
    "Neg": "-", "BitwiseAnd": "&", "BitwiseOr": "|", "BitwiseXor": "^", "Cast": "CAST", "Case": "CASE",
}


def _syntax_reason(description: str, at_end: bool) -> str:
    """sqlglot's description of a parse error in fcompile's words (its own, minus class names, when it has
    none)."""
    missing = re.match(r"Required keyword: '(\w+)' missing for <class '(?:\w+\.)*(\w+)'>", description)
    if missing:
        role, cls = missing.groups()
        word = _OPERATOR_WORDS.get(cls, cls.upper())
        if role == "high":
            what = "BETWEEN needs an upper bound after its AND"
        elif role == "this":
            what = f"{word} needs an operand"
        else:
            what = f"{word} needs an operand on its right"
        return f"the expression ends too early: {what}" if at_end else what
    if description.startswith("Expecting )"):
        return "a '(' is not closed: ')' expected here"
    if description.startswith("Expected END after CASE"):
        return "CASE has no END"
    if description.startswith("Invalid expression / Unexpected token"):
        return "unexpected text here (a missing operator, or a stray word or symbol?)"
    # sqlglot names its node classes as Python writes them (<class 'sqlglot.expressions.core.GTE'>): GTE
    return re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", description)


def _syntax_problem(text: str, exc: Exception) -> Problem:
    errors = getattr(exc, "errors", None) or []
    offset = 0
    if errors:
        line, col = errors[0].get("line") or 1, errors[0].get("col") or 1
        starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        offset = min(starts[min(line, len(starts)) - 1] + max(col - 1, 0), max(len(text) - 1, 0))
        at_end = not text[offset + 1:].strip()
        message = _syntax_reason(errors[0].get("description") or str(exc), at_end)
    elif isinstance(exc, TokenError):
        message = "the text cannot be split into SQL words: a quote that is not closed?"
    else:
        message = str(exc).splitlines()[0] if str(exc) else "invalid expression"
    return Problem(Code.EXPRESSION_SYNTAX, f"the expression does not parse: {message}", offset,
                   "write one SQL expression of the portable subset (docs/concepts/on-demand-features.md)")


def offset_of(node: exp.Expression) -> int:
    """Where a sqlglot node starts in the text: its own token's start, else its first operand's."""
    starts = [n.meta["start"] for n in node.walk() if isinstance(n.meta, dict) and "start" in n.meta]
    if not starts:
        return 0
    own = node.meta.get("start") if isinstance(node.meta, dict) else None
    return own if own is not None and own <= min(starts) else min(starts)


class _Checker:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.problems: list[Problem] = []
        self.handlers: dict[type, Callable[[exp.Expression], Node | None]] = {
            exp.Paren: lambda e: self.node(e.this),
            exp.Column: self.column, exp.Literal: self.literal, exp.Boolean: self.boolean, exp.Null: self.null,
            exp.Add: self.arithmetic, exp.Sub: self.arithmetic, exp.Mul: self.arithmetic, exp.Div: self.arithmetic,
            exp.Mod: self.arithmetic, exp.Neg: self.negate,
            exp.EQ: self.compare, exp.NEQ: self.compare, exp.LT: self.compare, exp.LTE: self.compare,
            exp.GT: self.compare, exp.GTE: self.compare,
            exp.And: self.logic, exp.Or: self.logic, exp.Not: self.negation, exp.Is: self.is_null,
            exp.In: self.in_list, exp.Between: self.between, exp.Case: self.case,
            exp.Coalesce: self.coalesce, exp.Nullif: self.nullif, exp.Cast: self.cast,
            exp.Abs: self.numeric_same, exp.Floor: self.numeric_same, exp.Ceil: self.numeric_same,
            exp.Round: self.round, exp.Sqrt: self.to_float, exp.Ln: self.to_float, exp.Exp: self.to_float,
            exp.Pow: self.power, exp.Least: self.extreme, exp.Greatest: self.extreme,
            exp.Lower: self.string_same, exp.Upper: self.string_same, exp.Length: self.length,
            exp.Concat: self.concat, exp.DPipe: self.concat, exp.Substring: self.substring,
            exp.Extract: self.extract, exp.Anonymous: self.anonymous,
        }

    # -- helpers ---------------------------------------------------------------------------------

    def problem(self, code: Code, message: str, at: exp.Expression, hint: str | None = None) -> None:
        self.problems.append(Problem(code, message, offset_of(at), hint))

    def node(self, e: exp.Expression) -> Node | None:
        handler = self.handlers.get(type(e))
        if handler is None:
            name = e.sql_name() if isinstance(e, exp.Func) else type(e).__name__.upper()
            hint = did_you_mean(name.upper(), FUNCTIONS) if isinstance(e, exp.Func) else None
            self.problem(Code.EXPRESSION_UNSUPPORTED, f"'{name}' is not in the portable expression subset", e,
                         hint or f"use the operators and functions of the subset: {', '.join(FUNCTIONS)}")
            return None
        return handler(e)

    def operands(self, *items: exp.Expression | None) -> list[Node] | None:
        nodes = [self.node(i) for i in items if i is not None]
        return None if any(n is None for n in nodes) else nodes  # type: ignore[return-value]

    def call(self, op: str, args: list[Node], dtype: str, at: exp.Expression, digits: int = 0) -> Call:
        return Call(dtype, op, tuple(args), digits, offset=offset_of(at))

    def coerce(self, node: Node, dtype: str) -> Node:
        """`node` as `dtype`: a NULL takes the type, an int64 widens to float64; else unchanged."""
        if node.dtype == dtype:
            return node
        if node.dtype == "null":
            return Literal(dtype, None, offset=node.offset)
        if node.dtype == "int64" and dtype == "float64":
            if isinstance(node, Literal):
                return Literal("float64", float(node.value), offset=node.offset)
            return Call("float64", "cast", (node,), offset=node.offset)
        return node

    def unify(self, nodes: list[Node], at: exp.Expression, what: str) -> list[Node] | None:
        """Operands brought to one type (numbers to the widest), or None after a problem."""
        types = {n.dtype for n in nodes} - {"null"}
        if not types:
            return [self.coerce(n, "int64") for n in nodes]
        if types <= set(NUMERIC):
            target = "float64" if "float64" in types else "int64"
        elif len(types) == 1:
            target = types.pop()
        else:
            self.problem(Code.EXPRESSION_TYPE, f"{what} mixes types: {', '.join(sorted(types))}", at,
                         "CAST operands to one type")
            return None
        return [self.coerce(n, target) for n in nodes]

    def expect(self, node: Node, allowed: tuple[str, ...], at: exp.Expression, what: str) -> bool:
        if node.dtype in allowed or node.dtype == "null":
            return True
        self.problem(Code.EXPRESSION_TYPE, f"{what} takes {' or '.join(allowed)}, not {node.dtype}", at,
                     _cast_hint(node.dtype, allowed))
        return False

    def declare(self, node: Node, declared: str) -> Node:
        target = WIDENED.get(declared, declared)
        if declared != target or target not in EXPRESSION_TYPES:
            self.problems.append(Problem(
                Code.EXPRESSION_DTYPE, f"an expression cannot produce dtype {declared}", node.offset,
                f"declare one of {', '.join(EXPRESSION_TYPES)}"))
            return node
        coerced = self.coerce(node, target)
        if coerced.dtype != target:
            self.problems.append(Problem(
                Code.EXPRESSION_DTYPE, f"the expression gives {node.dtype}, but the feature is declared {declared}",
                node.offset, f"declare dtype {node.dtype}, or CAST the expression to {declared}"
                if target in CASTS.get(node.dtype, ()) else f"declare dtype {node.dtype}"))
        return coerced

    # -- leaves ----------------------------------------------------------------------------------

    def column(self, e: exp.Column) -> Node | None:
        parts = [p.name for p in e.parts]
        name = ".".join(parts)
        if len(parts) > 2:
            self.problem(Code.EXPRESSION_UNKNOWN_NAME, f"unknown name '{name}'", e, "write feature or view.feature")
            return None
        if len(parts) == 1:
            meanings = self.scope.bare.get(name, (name,) if name in self.scope.qualified else ())
            if len(meanings) > 1:
                self.problem(Code.EXPRESSION_UNKNOWN_NAME, f"'{name}' is ambiguous: several inputs have it", e,
                             "write one of " + ", ".join(f"'{m}'" for m in meanings))
                return None
            qualified = meanings[0] if meanings else None
        else:
            qualified = name if name in self.scope.qualified else None
        if qualified is None:
            pool = list(self.scope.qualified) + list(self.scope.bare)
            self.problem(Code.EXPRESSION_UNKNOWN_NAME, f"unknown name '{name}'", e,
                         did_you_mean(name, pool) or self.scope.unknown_hint)
            return None
        dtype = self.scope.qualified[qualified]
        dtype = WIDENED.get(dtype, dtype)
        if dtype not in EXPRESSION_TYPES:
            self.problem(Code.EXPRESSION_TYPE, f"'{name}' is of dtype {dtype}, which expressions do not take", e,
                         f"expressions compute with {', '.join(EXPRESSION_TYPES)}")
            return None
        return Column(dtype, qualified, offset=offset_of(e))

    def literal(self, e: exp.Literal) -> Node | None:
        if e.is_string:
            return Literal("string", e.this, offset=offset_of(e))
        text = e.this
        if all(ch.isdigit() for ch in text):
            value = int(text)
            if value > 2**63 - 1:
                self.problem(Code.EXPRESSION_TYPE, f"the integer {text} is out of the int64 range", e,
                             "write it as a float (with a decimal point)")
                return None
            return Literal("int64", value, offset=offset_of(e))
        return Literal("float64", float(text), offset=offset_of(e))

    def boolean(self, e: exp.Boolean) -> Node:
        return Literal("bool", bool(e.this), offset=offset_of(e))

    def null(self, e: exp.Null) -> Node:
        return Literal("null", None, offset=offset_of(e))

    # -- operators -------------------------------------------------------------------------------

    def arithmetic(self, e: exp.Expression) -> Node | None:
        args = self.operands(e.this, e.expression)
        if args is None:
            return None
        op = {exp.Add: "add", exp.Sub: "sub", exp.Mul: "mul", exp.Div: "div", exp.Mod: "mod"}[type(e)]
        allowed = ("int64",) if op == "mod" else NUMERIC
        symbol = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%"}[op]
        if not all([self.expect(a, allowed, e, f"'{symbol}'") for a in args]):
            return None
        args = self.unify(args, e, f"'{symbol}'")
        return None if args is None else self.call(op, args, args[0].dtype, e)

    def negate(self, e: exp.Neg) -> Node | None:
        if isinstance(e.this, exp.Literal) and not e.this.is_string and e.this.this == str(2**63):
            return Literal("int64", -2**63, offset=offset_of(e))  # the least int64, written as it is
        args = self.operands(e.this)
        if args is None or not self.expect(args[0], NUMERIC, e, "unary '-'"):
            return None
        arg = self.coerce(args[0], "int64")
        if isinstance(arg, Literal) and arg.value is not None:
            return Literal(arg.dtype, -arg.value, offset=offset_of(e))
        return self.call("neg", [arg], arg.dtype, e)

    def compare(self, e: exp.Expression) -> Node | None:
        args = self.operands(e.this, e.expression)
        if args is None:
            return None
        op = {exp.EQ: "eq", exp.NEQ: "ne", exp.LT: "lt", exp.LTE: "le", exp.GT: "gt", exp.GTE: "ge"}[type(e)]
        args = self.unify(args, e, "a comparison")
        return None if args is None else self.call(op, args, "bool", e)

    def logic(self, e: exp.Expression) -> Node | None:
        args = self.operands(e.this, e.expression)
        op = "and" if isinstance(e, exp.And) else "or"
        if args is None or not all([self.expect(a, ("bool",), e, op.upper()) for a in args]):
            return None
        return self.call(op, [self.coerce(a, "bool") for a in args], "bool", e)

    def negation(self, e: exp.Not) -> Node | None:
        args = self.operands(e.this)
        if args is None or not self.expect(args[0], ("bool",), e, "NOT"):
            return None
        return self.call("not", [self.coerce(args[0], "bool")], "bool", e)

    def is_null(self, e: exp.Is) -> Node | None:
        if not isinstance(e.expression, exp.Null):
            self.problem(Code.EXPRESSION_UNSUPPORTED, "IS is only in the subset as IS [NOT] NULL", e,
                         "compare with = instead")
            return None
        args = self.operands(e.this)
        return None if args is None else self.call("is_null", [self.coerce(args[0], "int64")], "bool", e)

    def in_list(self, e: exp.In) -> Node | None:
        if e.args.get("query") or e.args.get("unnest") or e.args.get("field") or not e.expressions:
            self.problem(Code.EXPRESSION_UNSUPPORTED, "IN takes a list of values here, not a query", e,
                         "write x IN (a, b, ...)")
            return None
        args = self.operands(e.this, *e.expressions)
        if args is None:
            return None
        args = self.unify(args, e, "IN")
        return None if args is None else self.call("in", args, "bool", e)

    def between(self, e: exp.Between) -> Node | None:
        args = self.operands(e.this, e.args.get("low"), e.args.get("high"))
        if args is None:
            return None
        args = self.unify(args, e, "BETWEEN")
        return None if args is None else self.call("between", args, "bool", e)

    def case(self, e: exp.Case) -> Node | None:
        subject = self.operands(e.this) if e.this is not None else []
        conditions, values = [], []
        for branch in e.args.get("ifs") or []:
            pair = self.operands(branch.this, branch.args.get("true"))
            if pair is None or subject is None:
                continue
            condition = pair[0]
            if subject:
                unified = self.unify([subject[0], condition], branch, "CASE")
                if unified is None:
                    continue
                condition = Call("bool", "eq", tuple(unified), offset=unified[1].offset)
            elif not self.expect(condition, ("bool",), branch.this, "a WHEN condition"):
                continue
            conditions.append(self.coerce(condition, "bool"))
            values.append(pair[1])
        default = self.operands(e.args.get("default")) if e.args.get("default") is not None else []
        if subject is None or default is None or len(conditions) != len(e.args.get("ifs") or []):
            return None
        results = self.unify(values + (default or [Literal("null", None, offset=offset_of(e))]), e,
                             "the branches of CASE")
        if results is None:
            return None
        args: list[Node] = []
        for condition, value in zip(conditions, results):
            args += [condition, value]
        return self.call("case", args + [results[-1]], results[0].dtype, e)

    def coalesce(self, e: exp.Coalesce) -> Node | None:
        args = self.operands(e.this, *e.expressions)
        if args is None:
            return None
        args = self.unify(args, e, "COALESCE")
        return None if args is None else self.call("coalesce", args, args[0].dtype, e)

    def nullif(self, e: exp.Nullif) -> Node | None:
        args = self.operands(e.this, e.expression)
        if args is None:
            return None
        args = self.unify(args, e, "NULLIF")
        return None if args is None else self.call("nullif", args, args[0].dtype, e)

    def cast(self, e: exp.Cast) -> Node | None:
        args = self.operands(e.this)
        if args is None:
            return None
        to = e.to
        target = _CAST_TARGETS.get(to.this)
        if to.this == exp.DataType.Type.USERDEFINED and str(to.args.get("kind", "")).lower() == "float64":
            target = "float64"
        if target is None or to.expressions:
            self.problem(Code.EXPRESSION_UNSUPPORTED, f"CAST to {to.sql()} is not in the subset", e,
                         "cast to BIGINT (int64), DOUBLE (float64), BOOLEAN, VARCHAR (string) or TIMESTAMP")
            return None
        arg = args[0]
        if arg.dtype == "null":
            return Literal(target, None, offset=offset_of(e))
        if target not in CASTS[arg.dtype]:
            self.problem(Code.EXPRESSION_UNSUPPORTED, f"CAST from {arg.dtype} to {target} is not in the subset "
                         "(engines spell that conversion differently)", e,
                         f"{arg.dtype} converts to {', '.join(CASTS[arg.dtype])}")
            return None
        return arg if target == arg.dtype else self.call("cast", [arg], target, e)

    # -- functions -------------------------------------------------------------------------------

    def numeric_same(self, e: exp.Expression) -> Node | None:
        if isinstance(e, (exp.Floor, exp.Ceil)) and e.args.get("decimals") is not None:
            self.problem(Code.EXPRESSION_UNSUPPORTED, f"{e.sql_name()} takes one argument here", e, "use ROUND(x, d)")
            return None
        args = self.operands(e.this)
        name = e.sql_name()
        if args is None or not self.expect(args[0], NUMERIC, e, name):
            return None
        arg = self.coerce(args[0], "int64")
        if arg.dtype == "int64" and not isinstance(e, exp.Abs):
            return arg  # FLOOR and CEIL of an integer are the integer
        return self.call({"ABS": "abs", "FLOOR": "floor", "CEIL": "ceil"}[name], [arg], arg.dtype, e)

    def round(self, e: exp.Round) -> Node | None:
        args = self.operands(e.this)
        if args is None or not self.expect(args[0], NUMERIC, e, "ROUND"):
            return None
        digits = 0
        decimals = e.args.get("decimals")
        if decimals is not None:
            if not (isinstance(decimals, exp.Literal) and not decimals.is_string and decimals.this.isdigit()
                    and int(decimals.this) <= MAX_ROUND_DIGITS):
                self.problem(Code.EXPRESSION_UNSUPPORTED, "ROUND's digits must be an integer literal from 0 to "
                             f"{MAX_ROUND_DIGITS}", decimals, "write ROUND(x) or ROUND(x, 2)")
                return None
            digits = int(decimals.this)
        arg = self.coerce(args[0], "int64")
        if arg.dtype == "int64":
            return arg  # an integer rounds to itself at 0 or more digits
        return self.call("round", [arg], "float64", e, digits)

    def to_float(self, e: exp.Expression) -> Node | None:
        args = self.operands(e.this)
        name = e.sql_name()
        if args is None or not self.expect(args[0], NUMERIC, e, name):
            return None
        return self.call(name.lower(), [self.coerce(args[0], "float64")], "float64", e)

    def power(self, e: exp.Pow) -> Node | None:
        args = self.operands(e.this, e.expression)
        if args is None or not all([self.expect(a, NUMERIC, e, "POWER") for a in args]):
            return None
        return self.call("power", [self.coerce(a, "float64") for a in args], "float64", e)

    def extreme(self, e: exp.Expression) -> Node | None:
        name = "least" if isinstance(e, exp.Least) else "greatest"
        args = self.operands(e.this, *e.expressions)
        if args is None:
            return None
        if len(args) < 2:
            self.problem(Code.EXPRESSION_TYPE, f"{name.upper()} takes two or more arguments", e)
            return None
        args = self.unify(args, e, name.upper())
        return None if args is None else self.call(name, args, args[0].dtype, e)

    def string_same(self, e: exp.Expression) -> Node | None:
        args = self.operands(e.this)
        name = e.sql_name()
        if args is None or not self.expect(args[0], ("string",), e, name):
            return None
        return self.call(name.lower(), [self.coerce(args[0], "string")], "string", e)

    def length(self, e: exp.Length) -> Node | None:
        args = self.operands(e.this)
        if args is None or not self.expect(args[0], ("string",), e, "LENGTH"):
            return None
        return self.call("length", [self.coerce(args[0], "string")], "int64", e)

    def concat(self, e: exp.Expression) -> Node | None:
        items = [e.this, e.expression] if isinstance(e, exp.DPipe) else list(e.expressions)
        args = self.operands(*items)
        if args is None or not all([self.expect(a, ("string",), e, "CONCAT and ||") for a in args]):
            return None
        flat: list[Node] = []
        for arg in (self.coerce(a, "string") for a in args):  # a || b || c is one concat of three
            flat += list(arg.args) if isinstance(arg, Call) and arg.op == "concat" else [arg]
        return self.call("concat", flat, "string", e)

    def substring(self, e: exp.Substring) -> Node | None:
        args = self.operands(e.this, e.args.get("start"), e.args.get("length"))
        if args is None:
            return None
        if e.args.get("start") is None:
            self.problem(Code.EXPRESSION_TYPE, "SUBSTRING takes a start position", e, "write SUBSTRING(s, start[, length])")
            return None
        ok = self.expect(args[0], ("string",), e, "SUBSTRING") and \
            all([self.expect(a, ("int64",), e, "SUBSTRING's position and length") for a in args[1:]])
        if not ok:
            return None
        typed = [self.coerce(args[0], "string")] + [self.coerce(a, "int64") for a in args[1:]]
        return self.call("substring", typed, "string", e)

    def extract(self, e: exp.Extract) -> Node | None:
        unit = e.this.name.lower() if isinstance(e.this, (exp.Var, exp.Column, exp.Identifier)) else ""
        unit = {"dayofweek": "dow"}.get(unit, unit)
        if unit not in ("hour", "dow", "day", "month"):
            self.problem(Code.EXPRESSION_UNSUPPORTED, f"EXTRACT({e.this.sql()} ...) is not in the subset", e,
                         "EXTRACT takes HOUR, DOW, DAY or MONTH")
            return None
        args = self.operands(e.expression)
        if args is None or not self.expect(args[0], ("timestamp",), e, "EXTRACT"):
            return None
        return self.call(unit, [self.coerce(args[0], "timestamp")], "int64", e)

    def anonymous(self, e: exp.Anonymous) -> Node | None:
        name = str(e.this).upper()
        if name != "SECONDS_BETWEEN":
            self.problem(Code.EXPRESSION_UNSUPPORTED, f"'{name}' is not in the portable expression subset", e,
                         did_you_mean(name, FUNCTIONS) or f"the subset's functions: {', '.join(FUNCTIONS)}")
            return None
        args = self.operands(*e.expressions)
        if args is None:
            return None
        if len(args) != 2:
            self.problem(Code.EXPRESSION_TYPE, "SECONDS_BETWEEN takes two timestamps", e,
                         "write SECONDS_BETWEEN(start, end)")
            return None
        if not all([self.expect(a, ("timestamp",), e, "SECONDS_BETWEEN") for a in args]):
            return None
        return self.call("seconds_between", [self.coerce(a, "timestamp") for a in args], "float64", e)


def _cast_hint(actual: str, allowed: tuple[str, ...]) -> str | None:
    casts = [t for t in allowed if t in CASTS.get(actual, ())]
    return f"CAST the {actual} operand to {casts[0]}" if casts else None
