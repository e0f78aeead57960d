"""Which window a view's run reads: the rules of docs/concepts/materialization.md, without a store."""

from __future__ import annotations

import datetime as dt

import pytest

from fcompile.diagnostics import DiagnosticError
from fcompile.graph import DType, Feature, FeatureView
from fcompile.tasks.materialize import as_utc, check_window_arguments, choose_window

UTC = dt.timezone.utc
END = dt.datetime(2024, 5, 1, 12, tzinfo=UTC)


def view(ttl: dt.timedelta | None = None, lateness: dt.timedelta = dt.timedelta(0)) -> FeatureView:
    return FeatureView("v", ("driver",), "src", (Feature("f", DType("int64")),), ttl=ttl, lateness=lateness)


def test_a_given_start_wins_over_the_watermark_and_the_ttl():
    start = dt.datetime(2024, 4, 1, tzinfo=UTC)
    window = choose_window(view(ttl=dt.timedelta(hours=2)), END, start, watermark=END - dt.timedelta(hours=1))
    assert (window.start, window.end, window.basis) == (start, END, "start")


def test_an_incremental_run_starts_at_the_watermark_minus_the_lateness():
    watermark = dt.datetime(2024, 5, 1, 6, tzinfo=UTC)
    window = choose_window(view(ttl=dt.timedelta(hours=2), lateness=dt.timedelta(minutes=30)), END, None, watermark)
    assert (window.start, window.basis) == (dt.datetime(2024, 5, 1, 5, 30, tzinfo=UTC), "watermark")


def test_a_first_run_reads_the_ttl_back_from_the_end_or_else_everything():
    assert choose_window(view(ttl=dt.timedelta(hours=2)), END, None, None).start == END - dt.timedelta(hours=2)
    unbounded = choose_window(view(), END, None, None)
    assert (unbounded.start, unbounded.basis) == (None, "earliest")  # the runner finds the earliest event time


def test_naive_times_are_utc():
    assert as_utc(dt.datetime(2024, 5, 1, 12)) == END
    assert as_utc(dt.datetime(2024, 5, 1, 14, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == END
    assert as_utc(dt.datetime(2024, 5, 1, 14, tzinfo=dt.timezone(dt.timedelta(hours=2)))).tzinfo is UTC


def test_a_window_that_ends_before_it_starts_is_fc119():
    check_window_arguments(END, END)  # one instant is a window
    with pytest.raises(DiagnosticError) as caught:
        check_window_arguments(END + dt.timedelta(seconds=1), END)
    (problem,) = caught.value.diagnostics
    assert problem.code.value == "FC119" and "after it ends" in problem.message


def test_a_window_start_before_year_one_is_unbounded_not_an_overflow():
    early = dt.datetime(50, 1, 1, tzinfo=UTC)
    longest = dt.timedelta(days=36525)
    assert choose_window(view(ttl=longest), early, None, None) == choose_window(view(), early, None, None)
    window = choose_window(view(lateness=longest), END, None, watermark=early)
    assert (window.start, window.end, window.basis) == (None, END, "earliest")


def test_a_window_ending_more_than_a_day_ahead_is_fc119():
    from fcompile.tasks.materialize import MAX_END_AHEAD

    now = dt.datetime.now(UTC)
    check_window_arguments(None, now + MAX_END_AHEAD - dt.timedelta(minutes=1))  # clock skew is fine
    for end in (now + MAX_END_AHEAD + dt.timedelta(minutes=1), dt.datetime(9999, 12, 31, tzinfo=UTC)):
        with pytest.raises(DiagnosticError) as caught:
            check_window_arguments(None, end)
        (problem,) = caught.value.diagnostics
        assert problem.code.value == "FC119" and "(now plus 1 day)" in problem.message
