import datetime as dt

import pytest

from fcompile.diagnostics import Code
from fcompile.graph import DType
from fcompile.parser.values import ValueProblem, identifier_problems, parse_dtype, parse_duration


@pytest.mark.parametrize("text,seconds", [
    ("45s", 45), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1w", 604800),
    ("PT2H", 7200), ("P1D", 86400), ("P1W", 604800), ("PT1H30M", 5400), ("P1DT12H", 129600), ("pt0.5s", 0.5),
])
def test_durations(text, seconds):
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "2x", "h2", "P", "PT", "1.5h", "-1d", "P1H"])
def test_bad_durations(text):
    with pytest.raises(ValueProblem) as info:
        parse_duration(text)
    assert info.value.code is Code.BAD_DURATION


def test_dtypes_and_suggestions():
    assert parse_dtype("int64") == DType("int64")
    assert parse_dtype("array< float32 >") == DType("array", DType("float32"))
    assert str(parse_dtype("array<string>")) == "array<string>"
    with pytest.raises(ValueProblem) as info:
        parse_dtype("int")
    assert info.value.hint == "did you mean 'int64'?"
    with pytest.raises(ValueProblem) as info:
        parse_dtype("array<array<int64>>")
    assert "nested" in info.value.message


def test_identifier_rules():
    assert identifier_problems("conv_rate") == ()
    assert [p.code for p in identifier_problems("9lives")] == [Code.BAD_IDENTIFIER]
    assert [p.code for p in identifier_problems("a-b")] == [Code.BAD_IDENTIFIER]
    assert [p.code for p in identifier_problems("driver__rate")] == [Code.DOUBLE_UNDERSCORE]
    problems = identifier_problems("order")
    assert [p.code for p in problems] == [Code.RESERVED_WORD]
    assert "snowflake" in problems[0].message and "postgres" in problems[0].message


@pytest.mark.parametrize("text", ["36526d", "5219w", "99999999999999999999d", "9999999w", "9" * 5000 + "s",
                                  "P" + "9" * 400 + "D", "PT99999999999999999999H", "P5219W"])
def test_durations_beyond_100_years_are_fc051_not_an_overflow(text):
    with pytest.raises(ValueProblem) as info:
        parse_duration(text)
    assert info.value.code is Code.BAD_DURATION and "longer than 100 years" in info.value.message


def test_the_longest_duration_is_100_years():
    from fcompile.parser.values import MAX_DURATION

    assert parse_duration("36525d") == parse_duration("P36525D") == MAX_DURATION == dt.timedelta(days=36525)
    assert parse_duration("3155760000s") == MAX_DURATION
