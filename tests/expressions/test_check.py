"""The checker: what an `expr` may say, and the problem (code, place in the text, hint) when it says more."""

from __future__ import annotations

import pytest

from fcompile.expressions.check import ExpressionProblems, Scope, check_expression
from fcompile.expressions.tree import Call, Column, Literal, columns

SCOPE = Scope(
    qualified={"stats.conv_rate": "float64", "stats.trips": "int32", "trips_v.trips": "int64",
               "order_amount": "float64", "order_hour": "int64", "city": "string", "placed_at": "timestamp",
               "stats.created": "date"},
    bare={"conv_rate": ("stats.conv_rate",), "trips": ("stats.trips", "trips_v.trips"),
          "created": ("stats.created",)},
)


def problems(text: str, declared: str | None = None) -> list[tuple[str, int, str, str | None]]:
    with pytest.raises(ExpressionProblems) as caught:
        check_expression(text, SCOPE, declared)
    return [(p.code.value, p.offset, p.message, p.hint) for p in caught.value.problems]


def test_names_resolve_bare_when_unique_and_qualified_otherwise():
    node = check_expression("order_amount / stats.trips + conv_rate", SCOPE)
    assert columns(node) == ("order_amount", "stats.conv_rate", "stats.trips")
    assert node.dtype == "float64"


def test_implicit_conversions_are_explicit_in_the_tree():
    node = check_expression("order_hour + 0.5", SCOPE)
    assert node == Call("float64", "add", (Call("float64", "cast", (Column("int64", "order_hour"),)),
                                           Literal("float64", 0.5)))
    # an int32 input widens to int64; a NULL takes its context's type
    assert check_expression("COALESCE(stats.trips, NULL)", SCOPE).args[1] == Literal("int64", None)


def test_an_unknown_name_points_at_it_with_the_closest_name():
    assert problems("order_amount * convrate") == [
        ("FC142", 15, "unknown name 'convrate'", "did you mean 'conv_rate'?")]


def test_an_ambiguous_bare_name_lists_its_qualified_spellings():
    [(code, offset, message, hint)] = problems("1 + trips")
    assert (code, offset) == ("FC142", 4)
    assert "ambiguous" in message and hint == "write one of 'stats.trips', 'trips_v.trips'"


def test_functions_outside_the_subset_are_refused_where_they_are_written():
    assert problems("order_hour + LOG(order_amount)")[0][:3] == (
        "FC141", 13, "'LOG' is not in the portable expression subset")
    assert problems("RANDOM()")[0][0] == "FC141"
    assert problems("MY_UDF(city)")[0][:2] == ("FC141", 0)
    assert problems("city LIKE 'a%'")[0][0] == "FC141"
    assert problems("EXTRACT(YEAR FROM placed_at)")[0][0] == "FC141"
    assert problems("ROUND(order_amount, order_hour)")[0][0] == "FC141"


def test_type_errors_name_the_operator_and_the_types():
    [(code, offset, message, hint)] = problems("city + 1")
    assert (code, offset, message) == ("FC143", 0, "'+' takes int64 or float64, not string")
    assert problems("NOT order_hour")[0][:3] == ("FC143", 4, "NOT takes bool, not int64")  # at the operand
    assert problems("CASE WHEN order_hour > 1 THEN city ELSE 2 END")[0][2] == \
        "the branches of CASE mixes types: int64, string"
    assert problems("order_amount % 2")[0][2] == "'%' takes int64, not float64"
    assert problems("created")[0][:2] == ("FC143", 0)  # a date input: no expression computes with it


def test_casts_are_those_every_engine_spells_alike():
    assert check_expression("CAST(order_hour AS VARCHAR)", SCOPE).dtype == "string"
    assert check_expression("CAST(order_amount AS BIGINT)", SCOPE).dtype == "int64"
    assert check_expression("CAST(order_hour AS float64)", SCOPE).dtype == "float64"
    assert problems("CAST(city AS BIGINT)")[0][:2] == ("FC141", 5)
    assert problems("CAST(order_amount AS VARCHAR)")[0][0] == "FC141"
    assert problems("CAST(order_hour AS INT)")[0][0] == "FC141"


def test_the_declared_dtype_must_be_what_the_expression_gives():
    assert check_expression("order_hour * 2", SCOPE, "float64").dtype == "float64"  # int64 widens
    [(code, _, message, hint)] = problems("order_amount > 3", "float64")
    assert (code, message) == ("FC144", "the expression gives bool, but the feature is declared float64")
    assert problems("order_hour", "int32")[0][2] == "an expression cannot produce dtype int32"
    assert "CAST" in problems("order_amount", "int64")[0][3]


def test_syntax_errors_point_into_the_text():
    [(code, offset, message, _)] = problems("order_amount + * 2")
    assert code == "FC140" and 13 <= offset <= 17
    assert problems("SELECT 1")[0][0] == "FC140"
    assert problems("order_amount AS x")[0][0] == "FC140"


@pytest.mark.parametrize("text, at, reason", [
    ("order_amount >= 0 AND", 20, "the expression ends too early: AND needs an operand on its right"),
    ("order_amount >=", 14, "the expression ends too early: >= needs an operand on its right"),
    ("order_amount = = 1", 15, "= needs an operand on its right"),
    ("NOT", 2, "the expression ends too early: NOT needs an operand"),
    ("order_hour BETWEEN 1 AND", 23, "BETWEEN needs an upper bound after its AND"),
    ("(order_hour + 1", 14, "a '(' is not closed: ')' expected here"),
    ("CASE WHEN order_hour > 1 THEN 1", 30, "CASE has no END"),
    ("order_hour order_amount city", 27, "unexpected text here"),
    ("'unclosed", 0, "a quote that is not closed?"),
])
def test_a_syntax_error_is_said_in_fcompiles_words_at_its_place(text, at, reason):
    [(code, offset, message, hint)] = problems(text)
    assert code == "FC140" and offset == at and message.startswith("the expression does not parse: ")
    assert reason in message, message
    assert "Required keyword" not in message and "<class" not in message and "portable subset" in hint


def test_every_problem_is_reported_at_once():
    found = problems("convrate + LOG(1) + city * 2")
    assert [p[0] for p in found] == ["FC142", "FC141", "FC143"]


def test_literals():
    assert check_expression("-9223372036854775808 < order_hour", SCOPE).args[0] == Literal("int64", -2**63)
    assert problems("order_hour + 99999999999999999999")[0][0] == "FC143"
    assert check_expression("'It''s' || city", SCOPE).args[0] == Literal("string", "It's")


def test_an_expression_whose_sql_would_be_huge_is_refused():
    from sqlglot import exp

    from fcompile.dialects import get_dialect
    from fcompile.expressions.to_sql import MAX_SQL_NODES, ExpressionTooLarge, expression_sql

    node = check_expression("ROUND(ROUND(ROUND(ROUND(ROUND(order_amount, 1), 1), 1), 1), 1)", SCOPE)
    inputs = {"order_amount": exp.column("order_amount")}
    with pytest.raises(ExpressionTooLarge) as caught:
        expression_sql(node, get_dialect("spark"), inputs)
    assert caught.value.nodes > MAX_SQL_NODES and "spark" in str(caught.value)
    expression_sql(check_expression("ROUND(ROUND(order_amount, 1), 1)", SCOPE), get_dialect("spark"), inputs)
